//! The rounds of an answer that may use tools: the model is asked, the tools it asks for run
//! (only those the sender's toolbox holds), their results go back, and it is asked again,
//! within the toolbox's bounds on steps and time. The text of every round is the answer, so
//! a preview that showed "let me look" keeps it.

use futures_util::future::BoxFuture;
use tokio::time::Instant;

use super::BrainError;
use crate::companion::{ToolCall, ToolOutcome, Toolbox};

/// What the model said in one round.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Step {
    /// Its text (may be empty when it only calls tools).
    pub text: String,
    /// The tools it asked for.
    pub calls: Vec<ToolCall>,
}

/// How one round ended.
#[derive(Debug)]
pub enum Round {
    /// The model answered (and perhaps asked for tools).
    Step(Step),
    /// The stream broke after this text (the answer ends here, with a note).
    Cut(String),
}

/// The note an answer ends with when the model still wanted tools at the bound.
pub const TOOL_LIMIT_NOTE: &str = "*(I stopped here: this answer reached its limit of tool use.)*";

/// One API's side of the rounds.
pub trait ToolApi: Send {
    /// Asks the model with the conversation so far; `earlier` is the text of the earlier
    /// rounds, shown before this round's text in a preview.
    fn ask<'a>(&'a mut self, earlier: &'a str) -> BoxFuture<'a, Result<Round, BrainError>>;

    /// Adds the model's `step` and what its calls gave back to the conversation.
    fn answer_calls(&mut self, step: &Step, outcomes: &[ToolOutcome]);
}

/// Asks `api` until the model answers without calling tools, or the bounds of `toolbox` are
/// reached; without a toolbox, once.
pub async fn answer(api: &mut dyn ToolApi, toolbox: Option<&Toolbox>) -> Result<String, BrainError> {
    let bounds = toolbox.map(|toolbox| (toolbox.max_steps.max(1), Instant::now() + toolbox.max_time));
    let mut said: Vec<String> = Vec::new();
    let mut rounds = 0u32;
    loop {
        rounds += 1;
        let earlier = said.join("\n\n");
        let step = match api.ask(&earlier).await? {
            Round::Cut(text) => return Ok(text),
            Round::Step(step) => step,
        };
        if !step.text.trim().is_empty() {
            said.push(step.text.trim().to_owned());
        }
        let (Some(toolbox), Some((max_steps, deadline))) = (toolbox, bounds) else { break };
        if step.calls.is_empty() {
            break;
        }
        if rounds >= max_steps || Instant::now() >= deadline {
            tracing::warn!(rounds, "the answer reached its bound of tool rounds");
            said.push(TOOL_LIMIT_NOTE.to_owned());
            break;
        }
        let mut outcomes = Vec::with_capacity(step.calls.len());
        for call in &step.calls {
            outcomes.push(call_within(toolbox, call, deadline).await);
        }
        api.answer_calls(&step, &outcomes);
    }
    let answer = said.join("\n\n");
    if answer.trim().is_empty() {
        return Err(BrainError::Unavailable("the answer has no text".to_owned()));
    }
    Ok(answer)
}

/// Runs one call, cut off at the answer's `deadline` (so a hung server costs the answer at
/// most what is left of `tools.max_time`, not its own timeout per call); a call that comes
/// up after the deadline is not started. Either way the model is told.
async fn call_within(toolbox: &Toolbox, call: &ToolCall, deadline: Instant) -> ToolOutcome {
    let out_of_time = || ToolOutcome {
        content: format!("`{}` did not run to the end: this answer ran out of time for tools.", call.name),
        is_error: true,
    };
    if Instant::now() >= deadline {
        tracing::warn!(tool = %call.name, "tool call not started: the answer's time for tools is over");
        return out_of_time();
    }
    match tokio::time::timeout_at(deadline, toolbox.call(call)).await {
        Ok(outcome) => outcome,
        Err(_) => {
            tracing::warn!(tool = %call.name, "tool call cut off at the answer's time limit (tools.max_time)");
            out_of_time()
        }
    }
}

/// `earlier` and `text` as one answer.
pub fn joined(earlier: &str, text: &str) -> String {
    match (earlier.trim(), text.trim()) {
        ("", text) => text.to_owned(),
        (earlier, "") => earlier.to_owned(),
        (earlier, text) => format!("{earlier}\n\n{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parachute_core::config::ToolsConfig;
    use parachute_core::ids::Platform;
    use parachute_core::trust::TrustLevel;
    use serde_json::json;

    /// A model that asks for `read_note` every round, and the results it was given.
    struct Insistent {
        given: Vec<String>,
    }

    impl ToolApi for Insistent {
        fn ask<'a>(&'a mut self, _earlier: &'a str) -> BoxFuture<'a, Result<Round, BrainError>> {
            let round = self.given.len();
            Box::pin(async move {
                let call =
                    ToolCall { id: format!("c{round}"), name: "read_note".into(), arguments: json!({"path": "a.md"}) };
                Ok(Round::Step(Step { text: format!("round {round}"), calls: vec![call] }))
            })
        }

        fn answer_calls(&mut self, _step: &Step, outcomes: &[ToolOutcome]) {
            self.given.extend(outcomes.iter().map(|o| o.content.clone()));
        }
    }

    #[tokio::test]
    async fn rounds_stop_at_the_step_bound_with_a_note() {
        let vault = tempfile::tempdir().unwrap();
        std::fs::write(vault.path().join("a.md"), "note text").unwrap();
        let config = ToolsConfig { max_steps: 3, ..ToolsConfig::default() };
        let toolbox = Toolbox::for_sender(&config, TrustLevel::Direct, vault.path().into(), Platform::Matrix, None)
            .await
            .unwrap();
        let mut model = Insistent { given: Vec::new() };
        let answer = answer(&mut model, Some(&toolbox)).await.unwrap();
        assert_eq!(answer, format!("round 0\n\nround 1\n\nround 2\n\n{TOOL_LIMIT_NOTE}"));
        assert_eq!(model.given, ["note text", "note text"]);
    }

    #[tokio::test]
    async fn without_a_toolbox_the_model_is_asked_once_and_its_calls_ignored() {
        let mut model = Insistent { given: Vec::new() };
        assert_eq!(answer(&mut model, None).await.unwrap(), "round 0");
        assert!(model.given.is_empty());
    }
}
