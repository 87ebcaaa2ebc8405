//! `easel process`: runs a preset or pipeline over files and directories in parallel,
//! writing results to an output directory. One line per failure, a summary at the
//! end, a non-zero exit status if any file failed. Never overwrites an input.

use std::collections::{BTreeMap, HashSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use easel_image::{Limits, ObjectDetector, Pipeline, process_with, sniff};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::{IndexedParallelIterator, IntoParallelRefIterator, ParallelIterator};

/// Arguments of `easel process`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["preset", "pipeline"])))]
pub struct ProcessArgs {
    /// Image files or directories (searched recursively; files that are not images
    /// by their bytes are skipped inside directories).
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Directory for the results (created if missing).
    #[arg(short = 'o', long = "out-dir", value_name = "OUTDIR")]
    pub out_dir: PathBuf,
    /// A named preset: built-in (`thumbnail`, `web`) or from `[presets.NAME]`.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// A pipeline as JSON, or `@path` to read it from a file.
    #[arg(long, value_name = "JSON|@FILE")]
    pub pipeline: Option<String>,
    /// Worker threads (default: one per CPU core).
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
}

/// One file to process and where its result goes.
struct Task {
    input: PathBuf,
    /// Output path without extension; the extension comes from the output format.
    out_stem: PathBuf,
}

/// What happened to one file.
enum Outcome {
    Done {
        bytes_in: u64,
        bytes_out: u64,
        /// Where the result was written.
        output: PathBuf,
        /// Decode + pipeline + encode time (excluding file I/O).
        elapsed: Duration,
    },
    Failed {
        input: PathBuf,
        reason: String,
    },
}

/// Runs the command. Usage problems (unknown preset, invalid pipeline, unreadable
/// input path) are errors; per-file failures are reported and give exit status 1.
pub fn run(
    args: &ProcessArgs,
    presets: &BTreeMap<String, Pipeline>,
    limits: &Limits,
    detector: &dyn ObjectDetector,
) -> anyhow::Result<ExitCode> {
    let pipeline = resolve_pipeline(args, presets)?;
    pipeline
        .validate(limits)
        .map_err(|e| anyhow!("invalid pipeline: {e}"))?;
    if let Some(detect) = pipeline.detect() {
        detector
            .check(detect.model.as_deref())
            .map_err(|e| anyhow!("cannot detect objects: {e}"))?;
    }
    let tasks = collect(&args.inputs)?;
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("creating {}", args.out_dir.display()))?;
    let inputs: HashSet<PathBuf> = tasks
        .iter()
        .filter_map(|t| t.input.canonicalize().ok())
        .collect();
    let threads = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .context("starting worker threads")?;
    let progress = Progress::new(tasks.len() as u64);
    let claimed = Mutex::new(HashSet::new());
    let start = Instant::now();
    let outcomes: Vec<Outcome> = pool.install(|| {
        tasks
            .par_iter()
            // One file per rayon job, so an idle thread can steal any file not yet
            // started: files differ in cost by 100x (an 18 MP progressive JPEG against
            // a thumbnail), and rayon's default splitting left runs of several files
            // unstealable behind a slow one, idling the other thread at the end.
            .with_max_len(1)
            .map(|t| {
                let outcome = one(
                    t,
                    &args.out_dir,
                    (&pipeline, detector),
                    limits,
                    &inputs,
                    &claimed,
                );
                progress.file_done(&t.input, &outcome);
                outcome
            })
            .collect()
    });
    progress.finish();
    Ok(summarize(&outcomes, start.elapsed(), threads))
}

fn resolve_pipeline(
    args: &ProcessArgs,
    presets: &BTreeMap<String, Pipeline>,
) -> anyhow::Result<Pipeline> {
    if let Some(name) = &args.preset {
        return presets.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = presets.keys().map(String::as_str).collect();
            anyhow!("unknown preset {name:?} (known: {})", known.join(", "))
        });
    }
    let text = args.pipeline.as_deref().unwrap_or_default();
    let json = match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading pipeline file {path}"))?,
        None => text.to_string(),
    };
    serde_json::from_str(&json).map_err(|e| anyhow!("invalid pipeline JSON: {e}"))
}

/// Expands the inputs into tasks. A file keeps its stem; a directory's files keep
/// their path relative to it.
fn collect(inputs: &[PathBuf]) -> anyhow::Result<Vec<Task>> {
    let mut tasks = Vec::new();
    for input in inputs {
        let meta =
            std::fs::metadata(input).with_context(|| format!("reading {}", input.display()))?;
        if meta.is_dir() {
            walk(input, input, &mut tasks)?;
        } else {
            let stem = input
                .file_stem()
                .map(PathBuf::from)
                .unwrap_or_else(|| "image".into());
            tasks.push(Task {
                input: input.clone(),
                out_stem: stem,
            });
        }
    }
    if tasks.is_empty() {
        bail!("no images found in the given inputs");
    }
    Ok(tasks)
}

fn walk(root: &Path, dir: &Path, tasks: &mut Vec<Task>) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(root, &path, tasks)?;
        } else if looks_like_image(&path) {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            tasks.push(Task {
                input: path.clone(),
                out_stem: rel.with_extension(""),
            });
        }
    }
    Ok(())
}

/// Sniffs the first bytes: directories may hold non-image files, which are skipped.
fn looks_like_image(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 16];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    sniff(&head[..n]).is_some()
}

