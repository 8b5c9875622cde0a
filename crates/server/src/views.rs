//! JSON shapes of the API, kept apart from the handlers so they are easy to compare with the
//! original server's.

use parachute_core::ids::Platform;
use parachute_core::time::rfc3339_from_ms;
use parachute_runtime::status::{ConnectorState, ConnectorStatus};
use parachute_runtime::store::now_ms;
use serde_json::{Map, Value, json};

/// One connector in `GET /api/bots/status`.
pub fn connector_json(status: &ConnectorStatus) -> Value {
    let uptime = match status.state {
        ConnectorState::Connected => seconds_since(status.connected_since),
        _ => None,
    };
    let mut out = json!({
        "enabled": status.enabled,
        "available": status.available,
        "has_token": status.has_token,
        "state": status.state.name(),
        "running": status.state.is_running(),
        "failure_count": status.failure_count,
        "failed_replies": status.failed_replies,
        "reconnect_attempts": status.reconnect_attempts,
        "reconnects": status.reconnects,
        "stalls": status.stalls,
        "last_progress_time": status.last_progress_time.map(rfc3339_from_ms),
        "seconds_since_progress": seconds_since(status.last_progress_time),
        "last_error": status.last_error,
        "last_error_time": status.last_error_time.map(rfc3339_from_ms),
        "connected_since": status.connected_since.map(rfc3339_from_ms),
        "uptime": uptime,
        "last_message_time": status.last_message_time.map(rfc3339_from_ms),
        "warnings": status.warnings,
        "bot": status.identity,
    });
    match &status.state {
        ConnectorState::Reconnecting { next_retry_in_ms, .. } => out["next_retry_in_ms"] = json!(next_retry_in_ms),
        ConnectorState::Stalled { next_retry_in_ms, silent_for_ms, .. } => {
            out["next_retry_in_ms"] = json!(next_retry_in_ms);
            out["silent_for_ms"] = json!(silent_for_ms);
        }
        ConnectorState::Failed { reason } => out["failure_reason"] = json!(reason),
        _ => {}
    }
    let count_key = if status.platform == Platform::Matrix { "allowed_rooms_count" } else { "allowed_users_count" };
    out[count_key] = json!(status.allowed_count);
    out["open_to_everyone"] = json!(status.open_to_everyone);
    out
}

/// Whole seconds since `ms` (ms since epoch), if known.
pub fn seconds_since(ms: Option<i64>) -> Option<u64> {
    ms.map(|ms| u64::try_from(now_ms() - ms).unwrap_or(0) / 1000)
}

/// `{connectors: {telegram: …, discord: …, matrix: …}}`.
pub fn status_json(statuses: &[ConnectorStatus]) -> Value {
    let connectors: Map<String, Value> =
        statuses.iter().map(|s| (s.platform.as_str().to_owned(), connector_json(s))).collect();
    json!({ "connectors": connectors })
}
