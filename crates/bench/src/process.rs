//! Bot processes for the end-to-end benchmarks: where the binaries are, starting them, and
//! their memory and CPU time from /proc.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use parachute_testkit::synapse::synapse_python;

/// The Synapse venv's python, with matrix-nio installed into it from PyPI if missing.
pub fn nio_python() -> PathBuf {
    let python = synapse_python();
    let importable = |python: &Path| {
        Command::new(python)
            .args(["-c", "import nio"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !importable(&python) {
        let status =
            Command::new(&python).args(["-m", "pip", "install", "--quiet", "matrix-nio"]).status().expect("run pip");
        assert!(status.success() && importable(&python), "could not install matrix-nio: {status}");
    }
    python
}

/// The `parachute` binary next to this one (build both with `cargo build --release`).
pub fn parachute_binary() -> PathBuf {
    let me = std::env::current_exe().expect("own path");
    me.with_file_name("parachute")
}

/// Spawns a bot and waits until it prints `ready_word` (stdout or stderr).
pub fn spawn_waiting(command: &mut Command, ready_word: &'static str) -> Child {
    use std::io::{BufRead, BufReader};
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn bot");
    let (tx, rx) = std::sync::mpsc::channel();
    for stream in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if line.contains(ready_word) {
                    let _ = tx.send(());
                }
            }
        });
    }
    if rx.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = child.kill();
        panic!("bot did not report `{ready_word}` within 60 s");
    }
    child
}

/// User + system CPU time of a process.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Resident memory of a process, from `/proc/<pid>/status` (KiB each).
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    /// Resident now (`VmRSS`).
    pub rss: Option<u64>,
    /// Resident at its peak (`VmHWM`).
    pub peak: Option<u64>,
    /// Of `rss`, anonymous memory: heap and stacks (`RssAnon`).
    pub anon: Option<u64>,
    /// Of `rss`, file-backed pages: mostly the program's own code (`RssFile`).
    pub file: Option<u64>,
}

/// Resident memory of `pid` now and at its peak, with the anonymous / file-backed split.
pub fn memory_kib(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Memory { rss: field("VmRSS:"), peak: field("VmHWM:"), anon: field("RssAnon:"), file: field("RssFile:") }
}
