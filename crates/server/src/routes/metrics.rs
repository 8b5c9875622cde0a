//! `GET /metrics`: the OpenMetrics text format (which Prometheus scrapes), rendered by
//! `prometheus-client`: the runtime's counters and histogram, then per-scrape gauges of the
//! connectors' states and the pairing queue.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use parachute_runtime::messages::CountPending;
use parachute_runtime::status::ConnectorStatus;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::views::seconds_since;
use crate::{ApiError, ApiState};

/// `platform="…"`, or `platform="…",state="…"`.
type Labels = Vec<(&'static str, &'static str)>;

fn gauge_of(value: u64) -> Gauge {
    let gauge = Gauge::default();
    gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
    gauge
}

/// The values read from the connectors' statuses at this scrape.
fn connector_registry(statuses: &[ConnectorStatus], pending: u64, uptime: u64) -> Registry {
    let mut registry = Registry::default();
    registry.register("parachute_uptime_seconds", "Seconds since the server started", gauge_of(uptime));
    registry.register("parachute_pairing_pending", "Pairing requests waiting for the owner", gauge_of(pending));

    let up = Family::<Labels, Gauge>::default();
    for s in statuses {
        up.get_or_create(&vec![("platform", s.platform.as_str()), ("state", s.state.name())])
            .set(i64::from(s.state.name() == "connected"));
    }
    registry.register("parachute_connector_up", "1 when the connector is connected", up);

    type StatusValue = fn(&ConnectorStatus) -> u64;
    let counters: [(&str, &str, StatusValue); 3] = [
        ("parachute_connector_failures", "Failed connection attempts", |s| s.failure_count),
        ("parachute_connector_reconnects", "Established connections that were lost (and re-established)", |s| {
            s.reconnects
        }),
        (
            "parachute_connector_stalls",
            "Times the platform stopped answering while connected (the run was ended and reconnected)",
            |s| s.stalls,
        ),
    ];
    for (name, help, get) in counters {
        let family = Family::<Labels, Counter>::default();
        for s in statuses {
            family.get_or_create(&vec![("platform", s.platform.as_str())]).inc_by(get(s));
        }
        registry.register(name, help, family);
    }

    let since = Family::<Labels, Gauge>::default();
    for s in statuses {
        if let Some(seconds) = seconds_since(s.last_progress_time) {
            since.get_or_create(&vec![("platform", s.platform.as_str())]).set(i64::try_from(seconds).unwrap_or(0));
        }
    }
    registry.register(
        "parachute_connector_seconds_since_progress",
        "Seconds since the platform last answered a request (poll, sync, gateway event)",
        since,
    );
    registry
}

/// Registered in [`super::register`] behind the token.
pub(super) async fn metrics(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let pending = state.runtime.pairing.send(CountPending).await??;
    let statuses = state.runtime.router.statuses();
    let uptime = state.runtime.started_at.elapsed().as_secs();
    let scraped = connector_registry(&statuses, u64::try_from(pending).unwrap_or(0), uptime);
    let mut out = String::new();
    encode_registry(&mut out, state.runtime.metrics.registry())
        .and_then(|()| encode_registry(&mut out, &scraped))
        .and_then(|()| encode_eof(&mut out))
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "metrics_render_failed",
                "the metrics could not be rendered",
            )
        })?;
    Ok(HttpResponse::Ok().content_type("application/openmetrics-text; version=1.0.0; charset=utf-8").body(out))
}
