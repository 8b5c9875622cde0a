//! The `command` brain: runs a configured program per message, writes the [`BrainRequest`] as
//! JSON to its stdin and takes the answer from its stdout.

use std::process::Stdio;
use std::time::Duration;

use futures_util::future::BoxFuture;
use parachute_core::config::BrainConfig;
use parachute_core::trust::TrustLevel;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::{Brain, BrainError, BrainRequest};

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

    async fn run(self, request: BrainRequest) -> Result<String, BrainError> {
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
        let mut stdin = child.stdin.take();
        let exchange = async move {
            if let Some(stdin) = stdin.as_mut() {
                // A program that answers without reading its input closes the pipe: not an error.
                let _ = stdin.write_all(&input).await;
                let _ = stdin.shutdown().await;
            }
            drop(stdin);
            child.wait_with_output().await
        };
        // On timeout the future (and with it the child, `kill_on_drop`) is dropped.
        let output = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| BrainError::Timeout)?
            .map_err(|e| BrainError::Unavailable(format!("{} failed: {e}", self.program)))?;
        if !output.status.success() {
            let stderr: String = String::from_utf8_lossy(&output.stderr).chars().take(STDERR_EXCERPT_CHARS).collect();
            tracing::warn!(program = %self.program, status = %output.status, stderr = %stderr.trim(), "command brain failed");
            return Err(BrainError::Unavailable(format!("{} exited with {}", self.program, output.status)));
        }
        let answer = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if answer.is_empty() {
            return Err(BrainError::Unavailable(format!("{} printed no answer", self.program)));
        }
        Ok(answer)
    }
}

impl Brain for CommandBrain {
    fn name(&self) -> &str {
        "command"
    }

    fn respond(&self, request: BrainRequest) -> BoxFuture<'static, Result<String, BrainError>> {
        Box::pin(self.clone().run(request))
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
            system_prompt: None,
            history: Vec::new(),
            message: "hello".into(),
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
}
