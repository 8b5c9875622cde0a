//! The way out: routes replies, typing and pairing decisions to the right platform's harness.

use std::collections::HashMap;
use std::sync::Arc;

use actix::Addr;
use parachute_core::ids::{ChatId, EventId, Platform};
use tokio::sync::watch;

use crate::connector::MediaError;
use crate::harness::ConnectorHarness;
use crate::messages::{
    Acknowledge, Deliver, Delivered, DeliveryError, FetchMedia, MediaRef, PairingDecided, Reply, SetTyping,
};
use crate::status::ConnectorStatus;
use crate::store::PairingRecord;

/// Addresses of every harness plus their published status. Cheap to clone.
#[derive(Clone)]
pub struct Router {
    harnesses: Arc<HashMap<Platform, Addr<ConnectorHarness>>>,
    statuses: Arc<HashMap<Platform, watch::Receiver<ConnectorStatus>>>,
}

impl Router {
    /// A router over these harnesses.
    pub fn new(
        harnesses: HashMap<Platform, Addr<ConnectorHarness>>,
        statuses: HashMap<Platform, watch::Receiver<ConnectorStatus>>,
    ) -> Self {
        Self { harnesses: Arc::new(harnesses), statuses: Arc::new(statuses) }
    }

    /// The harness of a platform.
    pub fn harness(&self, platform: Platform) -> Option<&Addr<ConnectorHarness>> {
        self.harnesses.get(&platform)
    }

    /// Sends a reply and waits until the platform took it (or it failed for good).
    pub async fn deliver(&self, reply: Reply) -> Result<Delivered, DeliveryError> {
        let platform = reply.platform;
        let harness = self.harness(platform).ok_or(DeliveryError::NotRunning(platform))?;
        harness.send(Deliver(reply)).await.unwrap_or(Err(DeliveryError::NotRunning(platform)))
    }

    /// Marks a message as being answered (the ack reaction; best effort, not awaited). Sent
    /// before the reply's `Deliver`, so the reply can remove it.
    pub fn acknowledge(&self, platform: Platform, chat: &ChatId, event: &EventId) {
        if let Some(harness) = self.harness(platform) {
            harness.do_send(Acknowledge { chat: chat.clone(), event: event.clone() });
        }
    }

    /// Fetches a media file through the connector that referenced it, at most `limit` bytes.
    pub async fn fetch_media(&self, platform: Platform, media: MediaRef, limit: u64) -> Result<Vec<u8>, MediaError> {
        let not_running = || MediaError::Failed(format!("the {platform} connector is not running"));
        let harness = self.harness(platform).ok_or_else(not_running)?;
        harness.send(FetchMedia { media, limit }).await.unwrap_or_else(|_| Err(not_running()))
    }

    /// Turns the typing indicator on or off (best effort).
    pub fn typing(&self, platform: Platform, chat: &ChatId, typing: bool) {
        if let Some(harness) = self.harness(platform) {
            harness.do_send(SetTyping { chat: chat.clone(), typing });
        }
    }

    /// Tells a connector about a decision on one of its room requests.
    pub fn pairing_decided(&self, record: PairingRecord) {
        if let Some(harness) = self.harness(record.platform) {
            harness.do_send(PairingDecided(record));
        }
    }

    /// The latest status of every platform, in `Platform::ALL` order.
    pub fn statuses(&self) -> Vec<ConnectorStatus> {
        Platform::ALL.iter().filter_map(|p| self.statuses.get(p)).map(|rx| rx.borrow().clone()).collect()
    }

    /// A receiver that sees every status change of a platform.
    pub fn watch_status(&self, platform: Platform) -> Option<watch::Receiver<ConnectorStatus>> {
        self.statuses.get(&platform).cloned()
    }

    /// The bot's username on a platform once known (for `/new@botname`).
    pub fn bot_username(&self, platform: Platform) -> Option<String> {
        let rx = self.statuses.get(&platform)?;
        let status = rx.borrow();
        status.identity.as_ref().and_then(|i| i.username.clone())
    }
}
