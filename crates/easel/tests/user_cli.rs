//! `easel user …` as an administrator runs it, and the auth guard rails at startup.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn easel(data: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_easel"));
    command
        .env_remove("EASEL_CONFIG")
        .env_remove("RUST_LOG")
        .args(["user", "--data-dir"])
        .arg(data)
        .args(args);
    command
}

fn run(data: &std::path::Path, args: &[&str]) -> Output {
    easel(data, args).output().unwrap()
}

fn with_stdin(data: &std::path::Path, args: &[&str], input: &str) -> Output {
    let mut child = easel(data, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn add_list_disable_and_set_password() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let added = run(&data, &["add", "Ops@Example.com", "--admin"]);
    assert!(added.status.success(), "{}", text(&added));
    let out = String::from_utf8(added.stdout).unwrap();
    assert!(out.contains("created user ops@example.com"), "{out}");
    let password = out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("a generated password is printed");
    assert!(password.len() >= 12);

    let again = run(&data, &["add", "ops@example.com"]);
    assert!(!again.status.success());
    assert!(text(&again).contains("already exists"), "{}", text(&again));

    let weak = with_stdin(
        &data,
        &["add", "weak@example.com", "--password-stdin"],
        "password\n",
    );
    assert!(!weak.status.success());
    assert!(text(&weak).contains("uppercase"), "{}", text(&weak));
    let chosen = with_stdin(
        &data,
        &["add", "dev", "--password-stdin", "--plan", "default"],
        "Chosen-pa55\n",
    );
    assert!(chosen.status.success(), "{}", text(&chosen));
    assert!(
        !text(&chosen).contains("password:"),
        "a chosen password is not echoed"
    );
    let unknown_plan = run(&data, &["add", "x", "--plan", "gold"]);
    assert!(!unknown_plan.status.success());

    assert!(run(&data, &["disable", "dev"]).status.success());
    let listed = String::from_utf8(run(&data, &["list"]).stdout).unwrap();
    let dev = listed
        .lines()
        .find(|l| l.contains(" dev "))
        .expect("dev is listed");
    assert!(dev.contains("true"), "disabled shows: {dev}");
    let ops = listed
        .lines()
        .find(|l| l.contains("ops@example.com"))
        .unwrap();
    assert!(ops.contains("true"), "admin shows: {ops}");

    let set = with_stdin(
        &data,
        &["set-password", "ops@example.com", "--password-stdin"],
        "N3w-secret!\n",
    );
    assert!(set.status.success(), "{}", text(&set));
    let missing = run(&data, &["set-password", "nobody"]);
    assert!(!missing.status.success());
    assert!(text(&missing).contains("no user `nobody`"));
    assert!(
        run(&data, &["set-plan", "dev", "--default"])
            .status
            .success()
    );
}

#[test]
fn auth_mode_none_refuses_a_public_bind() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("easel.toml");
    std::fs::write(&file, "[auth]\nmode = \"none\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_easel"))
        .env_remove("EASEL_CONFIG")
        .args(["serve", "--bind", "0.0.0.0:0", "--config"])
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("loopback"), "{stderr}");
}
