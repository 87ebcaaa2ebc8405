//! Real HEIC and AVIF encoders run at test time (`heif-enc` from Debian's
//! libheif-examples, `avifenc` from libavif-bin; `scripts/install-deps` installs both),
//! so no binary fixture is checked in. A missing tool fails the test with the fix.

use std::path::Path;
use std::process::Command;

/// Runs `tool args… <input> <output>` on `source` (a PNG or a JPEG: the tools go by
/// the file name) and returns the file it wrote.
fn run_tool(tool: &str, args: &[&str], source: &[u8], out_name: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let name = if source.starts_with(&[0xFF, 0xD8]) {
        "in.jpg"
    } else {
        "in.png"
    };
    let input = dir.path().join(name);
    let output = dir.path().join(out_name);
    std::fs::write(&input, source).unwrap();
    let status = Command::new(tool)
        .args(args)
        .arg(path_str(&input))
        .args(output_args(tool, &output))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool} ({e}): run scripts/install-deps"));
    assert!(
        status.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    std::fs::read(&output).unwrap()
}

fn output_args(tool: &str, output: &Path) -> Vec<String> {
    match tool {
        "heif-enc" => vec!["-o".into(), path_str(output)],
        _ => vec![path_str(output)],
    }
}

fn path_str(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

/// Encodes a PNG or JPEG as HEIC with libheif's `heif-enc` (x265) and extra `args`.
/// A JPEG's EXIF block is copied as it is (libheif 1.15 writes no `irot` for it).
pub fn heif_enc(source: &[u8], args: &[&str]) -> Vec<u8> {
    run_tool("heif-enc", args, source, "out.heic")
}

/// Encodes a PNG or JPEG as AVIF with libavif's `avifenc` (libaom) and extra `args`.
/// With `--exif`, avifenc 0.11 turns the EXIF orientation into `irot`/`imir` and
/// keeps the tag too, as iPhones do.
pub fn avifenc(source: &[u8], args: &[&str]) -> Vec<u8> {
    run_tool("avifenc", args, source, "out.avif")
}

/// Writes `bytes` to a file in `dir` for a tool's option, returning its path.
pub fn file_arg(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path_str(&path)
}

/// Body of the first box of type `kind` anywhere in `file` (a byte search: good
/// enough to read back what a test's own encoder wrote).
pub fn box_body<'a>(file: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    let at = file.windows(4).position(|w| w == kind)?;
    let size = u32::from_be_bytes(file.get(at - 4..at)?.try_into().ok()?) as usize;
    file.get(at + 4..at - 4 + size)
}

/// Decodes an AVIF to PNG with libavif's `avifdec` (dav1d): a decoder independent of
/// the libheif that Easel uses.
pub fn avifdec(avif: &[u8]) -> image::RgbaImage {
    let dir = tempfile::tempdir().unwrap();
    let input = file_arg(&dir, "in.avif", avif);
    let output = path_str(&dir.path().join("out.png"));
    let result = Command::new("avifdec")
        .args([&input, &output])
        .output()
        .unwrap_or_else(|e| panic!("cannot run avifdec ({e}): run scripts/install-deps"));
    assert!(
        result.status.success(),
        "avifdec failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    image::open(&output).unwrap().to_rgba8()
}
