//! Runs the real `parachute` binary: a server on a free loopback port in a temp vault, and
//! client commands against it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_parachute");

/// A `parachute serve` process; killed on drop.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub vault: PathBuf,
    logs: Arc<Mutex<String>>,
    _dir: Option<tempfile::TempDir>,
    log_level: &'static str,
}

impl Server {
    /// Starts a server whose vault holds `config` (none: a new vault) and waits for its
    /// "listening on" line.
    pub fn start(config: Option<&str>) -> Self {
        Self::start_at_level(config, "info")
    }

    /// Like `start`, with every log line at TRACE level.
    pub fn start_traced(config: &str) -> Self {
        Self::start_at_level(Some(config), "trace")
    }

    fn start_at_level(config: Option<&str>, log_level: &'static str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let vault = dir.path().join("vault");
        if let Some(text) = config {
            std::fs::create_dir_all(vault.join(".parachute")).unwrap();
            std::fs::write(vault.join(".parachute/bots.yaml"), text).unwrap();
        }
        let (child, url, logs) = spawn(&vault, log_level);
        Self { child, url, vault, logs, _dir: Some(dir), log_level }
    }

    /// Starts a server on a vault that already exists (kept when the server is dropped).
    pub fn start_in(vault: &Path) -> Self {
        let (child, url, logs) = spawn(vault, "info");
        Self { child, url, vault: vault.to_owned(), logs, _dir: None, log_level: "info" }
    }

    /// Kills the process at once (SIGKILL), as a crash of the bot would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a new server process on the same vault (after `kill` or `terminate`).
    pub fn restart(&mut self) {
        let (child, url, logs) = spawn(&self.vault, self.log_level);
        self.child = child;
        self.url = url;
        self.logs = logs;
    }

    /// Runs a client command against this server.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli_at(&self.url, args)
    }

    /// Everything the current process logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// The config file.
    pub fn config_path(&self) -> PathBuf {
        self.vault.join(".parachute/bots.yaml")
    }

    /// Asks `/api/bots/status` (every 50 ms) until every one of `platforms` is connected;
    /// panics with the last status after `limit`.
    pub async fn wait_connected(&self, platforms: &[&str], limit: Duration) {
        let http = reqwest::Client::new();
        let status_url = format!("{}/api/bots/status", self.url);
        let deadline = std::time::Instant::now() + limit;
        loop {
            let status: serde_json::Value = http.get(&status_url).send().await.unwrap().json().await.unwrap();
            if platforms.iter().all(|p| status["connectors"][p]["state"] == "connected") {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "connectors did not connect: {status:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGHUP: the server reads bots.yaml again.
    pub fn hangup(&self) {
        signal(self.child.id(), "HUP");
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        signal(self.child.id(), "TERM");
        wait_bounded(&mut self.child, Duration::from_secs(15))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Spawns `parachute serve` on a free port for `vault`; waits for its "listening on" line.
fn spawn(vault: &Path, log_level: &str) -> (Child, String, Arc<Mutex<String>>) {
    let mut child = Command::new(BIN)
        .args(["serve", "--port", "0", "--vault"])
        .arg(vault)
        .env("RUST_LOG", log_level)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn parachute serve");
    let stderr = child.stderr.take().expect("stderr");
    let logs = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel();
    let sink = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                // A text line ends with the address; a JSON line (`log.format: json`) with `",…`.
                let _ = tx.send(rest.split(['"', ' ']).next().unwrap_or_default().to_owned());
            }
            let mut logs = sink.lock().unwrap();
            logs.push_str(&line);
            logs.push('\n');
        }
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(url) => (child, url, logs),
        Err(_) => {
            let _ = child.kill();
            panic!("server did not start; logs:\n{}", logs.lock().unwrap());
        }
    }
}

/// Runs `parachute ARGS` against `url`.
pub fn cli_at(url: &str, args: &[&str]) -> Output {
    Command::new(BIN).args(args).env("PARACHUTE_URL", url).env_remove("PARACHUTE_API_TOKEN").output().expect("run cli")
}

/// Runs `parachute ARGS` with `dir` as working directory.
pub fn cli_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN).args(args).current_dir(dir).output().expect("run cli")
}

pub fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().expect("kill");
    assert!(status.success());
}

pub fn wait_bounded(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "process did not exit within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
