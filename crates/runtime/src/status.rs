//! A connector's observable state, as the API and the page show it.

use serde::Serialize;

use crate::types::Identity;
use parachute_core::ids::Platform;

/// Where a connector stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnectorState {
    /// Not running.
    Stopped,
    /// First connection attempt under way.
    Starting,
    /// Connected and receiving events.
    Connected,
    /// Lost the connection; trying again after a delay.
    Reconnecting {
        /// Which attempt comes next (1-based).
        attempt: u32,
        /// How long until it, in milliseconds.
        next_retry_in_ms: u64,
    },
    /// The platform stopped answering while connected (a long poll or sync held past its
    /// timeout, heartbeats not acknowledged): the run was ended and a new one starts after
    /// a delay, like `Reconnecting`.
    Stalled {
        /// How long the platform had not answered when the stall was declared, in milliseconds.
        silent_for_ms: u64,
        /// Which attempt comes next (1-based).
        attempt: u32,
        /// How long until it, in milliseconds.
        next_retry_in_ms: u64,
    },
    /// Gave up for a reason retrying cannot fix (bad token, bad settings).
    Failed {
        /// Why.
        reason: String,
    },
}

impl ConnectorState {
    /// The state's name: stopped, starting, connected, reconnecting, stalled or failed.
    pub fn name(&self) -> &'static str {
        match self {
            ConnectorState::Stopped => "stopped",
            ConnectorState::Starting => "starting",
            ConnectorState::Connected => "connected",
            ConnectorState::Reconnecting { .. } => "reconnecting",
            ConnectorState::Stalled { .. } => "stalled",
            ConnectorState::Failed { .. } => "failed",
        }
    }

    /// Whether the connector is running (connecting, connected or between attempts).
    pub fn is_running(&self) -> bool {
        matches!(
            self,
            ConnectorState::Starting
                | ConnectorState::Connected
                | ConnectorState::Reconnecting { .. }
                | ConnectorState::Stalled { .. }
        )
    }
}

/// The last reload of `bots.yaml` from disk (SIGHUP), for the status view and the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigReload {
    /// When it was tried, ms since the epoch.
    pub time: i64,
    /// Why the file was refused (the running config stayed); `None` when it was applied.
    pub error: Option<String>,
}

/// Everything known about one connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorStatus {
    /// Which platform.
    pub platform: Platform,
    /// Whether this binary includes the platform.
    pub available: bool,
    /// `enabled` in the config.
    pub enabled: bool,
    /// Whether a credential is configured.
    pub has_token: bool,
    /// Current state.
    pub state: ConnectorState,
    /// Failed connection attempts since the server started.
    pub failure_count: u64,
    /// Times an established connection was lost since the server started (then re-established
    /// by the harness or by the connector's own library); failed attempts to connect are in
    /// `failure_count`.
    pub reconnects: u64,
    /// Times the platform stopped answering while connected (see [`ConnectorState::Stalled`]).
    pub stalls: u64,
    /// When the platform last answered a request (ms since epoch): a long poll that returned,
    /// a sync response, a gateway event or heartbeat ACK. Updated about once a second.
    pub last_progress_time: Option<i64>,
    /// Replies given up since the server started: retries spent, a refusal retrying cannot
    /// fix, or a full reply queue.
    pub failed_replies: u64,
    /// Attempts in the current reconnect streak (0 when healthy).
    pub reconnect_attempts: u32,
    /// The last error, redacted.
    pub last_error: Option<String>,
    /// When it happened (ms since epoch).
    pub last_error_time: Option<i64>,
    /// When the current connection was established (ms since epoch).
    pub connected_since: Option<i64>,
    /// When the last inbound message arrived (ms since epoch).
    pub last_message_time: Option<i64>,
    /// Allowed users (Telegram/Discord) or rooms (Matrix) in the config.
    pub allowed_count: usize,
    /// Every group or room the bot is added to is talked in without the owner's approval
    /// (Matrix with an empty `allowed_rooms`, Discord with empty guild and channel lists).
    pub open_to_everyone: bool,
    /// Who the bot is on the platform, once connected or tested.
    pub identity: Option<Identity>,
    /// Things the owner should know (e.g. an encrypted room the bot cannot read).
    pub warnings: Vec<String>,
}

impl ConnectorStatus {
    /// The status of a connector that never ran.
    pub fn new(platform: Platform, available: bool) -> Self {
        Self {
            platform,
            available,
            enabled: false,
            has_token: false,
            state: ConnectorState::Stopped,
            failure_count: 0,
            reconnects: 0,
            stalls: 0,
            last_progress_time: None,
            failed_replies: 0,
            reconnect_attempts: 0,
            last_error: None,
            last_error_time: None,
            connected_since: None,
            last_message_time: None,
            allowed_count: 0,
            open_to_everyone: false,
            identity: None,
            warnings: Vec::new(),
        }
    }
}
