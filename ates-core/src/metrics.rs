//! Prometheus metrics: one registry per running service (no global
//! recorder, so services that share a process in the tests keep apart),
//! served as Prometheus text at `GET /metrics` on the service's own port.
//!
//! Every service serves the same families: its HTTP requests by route
//! template, method and status with a latency histogram; its outbox backlog
//! and the age of its oldest unpublished row; its relay's publishes and
//! failures; and, when it consumes events, each event by name and outcome,
//! its durable consumers' pending counts and its dead letters waiting. A
//! service adds its domain counters with [`Metrics::counter`] and
//! [`Metrics::counter_by`]. The gauges that describe the database and the
//! broker are set when `/metrics` is read (`crate::bus::backlog`). Every
//! series an alert uses exists, at zero, from the start.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
pub use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The latency buckets of `ates_http_request_duration_seconds`, from 1 ms
/// (a cached read) to 10 s (past it the request timeout is near).
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// An HTTP request's labels: the route template (`/v1/tasks/{id}`, or
/// `unmatched` for a path no route serves), the method and the status.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

/// What became of an event a consumer received.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum EventOutcome {
    /// Applied for the first time.
    applied,
    /// Already applied before (a redelivery or a copy).
    duplicate,
    /// Not an event this consumer subscribes to.
    skipped,
    /// Failed for now; redelivered after a back-off.
    retried,
    /// Moved to the dead-letter stream.
    dead_lettered,
}

impl EventOutcome {
    const ALL: [EventOutcome; 5] = [
        EventOutcome::applied,
        EventOutcome::duplicate,
        EventOutcome::skipped,
        EventOutcome::retried,
        EventOutcome::dead_lettered,
    ];
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    event: String,
    outcome: EventOutcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabels {
    stream: String,
}

/// The label of an event whose name this consumer does not subscribe to
/// (so a producer cannot grow the label set without bound).
const OTHER_EVENT: &str = "other";

/// A domain counter with one label of a few known values
/// ([`Metrics::counter_by`]).
#[derive(Debug, Clone)]
pub struct CounterBy {
    family: Family<Vec<(String, String)>, Counter>,
    label: &'static str,
}

impl CounterBy {
    fn labels(&self, value: &str) -> Vec<(String, String)> {
        vec![(self.label.to_owned(), value.to_owned())]
    }

    /// Adds one to the series of `value`.
    pub fn inc(&self, value: &'static str) {
        self.family.get_or_create(&self.labels(value)).inc();
    }
}

/// The relay's counters.
#[derive(Debug, Clone, Default)]
pub struct RelayMetrics {
    /// Outbox rows JetStream acknowledged.
    pub published: Counter,
    /// Rounds that stopped on a broker or database error.
    pub failures: Counter,
}

/// A consumer's counters: each event by name and outcome.
#[derive(Debug, Clone, Default)]
pub struct ConsumerMetrics {
    events: Family<EventLabels, Counter>,
    subscribed: Arc<Mutex<Vec<String>>>,
}

impl ConsumerMetrics {
    /// Creates every series of `events` (at zero), so that dashboards and
    /// alerts see them before the first event.
    pub fn subscribe(&self, events: &[&str]) {
        let mut subscribed = self
            .subscribed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for event in events.iter().copied().chain([OTHER_EVENT]) {
            if !subscribed.iter().any(|known| known == event) {
                subscribed.push(event.to_owned());
            }
            for outcome in EventOutcome::ALL {
                self.events.get_or_create_owned(&EventLabels {
                    event: event.to_owned(),
                    outcome,
                });
            }
        }
    }

