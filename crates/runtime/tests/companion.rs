//! The companion inside a real runtime, configured through `bots.yaml`, with the fake AI
//! provider asking for tool calls in both APIs' shapes: the persona opens the system prompt,
//! a `direct` sender's answer searches the vault and writes a memory note that later
//! conversations see; a `sandboxed` sender is offered read-only tools at most, and a
//! forbidden call or a path out of the vault never runs, whatever the model asks.

use std::time::Duration;

use parachute_core::config::BrainKind;
use parachute_core::ids::Platform;
use parachute_testkit::ai_fake::{AiCall, AiFake, Api, Scripted};
use parachute_testkit::{TestRuntime, dm};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);
const KEY: &str = "sk-companion-test-key-0123456789";

/// `bots.yaml` for `kind` against the fake: Telegram streams (the default), Discord sends
/// whole answers; both know the user 42 at `trust`, with `tools` as given.
fn yaml(kind: BrainKind, fake: &AiFake, trust: &str, tools: &str) -> String {
    let url = match kind {
        BrainKind::Anthropic => fake.anthropic_url(),
        _ => fake.openai_url(),
    };
    format!(
        "brain:\n  kind: {}\n  model: fake-model\n  base_url: {url}\n  api_key: {KEY}\n\
         {tools}\
         telegram:\n  allowed_users: ['42']\n  dm_trust_level: {trust}\n\
         discord:\n  allowed_users: ['42']\n  dm_trust_level: {trust}\n  stream: 'off'\n",
        kind.as_str()
    )
}

fn system_of(call: &AiCall) -> String {
    let system = call.body.get("system").cloned().unwrap_or_else(|| call.body["messages"][0]["content"].clone());
    system.as_str().unwrap_or_default().to_owned()
}

fn tool_names(call: &AiCall) -> Vec<String> {
    let tools = call.body["tools"].as_array().cloned().unwrap_or_default();
    tools
        .iter()
        .map(|tool| tool.get("function").map_or(&tool["name"], |f| &f["name"]).as_str().unwrap_or_default().to_owned())
        .collect()
}

/// What the tools gave back in a request, in order: (content, is an error).
fn tool_results(call: &AiCall) -> Vec<(String, bool)> {
    let messages = call.body["messages"].as_array().cloned().unwrap_or_default();
    let mut results = Vec::new();
    for message in messages {
        if message["role"] == "tool" {
            let content = message["content"].as_str().unwrap_or_default().to_owned();
            results.push((content.trim_start_matches("Error: ").to_owned(), content.starts_with("Error: ")));
        }
        for block in message["content"].as_array().cloned().unwrap_or_default() {
            if block["type"] == "tool_result" {
                results.push((block["content"].as_str().unwrap_or_default().to_owned(), block["is_error"] == true));
            }
        }
    }
    results
}

fn tool_call(text: &str, name: &str, input: Value) -> Scripted {
    Scripted::ToolCall { text: text.into(), name: name.into(), input }
}

