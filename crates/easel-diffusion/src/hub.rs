//! Downloads models from the Hugging Face hub (or any server speaking its API) into a
//! models directory — a diffusers-layout model (safetensors only), or named files such
//! as a detector's ONNX export: each file checked against the size and SHA-256 the hub
//! lists, resumed from where an interrupted download stopped, and renamed into place
//! only once complete (so a model being served is never changed under it).

use std::path::{Path, PathBuf};

use futures::StreamExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::layout::{
    Family, TOKENIZER_FILES, TOKENIZER_JSON, TOKENIZER_OPTIONAL_FILES, required_files,
    tokenizer_folders,
};

/// Where and what to pull.
#[derive(Debug, Clone)]
pub struct PullRequest {
    /// The hub, e.g. `https://huggingface.co` (`HF_ENDPOINT`).
    pub endpoint: String,
    /// `owner/name`.
    pub repo: String,
    /// Branch, tag or commit.
    pub revision: String,
    /// The directory to fill.
    pub dest: PathBuf,
    /// Which of the repository's files to fetch.
    pub wanted: Wanted,
    /// A Hugging Face token for gated repositories (`HF_TOKEN`).
    pub token: Option<String>,
}

/// Which files a pull fetches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// A diffusers-layout Stable Diffusion model (SD or SDXL, told apart by the listing).
    Diffusers {
        /// Prefer `*.fp16.safetensors` weights where the repository has them (half the
        /// download; the CPU converts them to f32 on load).
        prefer_fp16: bool,
    },
    /// These files, by their path in the repository; every one must be listed.
    Files(Vec<String>),
}

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The hub could not be reached or broke off.
    #[error("cannot reach {endpoint}: {message}")]
    Network {
        /// The hub.
        endpoint: String,
        /// What happened.
        message: String,
    },
    /// The hub answered with an error.
    #[error("{url} answered {status}: {message}")]
    Http {
        /// The URL asked.
        url: String,
        /// HTTP status.
        status: u16,
        /// What it means for the user.
        message: String,
    },
    /// The repository lacks files a model needs.
    #[error("{repo} is not a diffusers Stable Diffusion model with safetensors weights: it lacks {}", missing.join(", "))]
    NotAModel {
        /// The repository.
        repo: String,
        /// What it lacks.
        missing: Vec<String>,
    },
    /// The repository lacks a file that was asked for by name.
    #[error("{repo} has no {}", missing.join(", "))]
    MissingFiles {
        /// The repository.
        repo: String,
        /// The paths it does not list.
        missing: Vec<String>,
    },
    /// A downloaded file does not match what the hub lists.
    #[error("{file} is corrupt: expected {expected}, got {actual}; run the pull again")]
    Corrupt {
        /// The file.
        file: String,
        /// Expected size or hash.
        expected: String,
        /// What arrived.
        actual: String,
    },
    /// Writing to disk failed.
    #[error("cannot write {path}: {message}")]
    Disk {
        /// The file.
        path: PathBuf,
        /// What happened.
        message: String,
    },
}

/// One file the model needs, as the hub lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// Path in the repository.
    pub path: String,
    /// Size in bytes, when listed.
    pub size: Option<u64>,
    /// SHA-256 (hex) of LFS files.
    pub sha256: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RepoInfo {
    #[serde(default)]
    sha: Option<String>,
    siblings: Vec<Sibling>,
}

#[derive(Debug, Deserialize)]
struct Sibling {
    rfilename: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    lfs: Option<Lfs>,
}

#[derive(Debug, Deserialize)]
struct Lfs {
    sha256: String,
    #[serde(default)]
    size: Option<u64>,
}

impl Sibling {
    /// The file with its LFS size and hash where the hub lists them.
    fn remote(&self) -> RemoteFile {
        RemoteFile {
            path: self.rfilename.clone(),
            size: self.lfs.as_ref().and_then(|l| l.size).or(self.size),
            sha256: self.lfs.as_ref().map(|l| l.sha256.to_lowercase()),
        }
    }
}

/// Receives download progress: file, bytes so far, bytes in all (when known).
pub trait PullProgress: Send + Sync {
    /// A file starts (`done` is what an earlier attempt already fetched).
    fn start(&self, file: &str, done: u64, total: Option<u64>);
    /// More bytes arrived.
    fn advance(&self, file: &str, done: u64);
    /// The file is complete and verified (or was already there).
    fn finish(&self, file: &str);
}

fn client() -> Result<reqwest::Client, PullError> {
    // An error only means a provider is already installed, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("easel/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(15))
        .build()
        .map_err(|e| PullError::Network {
            endpoint: String::new(),
            message: e.to_string(),
        })
}