    /// Counts one event of `name` with `outcome`.
    pub fn record(&self, name: &str, outcome: EventOutcome) {
        let known = self
            .subscribed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(|event| event == name);
        let event = if known { name } else { OTHER_EVENT };
        self.events
            .get_or_create(&EventLabels {
                event: event.to_owned(),
                outcome,
            })
            .inc();
    }
}

/// One service's metrics; cheap to clone (see the module docs).
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    outbox_waiting: Gauge,
    outbox_oldest_age: Gauge<f64, AtomicU64>,
    relay: RelayMetrics,
    consumer: ConsumerMetrics,
    consumer_pending: Family<StreamLabels, Gauge>,
    consumed_streams: Mutex<Vec<String>>,
    dead_letters_waiting: Gauge,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with the families every service serves.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "ates_http_requests",
            "HTTP requests answered, by route template, method and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "ates_http_request_duration_seconds",
            "Time from a request's headers to its answer, by route template and method",
            latency.clone(),
        );
        let outbox_waiting = Gauge::default();
        registry.register(
            "ates_outbox_waiting",
            "Outbox rows not yet published",
            outbox_waiting.clone(),
        );
        let outbox_oldest_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "ates_outbox_oldest_age_seconds",
            "Age of the oldest unpublished outbox row (0 when none waits)",
            outbox_oldest_age.clone(),
        );
        let relay = RelayMetrics::default();
        registry.register(
            "ates_relay_published",
            "Outbox rows the relay published (acknowledged by JetStream)",
            relay.published.clone(),
        );
        registry.register(
            "ates_relay_failures",
            "Relay rounds stopped by a broker or database error",
            relay.failures.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry: Mutex::new(registry),
                requests,
                latency,
                outbox_waiting,
                outbox_oldest_age,
                relay,
                consumer: ConsumerMetrics::default(),
                consumer_pending: Family::default(),
                consumed_streams: Mutex::default(),
                dead_letters_waiting: Gauge::default(),
            }),
        }
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a domain counter (`name` without `_total`, which the
    /// exposition adds).
    pub fn counter(&self, name: &str, help: &str) -> Counter {
        let counter = Counter::default();
        self.registry().register(name, help, counter.clone());
        counter
    }

    /// Registers a domain counter with one label, `label`, whose series for
    /// each of `values` exist (at zero) from the start.
    pub fn counter_by(
        &self,
        name: &str,
        help: &str,
        label: &'static str,
        values: &[&'static str],
    ) -> CounterBy {
        let counter = CounterBy {
            family: Family::default(),
            label,
        };
        for value in values {
            counter.family.get_or_create_owned(&counter.labels(value));
        }
        self.registry().register(name, help, counter.family.clone());
        counter
    }

    /// The relay's counters.
    pub fn relay(&self) -> RelayMetrics {
        self.inner.relay.clone()
    }

    /// The consumer's counters, registered with the consumer's gauges on
    /// the first call (a service that consumes nothing serves none of
    /// them). `domains` are the streams it reads.
    pub fn consumer(&self, events: &[&str], domains: &[&str]) -> ConsumerMetrics {
        let consumer = self.inner.consumer.clone();
        let first = consumer
            .subscribed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty();
        if first {
            let mut registry = self.registry();
            registry.register(
                "ates_consumer_events",
                "Events the consumer received, by event name and outcome",
                consumer.events.clone(),
            );
            registry.register(
                "ates_consumer_pending",
                "Events of a stream not yet delivered to the durable consumer or not yet acknowledged",
                self.inner.consumer_pending.clone(),
            );
            registry.register(
                "ates_dead_letters_waiting",
                "This service's dead letters waiting in the dead-letter stream (not replayed nor discarded)",
                self.inner.dead_letters_waiting.clone(),
            );
        }
        consumer.subscribe(events);
        let mut streams = self
            .inner
            .consumed_streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for domain in domains {
            self.inner
                .consumer_pending
                .get_or_create_owned(&StreamLabels {
                    stream: (*domain).to_owned(),
                });
            if !streams.iter().any(|stream| stream == domain) {
                streams.push((*domain).to_owned());
            }
        }
        drop(streams);
        consumer
    }

    /// Counts one answered request.
    fn observe_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.inner
            .requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
        self.inner
            .latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
                method: method.to_owned(),
            })
            .observe(seconds);
    }

    /// Every metric as Prometheus text (the gauges as last set).
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Err(error) =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry())
        {
            tracing::error!(%error, "metrics: cannot encode");
        }
        text
    }

    /// Sets the outbox gauges: rows waiting and the oldest one's age.
    pub fn set_outbox(&self, waiting: i64, oldest_age_seconds: f64) {
        self.inner.outbox_waiting.set(waiting);
        self.inner.outbox_oldest_age.set(oldest_age_seconds);
    }

    /// The streams (domains) the service's consumer reads; empty when it
    /// consumes nothing.
    pub fn consumed_streams(&self) -> Vec<String> {
        self.inner
            .consumed_streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sets the consumer's pending count on `stream`.
    pub fn set_consumer_pending(&self, stream: &str, pending: i64) {
        self.inner
            .consumer_pending
            .get_or_create(&StreamLabels {
                stream: stream.to_owned(),
            })
            .set(pending);
    }

    /// Sets the number of dead letters waiting.
    pub fn set_dead_letters_waiting(&self, waiting: i64) {
        self.inner.dead_letters_waiting.set(waiting);
    }
}

/// The route a request matched, filled in by [`note_route`] inside the
/// router and read by [`track_requests`] around everything.
#[derive(Debug, Clone, Default)]
struct MatchedRoute(Arc<Mutex<Option<String>>>);

/// Middleware around the whole application: counts and times every
/// request, the answers of the outer layers (timeouts, body limits, panics)
/// included.
pub async fn track_requests(metrics: Metrics, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = match request.method().as_str() {
        method @ ("GET" | "POST" | "PATCH" | "PUT" | "DELETE" | "HEAD" | "OPTIONS") => method,
        _ => "other",
    }
    .to_owned();
    let route = MatchedRoute::default();
    request.extensions_mut().insert(route.clone());
    let response = next.run(request).await;
    let template = route
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .unwrap_or_else(|| "unmatched".to_owned());
    metrics.observe_request(
        &template,
        &method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Route-layer middleware: records the template of the route that matched.
pub async fn note_route(request: Request, next: Next) -> Response {
    if let (Some(slot), Some(path)) = (
        request.extensions().get::<MatchedRoute>(),
        request.extensions().get::<MatchedPath>(),
    ) {
        *slot.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(path.as_str().to_owned());
    }
    next.run(request).await
}

/// The answer of `GET /metrics`: `text` as Prometheus text.
pub fn exposition(text: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(prometheus_client::encoding::prometheus_text::CONTENT_TYPE),
        )],
        text,
    )
        .into_response()
}
