//! A fake connector driven by a script: connect, fail (auth/transient/rate limit), panic or
//! hang per run; fails deliveries as scripted (any chat, or one chat); records deliveries,
//! typing, ack reactions and media fetches; serves media files tests add; lets tests inject
//! inbound events, also through the durable inbox as a real connector would.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::future::BoxFuture;
use parachute_core::config::BotsConfig;
use parachute_core::gating::InviteAction;
use parachute_core::ids::{ChatId, EventId, Platform};
use parachute_runtime::connector::{
    Connector, ConnectorEnv, ConnectorError, ConnectorFactory, ConnectorLink, Identity, MediaError, SignInRequest,
    SignedIn,
};
use parachute_runtime::media::check_announced;
use parachute_runtime::messages::{Delivered, Inbound, MediaRef, Reply, RoomInvite, SentPart};
use parachute_runtime::store::{PairingRecord, Store};
use secrecy::ExposeSecret;
use tokio::sync::{mpsc, watch};

/// What one run of the fake connector does.
#[derive(Debug, Clone)]
pub enum RunScript {
    /// Connect and stay connected until `drop_connection` (the default once the script ends).
    Connect,
    /// Fail right away with this error.
    Fail(ConnectorError),
    /// Panic right away.
    Panic(String),
    /// Never connect, never return.
    Hang,
    /// Connect, then wait on a request the platform never answers, saying it should be
    /// answered within this bound (a long poll held by a stuck server).
    ConnectThenStall(Duration),
}

struct State {
    platform: Platform,
    script: VecDeque<RunScript>,
    deliver_script: VecDeque<ConnectorError>,
    chat_deliver_scripts: HashMap<ChatId, VecDeque<ConnectorError>>,
    store: Option<Store>,
    link: Option<ConnectorLink>,
    drop_tx: Option<mpsc::UnboundedSender<Result<(), ConnectorError>>>,
    delivered: Vec<Reply>,
    typing: Vec<(ChatId, bool)>,
    acks: Vec<(ChatId, EventId)>,
    media: HashMap<String, Vec<u8>>,
    fetches: Vec<(MediaRef, u64)>,
    decisions: Vec<PairingRecord>,
    test_result: Result<Identity, ConnectorError>,
}

/// Counters tests can await.
struct Signals {
    runs: watch::Sender<usize>,
    connected: watch::Sender<usize>,
    delivered: watch::Sender<usize>,
}

/// The fake connector; clones share one state, so a test keeps a handle on what the
/// runtime built.
#[derive(Clone)]
pub struct FakeConnector {
    state: Arc<Mutex<State>>,
    signals: Arc<Signals>,
}

