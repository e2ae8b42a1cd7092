//! Logs through `tracing`: human-readable lines by default, JSON lines when
//! `LOG_FORMAT=json`; the level from `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls are no-ops (tests call
/// it from many places).
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        // async-nats's connector logs every failed reconnect attempt; the
        // bus logs each distinct failure once instead (bus::identity).
        .unwrap_or_else(|_| {
            EnvFilter::new("info,sqlx=warn,async_nats=warn,async_nats::connector=off")
        });
    let json = std::env::var("LOG_FORMAT").is_ok_and(|format| format == "json");
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.compact().try_init()
    };
    // An Err only means a subscriber is already installed.
    drop(result);
}

/// For tests: warnings and errors only (unless `RUST_LOG` says otherwise),
/// through the test harness's capture so passing tests stay quiet.
pub fn init_for_tests() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let result = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .compact()
        .try_init();
    drop(result);
}
