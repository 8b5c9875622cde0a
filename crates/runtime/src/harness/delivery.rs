//! Reply delivery in lanes, one per chat: a chat's replies go out in order, one send in flight
//! per chat, while different chats are sent concurrently, so a slow or rate-limited chat never
//! holds up another. Retries are bounded in attempts and total time; queued replies are
//! bounded per chat and in all. Pure decisions (what to send next, what to retry, when to give
//! up); the harness does the I/O and the timers.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use parachute_core::ids::ChatId;

use crate::backoff_policy::{Delays, DeliveryRetryPolicy};
use crate::connector::ConnectorError;
use crate::messages::Reply;

/// Replies one chat may have queued (the one being sent included). Past it a new reply for
/// the chat fails at once.
pub const MAX_QUEUED_REPLIES_PER_CHAT: usize = 50;
/// Replies all chats of one platform together may have queued. Past it a new reply fails at
/// once.
pub const MAX_QUEUED_REPLIES: usize = 1_000;

/// Why a reply was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueFull {
    /// Its chat has too many replies waiting.
    #[error("{limit} replies already wait to be sent to this chat")]
    Chat {
        /// The bound.
        limit: usize,
    },
    /// All chats together have too many replies waiting.
    #[error("{limit} replies already wait to be sent on this platform")]
    Platform {
        /// The bound.
        limit: usize,
    },
}

/// Why a reply was given up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GiveUpReason {
    /// Retrying cannot help (the platform refused the credentials or the request).
    #[error("{0}")]
    Fatal(ConnectorError),
    /// The last of the allowed attempts failed too.
    #[error("{attempts} attempts failed, the last with: {last}")]
    AttemptsSpent {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        last: ConnectorError,
    },
    /// The next attempt would come after the time budget ends (a long `retry_after`, or the
    /// connection was down until the budget was spent).
    #[error("no attempt fits the remaining {} ms of the {} s retry budget (last error: {last})",
        .left.as_millis(), .budget.as_secs())]
    BudgetSpent {
        /// What was left of the budget.
        left: Duration,
        /// The budget.
        budget: Duration,
        /// The last attempt's error.
        last: ConnectorError,
    },
}

/// Identifies one send, so a late result (after a stop, or of an earlier attempt) is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendTicket(u64);

/// A reply to send now.
#[derive(Debug, Clone)]
pub struct DueSend {
    /// Its lane.
    pub chat: ChatId,
    /// What to hand back with the result.
    pub ticket: SendTicket,
    /// The reply.
    pub reply: Reply,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
}

/// A reply that will not be sent, with whoever waits for it.
#[derive(Debug)]
pub struct GivenUp<R> {
    /// Who waits for the outcome.
    pub responder: R,
    /// The reply's chat.
    pub chat: ChatId,
    /// Why.
    pub reason: GiveUpReason,
}

/// What became of a send.
#[derive(Debug)]
pub enum Settled<R> {
    /// Sent; the reply left its lane.
    Delivered(R),
    /// Sent again once `after` passed (and the connector is connected).
    RetryIn(Duration),
    /// Not sent, and never will be.
    GaveUp(GivenUp<R>),
    /// The result of a send that no longer counts (its lane was drained meanwhile).
    Stale,
}

struct Pending<R> {
    reply: Reply,
    responder: R,
    attempts: u32,
    first_attempt: Option<Instant>,
    not_before: Option<Instant>,
    last_error: Option<ConnectorError>,
    delays: Delays,
}

struct Lane<R> {
    queue: VecDeque<Pending<R>>,
    in_flight: Option<SendTicket>,
}

/// The queued replies of one platform, a lane per chat. `R` is whoever waits for a reply's
/// outcome (the harness uses a oneshot sender).
pub struct DeliveryLanes<R> {
    policy: DeliveryRetryPolicy,
    per_chat_limit: usize,
    total_limit: usize,
    lanes: HashMap<ChatId, Lane<R>>,
    queued: usize,
    next_ticket: u64,
}

impl<R> DeliveryLanes<R> {
    /// Empty lanes with the documented bounds.
    pub fn new(policy: DeliveryRetryPolicy) -> Self {
        Self::with_limits(policy, MAX_QUEUED_REPLIES_PER_CHAT, MAX_QUEUED_REPLIES)
    }

