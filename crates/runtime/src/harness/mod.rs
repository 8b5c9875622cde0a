//! The connector harness, its lifecycle: runs one platform's connector, reconnects it with
//! backoff, catches its panics, hands on the durable inbox on every connect and publishes its
//! status. Replies go out through per-chat lanes (`delivery`).

mod delivery;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::FutureExt;
use parachute_core::config::BotsConfig;
use parachute_core::gating::InviteAction;
use parachute_core::ids::{ChatId, Platform};
use secrecy::ExposeSecret;
use tokio::sync::{oneshot, watch};

use crate::backoff_policy::{BackoffPolicy, DeliveryRetryPolicy, ReconnectDelays};
use crate::connector::{
    Connector, ConnectorEnv, ConnectorError, ConnectorFactory, ConnectorLink, Identity, LinkEvent, LinkMessage,
    Liveness, MediaError,
};
use crate::messages::{
    Acknowledge, ControlError, Deliver, Delivered, DeliveryError, FetchMedia, Inbound, PairingDecided, ReloadConfig,
    RoomInvite, SetTyping, SignIn, Start, Stop, Test,
};
use crate::metrics::Metrics;
use crate::status::{ConnectorState, ConnectorStatus};
use crate::store::now_ms;
use crate::types::SignedIn;

use delivery::{DeliveryLanes, DueSend, GivenUp, SendTicket, Settled};
pub use delivery::{MAX_QUEUED_REPLIES, MAX_QUEUED_REPLIES_PER_CHAT};

/// Accepted events older than this are not handed on again from the inbox.
const INBOX_MAX_AGE_MS: i64 = 24 * 3600 * 1000;
/// Most warnings kept on the status.
const MAX_WARNINGS: usize = 10;
/// How often the watchdog looks at the running connection's liveness.
const WATCHDOG_TICK: Duration = Duration::from_secs(1);

/// Where a harness sends what its connector receives.
#[derive(Clone)]
pub struct HarnessTargets {
    /// Inbound events go to the pairing actor.
    pub inbound: Recipient<Inbound>,
    /// Room invites go to the pairing actor, which decides them.
    pub room_invites: Recipient<RoomInvite>,
}

/// Who waits for a reply's outcome (the orchestrator, through `Router::deliver`).
type Responder = oneshot::Sender<Result<Delivered, DeliveryError>>;

/// The actor that owns one connector's lifecycle.
pub struct ConnectorHarness {
    platform: Platform,
    factory: Option<Arc<dyn ConnectorFactory>>,
    env: ConnectorEnv,
    config: Arc<BotsConfig>,
    fingerprint: String,
    targets: HarnessTargets,
    metrics: Arc<Metrics>,
    delays: ReconnectDelays,
    status: watch::Sender<ConnectorStatus>,
    connector: Option<Arc<dyn Connector>>,
    generation: u64,
    run_handle: Option<SpawnHandle>,
    retry_handle: Option<SpawnHandle>,
    connected_at: Option<Instant>,
    /// What the current run has shown of its connection (see [`Liveness`]).
    liveness: Option<Arc<Liveness>>,
    lanes: DeliveryLanes<Responder>,
    inbox_replay: Option<SpawnHandle>,
    /// The owner pressed Stop (API, page, CLI): a settings change does not start it again.
    stopped_by_owner: bool,
}

