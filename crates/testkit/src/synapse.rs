//! Starts a real Synapse homeserver on a free 127.0.0.1 port in a temp dir, for end-to-end
//! tests. Synapse comes from PyPI (`matrix-synapse`) in a venv: `PARACHUTE_SYNAPSE_PYTHON`
//! names its python, else `target/synapse-venv/bin/python` is used, created on first use.
//! Its access log (`requests`) tells which user asked for what, e.g. media downloads.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long Synapse may take to answer after start.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// How many ports Synapse tries before a test gives up.
const PORT_ATTEMPTS: usize = 5;

/// Synapse's port was taken by another process before Synapse bound it.
struct PortTaken;

/// A running Synapse; killed (and its files removed) on drop.
pub struct Synapse {
    child: Option<Child>,
    python: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

/// Rate limits loose enough that tests never hit them, unless a test asks for tight ones.
pub const RELAXED_RATE_LIMITS: &str = "
rc_message: {per_second: 10000, burst_count: 10000}
rc_registration: {per_second: 10000, burst_count: 10000}
rc_login:
  address: {per_second: 10000, burst_count: 10000}
  account: {per_second: 10000, burst_count: 10000}
  failed_attempts: {per_second: 10000, burst_count: 10000}
rc_joins:
  local: {per_second: 10000, burst_count: 10000}
  remote: {per_second: 10000, burst_count: 10000}
rc_invites:
  per_room: {per_second: 10000, burst_count: 10000}
  per_user: {per_second: 10000, burst_count: 10000}
  per_issuer: {per_second: 10000, burst_count: 10000}
rc_room_creation: {per_second: 10000, burst_count: 10000}
rc_presence:
  per_user: {per_second: 10000, burst_count: 10000}
";

impl Synapse {
    /// Starts Synapse with relaxed rate limits; panics with a clear message if it cannot.
    pub fn start() -> Self {
        Self::start_with(RELAXED_RATE_LIMITS)
    }

    /// Starts Synapse with extra config lines (e.g. tight `rc_message`).
    pub fn start_with(extra_config: &str) -> Self {
        Self::start_on(free_port(), extra_config)
    }

    /// Starts Synapse on `port` if it is free, else on another free one: a free port can be
    /// taken by a parallel test between the check and Synapse's bind.
    fn start_on(mut port: u16, extra_config: &str) -> Self {
        let python = synapse_python();
        let dir = tempfile::tempdir().expect("temp dir for synapse");
        write_config(dir.path(), port, extra_config);
        let status = Command::new(&python)
            .args(["-m", "synapse.app.homeserver", "--generate-keys", "-c"])
            .arg(dir.path().join("homeserver.yaml"))
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run synapse --generate-keys");
        assert!(status.success(), "synapse could not generate its signing key");
        let mut synapse = Self { child: None, python, dir, port };
        for _ in 0..PORT_ATTEMPTS {
            match synapse.launch() {
                Ok(()) => return synapse,
                Err(PortTaken) => {
                    port = free_port();
                    synapse.port = port;
                    write_config(synapse.dir.path(), port, extra_config);
                }
            }
        }
        panic!("synapse found no free port in {PORT_ATTEMPTS} attempts:\n{}", synapse.log_tail())
    }

    fn launch(&mut self) -> Result<(), PortTaken> {
        let _ = fs::remove_file(self.dir.path().join("homeserver.pid"));
        let log = fs::File::create(self.dir.path().join("stderr.log")).expect("synapse log file");
        let child = Command::new(&self.python)
            .args(["-m", "synapse.app.homeserver", "-c"])
            .arg(self.dir.path().join("homeserver.yaml"))
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn synapse");
        self.child = Some(child);
        self.wait_healthy()
    }

    /// Waits until this Synapse answers; one that answers on its port but is not this one
    /// (this one's access log lacks the request) does not count.
    fn wait_healthy(&mut self) -> Result<(), PortTaken> {
        let deadline = Instant::now() + START_TIMEOUT;
        let url = format!("127.0.0.1:{}", self.port);
        let marker = format!("launch={}", self.dir.path().file_name().and_then(|n| n.to_str()).unwrap_or_default());
        let probe = format!("/_matrix/client/versions?{marker}");
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                let log = self.log_tail();
                if log.contains("Address already in use") {
                    return Err(PortTaken);
                }
                panic!("synapse exited ({status}) during start:\n{log}");
            }
            if answers_ok(&url, &probe) && self.requests().iter().any(|r| r.path.ends_with(&marker)) {
                return Ok(());
            }
            assert!(Instant::now() < deadline, "synapse did not answer within {START_TIMEOUT:?}:\n{}", self.log_tail());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default();
        let lines: Vec<_> = text.lines().rev().take(40).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The server name users live on (`@user:localhost`).
    pub fn server_name(&self) -> &'static str {
        "localhost"
    }

    /// Every request Synapse finished so far, from its access log, oldest first.
    pub fn requests(&self) -> Vec<AccessLogEntry> {
        let log = fs::read_to_string(self.dir.path().join("homeserver.log")).unwrap_or_default();
        log.lines().filter_map(AccessLogEntry::parse).collect()
    }