    /// Empty lanes with other bounds.
    pub fn with_limits(policy: DeliveryRetryPolicy, per_chat_limit: usize, total_limit: usize) -> Self {
        Self { policy, per_chat_limit, total_limit, lanes: HashMap::new(), queued: 0, next_ticket: 0 }
    }

    /// Replies queued, those being sent included.
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Queues a reply at the end of its chat's lane; hands the responder back when a bound
    /// is reached.
    pub fn push(&mut self, reply: Reply, responder: R) -> Result<(), (R, QueueFull)> {
        if self.queued >= self.total_limit {
            return Err((responder, QueueFull::Platform { limit: self.total_limit }));
        }
        let lane =
            self.lanes.entry(reply.chat.clone()).or_insert_with(|| Lane { queue: VecDeque::new(), in_flight: None });
        if lane.queue.len() >= self.per_chat_limit {
            return Err((responder, QueueFull::Chat { limit: self.per_chat_limit }));
        }
        lane.queue.push_back(Pending {
            reply,
            responder,
            attempts: 0,
            first_attempt: None,
            not_before: None,
            last_error: None,
            delays: self.policy.delays(),
        });
        self.queued += 1;
        Ok(())
    }

    /// The replies to send now: the head of every lane with nothing in flight and no retry
    /// wait pending, each marked in flight. Heads whose time budget ran out meanwhile (the
    /// connection was down) are given up instead.
    pub fn take_due(&mut self, now: Instant) -> (Vec<DueSend>, Vec<GivenUp<R>>) {
        let (mut due, mut given_up) = (Vec::new(), Vec::new());
        let Self { policy, lanes, queued, next_ticket, .. } = self;
        let budget = policy.budget;
        for (chat, lane) in lanes.iter_mut() {
            if lane.in_flight.is_some() {
                continue;
            }
            while let Some(head) = lane.queue.front_mut() {
                if head.not_before.is_some_and(|at| at > now) {
                    break;
                }
                let spent = head.first_attempt.map(|first| now.saturating_duration_since(first));
                if let (Some(spent), Some(last)) = (spent, &head.last_error)
                    && spent >= budget
                {
                    let reason = GiveUpReason::BudgetSpent { left: Duration::ZERO, budget, last: last.clone() };
                    if let Some(done) = lane.queue.pop_front() {
                        *queued -= 1;
                        given_up.push(GivenUp { responder: done.responder, chat: chat.clone(), reason });
                    }
                    continue;
                }
                *next_ticket += 1;
                let ticket = SendTicket(*next_ticket);
                head.attempts += 1;
                head.first_attempt.get_or_insert(now);
                lane.in_flight = Some(ticket);
                due.push(DueSend { chat: chat.clone(), ticket, reply: head.reply.clone(), attempt: head.attempts });
                break;
            }
        }
        lanes.retain(|_, lane| !lane.queue.is_empty());
        (due, given_up)
    }

    /// Decides on a send's result: delivered, retried after a wait (a rate limit's
    /// `retry_after`, else the next backoff delay), or given up (fatal error, attempts spent,
    /// or the wait would overrun the time budget).
    pub fn settle(
        &mut self,
        chat: &ChatId,
        ticket: SendTicket,
        result: Result<(), ConnectorError>,
        now: Instant,
    ) -> Settled<R> {
        let Some(lane) = self.lanes.get_mut(chat) else { return Settled::Stale };
        if lane.in_flight != Some(ticket) {
            return Settled::Stale;
        }
        lane.in_flight = None;
        let Some(head) = lane.queue.front_mut() else { return Settled::Stale };
        let reason = match result {
            Ok(()) => None,
            Err(err) if err.is_fatal() => Some(GiveUpReason::Fatal(err)),
            Err(err) if head.attempts >= self.policy.max_attempts => {
                Some(GiveUpReason::AttemptsSpent { attempts: head.attempts, last: err })
            }
            Err(err) => {
                let wait = match &err {
                    ConnectorError::RateLimited(retry_after) => *retry_after,
                    _ => head.delays.next_delay(),
                };
                let spent = head.first_attempt.map_or(Duration::ZERO, |first| now.saturating_duration_since(first));
                let left = self.policy.budget.saturating_sub(spent);
                if wait > left {
                    Some(GiveUpReason::BudgetSpent { left, budget: self.policy.budget, last: err })
                } else {
                    head.not_before = Some(now + wait);
                    head.last_error = Some(err);
                    return Settled::RetryIn(wait);
                }
            }
        };
        let Some(done) = lane.queue.pop_front() else { return Settled::Stale };
        self.queued -= 1;
        if lane.queue.is_empty() {
            self.lanes.remove(chat);
        }
        match reason {
            None => Settled::Delivered(done.responder),
            Some(reason) => Settled::GaveUp(GivenUp { responder: done.responder, chat: chat.clone(), reason }),
        }
    }