impl ConnectorHarness {
    /// A stopped harness; `factory` is `None` when the binary lacks the platform.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        platform: Platform,
        factory: Option<Arc<dyn ConnectorFactory>>,
        env: ConnectorEnv,
        config: Arc<BotsConfig>,
        targets: HarnessTargets,
        metrics: Arc<Metrics>,
        policy: BackoffPolicy,
        status: watch::Sender<ConnectorStatus>,
    ) -> Self {
        let fingerprint = config.section_fingerprint(platform);
        let mut harness = Self {
            platform,
            factory,
            env,
            config,
            fingerprint,
            stopped_by_owner: false,
            targets,
            metrics,
            delays: ReconnectDelays::new(policy),
            status,
            connector: None,
            generation: 0,
            run_handle: None,
            retry_handle: None,
            connected_at: None,
            liveness: None,
            lanes: DeliveryLanes::new(DeliveryRetryPolicy::default()),
            inbox_replay: None,
        };
        harness.refresh_config_fields();
        harness
    }

    fn update(&self, change: impl FnOnce(&mut ConnectorStatus)) {
        self.status.send_modify(change);
    }

    fn state(&self) -> ConnectorState {
        self.status.borrow().state.clone()
    }

    fn refresh_config_fields(&mut self) {
        let policy = self.config.policy(self.platform);
        self.update(|s| {
            s.enabled = policy.enabled;
            s.has_token = policy.has_token;
            s.allowed_count = policy.allowed_count;
            s.open_to_everyone = policy.open_to_everyone;
        });
    }

    fn redacted(&self, text: &str) -> String {
        self.config.redacted(text, &[])
    }

    fn record_error(&self, text: &str) {
        let text = self.redacted(text);
        tracing::warn!(platform = %self.platform, error = %text, "connector error");
        self.update(|s| {
            s.failure_count += 1;
            s.last_error = Some(text);
            s.last_error_time = Some(now_ms());
        });
    }

    fn build_connector(&self) -> Result<Arc<dyn Connector>, ControlError> {
        let factory = self.factory.as_ref().ok_or(ControlError::NotBuiltIn(self.platform))?;
        if !self.config.policy(self.platform).has_token {
            return Err(ControlError::NoToken(self.platform));
        }
        factory.build(&self.config, &self.env).map_err(|e| ControlError::Connector(self.redacted(&e.to_string())))
    }

    /// Starts from a clean slate: fresh delays, first attempt.
    fn begin(&mut self, ctx: &mut Context<Self>) -> Result<(), ControlError> {
        let connector = self.build_connector()?;
        self.connector = Some(connector);
        self.delays.reset();
        self.update(|s| {
            s.state = ConnectorState::Starting;
            s.reconnect_attempts = 0;
            s.warnings.clear();
        });
        self.launch(ctx);
        Ok(())
    }

    /// Runs the connector once; its end is handled by `on_run_end`.
    fn launch(&mut self, ctx: &mut Context<Self>) {
        self.generation += 1;
        let generation = self.generation;
        let Some(connector) = self.connector.clone() else { return };
        let link = ConnectorLink::new(generation, ctx.address().recipient());
        self.liveness = Some(link.liveness());
        tracing::debug!(platform = %self.platform, generation, "connector run starting");
        let run = AssertUnwindSafe(connector.run(link)).catch_unwind();
        let handle = ctx.spawn(run.into_actor(self).map(move |result, act, ctx| {
            let result = result.map_err(|panic| panic_message(panic.as_ref()));
            act.on_run_end(generation, result, ctx);
        }));
        self.run_handle = Some(handle);
    }

    fn on_run_end(
        &mut self,
        generation: u64,
        result: Result<Result<(), ConnectorError>, String>,
        ctx: &mut Context<Self>,
    ) {
        if generation != self.generation {
            return;
        }
        self.run_handle = None;
        self.end_connection();
        match result {
            Err(panic) => {
                self.record_error(&format!("connector panicked: {panic}"));
                self.schedule_retry(None, ctx);
            }
            Ok(Ok(())) => {
                self.record_error("connection closed");
                self.schedule_retry(None, ctx);
            }
            Ok(Err(err)) if err.is_fatal() => {
                let reason = self.redacted(&err.to_string());
                self.record_error(&reason);
                self.connector = None;
                self.update(|s| s.state = ConnectorState::Failed { reason });
                self.fail_queued_replies();
            }
            Ok(Err(ConnectorError::RateLimited(wait))) => {
                self.record_error(&ConnectorError::RateLimited(wait).to_string());
                self.schedule_retry(Some(wait), ctx);
            }
            Ok(Err(err)) => {
                self.record_error(&err.to_string());
                self.schedule_retry(None, ctx);
            }
        }
    }

    /// A connection up for `healthy_after` ends the reconnect streak: the next loss starts
    /// again from the first delay.
    fn forget_streak_if_healthy(&mut self) {
        if self.connected_at.is_some_and(|t| t.elapsed() >= self.delays.policy().healthy_after) {
            self.delays.reset();
            if self.status.borrow().reconnect_attempts > 0 {
                self.update(|s| s.reconnect_attempts = 0);
            }
        }
    }

    /// The run's connection is over: a long enough one resets the reconnect delays.
    fn end_connection(&mut self) {
        self.liveness = None;
        self.forget_streak_if_healthy();
        self.connected_at = None;
        self.update(|s| s.connected_since = None);
    }

    fn schedule_retry(&mut self, forced: Option<Duration>, ctx: &mut Context<Self>) {
        self.schedule_retry_as(forced, None, ctx);
    }

    /// Schedules the next run; `stalled_for` is set when this run was ended by the watchdog.
    fn schedule_retry_as(&mut self, forced: Option<Duration>, stalled_for: Option<Duration>, ctx: &mut Context<Self>) {
        let delay = forced.unwrap_or_else(|| self.delays.next_delay());
        let attempt = self.status.borrow().reconnect_attempts + 1;
        let next_retry_in_ms = delay.as_millis() as u64;
        self.update(|s| {
            s.reconnect_attempts = attempt;
            // A lost connection counts; a failed attempt to make one is in `failure_count`.
            s.reconnects += u64::from(s.state == ConnectorState::Connected);
            s.state = match stalled_for {
                Some(silent) => {
                    ConnectorState::Stalled { silent_for_ms: silent.as_millis() as u64, attempt, next_retry_in_ms }
                }
                None => ConnectorState::Reconnecting { attempt, next_retry_in_ms },
            };
        });
        tracing::info!(platform = %self.platform, attempt, delay_ms = delay.as_millis() as u64, "reconnecting");
        self.retry_handle = Some(ctx.run_later(delay, |act, ctx| {
            act.retry_handle = None;
            act.launch(ctx);
        }));
    }

    fn halt(&mut self, ctx: &mut Context<Self>) {
        self.generation += 1;
        if let Some(handle) = self.run_handle.take() {
            ctx.cancel_future(handle);
        }
        if let Some(handle) = self.retry_handle.take() {
            ctx.cancel_future(handle);
        }
        if let Some(handle) = self.inbox_replay.take() {
            ctx.cancel_future(handle);
        }
        self.connector = None;
        self.connected_at = None;
        self.liveness = None;
        self.update(|s| {
            s.state = ConnectorState::Stopped;
            s.connected_since = None;
            s.reconnect_attempts = 0;
        });
        self.fail_queued_replies();
    }

    /// Fails every queued reply (a stop, a fatal error): nothing will send them. Results of
    /// sends still in flight are dropped when they arrive.
    fn fail_queued_replies(&mut self) {
        for responder in self.lanes.drain() {
            let _ = responder.send(Err(DeliveryError::NotRunning(self.platform)));
        }
    }

    fn on_connected(&mut self, identity: Identity, ctx: &mut Context<Self>) {
        self.replay_inbox(ctx);
        self.connected_at = Some(Instant::now());
        tracing::info!(platform = %self.platform, bot = %identity.user_id, "connected");
        let progress = self.liveness.as_ref().and_then(|l| l.last_progress_ms());
        self.update(|s| {
            s.state = ConnectorState::Connected;
            s.connected_since = Some(now_ms());
            s.identity = Some(identity);
            // The error that ended the last connection is over; the counters keep the history.
            s.last_error = None;
            s.last_error_time = None;
            s.last_progress_time = progress.or(s.last_progress_time);
        });
        self.pump(ctx);
    }

    /// The connector's library lost the connection and is re-establishing it within the run
    /// (a Discord session that resumes): shown and counted like the harness's own reconnects.
    fn on_reconnecting(&mut self, reason: &str) {
        if self.state() != ConnectorState::Connected {
            return;
        }
        self.record_error(reason);
        self.connected_at = None;
        self.update(|s| {
            s.reconnect_attempts += 1;
            s.reconnects += 1;
            s.state = ConnectorState::Reconnecting { attempt: s.reconnect_attempts, next_retry_in_ms: 0 };
            s.connected_since = None;
        });
    }

    /// Once a second: publishes when the platform last answered, forgets the reconnect streak
    /// of a connection that has been up long enough, and ends a run whose request to the
    /// platform has gone unanswered past its bound.
    fn watch(&mut self, ctx: &mut Context<Self>) {
        let Some(liveness) = self.liveness.clone() else { return };
        let progress = liveness.last_progress_ms();
        if progress.is_some() && progress != self.status.borrow().last_progress_time {
            self.update(|s| s.last_progress_time = progress);
        }
        if self.state() != ConnectorState::Connected {
            return;
        }
        self.forget_streak_if_healthy();
        if let Some((waited, bound)) = liveness.overdue(now_ms()) {
            self.on_stall(waited, bound, ctx);
        }
    }

    /// The platform stopped answering: the run is ended (its future dropped) and a new one
    /// starts through the normal backoff.
    fn on_stall(&mut self, waited: Duration, bound: Duration, ctx: &mut Context<Self>) {
        self.generation += 1;
        if let Some(handle) = self.run_handle.take() {
            ctx.cancel_future(handle);
        }
        self.end_connection();
        self.record_error(&format!(
            "stalled: the platform has not answered for {} s (it should within {} s); reconnecting",
            waited.as_secs(),
            bound.as_secs()
        ));
        self.update(|s| s.stalls += 1);
        self.schedule_retry_as(None, Some(waited), ctx);
    }

    /// On every connect (the first one and each reconnect), hands on again what the connector
    /// accepted into the durable inbox but the runtime has not finished: interrupted by a
    /// restart, a reply that was not delivered, a message taken up just before the connection
    /// broke. Duplicates are dropped downstream: pairing and the orchestrator skip events
    /// recorded done (`handled_events`), and the orchestrator drops an event it is still
    /// working on (its in-flight set), so a message being answered is not answered twice.
    fn replay_inbox(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.inbox_replay.take() {
            ctx.cancel_future(handle);
        }
        let (platform, store) = (self.platform, self.env.store.clone());
        let pairing = self.targets.inbound.clone();
        let replay = async move {
            let pending = match store.call(move |db| db.unfinished_inbound(platform, INBOX_MAX_AGE_MS)).await {
                Ok(pending) => pending,
                Err(err) => {
                    tracing::error!(%platform, error = %err, "cannot read the inbox");
                    return;
                }
            };
            if !pending.is_empty() {
                tracing::info!(%platform, count = pending.len(), "handing on accepted messages not finished yet");
            }
            // One at a time, each taken up before the next, like a connector's.
            for inbound in pending {
                let _ = pairing.send(inbound).await;
            }
        };
        self.inbox_replay = Some(ctx.spawn(replay.into_actor(self)));
    }

    /// Starts a send in every chat lane that has a reply due and nothing in flight; replies
    /// whose retry budget ran out while the connector was away fail here.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.state() != ConnectorState::Connected {
            return;
        }
        let Some(connector) = self.connector.clone() else { return };
        let (due, given_up) = self.lanes.take_due(Instant::now());
        for failed in given_up {
            self.report_given_up(failed);
        }
        for DueSend { chat, ticket, reply, attempt } in due {
            tracing::trace!(platform = %self.platform, chat = %chat, attempt, "sending a reply");
            let send = AssertUnwindSafe(connector.deliver(reply)).catch_unwind();
            ctx.spawn(send.into_actor(self).map(move |result, act, ctx| {
                let result =
                    result.unwrap_or_else(|panic| Err(ConnectorError::Transient(panic_message(panic.as_ref()))));
                act.on_delivery_result(chat, ticket, result, ctx);
            }));
        }
    }

    fn on_delivery_result(
        &mut self,
        chat: ChatId,
        ticket: SendTicket,
        result: Result<Delivered, ConnectorError>,
        ctx: &mut Context<Self>,
    ) {
        if let Err(ConnectorError::RateLimited(_)) = &result {
            self.metrics.rate_limited(self.platform);
        }
        let error = result.as_ref().err().map(|err| self.redacted(&err.to_string()));
        let (outcome, delivered) = match result {
            Ok(delivered) => (Ok(()), delivered),
            Err(err) => (Err(err), Vec::new()),
        };
        match self.lanes.settle(&chat, ticket, outcome, Instant::now()) {
            Settled::Stale => return,
            Settled::Delivered(responder) => {
                let _ = responder.send(Ok(delivered));
            }
            Settled::RetryIn(wait) => {
                tracing::warn!(
                    platform = %self.platform, chat = %chat, error = error.as_deref().unwrap_or_default(),
                    retry_in_ms = wait.as_millis() as u64, "reply not sent yet, retrying"
                );
                ctx.run_later(wait, |act, ctx| act.pump(ctx));
            }
            Settled::GaveUp(failed) => self.report_given_up(failed),
        }
        self.pump(ctx);
    }

    /// A reply that will not be sent: counted (metrics and status), logged, and reported
    /// to whoever waits for it.
    fn report_given_up(&mut self, failed: GivenUp<Responder>) {
        let reason = self.redacted(&failed.reason.to_string());
        tracing::warn!(platform = %self.platform, chat = %failed.chat, error = %reason, "reply given up");
        self.count_failed_reply();
        let _ = failed.responder.send(Err(DeliveryError::Failed(reason)));
    }

    fn count_failed_reply(&self) {
        self.metrics.delivery_failed(self.platform);
        self.update(|s| s.failed_replies += 1);
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

impl Actor for ConnectorHarness {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(WATCHDOG_TICK, |act, ctx| act.watch(ctx));
    }
}

