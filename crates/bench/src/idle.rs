//! Idle memory: the `parachute` server with all three connectors connected (Matrix to a local
//! Synapse, Telegram and Discord to the fake servers of the test kit), left alone for a while,
//! next to a matrix-nio bot connected to the same Synapse.

use std::net::TcpListener;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use parachute_testkit::discord_fake::{self, DiscordFake};
use parachute_testkit::matrix_user::MatrixUser;
use parachute_testkit::synapse::Synapse;
use parachute_testkit::telegram_fake::{self, TelegramFake};
use serde_json::Value;

use crate::process::{Memory, cpu_time, memory_kib, nio_python, parachute_binary, spawn_waiting};

/// Memory of one idle bot process.
pub struct IdleResult {
    /// Which bot, and what it is connected to.
    pub name: &'static str,
    /// Resident memory after the idle period, with its anonymous / file-backed split.
    pub memory: Memory,
    /// CPU time used during the idle period.
    pub idle_cpu: Option<Duration>,
}

/// Runs both bots, one after the other, each idle for `idle`.
pub async fn run(idle: Duration) -> Vec<IdleResult> {
    let synapse = Synapse::start();
    let telegram = TelegramFake::start();
    let discord = DiscordFake::start();

    let bot = MatrixUser::register(&synapse.url(), "idle_parachute").await;
    let dir = tempfile::tempdir().expect("temp vault");
    let config = format!(
        "telegram:\n  enabled: true\n  bot_token: \"{}\"\n  api_url: {}\n\
         discord:\n  enabled: true\n  bot_token: \"{}\"\n  api_url: {}\n  gateway_url: {}\n\
         matrix:\n  enabled: true\n  homeserver_url: {}\n  user_id: \"{}\"\n  access_token: {}\n  device_id: {}\n",
        telegram_fake::FAKE_TOKEN,
        telegram.url(),
        discord_fake::FAKE_TOKEN,
        discord.api_url(),
        discord.gateway_url(),
        synapse.url(),
        bot.user_id,
        bot.access_token,
        bot.device_id,
    );
    std::fs::create_dir_all(dir.path().join(".parachute")).expect("vault");
    std::fs::write(dir.path().join(".parachute/bots.yaml"), config).expect("config");
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let child = spawn_waiting(
        Command::new(parachute_binary())
            .args(["serve", "--port", &port.to_string(), "--vault"])
            .arg(dir.path())
            // The log settings a user gets (`RUST_LOG` would also keep the libraries' spans).
            .env_remove("RUST_LOG"),
        "listening on",
    );
    wait_all_connected(port).await;
    let parachute = measure_idle("parachute (3 connectors)", child, idle).await;

    let nio_user = MatrixUser::register(&synapse.url(), "idle_nio").await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/nio_echo_bot.py");
    let child = spawn_waiting(
        Command::new(nio_python()).arg(script).args([
            synapse.url(),
            nio_user.user_id.clone(),
            nio_user.access_token.clone(),
            nio_user.device_id.clone(),
        ]),
        "ready",
    );
    let nio = measure_idle("matrix-nio (Matrix only)", child, idle).await;
    vec![parachute, nio]
}

/// Waits (up to a minute) until the status API reports every connector connected.
async fn wait_all_connected(port: u16) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status: Option<Value> = match http.get(format!("http://127.0.0.1:{port}/api/bots/status")).send().await {
            Ok(answer) => answer.json().await.ok(),
            Err(_) => None,
        };
        let connected =
            |platform: &str| status.as_ref().is_some_and(|s| s["connectors"][platform]["state"] == "connected");
        if connected("matrix") && connected("telegram") && connected("discord") {
            return;
        }
        assert!(Instant::now() < deadline, "connectors not all connected within 60 s: {status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn measure_idle(name: &'static str, mut child: Child, idle: Duration) -> IdleResult {
    let cpu_before = cpu_time(child.id());
    tokio::time::sleep(idle).await;
    let idle_cpu = cpu_time(child.id()).zip(cpu_before).map(|(after, before)| after.saturating_sub(before));
    let memory = memory_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    IdleResult { name, memory, idle_cpu }
}