impl FakeConnector {
    /// A fake for `platform` that connects on every run unless scripted otherwise.
    pub fn new(platform: Platform) -> Self {
        let identity = Identity {
            user_id: format!("fake-{platform}-bot"),
            username: Some("parachute_bot".to_owned()),
            display_name: Some("Parachute".to_owned()),
        };
        Self {
            state: Arc::new(Mutex::new(State {
                platform,
                script: VecDeque::new(),
                deliver_script: VecDeque::new(),
                chat_deliver_scripts: HashMap::new(),
                store: None,
                link: None,
                drop_tx: None,
                delivered: Vec::new(),
                typing: Vec::new(),
                acks: Vec::new(),
                media: HashMap::new(),
                fetches: Vec::new(),
                decisions: Vec::new(),
                test_result: Ok(identity),
            })),
            signals: Arc::new(Signals {
                runs: watch::channel(0).0,
                connected: watch::channel(0).0,
                delivered: watch::channel(0).0,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends run behaviours, consumed one per run.
    pub fn script(&self, runs: impl IntoIterator<Item = RunScript>) -> &Self {
        self.state().script.extend(runs);
        self
    }

    /// Makes the next deliveries fail with these errors, one per attempt.
    pub fn fail_deliveries(&self, errors: impl IntoIterator<Item = ConnectorError>) {
        self.state().deliver_script.extend(errors);
    }

    /// Makes the next deliveries to `chat` fail with these errors, one per attempt (before
    /// the errors of [`fail_deliveries`](Self::fail_deliveries), which apply to any chat).
    pub fn fail_deliveries_in(&self, chat: &str, errors: impl IntoIterator<Item = ConnectorError>) {
        self.state().chat_deliver_scripts.entry(ChatId::from(chat)).or_default().extend(errors);
    }

    /// Delivery attempts of every chat that were scripted to fail and are still to come.
    pub fn scripted_failures_left(&self) -> usize {
        let state = self.state();
        state.deliver_script.len() + state.chat_deliver_scripts.values().map(VecDeque::len).sum::<usize>()
    }

    /// What `test` answers.
    pub fn set_test_result(&self, result: Result<Identity, ConnectorError>) {
        self.state().test_result = result;
    }

    /// A factory handing out this fake.
    pub fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(FakeFactory(self.clone()))
    }

    /// Sends an event as if the platform delivered it. Panics if not connected.
    pub fn inject(&self, inbound: Inbound) {
        let link = self.state().link.clone().expect("fake connector is not connected");
        link.inbound_now(inbound);
    }

    /// Like [`inject`](Self::inject), but first stores the event in the durable inbox, as
    /// connectors with a cursor do (`Store::accept_inbound`). Panics if the runtime has not
    /// built the fake yet.
    pub async fn inject_accepted(&self, inbound: Inbound) {
        let store = self.state().store.clone().expect("the runtime built the fake connector");
        let stored = inbound.clone();
        store
            .call(move |db| db.accept_inbound(stored.platform, std::slice::from_ref(&stored), None))
            .await
            .expect("inbox write");
        self.inject(inbound);
    }

    /// Reports an invite into a private room as the platform would; the gate's decision.
    pub async fn invite(&self, room_id: &str, room_name: &str, inviter: &str) -> InviteAction {
        let link = self.state().link.clone().expect("fake connector is not connected");
        let platform = self.state().platform;
        link.room_invite(RoomInvite {
            platform,
            room_id: room_id.to_owned(),
            room_aliases: Vec::new(),
            room_name: room_name.to_owned(),
            inviter: inviter.to_owned(),
            is_direct: false,
            is_public: false,
        })
        .await
    }

    /// Ends the current connected run with `result`.
    pub fn drop_connection(&self, result: Result<(), ConnectorError>) {
        if let Some(tx) = self.state().drop_tx.take() {
            let _ = tx.send(result);
        }
    }

    /// How many runs have started.
    pub fn runs(&self) -> usize {
        *self.signals.runs.borrow()
    }

    /// Complete replies delivered so far (a streamed answer's previews left out: see
    /// [`previews`](Self::previews)).
    pub fn delivered(&self) -> Vec<Reply> {
        self.state().delivered.iter().filter(|reply| !reply.partial).cloned().collect()
    }

    /// Every reply delivered so far, a streamed answer's previews (`partial`) included, in
    /// order.
    pub fn deliveries(&self) -> Vec<Reply> {
        self.state().delivered.clone()
    }

    /// The previews of streamed answers delivered so far.
    pub fn previews(&self) -> Vec<Reply> {
        self.state().delivered.iter().filter(|reply| reply.partial).cloned().collect()
    }

    /// Typing calls so far.
    pub fn typing(&self) -> Vec<(ChatId, bool)> {
        self.state().typing.clone()
    }

    /// Ack reactions asked for so far.
    pub fn acks(&self) -> Vec<(ChatId, EventId)> {
        self.state().acks.clone()
    }

    /// Makes the media file whose source is `source` fetchable with `bytes`.
    pub fn add_media(&self, source: &str, bytes: Vec<u8>) {
        self.state().media.insert(source.to_owned(), bytes);
    }

    /// Media fetches asked for so far, with their limits.
    pub fn fetches(&self) -> Vec<(MediaRef, u64)> {
        self.state().fetches.clone()
    }

    /// Room decisions the connector was told about.
    pub fn decisions(&self) -> Vec<PairingRecord> {
        self.state().decisions.clone()
    }

    /// Waits until at least `n` complete replies were delivered (previews are not counted);
    /// returns them all.
    pub async fn wait_delivered(&self, n: usize, timeout: Duration) -> Vec<Reply> {
        let mut rx = self.signals.delivered.subscribe();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|count| *count >= n)).await;
        let delivered = self.delivered();
        assert!(reached.is_ok(), "expected {n} deliveries within {timeout:?}, got {}: {delivered:#?}", delivered.len());
        delivered
    }

    /// Waits until the fake has started `n` runs.
    pub async fn wait_runs(&self, n: usize, timeout: Duration) {
        let mut rx = self.signals.runs.subscribe();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|count| *count >= n)).await;
        assert!(reached.is_ok(), "expected {n} runs within {timeout:?}, got {}", self.runs());
    }

    /// Waits until the fake has connected `n` times.
    pub async fn wait_connected(&self, n: usize, timeout: Duration) {
        let mut rx = self.signals.connected.subscribe();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|count| *count >= n)).await;
        assert!(reached.is_ok(), "expected {n} connections within {timeout:?}");
    }
}

struct FakeFactory(FakeConnector);

impl ConnectorFactory for FakeFactory {
    fn platform(&self) -> Platform {
        self.0.state().platform
    }

    fn build(&self, _: &BotsConfig, env: &ConnectorEnv) -> Result<Arc<dyn Connector>, ConnectorError> {
        self.0.state().store = Some(env.store.clone());
        Ok(Arc::new(self.0.clone()))
    }