impl Handler<Start> for ConnectorHarness {
    type Result = Result<(), ControlError>;

    fn handle(&mut self, _: Start, ctx: &mut Context<Self>) -> Self::Result {
        if self.state().is_running() {
            return Err(ControlError::AlreadyRunning(self.platform));
        }
        self.stopped_by_owner = false;
        self.begin(ctx).inspect_err(|err| {
            let text = err.to_string();
            self.update(|s| {
                s.last_error = Some(text);
                s.last_error_time = Some(now_ms());
            });
        })
    }
}

impl Handler<Stop> for ConnectorHarness {
    type Result = Result<(), ControlError>;

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) -> Self::Result {
        self.stopped_by_owner = true;
        self.halt(ctx);
        tracing::info!(platform = %self.platform, "stopped");
        Ok(())
    }
}

impl Handler<Test> for ConnectorHarness {
    type Result = ResponseActFuture<Self, Result<Identity, ControlError>>;

    fn handle(&mut self, _: Test, _: &mut Context<Self>) -> Self::Result {
        let connector = match self.connector.clone().map(Ok).unwrap_or_else(|| self.build_connector()) {
            Ok(c) => c,
            Err(err) => return Box::pin(fut::ready(Err(err))),
        };
        Box::pin(connector.test().into_actor(self).map(|result, act, _| match result {
            Ok(identity) => {
                act.update(|s| s.identity = Some(identity.clone()));
                Ok(identity)
            }
            Err(err) => Err(ControlError::Connector(act.redacted(&err.to_string()))),
        }))
    }
}

