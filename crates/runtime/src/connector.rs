//! The one trait the supervisor knows about platforms. Each connector crate implements it.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use actix::{Message, Recipient};
use futures_util::future::BoxFuture;
use parachute_core::config::BotsConfig;
use parachute_core::gating::InviteAction;
use parachute_core::ids::{ChatId, EventId, Platform};

use crate::store::{PairingRecord, Store};
pub use crate::types::{ConnectorError, Identity, MediaError, SignInRequest, SignedIn};
use crate::types::{Delivered, Inbound, MediaRef, Reply, RoomInvite};

/// What a connector reports to its harness while it runs.
#[derive(Debug, Clone)]
pub enum LinkEvent {
    /// The connection is up; events will follow.
    Connected(Identity),
    /// An event from the platform.
    Inbound(Inbound),
    /// The bot was invited to (or added to) a room: the gate decides what it does.
    RoomInvite(RoomInvite),
    /// Something the owner should see on the status page.
    Warning(String),
    /// The connection was lost and the connector's own library is re-establishing it (a
    /// gateway session that resumes): shown as reconnecting until the next `Connected`.
    Reconnecting(String),
}

/// What one run has shown of its connection: when the platform last answered, and whether a
/// request to it is outstanding. Read by the harness's watchdog, which calls a run `stalled`
/// when a request stays unanswered past the bound its protocol allows.
#[derive(Debug, Default)]
pub struct Liveness {
    /// When the platform last answered (ms since epoch); 0 before the first answer.
    last_progress_ms: AtomicI64,
    /// Since when a request to the platform is outstanding (ms since epoch); 0 when none is.
    waiting_since_ms: AtomicI64,
    /// How long a request may stay unanswered (ms); 0 while the run has not said.
    bound_ms: AtomicU64,
}

impl Liveness {
    /// When the platform last answered (ms since epoch), if it has.
    pub fn last_progress_ms(&self) -> Option<i64> {
        Some(self.last_progress_ms.load(Ordering::Relaxed)).filter(|&ms| ms > 0)
    }

    /// How long the outstanding request has gone unanswered past its bound, if it has: `(how
    /// long it has waited, the bound)`.
    pub fn overdue(&self, now_ms: i64) -> Option<(Duration, Duration)> {
        let since = self.waiting_since_ms.load(Ordering::Relaxed);
        let bound = self.bound_ms.load(Ordering::Relaxed);
        if since == 0 || bound == 0 {
            return None;
        }
        let waited = u64::try_from(now_ms - since).unwrap_or(0);
        (waited > bound).then(|| (Duration::from_millis(waited), Duration::from_millis(bound)))
    }

    fn answered(&self) {
        self.last_progress_ms.store(crate::store::now_ms(), Ordering::Relaxed);
    }
}

/// A [`LinkEvent`] tagged with the run it belongs to, so events of a stopped run are dropped.
/// Answered with the gate's decision for a room invite, `None` for everything else.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Option<InviteAction>")]
pub struct LinkMessage {
    /// The harness's run counter when the run began.
    pub generation: u64,
    /// What happened.
    pub event: LinkEvent,
}

/// The connector's line back to its harness during one run.
#[derive(Clone)]
pub struct ConnectorLink {
    generation: u64,
    harness: Recipient<LinkMessage>,
    liveness: Arc<Liveness>,
}

impl ConnectorLink {
    /// A link for run `generation` of the harness behind `harness`.
    pub fn new(generation: u64, harness: Recipient<LinkMessage>) -> Self {
        Self { generation, harness, liveness: Arc::default() }
    }

    /// What this run has shown of its connection (the harness's watchdog reads it).
    pub fn liveness(&self) -> Arc<Liveness> {
        self.liveness.clone()
    }

