//! A real Synapse, a bot account and a person, and a parachute runtime whose Matrix connector
//! talks to that Synapse (the other platforms are fakes).

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use parachute_core::config::BotsConfig;
use parachute_core::ids::Platform;
use parachute_matrix::MatrixFactory;
use parachute_runtime::brain::Brain;
use parachute_runtime::status::ConnectorState;
use parachute_testkit::TestRuntime;
use parachute_testkit::matrix_user::MatrixUser;
use parachute_testkit::synapse::Synapse;
use secrecy::SecretString;
use serde_json::Value;

/// Long enough for a sync round trip on a loaded 2-core machine, short enough to fail fast.
pub const WAIT: Duration = Duration::from_secs(20);

pub struct Env {
    pub synapse: Synapse,
    pub bot: MatrixUser,
    pub alice: MatrixUser,
    pub config: BotsConfig,
}

impl Env {
    /// Synapse with a bot account ("Parachute") and alice.
    pub async fn new() -> Self {
        Self::on(Synapse::start()).await
    }

    /// The same on a Synapse started by the test (with extra config).
    pub async fn on(synapse: Synapse) -> Self {
        let bot = MatrixUser::register(&synapse.url(), "bot").await;
        bot.set_display_name("Parachute").await;
        let alice = MatrixUser::register(&synapse.url(), "alice").await;
        let mut config = BotsConfig::default();
        config.matrix.enabled = true;
        config.matrix.homeserver_url = synapse.url();
        config.matrix.user_id = bot.user_id.clone();
        config.matrix.access_token = Some(SecretString::from(bot.access_token.clone()));
        Self { synapse, bot, alice, config }
    }

    /// Starts parachute with the real Matrix connector and waits until it is connected.
    pub async fn start(&self, brain: Option<Arc<dyn Brain>>) -> TestRuntime {
        let rt = TestRuntime::start_with(self.config.clone(), brain, vec![Arc::new(MatrixFactory)]);
        rt.wait_status(Platform::Matrix, WAIT, |s| s.state == ConnectorState::Connected).await;
        rt
    }

    /// Waits until the bot's membership in `room` is `membership` as seen by alice.
    pub async fn wait_bot_membership(&self, room: &str, membership: &str) {
        let bot = self.bot.user_id.clone();
        self.alice
            .wait_until(room, WAIT, |events| {
                events.iter().any(|e| {
                    e["type"] == "m.room.member"
                        && e["state_key"] == bot.as_str()
                        && e["content"]["membership"] == membership
                })
            })
            .await;
    }

    /// An invite-only room alice created with the bot in it (joined).
    pub async fn room_with_bot(&self, name: &str) -> String {
        let room = self.alice.create_group(name, &[&self.bot.user_id], false).await;
        self.wait_bot_membership(&room, "join").await;
        room
    }

    /// An encrypted private room alice created with the bot in it (joined).
    pub async fn encrypted_room_with_bot(&self) -> String {
        let room = self
            .alice
            .create_room(serde_json::json!({"preset": "private_chat", "name": "Secret", "invite": [self.bot.user_id],
                "initial_state": [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]}))
            .await;
        self.wait_bot_membership(&room, "join").await;
        room
    }

    /// The bodies of the bot's messages in a room, once there are `n`.
    pub async fn bot_replies(&self, room: &str, n: usize) -> Vec<Value> {
        self.alice.wait_messages_from(room, &self.bot.user_id, n, WAIT).await
    }
}

/// `body` of each message content.
pub fn bodies(contents: &[Value]) -> Vec<String> {
    contents.iter().map(|c| c["body"].as_str().unwrap_or_default().to_owned()).collect()
}
