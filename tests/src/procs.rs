//! The real binaries as child processes (kill/restart tests, the demo).
//!
//! Binaries are found next to the test executable's `deps/` directory (`target/<profile>/`),
//! which `cargo test --workspace` and `cargo build --workspace` both fill.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// Path of a workspace binary (`nowconnect-cloud`, `nowconnect-premise`), built if missing.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    if !path.exists() {
        let release = dir.file_name().is_some_and(|d| d == "release");
        let mut args = vec!["build", "--bin", name];
        if release {
            args.push("--release");
        }
        let status = Command::new(env!("CARGO"))
            .args(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --bin {name} failed");
    }
    path
}

/// A child process killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct Proc {
    child: Child,
}

impl Proc {
    /// Starts `name` with exactly `env` (plus PATH) and `args`; output goes to `log`.
    pub fn spawn(
        name: &str,
        args: &[&str],
        env: &HashMap<String, String>,
        log: &std::path::Path,
    ) -> Proc {
        let out = std::fs::File::create(log).expect("log file");
        Proc::spawn_to(name, args, env, out)
    }

    /// Like [`Proc::spawn`], appending to `log` (a restarted process keeps one log file).
    pub fn spawn_appending(
        name: &str,
        args: &[&str],
        env: &HashMap<String, String>,
        log: &std::path::Path,
    ) -> Proc {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        Proc::spawn_to(name, args, env, out)
    }

    fn spawn_to(
        name: &str,
        args: &[&str],
        env: &HashMap<String, String>,
        out: std::fs::File,
    ) -> Proc {
        let err = out.try_clone().expect("log file");
        let child = Command::new(binary(name))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn binary");
        Proc { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits up to `within` for the exit status.
    pub fn terminate(&mut self, within: std::time::Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs a binary to completion; returns (exit code, stdout, stderr).
pub fn run(name: &str, args: &[&str], env: &HashMap<String, String>) -> (i32, String, String) {
    let out = Command::new(binary(name))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .output()
        .expect("run binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
