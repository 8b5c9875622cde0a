//! The `command` brain: runs a configured program per message, writes the [`BrainRequest`] as
//! JSON to its stdin and takes the answer from its stdout, read line by line as it is printed
//! (a streamed answer grows with every line).

use std::process::Stdio;
use std::time::Duration;

use futures_util::future::BoxFuture;
use parachute_core::config::BrainConfig;
use parachute_core::trust::TrustLevel;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStderr, ChildStdout, Command};

use super::{Brain, BrainError, BrainRequest, PartialText, cut_off_note};

/// Longest stderr excerpt put into the log when the program fails, in characters.
const STDERR_EXCERPT_CHARS: usize = 500;

/// Runs `program args…` once per message; killed when it exceeds `timeout`.
#[derive(Debug, Clone)]
pub struct CommandBrain {
    program: String,
    args: Vec<String>,
    timeout: Duration,
    allow_sandboxed: bool,
}

impl CommandBrain {
    /// A command brain from the `brain` config section (`command`, `args`, `timeout`,
    /// `allow_sandboxed`); `None` when no command is configured.
    pub fn from_config(config: &BrainConfig) -> Option<Self> {
        let program = config.command.as_deref().map(str::trim).filter(|c| !c.is_empty())?;
        Some(Self {
            program: program.to_owned(),
            args: config.args.clone(),
            timeout: config.timeout.0,
            allow_sandboxed: config.allow_sandboxed,
        })
    }

    /// Runs the program for `request`. Its stdout is read line by line as it comes and, with
    /// `partial`, published as the text so far; once some of it was shown, a program that
    /// fails or runs out of time ends the answer with what it printed and a note, not with an
    /// apology that would replace it.
    async fn run(self, request: BrainRequest, partial: Option<PartialText>) -> Result<String, BrainError> {
        if request.trust_level == TrustLevel::Sandboxed && !self.allow_sandboxed {
            return Err(BrainError::Refused("the command brain only answers trusted (direct) senders here".to_owned()));
        }
        let input = serde_json::to_vec(&request).map_err(|e| BrainError::Unavailable(format!("request: {e}")))?;
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BrainError::Unavailable(format!("cannot start {}: {e}", self.program)))?;
        let (mut stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let shown = partial.clone();
        let exchange = async move {
            let write = async {
                if let Some(stdin) = stdin.as_mut() {
                    // A program that answers without reading its input closes the pipe: not an error.
                    let _ = stdin.write_all(&input).await;
                    let _ = stdin.shutdown().await;
                }
                drop(stdin);
            };
            let (_, out, err) = tokio::join!(write, read_lines(stdout, partial.as_ref()), read_excerpt(stderr));
            child.wait().await.map(|status| (status, out, err))
        };
        let said_so_far = || shown.as_ref().map(|p| p.borrow().clone()).filter(|text| !text.is_empty());
        // On timeout the future (and with it the child, `kill_on_drop`) is dropped.
        let (status, stdout, stderr) = match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => {
                return match said_so_far() {
                    Some(text) => Ok(cut_off_note(&text, "the program did not finish in time")),
                    None => Err(BrainError::Timeout),
                };
            }
            Ok(Err(e)) => return Err(BrainError::Unavailable(format!("{} failed: {e}", self.program))),
            Ok(Ok(output)) => output,
        };
        if !status.success() {
            tracing::warn!(program = %self.program, %status, stderr = %stderr.trim(), "command brain failed");
            return match said_so_far() {
                Some(text) => Ok(cut_off_note(&text, &format!("the program exited with {status}"))),
                None => Err(BrainError::Unavailable(format!("{} exited with {status}", self.program))),
            };
        }
        let answer = stdout.trim().to_owned();
        if answer.is_empty() {
            return Err(BrainError::Unavailable(format!("{} printed no answer", self.program)));
        }
        Ok(answer)
    }
}