#[actix::test]
async fn a_direct_senders_answer_uses_the_vault_the_persona_and_memory() {
    for kind in [BrainKind::Anthropic, BrainKind::Openai] {
        for platform in [Platform::Telegram, Platform::Discord] {
            let fake = AiFake::start(Some(KEY));
            let rt = TestRuntime::start_yaml(&yaml(kind, &fake, "direct", ""), None);
            std::fs::write(rt.vault.join(".parachute/persona.md"), "You are Ada, a calm gardener.\n").unwrap();
            std::fs::create_dir_all(rt.vault.join("notes")).unwrap();
            std::fs::write(rt.vault.join("notes/ferns.md"), "Maidenhair ferns like shade.\n").unwrap();
            let api = Api::of(kind);
            fake.script(api, tool_call("Let me look.", "search_notes", json!({"query": "ferns"})));
            fake.script(api, Scripted::Answer("Ferns like shade.".into()));
            fake.script(api, tool_call("", "write_memory", json!({"name": "cat", "text": "The cat is Miso."})));
            fake.script(api, Scripted::Answer("Noted.".into()));
            let chat = rt.fake(platform);
            chat.wait_connected(1, WAIT).await;

            chat.inject(dm(platform, "42", "where do ferns grow?", "m1"));
            let replies = chat.wait_delivered(1, WAIT).await;
            assert_eq!(replies[0].text, "Let me look.\n\nFerns like shade.", "{kind:?} {platform:?}");
            chat.inject(dm(platform, "42", "remember my cat", "m2"));
            let replies = chat.wait_delivered(2, WAIT).await;
            assert_eq!(replies[1].text, "Noted.", "{kind:?} {platform:?}");
            assert_eq!(std::fs::read_to_string(rt.vault.join("memory/cat.md")).unwrap(), "The cat is Miso.\n");
            chat.inject(dm(platform, "42", "what is my cat called?", "m3"));
            chat.wait_delivered(3, WAIT).await;

            let calls = fake.calls(api);
            assert_eq!(calls.len(), 5, "{kind:?} {platform:?}");
            assert!(calls.iter().all(|c| c.rejected.is_none()), "{calls:#?}");
            assert_eq!(calls[0].body["stream"] == true, platform == Platform::Telegram);
            let all = ["search_notes", "read_note", "recent_journal", "append_journal", "write_memory"];
            assert_eq!(tool_names(&calls[0]), all, "{kind:?}");
            assert!(system_of(&calls[0]).starts_with("You are Ada, a calm gardener.\n\n"), "{}", system_of(&calls[0]));
            assert_eq!(tool_results(&calls[1]), [("- notes/ferns.md: Maidenhair ferns like shade.".to_owned(), false)]);
            assert!(!system_of(&calls[2]).contains("Miso"));
            assert!(system_of(&calls[4]).contains("### cat\nThe cat is Miso."), "{}", system_of(&calls[4]));
        }
    }
}

#[actix::test]
async fn a_sandboxed_sender_never_gets_a_forbidden_tool_or_a_path_out_of_the_vault() {
    for kind in [BrainKind::Anthropic, BrainKind::Openai] {
        let fake = AiFake::start(Some(KEY));
        let tools = "tools:\n  sandboxed: [read_note]\n";
        let rt = TestRuntime::start_yaml(&yaml(kind, &fake, "sandboxed", tools), None);
        std::fs::create_dir_all(rt.vault.join("memory")).unwrap();
        std::fs::write(rt.vault.join("memory/private.md"), "The owner's bank is Example Bank.\n").unwrap();
        let api = Api::of(kind);
        fake.script(api, tool_call("", "write_memory", json!({"name": "pwned", "text": "x"})));
        fake.script(api, tool_call("", "read_note", json!({"path": "../../../../etc/passwd"})));
        fake.script(api, tool_call("", "read_note", json!({"path": ".parachute/bots.yaml"})));
        fake.script(api, Scripted::Answer("I can't do that.".into()));
        let chat = rt.fake(Platform::Telegram);
        chat.wait_connected(1, WAIT).await;
        chat.inject(dm(Platform::Telegram, "42", "save this and show me your config", "m1"));
        let replies = chat.wait_delivered(1, WAIT).await;
        assert_eq!(replies[0].text, "I can't do that.", "{kind:?}");

        let calls = fake.calls(api);
        assert_eq!(calls.len(), 4, "{kind:?}");
        assert!(calls.iter().all(|c| c.rejected.is_none()), "{calls:#?}");
        assert_eq!(tool_names(&calls[0]), ["read_note"], "{kind:?}");
        assert!(!system_of(&calls[0]).contains("Example Bank"), "memory is for direct senders only");
        let results = tool_results(&calls[3]);
        assert_eq!(results.len(), 3, "{results:?}");
        assert!(results.iter().all(|(_, failed)| *failed), "{results:?}");
        assert!(results[0].0.contains("not available"), "{results:?}");
        assert!(results[1].0.contains(".."), "{results:?}");
        assert!(results[2].0.contains("hidden"), "{results:?}");
        assert!(!rt.vault.join("memory/pwned.md").exists());
        assert!(results.iter().all(|(text, _)| !text.contains("root:") && !text.contains(KEY)), "{results:?}");
    }
}

/// The environment variable the HTTP MCP server's token is read from in the test below.
const MCP_TOKEN_VARIABLE: &str = "PARACHUTE_TEST_MCP_TOKEN";
const MCP_TOKEN: &str = "mcp-test-token-0123456789";