    /// Accepts [`FAKE_PASSWORD`] for any user on any server, as `@user:` the server's host.
    fn sign_in(&self, request: SignInRequest) -> BoxFuture<'static, Result<SignedIn, ConnectorError>> {
        Box::pin(async move {
            if request.password.expose_secret() != FAKE_PASSWORD {
                return Err(ConnectorError::Auth("the homeserver refused the user or password".into()));
            }
            let localpart = request.user.trim_start_matches('@').split(':').next().unwrap_or_default().to_owned();
            Ok(SignedIn { user_id: format!("@{localpart}:example.org"), access_token: FAKE_SIGNED_IN_TOKEN.into() })
        })
    }
}

/// The password the fake's sign-in accepts.
pub const FAKE_PASSWORD: &str = "fake-password-5678";
/// The access token a fake sign-in hands out.
pub const FAKE_SIGNED_IN_TOKEN: &str = "syt_fake_signed_in_token_0123456789";

impl Connector for FakeConnector {
    fn platform(&self) -> Platform {
        self.state().platform
    }

    fn test(&self) -> BoxFuture<'static, Result<Identity, ConnectorError>> {
        let result = self.state().test_result.clone();
        Box::pin(async move { result })
    }

    fn run(&self, link: ConnectorLink) -> BoxFuture<'static, Result<(), ConnectorError>> {
        let this = self.clone();
        Box::pin(async move {
            let step = this.state().script.pop_front().unwrap_or(RunScript::Connect);
            this.signals.runs.send_modify(|n| *n += 1);
            match step {
                RunScript::Fail(err) => Err(err),
                RunScript::Panic(msg) => panic!("{msg}"),
                RunScript::Hang => std::future::pending().await,
                RunScript::ConnectThenStall(bound) => {
                    link.connected(this.state().test_result.clone().unwrap_or_default());
                    this.signals.connected.send_modify(|n| *n += 1);
                    link.expect_answers_within(bound);
                    link.awaiting(std::future::pending::<()>()).await;
                    Ok(())
                }
                RunScript::Connect => {
                    let (tx, mut rx) = mpsc::unbounded_channel();
                    let identity = {
                        let mut state = this.state();
                        state.link = Some(link.clone());
                        state.drop_tx = Some(tx);
                        state.test_result.clone().unwrap_or_default()
                    };
                    link.connected(identity);
                    this.signals.connected.send_modify(|n| *n += 1);
                    rx.recv().await.unwrap_or(Ok(()))
                }
            }
        })
    }

    fn deliver(&self, reply: Reply) -> BoxFuture<'static, Result<Delivered, ConnectorError>> {
        let this = self.clone();
        Box::pin(async move {
            let failure = {
                let mut state = this.state();
                let in_chat = state.chat_deliver_scripts.get_mut(&reply.chat).and_then(VecDeque::pop_front);
                in_chat.or_else(|| state.deliver_script.pop_front())
            };
            if let Some(err) = failure {
                return Err(err);
            }
            // One message per reply: a preview's later versions edit the message it sent.
            let partial;
            let delivered = {
                let mut state = this.state();
                let id = match reply.shown.first() {
                    Some(part) => part.id.clone(),
                    None => format!("fake-message-{}", state.delivered.len() + 1),
                };
                let part = SentPart::new(id, &reply.text);
                partial = reply.partial;
                state.delivered.push(reply);
                vec![part]
            };
            if !partial {
                this.signals.delivered.send_modify(|n| *n += 1);
            }
            Ok(delivered)
        })
    }

    fn fetch_media(&self, media: MediaRef, limit: u64) -> BoxFuture<'static, Result<Vec<u8>, MediaError>> {
        let found = {
            let mut state = self.state();
            state.fetches.push((media.clone(), limit));
            state.media.get(&media.source).cloned()
        };
        Box::pin(async move {
            check_announced(media.size, limit)?;
            let bytes = found.ok_or_else(|| MediaError::Failed("no such file".into()))?;
            check_announced(Some(bytes.len() as u64), limit)?;
            Ok(bytes)
        })
    }

    fn acknowledge(&self, chat: ChatId, event: EventId) -> BoxFuture<'static, Result<(), ConnectorError>> {
        self.state().acks.push((chat, event));
        Box::pin(async { Ok(()) })
    }

    fn set_typing(&self, chat: ChatId, typing: bool) -> BoxFuture<'static, Result<(), ConnectorError>> {
        self.state().typing.push((chat, typing));
        Box::pin(async { Ok(()) })
    }

    fn pairing_decided(&self, record: PairingRecord) -> BoxFuture<'static, Result<(), ConnectorError>> {
        self.state().decisions.push(record);
        Box::pin(async { Ok(()) })
    }
}