impl Handler<SignIn> for ConnectorHarness {
    type Result = ResponseFuture<Result<SignedIn, ControlError>>;

    fn handle(&mut self, msg: SignIn, _: &mut Context<Self>) -> Self::Result {
        let Some(factory) = self.factory.clone() else {
            let platform = self.platform;
            return Box::pin(async move { Err(ControlError::NotBuiltIn(platform)) });
        };
        let (config, password) = (self.config.clone(), msg.1.password.clone());
        Box::pin(async move {
            factory.sign_in(msg.1).await.map_err(|err| {
                // Neither a stored secret nor the password may come back in the error's text.
                ControlError::Connector(config.redacted(&err.to_string(), &[password.expose_secret()]))
            })
        })
    }
}

impl Handler<ReloadConfig> for ConnectorHarness {
    type Result = ();

    fn handle(&mut self, msg: ReloadConfig, ctx: &mut Context<Self>) {
        let was_enabled = self.config.policy(self.platform).enabled;
        self.config = msg.0;
        self.refresh_config_fields();
        let fingerprint = self.config.section_fingerprint(self.platform);
        let changed = fingerprint != self.fingerprint;
        self.fingerprint = fingerprint;
        // `enabled` is the one wish "run this connector": turning it on starts the connector,
        // turning it off stops it, as the Start and Stop buttons do.
        let enabled = self.config.policy(self.platform).enabled;
        if enabled != was_enabled {
            if enabled && !self.state().is_running() {
                tracing::info!(platform = %self.platform, "enabled in the config, starting");
                let _ = <Self as Handler<Start>>::handle(self, Start(self.platform), ctx);
                return;
            }
            if !enabled && self.state().is_running() {
                tracing::info!(platform = %self.platform, "disabled in the config, stopping");
                let _ = <Self as Handler<Stop>>::handle(self, Stop(self.platform), ctx);
                return;
            }
        }
        if !changed {
            return;
        }
        if self.state().is_running() {
            tracing::info!(platform = %self.platform, "settings changed, restarting connector");
            self.halt(ctx);
            if let Err(err) = self.begin(ctx) {
                let reason = err.to_string();
                self.update(|s| s.state = ConnectorState::Failed { reason });
            }
        } else if enabled && !self.stopped_by_owner {
            // Enabled but not running (no token yet, or one that failed): the new settings
            // get their chance, unless the owner stopped it.
            tracing::info!(platform = %self.platform, "settings changed, starting the enabled connector");
            let _ = <Self as Handler<Start>>::handle(self, Start(self.platform), ctx);
        }
    }
}