fn http_error(url: &str, status: reqwest::StatusCode) -> PullError {
    let message = match status.as_u16() {
        401 | 403 => {
            "the repository is gated or private: accept its licence on the hub and set HF_TOKEN"
                .to_owned()
        }
        404 => "no such repository, revision or file".to_owned(),
        429 => "rate limited by the hub; wait and run the pull again".to_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    PullError::Http {
        url: url.to_owned(),
        status: status.as_u16(),
        message,
    }
}

impl PullRequest {
    fn authorized(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    fn network(&self, e: reqwest::Error) -> PullError {
        PullError::Network {
            endpoint: self.endpoint.clone(),
            message: e.to_string(),
        }
    }

    /// The files to fetch, with sizes and hashes, and the commit they are at.
    pub async fn plan(&self) -> Result<(Vec<RemoteFile>, Option<String>), PullError> {
        let client = client()?;
        let url = format!(
            "{}/api/models/{}/revision/{}?blobs=true",
            self.endpoint.trim_end_matches('/'),
            self.repo,
            self.revision
        );
        let response = self
            .authorized(client.get(&url))
            .send()
            .await
            .map_err(|e| self.network(e))?;
        if !response.status().is_success() {
            return Err(http_error(&url, response.status()));
        }
        let info: RepoInfo = response.json().await.map_err(|e| self.network(e))?;
        let files = match &self.wanted {
            Wanted::Diffusers { prefer_fp16 } => self.diffusers_files(&info, *prefer_fp16)?,
            Wanted::Files(paths) => self.named_files(&info, paths)?,
        };
        Ok((files, info.sha))
    }

    /// The listed files at `paths`.
    fn named_files(&self, info: &RepoInfo, paths: &[String]) -> Result<Vec<RemoteFile>, PullError> {
        let mut files = Vec::new();
        let mut missing = Vec::new();
        for path in paths {
            match info.siblings.iter().find(|s| s.rfilename == *path) {
                Some(sibling) => files.push(sibling.remote()),
                None => missing.push(path.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(PullError::MissingFiles {
                repo: self.repo.clone(),
                missing,
            });
        }
        Ok(files)
    }

    /// The files of a diffusers-layout model, fp16 weights preferred if asked.
    fn diffusers_files(
        &self,
        info: &RepoInfo,
        prefer_fp16: bool,
    ) -> Result<Vec<RemoteFile>, PullError> {
        let listed = |path: &str| info.siblings.iter().find(|s| s.rfilename == path);
        // An SDXL repository has a second text encoder, and needs its files too.
        let family = if listed("text_encoder_2/config.json").is_some() {
            Family::StableDiffusionXl
        } else {
            Family::StableDiffusion
        };
        let required = required_files(family);
        let optional: Vec<String> = tokenizer_folders(family)
            .iter()
            .flat_map(|folder| {
                TOKENIZER_OPTIONAL_FILES
                    .iter()
                    .map(move |file| format!("{folder}/{file}"))
            })
            .collect();
        let mut files = Vec::new();
        let mut missing = Vec::new();
        for required in required
            .iter()
            .copied()
            .chain(optional.iter().map(String::as_str))
        {
            let fp16 = required.replace(".safetensors", ".fp16.safetensors");
            let choice = if required.ends_with(".safetensors") && prefer_fp16 {
                listed(&fp16).or_else(|| listed(required))
            } else if required.ends_with(".safetensors") {
                listed(required).or_else(|| listed(&fp16))
            } else {
                listed(required)
            };
            match choice {
                Some(sibling) => files.push(sibling.remote()),
                None if required_files(family).contains(&required) => {
                    missing.push(required.to_owned())
                }
                None => {}
            }
        }
        // The tokenizer: the slow tokenizer's two files, or the fast one's single file.
        let remote = |sibling: &Sibling| RemoteFile {
            path: sibling.rfilename.clone(),
            size: sibling.size,
            sha256: None,
        };
        for folder in tokenizer_folders(family) {
            let slow: Vec<&Sibling> = TOKENIZER_FILES
                .iter()
                .filter_map(|f| listed(&format!("{folder}/{f}")))
                .collect();
            if slow.len() == TOKENIZER_FILES.len() {
                files.extend(slow.into_iter().map(remote));
            } else if let Some(fast) = listed(&format!("{folder}/{TOKENIZER_JSON}")) {
                files.push(remote(fast));
            } else {
                missing.push(format!(
                    "{folder}/{} and {folder}/{} (or {folder}/{TOKENIZER_JSON})",
                    TOKENIZER_FILES[0], TOKENIZER_FILES[1]
                ));
            }
        }
        if !missing.is_empty() {
            return Err(PullError::NotAModel {
                repo: self.repo.clone(),
                missing,
            });
        }
        Ok(files)
    }

    /// Fetches every file into `dest`; files already complete are kept.
    pub async fn pull(&self, progress: &dyn PullProgress) -> Result<Vec<RemoteFile>, PullError> {
        let (files, commit) = self.plan().await?;
        let client = client()?;
        for file in &files {
            self.fetch(&client, file, progress).await?;
        }
        let manifest = serde_json::json!({
            "repo": self.repo,
            "revision": self.revision,
            "commit": commit,
            "endpoint": self.endpoint,
            "files": files.iter().map(|f| serde_json::json!({
                "path": f.path, "size": f.size, "sha256": f.sha256,
            })).collect::<Vec<_>>(),
        });
        let path = self.dest.join(".easel-model.json");
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&manifest).expect("JSON"),
        )
        .map_err(|e| disk(&path, e))?;
        Ok(files)
    }

    async fn fetch(
        &self,
        client: &reqwest::Client,
        file: &RemoteFile,
        progress: &dyn PullProgress,
    ) -> Result<(), PullError> {
        let target = self.dest.join(&file.path);
        let partial = self.dest.join(format!("{}.part", file.path));
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| disk(parent, e))?;
        }
        if target.is_file() && verify(&target, file).await.is_ok() {
            progress.finish(&file.path);
            return Ok(());
        }
        // Resume from what an earlier attempt left, hashing it as the new bytes will be.
        let mut hasher = Sha256::new();
        let mut have = 0u64;
        if let Ok(mut existing) = tokio::fs::File::open(&partial).await {
            let mut buffer = vec![0u8; 1 << 20];
            loop {
                let n = existing
                    .read(&mut buffer)
                    .await
                    .map_err(|e| disk(&partial, e))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buffer[..n]);
                have += n as u64;
            }
        }
        if file.size.is_some_and(|size| have > size) {
            // Longer than the file can be: start over.
            have = 0;
            hasher = Sha256::new();
            let _ = std::fs::remove_file(&partial);
        }
        let url = format!(
            "{}/{}/resolve/{}/{}",
            self.endpoint.trim_end_matches('/'),
            self.repo,
            self.revision,
            file.path
        );
        progress.start(&file.path, have, file.size);
        let done_already = file.size == Some(have) && have > 0;
        if !done_already {
            let mut request = self.authorized(client.get(&url));
            if have > 0 {
                request = request.header(reqwest::header::RANGE, format!("bytes={have}-"));
            }
            let response = request.send().await.map_err(|e| self.network(e))?;
            let status = response.status();
            if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
                let _ = std::fs::remove_file(&partial);
                return Err(PullError::Corrupt {
                    file: file.path.clone(),
                    expected: format!("{} bytes", file.size.unwrap_or(0)),
                    actual: format!("a partial download of {have} bytes"),
                });
            }
            if !status.is_success() {
                return Err(http_error(&url, status));
            }
            let append = have > 0 && status == reqwest::StatusCode::PARTIAL_CONTENT;
            if !append {
                // The server sent the whole file: discard what we had.
                have = 0;
                hasher = Sha256::new();
            }
            let mut out = tokio::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .append(append)
                .truncate(!append)
                .open(&partial)
                .await
                .map_err(|e| disk(&partial, e))?;
            let mut body = response.bytes_stream();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| self.network(e))?;
                hasher.update(&chunk);
                out.write_all(&chunk).await.map_err(|e| disk(&partial, e))?;
                have += chunk.len() as u64;
                progress.advance(&file.path, have);
            }
            out.flush().await.map_err(|e| disk(&partial, e))?;
            out.sync_all().await.map_err(|e| disk(&partial, e))?;
        }
        if let Some(size) = file.size
            && size != have
        {
            return Err(PullError::Corrupt {
                file: file.path.clone(),
                expected: format!("{size} bytes"),
                actual: format!(
                    "{have} bytes (the download broke off; run the pull again to resume)"
                ),
            });
        }
        let actual = hex::encode(hasher.finalize());
        if let Some(expected) = &file.sha256
            && *expected != actual
        {
            let _ = std::fs::remove_file(&partial);
            return Err(PullError::Corrupt {
                file: file.path.clone(),
                expected: format!("sha256 {expected}"),
                actual: format!("sha256 {actual}"),
            });
        }
        std::fs::rename(&partial, &target).map_err(|e| disk(&target, e))?;
        progress.finish(&file.path);
        Ok(())
    }
}

fn disk(path: &Path, e: impl std::fmt::Display) -> PullError {
    PullError::Disk {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Whether a complete file on disk matches its listing.
async fn verify(path: &Path, file: &RemoteFile) -> Result<(), ()> {
    let size = tokio::fs::metadata(path).await.map_err(|_| ())?.len();
    if file.size.is_some_and(|expected| expected != size) {
        return Err(());
    }
    let Some(expected) = &file.sha256 else {
        return Ok(());
    };
    let mut hasher = Sha256::new();
    let mut input = tokio::fs::File::open(path).await.map_err(|_| ())?;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut buffer).await.map_err(|_| ())?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    (hex::encode(hasher.finalize()) == *expected)
        .then_some(())
        .ok_or(())
}
