//! Logs (tracing, levels from RUST_LOG) and the metrics recorder.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Sets up logging once per process; later calls (tests starting several nodes) are no-ops.
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Installs the Prometheus recorder behind `/metrics`.
pub fn init_metrics() {
    crate::routes::install_metrics();
}