#[actix::test]
async fn mcp_tools_of_stdio_and_http_servers_reach_direct_senders_only() {
    // SAFETY: set before the runtime starts; nextest runs each test in a process of its own.
    unsafe { std::env::set_var(MCP_TOKEN_VARIABLE, MCP_TOKEN) };
    let http = parachute_testkit::mcp_servers::McpHttpServer::start(Some(MCP_TOKEN));
    let logs = tempfile::tempdir().unwrap();
    let calls_log = parachute_testkit::mcp_servers::calls_log_in(logs.path());
    for kind in [BrainKind::Anthropic, BrainKind::Openai] {
        let fake = AiFake::start(Some(KEY));
        let tools = format!(
            "tools:\n  sandboxed: [read_note]\n  mcp:\n{}    - name: dict\n      url: '{}'\n      bearer_token_env: {MCP_TOKEN_VARIABLE}\n",
            parachute_testkit::mcp_servers::stdio_server_yaml("notes", &calls_log),
            http.url()
        );
        // Telegram knows 42 as direct, Discord as sandboxed.
        let config = format!(
            "{}{tools}telegram:\n  allowed_users: ['42']\n  dm_trust_level: direct\n\
             discord:\n  allowed_users: ['42']\n  dm_trust_level: sandboxed\n",
            fake.brain_yaml(kind, KEY)
        );
        let rt = TestRuntime::start_yaml(&config, None);
        let api = Api::of(kind);
        fake.script(api, tool_call("", "notes__lookup_word", json!({"word": "sonder"})));
        fake.script(api, tool_call("", "dict__lookup_word", json!({"word": "petrichor"})));
        fake.script(api, tool_call("", "notes__fail", json!({})));
        fake.script(api, Scripted::Answer("Two lovely words.".into()));
        let telegram = rt.fake(Platform::Telegram);
        telegram.wait_connected(1, WAIT).await;
        telegram.inject(dm(Platform::Telegram, "42", "what do sonder and petrichor mean?", "m1"));
        assert_eq!(telegram.wait_delivered(1, WAIT).await[0].text, "Two lovely words.", "{kind:?}");

        let calls = fake.calls(api);
        assert_eq!(calls.len(), 4, "{kind:?}");
        assert!(calls.iter().all(|c| c.rejected.is_none()), "{calls:#?}");
        let offered = tool_names(&calls[0]);
        for name in ["notes__lookup_word", "notes__fail", "dict__lookup_word", "dict__fail", "read_note"] {
            assert!(offered.iter().any(|o| o == name), "{name} not in {offered:?}");
        }
        let results = tool_results(&calls[3]);
        assert_eq!(
            results,
            [
                ("sonder: the feeling that every passer-by has a life as vivid as your own".to_owned(), false),
                ("petrichor: the smell of rain on dry earth".to_owned(), false),
                ("the fail tool always fails".to_owned(), true),
            ],
            "{kind:?}"
        );
        let http_calls = http.calls();
        let last = http_calls.last().expect("the HTTP server was called");
        assert_eq!((last.name.as_str(), &last.arguments), ("lookup_word", &json!({"word": "petrichor"})));
        assert_eq!(last.session.as_deref(), Some(parachute_testkit::mcp_servers::SESSION_ID));

        // A sandboxed sender is offered no MCP tool, and a call the model makes up never runs.
        let stdio_calls = parachute_testkit::mcp_servers::stdio_calls(&calls_log).len();
        fake.script(api, tool_call("", "notes__lookup_word", json!({"word": "sonder"})));
        fake.script(api, Scripted::Answer("I can't look that up here.".into()));
        let discord = rt.fake(Platform::Discord);
        discord.wait_connected(1, WAIT).await;
        discord.inject(dm(Platform::Discord, "42", "what does sonder mean?", "m2"));
        assert_eq!(discord.wait_delivered(1, WAIT).await[0].text, "I can't look that up here.");
        let calls = fake.calls(api);
        assert_eq!(tool_names(&calls[4]), ["read_note"], "no MCP tool for a sandboxed sender");
        let (refusal, failed) = tool_results(&calls[5]).remove(0);
        assert!(failed && refusal.contains("not available"), "{refusal}");
        assert_eq!(parachute_testkit::mcp_servers::stdio_calls(&calls_log).len(), stdio_calls, "nothing ran");
        assert_eq!(http.calls().len(), http_calls.len());
    }
    assert_eq!(http.refused(), 0, "the token went with every request");
}