impl Handler<LinkMessage> for ConnectorHarness {
    type Result = ResponseFuture<Option<InviteAction>>;

    fn handle(&mut self, msg: LinkMessage, ctx: &mut Context<Self>) -> Self::Result {
        if msg.generation != self.generation {
            return Box::pin(async { None });
        }
        match msg.event {
            LinkEvent::Connected(identity) => self.on_connected(identity, ctx),
            LinkEvent::Inbound(inbound) => {
                self.metrics.received(self.platform);
                self.update(|s| s.last_message_time = Some(now_ms()));
                // The connector waits until pairing (and the orchestrator) took the message up.
                let taken_up = self.targets.inbound.send(inbound);
                return Box::pin(async move {
                    let _ = taken_up.await;
                    None
                });
            }
            LinkEvent::RoomInvite(invite) => {
                let decided = self.targets.room_invites.send(RoomInvite { platform: self.platform, ..invite });
                return Box::pin(async move { decided.await.ok() });
            }
            LinkEvent::Reconnecting(reason) => self.on_reconnecting(&reason),
            LinkEvent::Warning(text) => {
                let text = self.redacted(&text);
                tracing::warn!(platform = %self.platform, warning = %text, "connector warning");
                self.update(|s| {
                    if !s.warnings.contains(&text) && s.warnings.len() < MAX_WARNINGS {
                        s.warnings.push(text);
                    }
                });
            }
        }
        Box::pin(async { None })
    }
}

