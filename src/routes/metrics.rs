//! `GET /metrics` in the Prometheus text format.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use chat_actors::metric_names as names;
use chat_actors::ErrorCode;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::auth::Authorized;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once (several in-process nodes share it) and
/// registers every series, so dashboards see zeros rather than gaps.
pub fn install() {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(names::PERSIST_BATCH_SIZE.into()),
                &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(names::BROKER_LAG_SECONDS.into()),
                    &[
                        0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    ],
                )
            })
            .and_then(|b| {
                // Hops of a send: most take microseconds, a commit milliseconds.
                b.set_buckets_for_metric(
                    Matcher::Full(names::SEND_HOP_SECONDS.into()),
                    &[
                        0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5,
                        0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                    ],
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(names::PERSIST_COMMIT_SECONDS.into()),
                    &[
                        0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    ],
                )
            });
        let handle = builder.map(|b| b.install_recorder());
        match handle {
            Ok(Ok(handle)) => {
                register_series();
                start_upkeep(handle.clone());
                Some(handle)
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "metrics recorder not installed");
                None
            }
            Err(error) => {
                tracing::warn!(%error, "metrics buckets rejected");
                None
            }
        }
    });
}

/// How often histogram samples are folded into their buckets when nobody scrapes.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Folds recorded histogram samples into their buckets every few seconds. The exporter
/// keeps each sample until a scrape or an upkeep drains it, and `install_recorder` starts
/// no upkeep of its own: on a node nobody scrapes, every message's commit-time sample
/// stayed in memory (heap +14 bytes per message, found in a soak run).
fn start_upkeep(handle: PrometheusHandle) {
    let started = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_INTERVAL);
            handle.run_upkeep();
        });
    if let Err(error) = started {
        tracing::warn!(%error, "metrics upkeep thread not started; scrape /metrics to drain histograms");
    }
}

fn register_series() {
    metrics::gauge!(names::SESSIONS).increment(0.0);
    metrics::gauge!(names::ROOMS_ACTIVE).increment(0.0);
    for counter in [
        names::MESSAGES_COMMITTED,
        names::CHANGES_COMMITTED,
        names::FRAMES_IN,
        names::PUSHES,
        names::SLOW_CONSUMERS,
        names::BROKER_PUBLISHED,
        names::BROKER_RECEIVED,
        names::BROKER_RESUBSCRIBED,
        names::RETENTION_ROOMS_DELETED,
        names::RETENTION_MESSAGES_DELETED,
        crate::security::ORIGIN_REJECTED_METRIC,
    ] {
        metrics::counter!(counter).increment(0);
    }
    for limit in [
        "sessions",
        "connections_per_address",
        "room_create",
        "failed_lookup",
        "room_members",
    ] {
        metrics::counter!(names::LIMIT_REJECTIONS, "limit" => limit).increment(0);
    }
    metrics::counter!(names::BROKER_REJECTED, "reason" => "malformed").increment(0);
    for result in ["swept", "skipped", "failed"] {
        metrics::counter!(names::RETENTION_SWEEPS, "result" => result).increment(0);
    }
    for table in ["room_create", "failed_lookup", "rest_send"] {
        metrics::gauge!(names::ADDRESS_TABLE_ENTRIES, "table" => table).set(0.0);
    }
    for code in ErrorCode::ALL {
        metrics::counter!(names::ERRORS, "code" => code.as_str()).increment(0);
    }
    metrics::describe_histogram!(names::PERSIST_BATCH_SIZE, "messages per committed batch");
    metrics::describe_histogram!(
        names::PERSIST_COMMIT_SECONDS,
        metrics::Unit::Seconds,
        "time to commit one batch"
    );
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "probes",
    security((), ("apiKey" = [])),
    responses(
        (status = 200, description = "Prometheus text format.", body = String, content_type = "text/plain"),
        (status = 401, description = "`unauthorized`: the node has API keys and the request carries none of them.", body = crate::openapi::schemas::ErrorBody),
        (status = 503, description = "The metrics recorder could not be installed.", body = String, content_type = "text/plain"),
    )
)]
pub async fn render(_: Authorized) -> HttpResponse {
    match HANDLE.get().and_then(Option::as_ref) {
        Some(handle) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(handle.render()),
        None => HttpResponse::ServiceUnavailable().body("metrics are not available\n"),
    }
}
