//! The actor runtime of parachute.
//!
//! A [`Supervisor`](supervisor::Supervisor) owns the config and one
//! [`ConnectorHarness`](harness::ConnectorHarness) per platform. A harness runs its platform's
//! [`Connector`](connector::Connector), reconnects it with backoff and publishes its status.
//! Every platform event becomes one [`Inbound`](messages::Inbound), which the
//! [`Pairing`](pairing::Pairing) actor authorizes and the
//! [`Orchestrator`](orchestrator::Orchestrator) answers, one message at a time per chat,
//! through a [`Brain`](brain::Brain). Answers leave as one [`Reply`](messages::Reply).

pub mod ack;
pub mod backoff_policy;
pub mod brain;
pub mod companion;
pub mod connector;
pub mod harness;
pub mod image_input;
pub mod journal;
pub mod media;
pub mod messages;
pub mod metrics;
pub mod notice;
pub mod orchestrator;
pub mod pairing;
pub mod preview;
pub mod router;
pub mod runtime;
pub mod service_http;
pub mod service_stream;
pub mod status;
pub mod store;
pub mod supervisor;
pub mod tasks;
pub mod transcriber;
pub mod types;
pub mod typing;

pub use runtime::{RuntimeHandle, RuntimeOptions, start_runtime};
