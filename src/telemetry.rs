//! Logging: `tracing` to stderr, filtered by `--log` / `LAKEGATE_LOG` (tracing's env-filter syntax).

use tracing_subscriber::EnvFilter;

/// `init`, or with `json` one JSON object per line (for log shippers).
pub fn init_with_format(filter: &str, json: bool) {
    if !json {
        return init(filter);
    }
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Installs the global subscriber once; later calls (tests starting several servers) are no-ops.
pub fn init(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
