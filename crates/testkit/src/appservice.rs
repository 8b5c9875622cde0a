//! An application-service registration for the test homeserver, shaped like a mautrix
//! bridge's: a bridge bot (`sender_localpart`) and an exclusive namespace of ghost users. The
//! service has no URL (Synapse pushes it nothing); tests act as its users by masquerading.

use std::fs;

use crate::matrix_user::MatrixUser;
use crate::synapse::Synapse;

/// A bridge-like application service registered with Synapse.
pub struct BridgeRegistration {
    /// The bridge bot's localpart (`metabot`).
    pub bot_localpart: String,
    /// The ghosts' localpart prefix (`meta_`).
    pub ghost_prefix: String,
    as_token: String,
    dir: tempfile::TempDir,
}

impl BridgeRegistration {
    /// Writes the registration file of a bridge with this bot and ghost prefix.
    pub fn new(id: &str, bot_localpart: &str, ghost_prefix: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let as_token = format!("as-token-{id}-for-tests");
        let registration = format!(
            "id: {id}
url: null
as_token: {as_token}
hs_token: hs-token-{id}-for-tests
sender_localpart: {bot_localpart}
rate_limited: false
namespaces:
  users:
    - exclusive: true
      regex: '@{ghost_prefix}.*:localhost'
  aliases: []
  rooms: []
"
        );
        fs::write(dir.path().join("registration.yaml"), registration).expect("write registration");
        Self { bot_localpart: bot_localpart.to_owned(), ghost_prefix: ghost_prefix.to_owned(), as_token, dir }
    }

    /// The homeserver config line that loads this registration.
    pub fn synapse_config(&self) -> String {
        format!("app_service_config_files: ['{}']\n", self.dir.path().join("registration.yaml").display())
    }

    /// The bridge's bot, acting through the service's token.
    pub async fn bridge_bot(&self, synapse: &Synapse) -> MatrixUser {
        MatrixUser::of_appservice(&synapse.url(), &self.as_token, &self.bot_localpart, synapse.server_name()).await
    }

    /// A ghost (`{ghost_prefix}{suffix}`), registered on first use.
    pub async fn ghost(&self, synapse: &Synapse, suffix: &str) -> MatrixUser {
        let localpart = format!("{}{suffix}", self.ghost_prefix);
        MatrixUser::of_appservice(&synapse.url(), &self.as_token, &localpart, synapse.server_name()).await
    }
}