impl Handler<Deliver> for ConnectorHarness {
    type Result = ResponseFuture<Result<Delivered, DeliveryError>>;

    fn handle(&mut self, msg: Deliver, ctx: &mut Context<Self>) -> Self::Result {
        if !self.state().is_running() {
            let platform = self.platform;
            return Box::pin(async move { Err(DeliveryError::NotRunning(platform)) });
        }
        let (respond, answer) = oneshot::channel();
        let chat = msg.0.chat.clone();
        if let Err((respond, full)) = self.lanes.push(msg.0, respond) {
            tracing::warn!(platform = %self.platform, chat = %chat, error = %full, "reply refused: too many replies queued");
            self.count_failed_reply();
            let _ = respond.send(Err(DeliveryError::Failed(format!("not queued: {full}"))));
        }
        self.pump(ctx);
        let platform = self.platform;
        Box::pin(async move { answer.await.unwrap_or(Err(DeliveryError::NotRunning(platform))) })
    }
}

impl Handler<SetTyping> for ConnectorHarness {
    type Result = ();

    fn handle(&mut self, msg: SetTyping, ctx: &mut Context<Self>) {
        if self.state() != ConnectorState::Connected {
            return;
        }
        if let Some(connector) = self.connector.clone() {
            let platform = self.platform;
            ctx.spawn(
                async move {
                    if let Err(err) = connector.set_typing(msg.chat, msg.typing).await {
                        tracing::debug!(%platform, error = %err, "typing indicator not sent");
                    }
                }
                .into_actor(self),
            );
        }
    }
}

