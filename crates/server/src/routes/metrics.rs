//! `GET /metrics`: Prometheus text exposition.

use std::fmt::Write;

use actix_web::{HttpResponse, web};
use parachute_core::ids::Platform;
use parachute_runtime::messages::CountPending;
use parachute_runtime::metrics::PlatformCounts;
use parachute_runtime::status::ConnectorStatus;

use crate::views::seconds_since;
use crate::{ApiError, ApiState};

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

type Counter = fn(&PlatformCounts) -> u64;

const COUNTERS: [(&str, &str, Counter); 8] = [
    ("parachute_messages_received_total", "Inbound events accepted from the platform.", |c| c.received),
    ("parachute_replies_sent_total", "Replies delivered.", |c| c.answered),
    ("parachute_delivery_failures_total", "Replies the platform did not take.", |c| c.delivery_failures),
    ("parachute_brain_errors_total", "Brain failures.", |c| c.brain_errors),
    ("parachute_duplicates_dropped_total", "Events dropped because they were already handled.", |c| {
        c.duplicates_dropped
    }),
    ("parachute_rate_limited_total", "Times the platform asked to slow down while sending.", |c| c.rate_limited),
    (
        "parachute_pairing_turned_away_total",
        "Unknown senders and room invites given no pairing request because pairing.max_pending wait.",
        |c| c.strangers_turned_away,
    ),
    ("parachute_messages_skipped_total", "Messages left unanswered because a backlog was full.", |c| c.skipped),
];

/// Registered in [`super::register`] behind the token.
pub(super) async fn metrics(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let pending = state.runtime.pairing.send(CountPending).await??;
    let statuses = state.runtime.router.statuses();
    let mut out = String::new();

    family(&mut out, "parachute_uptime_seconds", "gauge", "Seconds since the server started.");
    let _ = writeln!(out, "parachute_uptime_seconds {}", state.runtime.started_at.elapsed().as_secs());
    family(&mut out, "parachute_pairing_pending", "gauge", "Pairing requests waiting for the owner.");
    let _ = writeln!(out, "parachute_pairing_pending {pending}");

    for (name, help, get) in COUNTERS {
        family(&mut out, name, "counter", help);
        for p in Platform::ALL {
            let _ = writeln!(out, "{name}{{platform=\"{p}\"}} {}", get(&state.runtime.metrics.counts(p)));
        }
    }

    family(&mut out, "parachute_connector_up", "gauge", "1 when the connector is connected.");
    for s in &statuses {
        let up = u8::from(s.state.name() == "connected");
        let _ =
            writeln!(out, "parachute_connector_up{{platform=\"{}\",state=\"{}\"}} {up}", s.platform, s.state.name());
    }
    type StatusValue = fn(&ConnectorStatus) -> Option<u64>;
    let per_connector: [(&str, &str, &str, StatusValue); 4] = [
        ("parachute_connector_failures_total", "counter", "Failed connection attempts.", |s| Some(s.failure_count)),
        (
            "parachute_connector_reconnects_total",
            "counter",
            "Established connections that were lost (and re-established).",
            |s| Some(s.reconnects),
        ),
        (
            "parachute_connector_stalls_total",
            "counter",
            "Times the platform stopped answering while connected (the run was ended and reconnected).",
            |s| Some(s.stalls),
        ),
        (
            "parachute_connector_seconds_since_progress",
            "gauge",
            "Seconds since the platform last answered a request (poll, sync, gateway event).",
            |s| seconds_since(s.last_progress_time),
        ),
    ];
    for (name, kind, help, get) in per_connector {
        family(&mut out, name, kind, help);
        for s in &statuses {
            if let Some(value) = get(s) {
                let _ = writeln!(out, "{name}{{platform=\"{}\"}} {value}", s.platform);
            }
        }
    }
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(out))
}
