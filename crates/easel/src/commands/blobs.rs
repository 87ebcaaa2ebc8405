//! `easel blobs copy`: moves a deployment's object bytes between blob stores (typically
//! the filesystem store to S3). Every object of both buckets is streamed across, then
//! read back from the destination and checked against the source's size and SHA-256.
//! Each verified object is appended to a journal file, so an interrupted copy resumes
//! where it stopped; objects already in the journal (and still of the same size at the
//! destination) are skipped.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use easel_core::{Bucket, ObjectRef};
use easel_store::{Blobs, ByteStream, StoreError};
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use crate::config::{Config, StorageConfig};
use crate::telemetry;

/// What one run did.
#[derive(Debug, Default)]
struct Tally {
    copied: u64,
    skipped: u64,
    bytes: u64,
}

/// Copies every object from the blob store `from` to the blob store `to` (both as
/// `storage.blobs_url` spells them), journaling to `journal`.
pub fn copy(config: Config, from: &str, to: &str, journal: &Path) -> anyhow::Result<ExitCode> {
    telemetry::init(&config.log);
    if from.trim() == to.trim() {
        bail!("--from and --to name the same store");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let tally = runtime.block_on(async {
        let source = open(&config, from).await?;
        let destination = open(&config, to).await?;
        let done = read_journal(journal)?;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(journal)
            .with_context(|| format!("cannot write the journal {}", journal.display()))?;
        eprintln!("copying {from} → {to} (journal: {})", journal.display());
        let mut tally = Tally::default();
        for bucket in Bucket::ALL {
            let mut listing = source.list(bucket);
            while let Some(entry) = listing.try_next().await? {
                let (object, size) = entry;
                let line = journal_line(&object);
                if done.contains(&line) && same_size(destination.as_ref(), &object, size).await? {
                    tally.skipped += 1;
                    continue;
                }
                let sha256 = copy_one(source.as_ref(), destination.as_ref(), &object, size)
                    .await
                    .with_context(|| {
                        format!(
                            "copying {} failed; run the same command again to resume",
                            object.s3_url()
                        )
                    })?;
                writeln!(log, "{line}\t{size}\t{sha256}")?;
                log.flush()?;
                tally.copied += 1;
                tally.bytes += size;
                if tally.copied.is_multiple_of(100) {
                    eprintln!("  {} objects copied", tally.copied);
                }
            }
        }
        anyhow::Ok(tally)
    })?;
    eprintln!(
        "copied {} objects ({} bytes), skipped {} already copied; every copy was read back and matched its source's size and SHA-256",
        tally.copied, tally.bytes, tally.skipped
    );
    Ok(ExitCode::SUCCESS)
}

async fn open(config: &Config, url: &str) -> anyhow::Result<Arc<dyn Blobs>> {
    let storage = StorageConfig {
        blobs_url: Some(url.to_owned()),
        ..config.storage.clone()
    };
    Ok(storage.open_blobs().await?.blobs)
}

/// How the journal names an object: `bucket<TAB>key`.
fn journal_line(object: &ObjectRef) -> String {
    format!("{}\t{}", object.bucket, object.key)
}

/// The objects a journal records as copied.
fn read_journal(path: &Path) -> anyhow::Result<HashSet<String>> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut done = HashSet::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        let mut fields = line.split('\t');
        if let (Some(bucket), Some(key)) = (fields.next(), fields.next()) {
            done.insert(format!("{bucket}\t{key}"));
        }
    }
    Ok(done)
}

async fn same_size(store: &dyn Blobs, object: &ObjectRef, size: u64) -> anyhow::Result<bool> {
    match store.stat(object).await {
        Ok(stat) => Ok(stat.size == size),
        Err(StoreError::NotFound) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

/// The type a stored object is served as, from its name (the filesystem store keeps
/// none).
fn content_type_of(object: &ObjectRef) -> &'static str {
    let name = object.key.as_str().to_ascii_lowercase();
    let extension = name.rsplit('.').next().unwrap_or_default();
    match extension {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "avif" => "image/avif",
        _ => "application/octet-stream",
    }
}

/// The hex SHA-256 of a stream, and its length.
async fn digest(mut stream: ByteStream) -> Result<(String, u64), StoreError> {
    let mut hasher = Sha256::new();
    let mut size = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// Streams one object across and reads the copy back; returns its SHA-256.
async fn copy_one(
    source: &dyn Blobs,
    destination: &dyn Blobs,
    object: &ObjectRef,
    size: u64,
) -> anyhow::Result<String> {
    let (_, body) = source.get_stream(object).await?;
    let body = body.map_err(std::io::Error::other).boxed();
    let written = destination
        .put_stream(object, body, size, content_type_of(object))
        .await?;
    let (_, copy) = destination.get_stream(object).await?;
    let (sha256, read_back) = digest(copy).await?;
    if written.size != size || read_back != size || sha256 != written.sha256 {
        bail!(
            "the copy does not match: source {size} bytes sha256 {}, destination {read_back} bytes sha256 {sha256}",
            written.sha256
        );
    }
    Ok(sha256)
}