/// Reads the program's stdout to its end, line by line, publishing the text so far on
/// `partial` after each line.
async fn read_lines(stdout: Option<ChildStdout>, partial: Option<&PartialText>) -> String {
    let Some(stdout) = stdout else { return String::new() };
    let mut reader = BufReader::new(stdout);
    let mut bytes = Vec::new();
    loop {
        match reader.read_until(b'\n', &mut bytes).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if let Some(partial) = partial {
                    partial.send_replace(String::from_utf8_lossy(&bytes).trim().to_owned());
                }
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The start of the program's stderr (for the log); the rest is read and dropped, so the
/// program never blocks on a full pipe.
async fn read_excerpt(stderr: Option<ChildStderr>) -> String {
    let Some(mut stderr) = stderr else { return String::new() };
    let mut kept = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n @ 1..) = stderr.read(&mut buffer).await {
        let room = (STDERR_EXCERPT_CHARS * 4).saturating_sub(kept.len());
        kept.extend_from_slice(&buffer[..n.min(room)]);
    }
    String::from_utf8_lossy(&kept).chars().take(STDERR_EXCERPT_CHARS).collect()
}

impl Brain for CommandBrain {
    fn name(&self) -> &str {
        "command"
    }

    fn respond(&self, request: BrainRequest) -> BoxFuture<'static, Result<String, BrainError>> {
        Box::pin(self.clone().run(request, None))
    }

    fn streams(&self) -> bool {
        true
    }

    fn respond_streaming(
        &self,
        request: BrainRequest,
        partial: PartialText,
    ) -> BoxFuture<'static, Result<String, BrainError>> {
        Box::pin(self.clone().run(request, Some(partial)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parachute_core::duration::HumanDuration;
    use parachute_core::ids::{ChatId, ChatKind, Platform};

    fn brain(script: &str, timeout_ms: u64, allow_sandboxed: bool) -> CommandBrain {
        let config = BrainConfig {
            command: Some("sh".into()),
            args: vec!["-c".into(), script.into()],
            timeout: HumanDuration(Duration::from_millis(timeout_ms)),
            allow_sandboxed,
            ..BrainConfig::default()
        };
        CommandBrain::from_config(&config).unwrap()
    }

    fn request(trust_level: TrustLevel) -> BrainRequest {
        BrainRequest {
            session_id: 7,
            platform: Platform::Matrix,
            chat: ChatId::from("!room:x"),
            chat_kind: ChatKind::Direct,
            sender_display: "Ann".into(),
            trust_level,
            persona: None,
            system_prompt: None,
            chat_prompt: None,
            model: None,
            memory: None,
            tools: None,
            history: Vec::new(),
            message: "hello".into(),
            images: Vec::new(),
        }
    }

    #[tokio::test]
    async fn the_request_goes_to_stdin_as_json_and_stdout_is_the_answer() {
        let answer = brain("cat", 5000, false).respond(request(TrustLevel::Direct)).await.unwrap();
        let json: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(json["session_id"], 7);
        assert_eq!(json["platform"], "matrix");
        assert_eq!(json["sender_display"], "Ann");
        assert_eq!(json["trust_level"], "direct");
        assert_eq!(json["message"], "hello");
    }

    #[tokio::test]
    async fn sandboxed_senders_are_refused_unless_allowed() {
        let refused = brain("echo hi", 5000, false).respond(request(TrustLevel::Sandboxed)).await;
        assert!(matches!(refused, Err(BrainError::Refused(_))), "{refused:?}");
        let allowed = brain("echo hi", 5000, true).respond(request(TrustLevel::Sandboxed)).await;
        assert_eq!(allowed.unwrap(), "hi");
    }

    #[tokio::test]
    async fn failures_are_errors() {
        let failed = brain("echo oops >&2; exit 3", 5000, false).respond(request(TrustLevel::Direct)).await;
        assert!(matches!(&failed, Err(BrainError::Unavailable(m)) if m.contains("exit")), "{failed:?}");
        let silent = brain("true", 5000, false).respond(request(TrustLevel::Direct)).await;
        assert!(matches!(silent, Err(BrainError::Unavailable(_))));
        let slow = brain("sleep 30", 200, false).respond(request(TrustLevel::Direct)).await;
        assert_eq!(slow, Err(BrainError::Timeout));
    }

    #[tokio::test]
    async fn a_streamed_answer_grows_line_by_line_as_the_program_prints() {
        let dir = tempfile::tempdir().unwrap();
        let go_on = dir.path().join("go-on");
        // The second line comes only once the test has seen the first one.
        let script =
            format!("echo 'first line'; while [ ! -e '{}' ]; do sleep 0.01; done; echo 'second line'", go_on.display());
        let (partial, mut shown) = tokio::sync::watch::channel(String::new());
        let answer =
            tokio::spawn(brain(&script, 10_000, false).respond_streaming(request(TrustLevel::Direct), partial));
        let first = tokio::time::timeout(Duration::from_secs(10), shown.wait_for(|text| !text.is_empty())).await;
        assert_eq!(first.unwrap().unwrap().as_str(), "first line");
        std::fs::write(&go_on, b"").unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(10), answer).await.unwrap().unwrap();
        assert_eq!(answer.unwrap(), "first line\nsecond line");
        assert_eq!(shown.borrow().as_str(), "first line\nsecond line");
    }

    #[tokio::test]
    async fn a_program_that_fails_after_printing_keeps_its_text_and_says_it_was_cut() {
        let (partial, _shown) = tokio::sync::watch::channel(String::new());
        let answer = brain("echo 'half an answer'; exit 2", 5000, false)
            .respond_streaming(request(TrustLevel::Direct), partial)
            .await
            .unwrap();
        assert!(answer.starts_with("half an answer"), "{answer}");
        assert!(answer.contains("cut off") && answer.contains("exit"), "no note: {answer}");
    }
}
