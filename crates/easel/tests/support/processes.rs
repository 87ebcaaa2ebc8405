//! Easel processes started from the built binary, as an operator starts them.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// One Easel process, killed when dropped.
pub struct Easel {
    pub child: Child,
    /// The API's base URL (`serve` only).
    pub base: Option<String>,
}

impl Easel {
    /// Kills the process and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Easel {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `command` (an `easel serve …`) and waits until it prints the address it
/// listens on.
pub fn serve(mut command: Command) -> Easel {
    let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
    let (found, address) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("easel listening on ") {
                let _ = found.send(url.to_owned());
            }
        }
    });
    let base = address
        .recv_timeout(Duration::from_secs(60))
        .expect("easel serve printed its address");
    Easel {
        child,
        base: Some(base),
    }
}

/// Starts `command` (an `easel worker`, say) without waiting for anything.
#[allow(dead_code)] // not every test binary starts workers
pub fn start(mut command: Command) -> Easel {
    let child = command.stderr(Stdio::null()).spawn().unwrap();
    Easel { child, base: None }
}
