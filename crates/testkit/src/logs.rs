//! Captures every log line of the process at TRACE, so tests can assert what was (not) logged.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

static CAPTURE: OnceLock<Buffer> = OnceLock::new();

/// Installs (once per process) a global TRACE subscriber writing into memory.
pub fn capture_logs() {
    CAPTURE.get_or_init(|| {
        let buffer = Buffer::default();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(buffer.clone())
            .try_init();
        buffer
    });
}

/// Everything logged since `capture_logs` was first called.
pub fn captured_logs() -> String {
    CAPTURE
        .get()
        .map(|b| String::from_utf8_lossy(&b.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned())
        .unwrap_or_default()
}