impl Handler<Acknowledge> for ConnectorHarness {
    type Result = ();

    /// Asks the connector for the ack reaction, in mailbox order with the reply's `Deliver`,
    /// so the connector has registered the reaction before the reply can remove it.
    fn handle(&mut self, msg: Acknowledge, ctx: &mut Context<Self>) {
        if self.state() != ConnectorState::Connected {
            return;
        }
        let Some(connector) = self.connector.clone() else { return };
        let platform = self.platform;
        let acknowledged = AssertUnwindSafe(connector.acknowledge(msg.chat, msg.event)).catch_unwind();
        ctx.spawn(
            async move {
                match acknowledged.await {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => tracing::debug!(%platform, error = %err, "ack reaction not added"),
                    Err(_) => tracing::warn!(%platform, "the connector panicked adding an ack reaction"),
                }
            }
            .into_actor(self),
        );
    }
}

impl Handler<FetchMedia> for ConnectorHarness {
    type Result = ResponseFuture<Result<Vec<u8>, MediaError>>;

    /// Fetches through the current connector (also while it reconnects: a download does not
    /// need the event stream); runs outside the actor, so replies keep flowing meanwhile.
    fn handle(&mut self, msg: FetchMedia, _: &mut Context<Self>) -> Self::Result {
        let platform = self.platform;
        let Some(connector) = self.connector.clone() else {
            return Box::pin(
                async move { Err(MediaError::Failed(format!("the {platform} connector is not running"))) },
            );
        };
        let fetch = AssertUnwindSafe(connector.fetch_media(msg.media, msg.limit)).catch_unwind();
        Box::pin(async move {
            fetch.await.unwrap_or_else(|_| Err(MediaError::Failed("the connector panicked fetching media".into())))
        })
    }
}

impl Handler<PairingDecided> for ConnectorHarness {
    type Result = ();

    fn handle(&mut self, msg: PairingDecided, ctx: &mut Context<Self>) {
        if let Some(connector) = self.connector.clone() {
            let platform = self.platform;
            ctx.spawn(
                async move {
                    if let Err(err) = connector.pairing_decided(msg.0).await {
                        tracing::warn!(%platform, error = %err, "could not act on pairing decision");
                    }
                }
                .into_actor(self),
            );
        }
    }
}
