//! Keeps matrix-sdk's expected absences out of the operator's log.
//!
//! matrix-sdk logs every failed request at ERROR (`matrix_sdk::http_client`), also the
//! answers its callers expect and handle: on every start it asks for the account's secret
//! storage key (`m.secret_storage.default_key`, absent until recovery is set up) and, before
//! the first send into a room, for the room's `m.room.encryption` state (absent in every
//! room that is not encrypted); both answer 404 `M_NOT_FOUND`. And after every sync its key
//! backup task warns "no backup key was found" when key backup is simply not enabled.
//! A healthy bot would log an ERROR per start and a WARN per sync. Its crypto machine also
//! warns for every message whose room key the device does not have; the connector keeps such
//! a message until its key comes and says so once per room, so those lines go too (other
//! decryption failures, such as a forged message, stay). [`ExpectedAbsences`]
//! drops exactly those lines; every other failed request (a 5xx, a refused token, a 404 of
//! another kind) is still logged, and the failures that matter to the bot are reported by
//! the connector itself with what to do.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Where matrix-sdk logs failed requests.
const HTTP_CLIENT_TARGET: &str = "matrix_sdk::http_client";
/// Where matrix-sdk's crypto crate logs about key backups.
const BACKUPS_TARGET: &str = "matrix_sdk_crypto::backups";
/// The backup task's warning when key backup is not enabled on this device.
const NO_BACKUP_KEY: &str = "Trying to backup room keys but no backup key was found";
/// Where matrix-sdk's crypto machine logs failed decryptions.
const MACHINE_TARGET: &str = "matrix_sdk_crypto::machine";
/// Its warning for a message whose room key the device does not have (yet).
const MISSING_ROOM_KEY: &str = "Failed to decrypt a room event: Can't find the room key";

/// A layer that drops matrix-sdk's log lines about expected absences (see the module docs).
#[derive(Debug, Default, Clone, Copy)]
pub struct ExpectedAbsences;

impl<S: Subscriber> Layer<S> for ExpectedAbsences {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        let metadata = event.metadata();
        let target = metadata.target();
        let level = *metadata.level();
        let watched = match level {
            Level::ERROR => target == HTTP_CLIENT_TARGET,
            Level::WARN => target == BACKUPS_TARGET || target == MACHINE_TARGET,
            _ => false,
        };
        if !watched {
            return true;
        }
        let mut message = Message::default();
        event.record(&mut message);
        !is_expected_absence(target, &message.0)
    }
}

/// Whether a line of `target` with `message` reports an expected absence.
fn is_expected_absence(target: &str, message: &str) -> bool {
    match target {
        HTTP_CLIENT_TARGET => message.contains("status_code: 404") && message.contains("kind: NotFound"),
        BACKUPS_TARGET => message == NO_BACKUP_KEY,
        MACHINE_TARGET => message.starts_with(MISSING_ROOM_KEY),
        _ => false,
    }
}

/// The `message` field of an event, as text.
#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    /// Records the messages that reach it.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<String>>>);

    impl<S: Subscriber> Layer<S> for Seen {
        fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
            let mut message = Message::default();
            event.record(&mut message);
            self.0.lock().unwrap().push(message.0);
        }
    }

    #[test]
    fn drops_expected_absences_and_keeps_real_failures() {
        let seen = Seen::default();
        let subscriber = tracing_subscriber::registry().with(ExpectedAbsences).with(seen.clone());
        tracing::subscriber::with_default(subscriber, || {
            let not_found = "Api(Server(MatrixError(Error { status_code: 404, body: Standard(StandardErrorBody { kind: NotFound, message: \"Account data not found\" }) })))";
            tracing::error!(target: "matrix_sdk::http_client", "Error while sending request: {not_found}");
            tracing::warn!(target: "matrix_sdk_crypto::backups", "Trying to backup room keys but no backup key was found");
            tracing::warn!(target: "matrix_sdk_crypto::machine", "Failed to decrypt a room event: Can't find the room key to decrypt the event, withheld code: None");
            // Real failures stay.
            let unavailable = "Api(Server(MatrixError(Error { status_code: 502, body: Standard(StandardErrorBody { kind: Unknown, message: \"Bad gateway\" }) })))";
            tracing::error!(target: "matrix_sdk::http_client", "Error while sending request: {unavailable}");
            let forbidden = "Api(Server(MatrixError(Error { status_code: 404, body: Standard(StandardErrorBody { kind: Unrecognized, message: \"\" }) })))";
            tracing::error!(target: "matrix_sdk::http_client", "Error while sending request: {forbidden}");
            tracing::warn!(target: "matrix_sdk_crypto::backups", "Trying to backup room keys but the backup key wasn't uploaded");
            tracing::warn!(target: "matrix_sdk_crypto::machine", "Failed to decrypt a room event: The MAC of the ciphertext didn't match");
            // Other targets are never touched, whatever they say.
            tracing::error!(target: "parachute", "Error while sending request: {not_found}");
        });
        let seen = seen.0.lock().unwrap();
        assert_eq!(seen.len(), 5, "{seen:#?}");
        assert!(seen[0].contains("status_code: 502"));
        assert!(seen[1].contains("kind: Unrecognized"));
        assert!(seen[2].contains("wasn't uploaded"));
        assert!(seen[3].contains("MAC"));
        assert!(seen[4].contains("Account data not found"));
    }
}