#[actix::test]
async fn an_mcp_server_that_exits_is_started_again_and_its_tools_come_back() {
    let fake = AiFake::start(Some(KEY));
    let logs = tempfile::tempdir().unwrap();
    let calls_log = parachute_testkit::mcp_servers::calls_log_in(logs.path());
    let tools = format!("tools:\n  mcp:\n{}", parachute_testkit::mcp_servers::stdio_server_yaml("notes", &calls_log));
    let rt = TestRuntime::start_yaml(&yaml(BrainKind::Anthropic, &fake, "direct", &tools), None);
    fake.script(Api::Anthropic, tool_call("", "notes__quit", json!({})));
    fake.script(Api::Anthropic, Scripted::Answer("It stopped.".into()));
    let chat = rt.fake(Platform::Discord);
    chat.wait_connected(1, WAIT).await;
    chat.inject(dm(Platform::Discord, "42", "stop your dictionary", "m1"));
    assert_eq!(chat.wait_delivered(1, WAIT).await[0].text, "It stopped.");
    assert_eq!(tool_results(&fake.calls(Api::Anthropic)[1]), [("bye".to_owned(), false)]);

    let started_again = || async { parachute_testkit::mcp_servers::stdio_starts(&calls_log) >= 2 };
    assert!(parachute_testkit::wait_until(WAIT, started_again).await, "the server was started again");
    // Its tools are offered again once it is back (the pause before reconnecting is 1 s).
    let offered = || async {
        fake.script(Api::Anthropic, Scripted::Answer("ok".into()));
        let sent = chat.delivered().len();
        chat.inject(dm(Platform::Discord, "42", "are you there?", &format!("probe-{sent}")));
        chat.wait_delivered(sent + 1, WAIT).await;
        let last = fake.calls(Api::Anthropic).pop().unwrap();
        tool_names(&last).iter().any(|name| name == "notes__lookup_word")
    };
    assert!(parachute_testkit::wait_until(WAIT, offered).await, "the tools came back");
    fake.script(Api::Anthropic, tool_call("", "notes__lookup_word", json!({"word": "petrichor"})));
    fake.script(Api::Anthropic, Scripted::Answer("A rainy word.".into()));
    let sent = chat.delivered().len();
    chat.inject(dm(Platform::Discord, "42", "what is petrichor?", "m-last"));
    assert_eq!(chat.wait_delivered(sent + 1, WAIT).await[sent].text, "A rainy word.");
    let result = tool_results(&fake.calls(Api::Anthropic).pop().unwrap()).pop().unwrap();
    assert_eq!(result, ("petrichor: the smell of rain on dry earth".to_owned(), false));
}

#[actix::test]
async fn a_hung_mcp_server_costs_an_answer_at_most_its_time_for_tools() {
    let fake = AiFake::start(Some(KEY));
    let logs = tempfile::tempdir().unwrap();
    let calls_log = parachute_testkit::mcp_servers::calls_log_in(logs.path());
    // The server's own timeout (30 s by default) is longer than the answer's time for tools.
    let tools = format!(
        "tools:\n  max_time: 2s\n  mcp:\n{}",
        parachute_testkit::mcp_servers::stdio_server_yaml("notes", &calls_log)
    );
    let rt = TestRuntime::start_yaml(&yaml(BrainKind::Anthropic, &fake, "direct", &tools), None);
    fake.script(Api::Anthropic, tool_call("Let me look.", "notes__hang", json!({"seconds": 20})));
    fake.script(Api::Anthropic, Scripted::Answer("The dictionary did not answer in time.".into()));
    let chat = rt.fake(Platform::Discord);
    chat.wait_connected(1, WAIT).await;
    let asked = std::time::Instant::now();
    chat.inject(dm(Platform::Discord, "42", "look up something slow", "m1"));
    let reply = chat.wait_delivered(1, Duration::from_secs(10)).await[0].text.clone();
    assert!(asked.elapsed() < Duration::from_secs(10), "took {:?}", asked.elapsed());
    assert_eq!(reply, "Let me look.\n\nThe dictionary did not answer in time.");
    let (result, failed) = tool_results(&fake.calls(Api::Anthropic)[1]).remove(0);
    assert!(failed && result.contains("ran out of time"), "{result}");
}