    /// Empties every lane (a stop, a fatal error); results of sends still in flight become
    /// stale.
    pub fn drain(&mut self) -> Vec<R> {
        self.queued = 0;
        self.lanes.drain().flat_map(|(_, lane)| lane.queue.into_iter().map(|p| p.responder)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parachute_core::ids::Platform;

    fn reply(chat: &str, text: &str) -> Reply {
        Reply::new(Platform::Discord, chat.into(), text.into(), None)
    }

    fn lanes() -> DeliveryLanes<&'static str> {
        DeliveryLanes::with_limits(DeliveryRetryPolicy { randomization: 0.0, ..Default::default() }, 3, 5)
    }

    fn texts(due: &[DueSend]) -> Vec<&str> {
        let mut texts: Vec<_> = due.iter().map(|d| d.reply.text.as_str()).collect();
        texts.sort();
        texts
    }

    fn transient() -> Result<(), ConnectorError> {
        Err(ConnectorError::Transient("502".into()))
    }

    #[test]
    fn one_send_in_flight_per_chat_chats_side_by_side_in_order() {
        let mut lanes = lanes();
        let now = Instant::now();
        for (chat, text) in [("a", "a1"), ("a", "a2"), ("b", "b1")] {
            lanes.push(reply(chat, text), text).unwrap();
        }
        let (due, given_up) = lanes.take_due(now);
        assert!(given_up.is_empty());
        assert_eq!(texts(&due), ["a1", "b1"], "the head of each chat, not a2");
        assert!(lanes.take_due(now).0.is_empty(), "nothing more while both are in flight");
        let a1 = due.iter().find(|d| d.reply.text == "a1").unwrap();
        assert!(matches!(lanes.settle(&a1.chat, a1.ticket, Ok(()), now), Settled::Delivered("a1")));
        assert_eq!(texts(&lanes.take_due(now).0), ["a2"]);
        assert_eq!(lanes.queued(), 2);
    }

    #[test]
    fn a_rate_limited_chat_waits_alone_and_retries_once_its_wait_passed() {
        let mut lanes = lanes();
        let now = Instant::now();
        lanes.push(reply("slow", "s1"), "s1").unwrap();
        lanes.push(reply("fast", "f1"), "f1").unwrap();
        let (due, _) = lanes.take_due(now);
        let slow = due.iter().find(|d| d.chat.as_str() == "slow").unwrap();
        let limited = Err(ConnectorError::RateLimited(Duration::from_secs(20)));
        assert!(
            matches!(lanes.settle(&slow.chat, slow.ticket, limited, now), Settled::RetryIn(d) if d == Duration::from_secs(20))
        );
        lanes.push(reply("fast", "f2"), "f2").unwrap();
        let fast = due.iter().find(|d| d.chat.as_str() == "fast").unwrap();
        assert!(matches!(lanes.settle(&fast.chat, fast.ticket, Ok(()), now), Settled::Delivered("f1")));
        assert_eq!(texts(&lanes.take_due(now).0), ["f2"], "the other chat goes on");
        assert!(lanes.take_due(now + Duration::from_secs(19)).0.is_empty());
        let again = lanes.take_due(now + Duration::from_secs(20)).0;
        assert_eq!(texts(&again), ["s1"]);
        assert_eq!(again[0].attempt, 2);
    }

    #[test]
    fn transient_errors_back_off_and_attempts_are_bounded() {
        let mut lanes = lanes();
        let mut now = Instant::now();
        lanes.push(reply("a", "a1"), "a1").unwrap();
        let mut waits = Vec::new();
        loop {
            let (due, _) = lanes.take_due(now);
            let send = &due[0];
            match lanes.settle(&send.chat, send.ticket, transient(), now) {
                Settled::RetryIn(wait) => {
                    waits.push(wait.as_secs());
                    now += wait;
                }
                Settled::GaveUp(given_up) => {
                    assert_eq!(given_up.responder, "a1");
                    let GiveUpReason::AttemptsSpent { attempts, .. } = given_up.reason else { panic!() };
                    assert_eq!(attempts, crate::backoff_policy::DELIVERY_MAX_ATTEMPTS);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(waits, [1, 2, 4, 8], "four waits between five attempts");
        assert_eq!(lanes.queued(), 0);
    }

    #[test]
    fn a_retry_after_beyond_the_budget_gives_up_at_once() {
        let mut lanes = lanes();
        let now = Instant::now();
        lanes.push(reply("a", "a1"), "a1").unwrap();
        let (due, _) = lanes.take_due(now);
        let first =
            lanes.settle(&due[0].chat, due[0].ticket, Err(ConnectorError::RateLimited(Duration::from_secs(40))), now);
        assert!(matches!(first, Settled::RetryIn(_)));
        let later = now + Duration::from_secs(40);
        let (due, _) = lanes.take_due(later);
        let limited = Err(ConnectorError::RateLimited(Duration::from_secs(30)));
        let Settled::GaveUp(given_up) = lanes.settle(&due[0].chat, due[0].ticket, limited, later) else { panic!() };
        assert!(matches!(given_up.reason, GiveUpReason::BudgetSpent { left, .. } if left == Duration::from_secs(20)));
        assert!(given_up.reason.to_string().contains("60 s retry budget"), "{}", given_up.reason);
    }

    #[test]
    fn fatal_errors_are_not_retried() {
        let mut lanes = lanes();
        let now = Instant::now();
        lanes.push(reply("a", "a1"), "a1").unwrap();
        let (due, _) = lanes.take_due(now);
        let refused = Err(ConnectorError::Auth("401".into()));
        let Settled::GaveUp(given_up) = lanes.settle(&due[0].chat, due[0].ticket, refused, now) else { panic!() };
        assert!(matches!(given_up.reason, GiveUpReason::Fatal(_)));
    }

    #[test]
    fn a_budget_spent_while_disconnected_gives_up_before_sending() {
        let mut lanes = lanes();
        let now = Instant::now();
        lanes.push(reply("a", "a1"), "a1").unwrap();
        let (due, _) = lanes.take_due(now);
        assert!(matches!(lanes.settle(&due[0].chat, due[0].ticket, transient(), now), Settled::RetryIn(_)));
        let (due, given_up) = lanes.take_due(now + Duration::from_secs(61));
        assert!(due.is_empty());
        assert_eq!(given_up.len(), 1);
        assert!(matches!(given_up[0].reason, GiveUpReason::BudgetSpent { .. }));
    }

    #[test]
    fn queues_are_bounded_per_chat_and_in_all() {
        let mut lanes = lanes();
        for i in 0..3 {
            lanes.push(reply("a", &format!("a{i}")), "a").unwrap();
        }
        let (_, full) = lanes.push(reply("a", "a3"), "a3").unwrap_err();
        assert_eq!(full, QueueFull::Chat { limit: 3 });
        lanes.push(reply("b", "b0"), "b").unwrap();
        lanes.push(reply("c", "c0"), "c").unwrap();
        let (responder, full) = lanes.push(reply("d", "d0"), "d0").unwrap_err();
        assert_eq!((responder, full), ("d0", QueueFull::Platform { limit: 5 }));
    }

    #[test]
    fn drained_lanes_make_results_in_flight_stale() {
        let mut lanes = lanes();
        let now = Instant::now();
        lanes.push(reply("a", "a1"), "a1").unwrap();
        lanes.push(reply("a", "a2"), "a2").unwrap();
        let (due, _) = lanes.take_due(now);
        let mut drained = lanes.drain();
        drained.sort();
        assert_eq!(drained, ["a1", "a2"]);
        assert!(matches!(lanes.settle(&due[0].chat, due[0].ticket, Ok(()), now), Settled::Stale));
        lanes.push(reply("a", "a3"), "a3").unwrap();
        let (fresh, _) = lanes.take_due(now);
        assert!(matches!(lanes.settle(&due[0].chat, due[0].ticket, Ok(()), now), Settled::Stale), "an old ticket");
        assert!(matches!(lanes.settle(&fresh[0].chat, fresh[0].ticket, Ok(()), now), Settled::Delivered("a3")));
        assert_eq!(lanes.queued(), 0);
    }
}