    /// Kills the homeserver at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the homeserver (SIGSTOP): its socket still accepts connections, nothing is
    /// answered, as a homeserver stuck in swap or a hung host looks to a client.
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    /// Lets a frozen homeserver run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        let pid = self.child.as_ref().expect("synapse is running").id();
        let status = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().expect("kill");
        assert!(status.success(), "kill -{name} {pid} failed");
    }

    /// Starts the homeserver again on the same port with the same database.
    pub fn restart(&mut self) {
        self.kill();
        if self.launch().is_err() {
            panic!("synapse could not bind its port {} again:\n{}", self.port, self.log_tail());
        }
    }
}

/// One line of Synapse's access log: who asked for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogEntry {
    /// The user the access token belonged to (`@bot:localhost`), if any.
    pub requester: Option<String>,
    /// `GET`, `PUT`, …
    pub method: String,
    /// The path with its query.
    pub path: String,
}

impl AccessLogEntry {
    /// Reads `… - {@user:localhost} Processed request: … "GET /path HTTP/1.1" …`.
    fn parse(line: &str) -> Option<Self> {
        let (head, rest) = line.split_once(" Processed request: ")?;
        let requester = head
            .rsplit_once('{')
            .and_then(|(_, r)| r.split_once('}'))
            .map(|(user, _)| user.to_owned())
            .filter(|user| user.starts_with('@'));
        let request = rest.split('"').nth(1)?;
        let mut parts = request.split(' ');
        let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
        Some(Self { requester, method, path })
    }

    /// Whether this is a media download (`/_matrix/client/v1/media/download/…` or the legacy
    /// `/_matrix/media/v3/download/…`).
    pub fn is_media_download(&self) -> bool {
        self.path.contains("/media/download/")
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        self.kill();
    }
}

fn answers_ok(addr: &str, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

fn write_config(dir: &Path, port: u16, extra: &str) {
    let d = dir.display();
    let config = format!(
        "server_name: localhost
pid_file: {d}/homeserver.pid
listeners:
  - port: {port}
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: {d}/homeserver.db
log_config: {d}/log.yaml
media_store_path: {d}/media
signing_key_path: {d}/signing.key
report_stats: false
enable_registration: true
enable_registration_without_verification: true
registration_shared_secret: parachute-test-shared-secret
macaroon_secret_key: parachute-test-macaroon-secret
form_secret: parachute-test-form-secret
suppress_key_server_warning: true
trusted_key_servers: []
url_preview_enabled: false
presence:
  enabled: false
{extra}"
    );
    fs::write(dir.join("homeserver.yaml"), config).expect("write synapse config");
    let log = format!(
        "version: 1
formatters:
  precise:
    format: '%(asctime)s %(levelname)s %(name)s %(message)s'
handlers:
  file:
    class: logging.FileHandler
    formatter: precise
    filename: {d}/homeserver.log
loggers:
  synapse.access:
    level: INFO
root:
  level: WARNING
  handlers: [file]
disable_existing_loggers: false
"
    );
    fs::write(dir.join("log.yaml"), log).expect("write synapse log config");
}

/// The python of the Synapse venv, creating the venv (once, under a lock) if needed.
pub fn synapse_python() -> PathBuf {
    if let Ok(path) = std::env::var("PARACHUTE_SYNAPSE_PYTHON") {
        return PathBuf::from(path);
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
    let venv = target.join("synapse-venv");
    let python = venv.join("bin/python");
    if synapse_importable(&python) {
        return python;
    }
    fs::create_dir_all(&target).expect("target dir");
    let lock = target.join("synapse-venv.lock");
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if fs::create_dir(&lock).is_ok() {
            break;
        }
        if synapse_importable(&python) {
            return python;
        }
        assert!(Instant::now() < deadline, "waited 10 minutes for another process installing Synapse");
        std::thread::sleep(Duration::from_millis(500));
    }
    let result = (|| {
        if !python.exists() {
            run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        }
        run(Command::new(&python).args(["-m", "pip", "install", "--quiet", "matrix-synapse"]))
    })();
    let _ = fs::remove_dir(&lock);
    if let Err(err) = result {
        panic!("could not install Synapse into {}: {err}", venv.display());
    }
    python
}

fn run(command: &mut Command) -> Result<(), String> {
    let status = command.status().map_err(|e| e.to_string())?;
    if status.success() { Ok(()) } else { Err(format!("{command:?} failed: {status}")) }
}

fn synapse_importable(python: &Path) -> bool {
    python.exists()
        && Command::new(python)
            .args(["-c", "import synapse"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_another_synapse_holds_is_given_up_for_a_free_one() {
        let first = Synapse::start();
        let second = Synapse::start_on(first.port, RELAXED_RATE_LIMITS);
        assert_ne!(first.port, second.port);
        assert!(answers_ok(&format!("127.0.0.1:{}", second.port), "/health"));
    }
}
