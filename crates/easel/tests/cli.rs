//! The `easel` binary as a user runs it: configuration layering and checking, and
//! `easel serve` starting, serving and shutting down on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn easel() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_easel"));
    command.env_remove("EASEL_CONFIG").env_remove("RUST_LOG");
    command
}

#[test]
fn config_check_layers_file_env_and_flags_and_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("easel.toml");
    std::fs::write(
        &file,
        "[server]\nbind = \"127.0.0.1:9001\"\n[queue]\nmax_attempts = 5\n[[presign.keys]]\nid = \"k1\"\nsecret = \"a-very-secret-value-of-32-characters!!\"\n",
    )
    .unwrap();
    let output = easel()
        .args(["config", "check", "--config"])
        .arg(&file)
        .env("EASEL__QUEUE__MAX_ATTEMPTS", "7")
        .env("EASEL__WORKERS__COUNT", "4")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let shown = String::from_utf8(output.stdout).unwrap();
    let effective: toml::Value = toml::from_str(&shown).unwrap();
    assert_eq!(
        effective["server"]["bind"].as_str(),
        Some("127.0.0.1:9001"),
        "file beats defaults"
    );
    assert_eq!(
        effective["queue"]["max_attempts"].as_integer(),
        Some(7),
        "env beats file"
    );
    assert_eq!(effective["workers"]["count"].as_integer(), Some(4));
    assert_eq!(
        effective["presign"]["keys"][0]["secret"].as_str(),
        Some("***")
    );
    assert!(!shown.contains("a-very-secret"));

    let output = easel()
        .args(["config", "check", "--config"])
        .arg(&file)
        .env("EASEL__SERVER__BIND", "127.0.0.1:9002")
        .output()
        .unwrap();
    let effective: toml::Value =
        toml::from_str(&String::from_utf8(output.stdout).unwrap()).unwrap();
    assert_eq!(
        effective["server"]["bind"].as_str(),
        Some("127.0.0.1:9002"),
        "env beats file"
    );
}

#[test]
fn config_check_explains_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[queue]\nmax_atempts = 5\n").unwrap();
    let output = easel()
        .args(["config", "check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("max_atempts"), "{stderr}");

    let output = easel()
        .args(["config", "check", "--config", "/nonexistent/easel.toml"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("does not exist"));

    let output = easel()
        .args(["config", "check"])
        .env("EASEL__QUEUE__MAX_ATTEMPTS", "many")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr).to_lowercase();
    assert!(
        stderr.contains("queue.max_attempts") && stderr.contains("environment"),
        "{stderr}"
    );
}

#[test]
fn serve_answers_then_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = easel()
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut before = Vec::new();
    let base = loop {
        let line = lines.next().expect("easel printed its address").unwrap();
        if let Some(url) = line.strip_prefix("easel listening on ") {
            break url.to_owned();
        }
        before.push(line);
    };
    assert!(
        before
            .iter()
            .any(|l| l.contains("created the administrator account `admin`")),
        "the first start prints the admin password: {before:?}"
    );
    let health = Command::new("curl")
        .args(["-sf", &format!("{base}/healthz")])
        .output()
        .unwrap();
    assert!(health.status.success());
    assert_eq!(
        String::from_utf8_lossy(&health.stdout),
        r#"{"status":"ok"}"#
    );
    assert!(dir.path().join("data/easel.db").exists());
    // Keys and secrets live in the database, shared by every process: no key files.
    for file in ["presign.key", "jwt-ed25519.key", "access-keys.key"] {
        assert!(!dir.path().join("data").join(file).exists(), "{file}");
    }

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "{rest:?}");
    let stopped = rest.iter().any(|l| l.contains("\"easel stopped\""));
    assert!(stopped, "JSON logs end with a clean stop: {rest:?}");
}

/// `easel models list` shows what the models directory holds (complete or not);
/// `easel models pull` refuses a name it does not know without `--repo`.
#[cfg(feature = "diffusion")]
#[test]
fn models_list_shows_installed_and_incomplete_models() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    easel_diffusion::tiny::write_tiny_model(
        &models.join("tiny"),
        easel_diffusion::PipelineKind::Inpaint,
        "DDIMScheduler",
    )
    .unwrap();
    let broken = models.join("half-pulled");
    easel_diffusion::tiny::write_tiny_model(
        &broken,
        easel_diffusion::PipelineKind::TextToImage,
        "DDIMScheduler",
    )
    .unwrap();
    std::fs::remove_file(broken.join("vae/diffusion_pytorch_model.safetensors")).unwrap();
    easel_diffusion::tiny::write_tiny_xl_model(
        &models.join("xl"),
        easel_diffusion::PipelineKind::TextToImage,
        "EulerDiscreteScheduler",
    )
    .unwrap();
    let xl_broken = models.join("xl-half-pulled");
    easel_diffusion::tiny::write_tiny_xl_model(
        &xl_broken,
        easel_diffusion::PipelineKind::TextToImage,
        "EulerDiscreteScheduler",
    )
    .unwrap();
    std::fs::remove_file(xl_broken.join("text_encoder_2/model.safetensors")).unwrap();

    let output = easel()
        .args(["models", "list", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let shown = String::from_utf8(output.stdout).unwrap();
    let line = |name: &str| {
        shown
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {shown}"))
            .to_owned()
    };
    assert!(line("tiny").contains("ready (inpainting)"), "{shown}");
    assert!(line("xl ").contains("ready (SDXL)"), "{shown}");
    assert!(
        line("xl-half-pulled").contains("incomplete, lacks text_encoder_2/model.safetensors"),
        "{shown}"
    );
    assert!(
        line("half-pulled").contains("incomplete, lacks vae/diffusion_pytorch_model.safetensors"),
        "{shown}"
    );
    assert!(line("sd-turbo").contains("stabilityai/sd-turbo"), "{shown}");
    // A detection model in its own directory, not taken for a diffusion model.
    assert!(shown.contains("detection models ("), "{shown}");
    assert!(line("(none)").starts_with("  (none)"), "{shown}");
    let detection = dir.path().join("detection-models");
    std::fs::create_dir_all(&detection).unwrap();
    std::fs::write(detection.join("faces.onnx"), b"not read by list").unwrap();
    let output = easel()
        .args(["models", "list", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let shown = String::from_utf8(output.stdout).unwrap();
    let faces = shown
        .lines()
        .find(|l| l.trim_start().starts_with("faces"))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(
        faces.contains("(default)") && faces.contains("faces.onnx"),
        "{shown}"
    );
    assert!(
        !shown.contains("detection-models  "),
        "not a diffusion model: {shown}"
    );

    let output = easel()
        .args(["models", "pull", "my-model", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("give its repository with --repo"), "{error}");
}