fn one(
    t: &Task,
    out_dir: &Path,
    (pipeline, detector): (&Pipeline, &dyn ObjectDetector),
    limits: &Limits,
    inputs: &HashSet<PathBuf>,
    claimed: &Mutex<HashSet<PathBuf>>,
) -> Outcome {
    let fail = |reason: String| Outcome::Failed {
        input: t.input.clone(),
        reason,
    };
    match std::fs::metadata(&t.input) {
        Ok(m) if m.len() > limits.max_input_bytes => {
            return fail(format!(
                "input-too-large: {} bytes, limit {}",
                m.len(),
                limits.max_input_bytes
            ));
        }
        Err(e) => return fail(format!("read: {e}")),
        Ok(_) => {}
    }
    let bytes = match std::fs::read(&t.input) {
        Ok(b) => b,
        Err(e) => return fail(format!("read: {e}")),
    };
    let started = Instant::now();
    let out = match process_with(&bytes, pipeline, limits, Some(detector)) {
        Ok(o) => o,
        Err(e) => return fail(format!("{}: {e}", e.code())),
    };
    let target = match claim(
        out_dir,
        &t.out_stem,
        out.format.extension(),
        inputs,
        claimed,
    ) {
        Ok(p) => p,
        Err(reason) => return fail(reason),
    };
    if let Some(parent) = target.parent()
        && let Err(e) = std::fs::create_dir_all(parent)
    {
        return fail(format!("write {}: {e}", parent.display()));
    }
    let elapsed = started.elapsed();
    // A detecting pipeline's objects go beside the output, as JSON.
    if pipeline.detect().is_some() {
        let sidecar = target.with_extension(format!("{}.json", out.format.extension()));
        let detections: Vec<serde_json::Value> = out
            .detections
            .iter()
            .zip(&out.output_boxes)
            .map(|(d, placed)| {
                serde_json::json!({
                    "label": d.label,
                    "confidence": d.confidence,
                    "bbox": d.bbox,
                    "outputBbox": placed,
                })
            })
            .collect();
        let json = serde_json::json!({ "detections": detections });
        if let Err(e) = std::fs::write(&sidecar, json.to_string()) {
            return fail(format!("write {}: {e}", sidecar.display()));
        }
    }
    match std::fs::write(&target, &out.bytes) {
        Ok(()) => Outcome::Done {
            bytes_in: bytes.len() as u64,
            bytes_out: out.bytes.len() as u64,
            output: target,
            elapsed,
        },
        Err(e) => fail(format!("write {}: {e}", target.display())),
    }
}

/// Picks the output path: `OUTDIR/stem.ext`, or `stem-2.ext`… when another input of
/// this run already claimed it. An input file is never chosen as an output.
fn claim(
    out_dir: &Path,
    stem: &Path,
    ext: &str,
    inputs: &HashSet<PathBuf>,
    claimed: &Mutex<HashSet<PathBuf>>,
) -> Result<PathBuf, String> {
    let mut claimed = claimed
        .lock()
        .map_err(|_| "internal: lock poisoned".to_string())?;
    for n in 1..1000 {
        let name = match n {
            1 => stem.with_extension(ext),
            n => PathBuf::from(format!("{}-{n}.{ext}", stem.display())),
        };
        let path = out_dir.join(name);
        let canonical = path
            .parent()
            .and_then(|p| p.canonicalize().ok())
            .map(|p| p.join(path.file_name().unwrap_or_default()));
        let is_input = canonical.is_some_and(|c| inputs.contains(&c));
        if !is_input && claimed.insert(path.clone()) {
            return Ok(path);
        }
    }
    Err(format!(
        "no free output name for {} in {}",
        stem.display(),
        out_dir.display()
    ))
}

/// A progress bar on a terminal, one plain line per file otherwise.
struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            if let Ok(style) =
                ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} eta {eta} {wide_msg}")
            {
                bar.set_style(style);
            }
            bar
        });
        Progress { bar }
    }

    fn file_done(&self, input: &Path, outcome: &Outcome) {
        let line = match outcome {
            Outcome::Done { .. } if self.bar.is_some() => None,
            Outcome::Done {
                output, elapsed, ..
            } => Some(format!(
                "ok: {} -> {} ({:.1} ms)",
                input.display(),
                output.display(),
                elapsed.as_secs_f64() * 1000.0
            )),
            Outcome::Failed { input, reason } => {
                Some(format!("failed: {}: {reason}", input.display()))
            }
        };
        match &self.bar {
            Some(bar) => {
                if let Some(line) = line {
                    bar.println(line);
                }
                bar.set_message(input.display().to_string());
                bar.inc(1);
            }
            None => {
                if let Some(line) = line {
                    eprintln!("{line}");
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn summarize(outcomes: &[Outcome], elapsed: Duration, threads: usize) -> ExitCode {
    let (mut ok, mut bytes_in, mut bytes_out) = (0u64, 0u64, 0u64);
    let mut failed = 0u64;
    for o in outcomes {
        match o {
            Outcome::Done {
                bytes_in: i,
                bytes_out: b,
                ..
            } => {
                ok += 1;
                bytes_in += i;
                bytes_out += b;
            }
            Outcome::Failed { .. } => failed += 1,
        }
    }
    let secs = elapsed.as_secs_f64();
    println!(
        "{} files: {ok} ok, {failed} failed; {} in, {} out; {secs:.2} s ({:.1} files/s, {threads} threads)",
        outcomes.len(),
        human(bytes_in),
        human(bytes_out),
        outcomes.len() as f64 / secs.max(1e-9),
    );
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}