    /// Says how long a request to the platform may stay unanswered before the run counts as
    /// stalled (a long poll's timeout plus a grace, two heartbeat intervals): the harness
    /// then ends the run and reconnects. Until this is called nothing is watched.
    pub fn expect_answers_within(&self, bound: Duration) {
        let ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX).max(1);
        self.liveness.bound_ms.store(ms, Ordering::Relaxed);
    }

    /// Awaits `request` to the platform (a long poll, a `/sync`, the gateway's next event)
    /// as outstanding: the watchdog counts the time it stays unanswered, and its return is
    /// recorded as progress, whatever its result (an error is an answer too: the run
    /// handles it). Work between requests is not counted.
    pub async fn awaiting<F: Future>(&self, request: F) -> F::Output {
        self.liveness.waiting_since_ms.store(crate::store::now_ms(), Ordering::Relaxed);
        let output = request.await;
        self.liveness.waiting_since_ms.store(0, Ordering::Relaxed);
        self.liveness.answered();
        output
    }

    fn send(&self, event: LinkEvent) {
        self.harness.do_send(LinkMessage { generation: self.generation, event });
    }

    /// Reports that the connection is established (and the platform has answered).
    pub fn connected(&self, identity: Identity) {
        self.liveness.answered();
        self.send(LinkEvent::Connected(identity));
    }

    /// Reports a lost connection that the connector re-establishes within this run (its
    /// library reconnects by itself); `connected` follows when it is back.
    pub fn reconnecting(&self, reason: impl Into<String>) {
        self.send(LinkEvent::Reconnecting(reason.into()));
    }

    /// Hands over one platform event and waits until the runtime took it up (pairing decided
    /// it and, when it is to be answered, it is queued for its chat). A connector that reads
    /// faster than that is slowed down here rather than filling the actors' mailboxes.
    /// Connectors with a cursor should first store the batch with `Store::accept_inbound`
    /// (atomically with the cursor), so a crash loses nothing.
    pub async fn inbound(&self, inbound: Inbound) {
        let message = LinkMessage { generation: self.generation, event: LinkEvent::Inbound(inbound) };
        let _ = self.harness.send(message).await;
    }

    /// Hands over one platform event without waiting (for events injected by tests and the
    /// benchmark's fake platform, which are not read from a network).
    pub fn inbound_now(&self, inbound: Inbound) {
        self.send(LinkEvent::Inbound(inbound));
    }

    /// Reports an invite into a room (or the bot being added to a group) and waits for the
    /// gate's decision: join, join and ask the owner (the request is open once this
    /// returns), or stay away. `Ignore` when the run is over or the runtime is gone.
    pub async fn room_invite(&self, invite: RoomInvite) -> InviteAction {
        let message = LinkMessage { generation: self.generation, event: LinkEvent::RoomInvite(invite) };
        self.harness.send(message).await.ok().flatten().unwrap_or(InviteAction::Ignore)
    }

    /// Shows a warning on the connector's status.
    pub fn warn(&self, warning: impl Into<String>) {
        self.send(LinkEvent::Warning(warning.into()));
    }
}

/// A platform connector. Futures are `'static`: implementations clone what they need.
pub trait Connector: Send + Sync + 'static {
    /// Which platform this is.
    fn platform(&self) -> Platform;

    /// Checks the credentials and says who the bot is (Matrix `whoami`, `getMe`, `/users/@me`).
    fn test(&self) -> BoxFuture<'static, Result<Identity, ConnectorError>>;

    /// Connects and pumps events into `link` until the connection ends. Calls
    /// `link.connected` once it is live. Returning `Ok` means the connection closed and
    /// should be re-established; an error says why it ended.
    fn run(&self, link: ConnectorLink) -> BoxFuture<'static, Result<(), ConnectorError>>;

    /// Formats, splits and sends a reply; removes the ack reaction of the answered event (see
    /// [`acknowledge`](Self::acknowledge)) unless the reply is `partial`. The chunks that
    /// fall on messages in `reply.shown` edit those messages (only where their text changed);
    /// the others are sent. Returns the messages now showing the reply, in order.
    fn deliver(&self, reply: Reply) -> BoxFuture<'static, Result<Delivered, ConnectorError>>;

    /// Fetches a media file this connector referenced in an inbound message, refusing one
    /// over `limit` bytes: by the size the platform announces before downloading, and while
    /// the body streams in (reading stops once it passes the limit).
    fn fetch_media(&self, media: MediaRef, limit: u64) -> BoxFuture<'static, Result<Vec<u8>, MediaError>> {
        let _ = (media, limit);
        Box::pin(async { Err(MediaError::Failed("this platform has no media".into())) })
    }

    /// Marks a message as being answered (the ack reaction), best effort. Called after pairing
    /// and the group rules let it through, before its reply is delivered; `deliver` removes
    /// the reaction. Whatever `deliver` must wait for (a reaction still being sent) is
    /// registered before this returns, not when the future first runs.
    fn acknowledge(&self, chat: ChatId, event: EventId) -> BoxFuture<'static, Result<(), ConnectorError>> {
        let _ = (chat, event);
        Box::pin(async { Ok(()) })
    }

    /// Shows or hides the typing indicator.
    fn set_typing(&self, chat: ChatId, typing: bool) -> BoxFuture<'static, Result<(), ConnectorError>> {
        let _ = (chat, typing);
        Box::pin(async { Ok(()) })
    }

    /// Acts on the owner's decision about a room request (join and stay, or leave).
    fn pairing_decided(&self, record: PairingRecord) -> BoxFuture<'static, Result<(), ConnectorError>> {
        let _ = record;
        Box::pin(async { Ok(()) })
    }
}

/// What connectors get from the runtime when they are built.
#[derive(Clone)]
pub struct ConnectorEnv {
    /// The shared database (cursors, handled events).
    pub store: Store,
    /// `vault/.parachute`: connectors keep their own state below it (e.g. `matrix/`).
    pub data_dir: PathBuf,
}

/// Builds a platform's connector from the config. One per platform compiled in.
pub trait ConnectorFactory: Send + Sync + 'static {
    /// Which platform it builds.
    fn platform(&self) -> Platform;

    /// A connector for the current settings.
    fn build(&self, config: &BotsConfig, env: &ConnectorEnv) -> Result<Arc<dyn Connector>, ConnectorError>;

    /// Signs the bot in with its password, for a new access token (platforms whose bots have
    /// passwords: Matrix). Stores nothing.
    fn sign_in(&self, request: SignInRequest) -> BoxFuture<'static, Result<SignedIn, ConnectorError>> {
        let _ = request;
        let platform = self.platform();
        Box::pin(
            async move { Err(ConnectorError::Config(format!("{platform} bots sign in with a token, not a password"))) },
        )
    }
}
