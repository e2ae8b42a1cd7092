//! Logs and traces through `tracing`.
//!
//! Logs: human-readable lines on standard error by default, JSON lines
//! when `LOG_FORMAT=json`; the level from `RUST_LOG` (default `info`). A
//! line inside a request or an event carries that span's `trace_id`.
//! Standard output is left to what a command prints (`dead-letters list
//! --json`).
//!
//! Traces: aTES's own spans (the `request` and `event` spans of
//! [`crate::trace`], and what runs inside them) always get W3C trace
//! context, so that a trace crosses the services through the outbox and
//! NATS headers. They are exported over OTLP (HTTP with protobuf) only
//! when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; `OTEL_SERVICE_NAME`
//! overrides the service name. `OTEL_SDK_DISABLED=true` leaves
//! OpenTelemetry out altogether (to measure its cost): no span gets trace
//! context, so no trace id is logged or travels with the events.

use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// The crates whose spans take part in traces.
const TRACED_CRATES: [&str; 5] = [
    "ates_core",
    "auth_api",
    "tasks_api",
    "accounting_api",
    "analytics_api",
];

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Installs the global subscriber once for `service`; later calls are
/// no-ops (tests call it from many places).
pub fn init(service: &str) {
    let filter = EnvFilter::try_from_default_env()
        // async-nats's connector logs every failed reconnect attempt; the
        // bus logs each distinct failure once instead (bus::identity).
        .unwrap_or_else(|_| {
            EnvFilter::new("info,sqlx=warn,async_nats=warn,async_nats::connector=off")
        });
    let json = std::env::var("LOG_FORMAT").is_ok_and(|format| format == "json");
    let logs = if json {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .with_filter(filter)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .compact()
            .with_filter(filter)
            .boxed()
    };
    install(service, logs, None);
}

/// For tests: warnings and errors only (unless `RUST_LOG` says otherwise),
/// through the test harness's capture so passing tests stay quiet; traces
/// as in [`init`].
pub fn init_for_tests() {
    install("ates-tests", test_logs(), None);
}

/// [`init_for_tests`], exporting the spans over OTLP to `endpoint`
/// (`http://host:port`, as `OTEL_EXPORTER_OTLP_ENDPOINT` would say); only
/// the first initialisation in a process counts.
pub fn init_for_tests_exporting_to(endpoint: &str) {
    install("ates-tests", test_logs(), Some(endpoint));
}

fn test_logs() -> Box<dyn Layer<Registry> + Send + Sync> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt::layer()
        .with_test_writer()
        .compact()
        .with_filter(filter)
        .boxed()
}

fn install(service: &str, logs: Box<dyn Layer<Registry> + Send + Sync>, endpoint: Option<&str>) {
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|value| value == "true");
    let mut layers = vec![logs];
    if !disabled {
        layers.push(traces(service, endpoint));
    }
    // An Err only means a subscriber is already installed.
    drop(tracing_subscriber::registry().with(layers).try_init());
}

/// The OpenTelemetry layer over aTES's own crates.
fn traces(service: &str, endpoint: Option<&str>) -> Box<dyn Layer<Registry> + Send + Sync> {
    let provider = PROVIDER.get_or_init(|| tracer_provider(service, endpoint));
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("ates"))
        .with_filter(
            TRACED_CRATES
                .iter()
                .fold(Targets::new(), |targets, target| {
                    targets.with_target(*target, Level::INFO)
                }),
        )
        .boxed()
}

/// Every span sampled (so its context propagates); exported in batches
/// when an OTLP endpoint is configured (`endpoint`, else the environment).
fn tracer_provider(service: &str, endpoint: Option<&str>) -> SdkTracerProvider {
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service.to_owned());
    let builder = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_resource(Resource::builder().with_service_name(service).build());
    let configured = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|value| !value.is_empty()));
    if !configured && endpoint.is_none() {
        return builder.build();
    }
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_http_client(crate::otlp::BlockingClient::default());
    if let Some(endpoint) = endpoint {
        exporter = exporter.with_endpoint(format!("{endpoint}/v1/traces"));
    }
    match exporter.build() {
        Ok(exporter) => builder.with_batch_exporter(exporter).build(),
        Err(error) => {
            eprintln!("traces are not exported: the OTLP exporter cannot start: {error}");
            builder.build()
        }
    }
}

/// Sends the spans not yet exported (at shutdown, and in tests).
pub fn flush() {
    if let Some(provider) = PROVIDER.get()
        && let Err(error) = provider.force_flush()
    {
        tracing::warn!(%error, "cannot export the last spans");
    }
}
