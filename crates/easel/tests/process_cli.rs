//! Drives the built `easel` binary's `process` command end to end on generated images.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("easel-process-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &d in data {
        a = (a + u32::from(d)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// A `w`×`h` RGB PNG of one colour, written with stored (uncompressed) deflate blocks.
fn png(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
    let row: Vec<u8> = std::iter::once(0).chain((0..w).flat_map(|_| rgb)).collect();
    let raw: Vec<u8> = (0..h).flat_map(|_| row.iter().copied()).collect();
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    z.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    for (kind, data) in [(&b"IHDR"[..], ihdr), (b"IDAT", z), (b"IEND", Vec::new())] {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(&data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    out
}

fn easel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_easel"))
        .arg("process")
        .args(args)
        .output()
        .expect("easel runs")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn processes_a_directory_with_a_preset() {
    let dir = scratch("dir");
    let input = dir.join("in");
    std::fs::create_dir_all(input.join("nested")).unwrap();
    std::fs::write(input.join("wide.png"), png(600, 300, [200, 10, 10])).unwrap();
    // A wrong extension: the bytes decide, not the name.
    std::fs::write(input.join("nested/tall.jpg"), png(100, 400, [10, 10, 200])).unwrap();
    std::fs::write(input.join("notes.txt"), "not an image").unwrap();
    let out = dir.join("out");
    let result = easel(&[s(&input), "-o", s(&out), "--preset", "thumbnail"]);
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(
        result.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(stdout.contains("2 files: 2 ok, 0 failed"), "{stdout}");
    for name in ["wide.webp", "nested/tall.webp"] {
        let bytes = std::fs::read(out.join(name)).unwrap();
        assert_eq!(&bytes[8..12], b"WEBP", "{name}");
    }
    assert!(!out.join("notes.webp").exists());
}

#[test]
fn failures_are_reported_per_file_with_a_nonzero_exit() {
    let dir = scratch("fail");
    std::fs::write(dir.join("good.png"), png(50, 50, [1, 2, 3])).unwrap();
    std::fs::write(dir.join("empty.png"), b"").unwrap();
    std::fs::write(dir.join("bogus.jpg"), b"definitely not a jpeg").unwrap();
    let out = dir.join("out");
    let pipeline = r#"{"ops":[{"op":"resize","width":20}],"output":{"format":"jpeg"}}"#;
    let result = easel(&[
        s(&dir.join("good.png")),
        s(&dir.join("empty.png")),
        s(&dir.join("bogus.jpg")),
        "-o",
        s(&out),
        "--pipeline",
        pipeline,
    ]);
    assert_eq!(result.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&result.stderr);
    let failed: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("failed:"))
        .collect();
    assert_eq!(failed.len(), 2, "{stderr}");
    assert!(
        failed
            .iter()
            .any(|l| l.contains("empty.png") && l.contains("empty-input")),
        "{stderr}"
    );
    assert!(
        failed
            .iter()
            .any(|l| l.contains("bogus.jpg") && l.contains("unsupported-format")),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&result.stdout).contains("3 files: 1 ok, 2 failed"));
    assert_eq!(
        &std::fs::read(out.join("good.jpg")).unwrap()[..2],
        &[0xFF, 0xD8]
    );
}

#[test]
fn never_overwrites_an_input() {
    let dir = scratch("same");
    let original = png(40, 40, [9, 9, 9]);
    std::fs::write(dir.join("a.png"), &original).unwrap();
    let pipeline_file = dir.join("p.json");
    std::fs::write(&pipeline_file, r#"{"ops":[{"op":"resize","width":10}]}"#).unwrap();
    let at = format!("@{}", s(&pipeline_file));
    let result = easel(&[s(&dir.join("a.png")), "-o", s(&dir), "--pipeline", &at]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert_eq!(
        std::fs::read(dir.join("a.png")).unwrap(),
        original,
        "input untouched"
    );
    assert!(dir.join("a-2.png").exists());
}

#[test]
fn usage_errors_exit_nonzero_with_a_message() {
    let dir = scratch("usage");
    std::fs::write(dir.join("a.png"), png(4, 4, [0, 0, 0])).unwrap();
    let out = dir.join("out");
    let r = easel(&[s(&dir.join("a.png")), "-o", s(&out), "--preset", "nope"]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("unknown preset"));
    let r = easel(&[
        s(&dir.join("a.png")),
        "-o",
        s(&out),
        "--pipeline",
        r#"{"ops":[{"op":"rotate","degrees":7}]}"#,
    ]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("ops[0] rotate"));
}
