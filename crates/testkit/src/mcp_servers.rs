//! MCP servers for the tests, both with the same two tools (`lookup_word`, a small
//! dictionary, and `fail`, always a tool error): the stdio server `mcp/notes_server.py` (a
//! program the runtime starts, standard-library Python), and a streamable HTTP server on
//! 127.0.0.1 that answers JSON-RPC with `application/json`, gives a session id, and can
//! require a bearer token. Both record the calls that reached them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// The stdio server's program (`python3`) and arguments, logging its calls to `calls_log`.
pub fn stdio_server_command(calls_log: &Path) -> (String, Vec<String>) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/mcp/notes_server.py");
    ("python3".to_owned(), vec![script.to_owned(), calls_log.display().to_string()])
}

/// A `tools.mcp` entry of a `bots.yaml` for the stdio server named `name`, indented as a list
/// item under `  mcp:`.
pub fn stdio_server_yaml(name: &str, calls_log: &Path) -> String {
    let (command, args) = stdio_server_command(calls_log);
    let args: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    format!("    - name: {name}\n      command: {command}\n      args: [{}]\n", args.join(", "))
}

/// The calls the stdio server logged to `calls_log`: (tool, arguments), in order.
pub fn stdio_calls(calls_log: &Path) -> Vec<(String, Value)> {
    logged(calls_log)
        .into_iter()
        .filter(|entry| entry.get("name").is_some())
        .map(|call| (call["name"].as_str().unwrap_or_default().to_owned(), call["arguments"].clone()))
        .collect()
}

/// How many times the stdio server logging to `calls_log` started.
pub fn stdio_starts(calls_log: &Path) -> usize {
    logged(calls_log).iter().filter(|entry| entry["started"] == true).count()
}

fn logged(calls_log: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(calls_log).unwrap_or_default();
    text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect()
}

/// A tool call that reached the HTTP server.
#[derive(Debug, Clone)]
pub struct HttpToolCall {
    /// The tool.
    pub name: String,
    /// Its arguments.
    pub arguments: Value,
    /// The `Mcp-Session-Id` it came with.
    pub session: Option<String>,
}

struct HttpShared {
    token: Option<String>,
    calls: Mutex<Vec<HttpToolCall>>,
    refused: Mutex<usize>,
}

/// The streamable HTTP server. Dropping it stops it.
pub struct McpHttpServer {
    shared: Arc<HttpShared>,
    port: u16,
    server: Option<ServerHandle>,
}

/// The session id the HTTP server hands out.
pub const SESSION_ID: &str = "test-session-1";

impl McpHttpServer {
    /// Starts it on a free port; with `token`, requests without `Authorization: Bearer
    /// <token>` get 401. Must be called inside an actix system.
    pub fn start(token: Option<&str>) -> Self {
        let shared = Arc::new(HttpShared {
            token: token.map(str::to_owned),
            calls: Mutex::new(Vec::new()),
            refused: Mutex::new(0),
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the MCP server");
        let port = listener.local_addr().expect("local addr").port();
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/mcp", web::post().to(post))
                .route("/mcp", web::get().to(|| async { HttpResponse::MethodNotAllowed().finish() }))
                .route("/mcp", web::delete().to(|| async { HttpResponse::Ok().finish() }))
        })
        .workers(1)
        .shutdown_timeout(0)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self { shared, port, server: Some(handle) }
    }

    /// Its endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    /// The tool calls so far.
    pub fn calls(&self) -> Vec<HttpToolCall> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// How many requests were refused for a missing or wrong token.
    pub fn refused(&self) -> usize {
        *self.shared.refused.lock().unwrap()
    }
}

impl Drop for McpHttpServer {
    fn drop(&mut self) {
        if let Some(handle) = self.server.take() {
            drop(handle.stop(false));
        }
    }
}

async fn post(req: HttpRequest, body: web::Bytes, shared: web::Data<HttpShared>) -> HttpResponse {
    if let Some(token) = &shared.token {
        let expected = format!("Bearer {token}");
        if req.headers().get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
            *shared.refused.lock().unwrap() += 1;
            return HttpResponse::Unauthorized().finish();
        }
    }
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return HttpResponse::BadRequest().json(error(Value::Null, -32700, "parse error"));
    };
    let session = req.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let method = message["method"].as_str().unwrap_or_default();
    let Some(id) = message.get("id").cloned() else {
        return HttpResponse::Accepted().finish(); // a notification or a response
    };
    if method != "initialize" && session.as_deref() != Some(SESSION_ID) {
        return HttpResponse::BadRequest().json(error(id, -32600, "no or unknown Mcp-Session-Id"));
    }
    let params = &message["params"];
    let answer = match method {
        "initialize" => {
            let asked = params["protocolVersion"].as_str().unwrap_or("2025-06-18");
            return HttpResponse::Ok().insert_header(("Mcp-Session-Id", SESSION_ID)).json(result(
                id,
                json!({"protocolVersion": asked, "capabilities": {"tools": {}},
                       "serverInfo": {"name": "notes-http-test-server", "version": "1.0.0"}}),
            ));
        }
        "ping" => result(id, json!({})),
        "tools/list" => result(id, json!({"tools": tools()})),
        "tools/call" => {
            let name = params["name"].as_str().unwrap_or_default().to_owned();
            let arguments = params["arguments"].clone();
            shared.calls.lock().unwrap().push(HttpToolCall {
                name: name.clone(),
                arguments: arguments.clone(),
                session,
            });
            match call(&name, &arguments) {
                Some(value) => result(id, value),
                None => error(id, -32602, "unknown tool"),
            }
        }
        _ => error(id, -32601, "method not found"),
    };
    HttpResponse::Ok().json(answer)
}

fn result(id: Value, value: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": value})
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn tools() -> Value {
    json!([
        {"name": "lookup_word", "description": "Look up a word in the dictionary.",
         "inputSchema": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]}},
        {"name": "fail", "description": "Always fails.", "inputSchema": {"type": "object", "properties": {}}},
    ])
}

fn call(name: &str, arguments: &Value) -> Option<Value> {
    let text = |text: String, is_error: bool| json!({"content": [{"type": "text", "text": text}], "isError": is_error});
    match name {
        "lookup_word" => {
            let word = arguments["word"].as_str().unwrap_or_default().to_lowercase();
            Some(match word.as_str() {
                "petrichor" => text("petrichor: the smell of rain on dry earth".into(), false),
                _ => text(format!("no entry for '{word}'"), true),
            })
        }
        "fail" => Some(text("the fail tool always fails".into(), true)),
        _ => None,
    }
}

/// A fresh file for the stdio server's call log inside `dir`.
pub fn calls_log_in(dir: &Path) -> PathBuf {
    dir.join("mcp-calls.jsonl")
}
