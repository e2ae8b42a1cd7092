//! Durable pull consumers with explicit acks.
//!
//! For each message: decode and validate it against the registry; skip
//! events the handler does not subscribe to; then, in one database
//! transaction, record the event id as processed (a second delivery of the
//! same id is acked without effect) and apply the handler; ack after the
//! commit. A transient failure is nak'ed with exponential back-off; an event
//! that can never be processed (not JSON, invalid, an unknown version, refused
//! by the handler, or over the delivery limit) goes to the dead-letter
//! stream with its reason, and the consumer goes on with the next message.
//! An event whose origin is wrong goes there too (defence in depth behind
//! the broker's permissions): its `producer` is not the producing service of
//! the stream's domain, or its name or subject is not of that domain.
//!
//! A consumer never creates the stream it reads: it waits for the stream's
//! producer to create it. It may create the shared dead-letter stream.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::{self, AckKind};
use chrono::Utc;
use event_schemas::{Envelope, EventKey, EventPayload, SchemaError};
use futures::StreamExt;
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, IdenStatic};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use super::dead_letter::{self, DeadLetter};
use super::schema::processed_event;
use super::{EventBus, backoff};
use crate::metrics::{ConsumerMetrics, EventOutcome};
use crate::unit_of_work::UnitOfWork;

/// What a handler says when it cannot apply an event.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth another try later (the database was busy, a dependency is
    /// down): the message is redelivered with back-off.
    #[error("transient: {0}")]
    Transient(String),
    /// Other transactions made the database give up on this one (a
    /// deadlock, a serialization failure, SQLite busy): nothing was
    /// written, and the same work usually succeeds a moment later, so a
    /// batch is applied again whole before anything is redelivered.
    #[error("contended: {0}")]
    Contended(String),
    /// This event can never be applied: it goes to the dead-letter stream.
    #[error("rejected: {0}")]
    Rejected(String),
}

impl From<DbErr> for HandlerError {
    fn from(error: DbErr) -> Self {
        if crate::db::is_contention(&error) {
            HandlerError::Contended(error.to_string())
        } else {
            HandlerError::Transient(error.to_string())
        }
    }
}

impl From<super::OutboxError> for HandlerError {
    /// The handler's own event could not be stored: worth another try (an
    /// invalid one keeps failing and ends as a dead letter, nothing lost).
    fn from(error: super::OutboxError) -> Self {
        HandlerError::Transient(error.to_string())
    }
}

/// One received, schema-valid event.
#[derive(Debug, Clone)]
pub struct IncomingEvent {
    pub key: EventKey,
    pub event_id: Uuid,
    /// The whole envelope as received.
    pub envelope: Value,
    /// How many times JetStream has delivered it (1 on the first delivery).
    pub delivered: u32,
    /// Its `event` span, which continues the trace of the request that
    /// caused it ([`crate::trace`]): the events written while it is
    /// entered carry that trace.
    pub span: tracing::Span,
}

impl IncomingEvent {
    /// Decodes the envelope into its typed payload. A mismatch between
    /// the registry and the Rust type is a refusal, never a panic.
    pub fn decode<T: EventPayload>(&self) -> Result<Envelope<T>, HandlerError> {
        serde_json::from_value(self.envelope.clone()).map_err(|error| {
            HandlerError::Rejected(format!("{} does not decode: {error}", self.key))
        })
    }
}

/// A service's business reaction to events. `handle` runs inside the unit
/// of work that also records the event as processed; the events it adds
/// there are published when that unit commits.
pub trait EventHandler: Send + Sync + 'static {
    /// Every event name and version this consumer understands. Events of a
    /// name not listed are skipped; a listed name at an unlisted version is
    /// a dead letter (the producer is ahead of this consumer).
    fn subscriptions(&self) -> Vec<(&'static str, u32)>;

    fn handle(
        &self,
        work: &UnitOfWork,
        event: &IncomingEvent,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Called once for each event whose changes committed (not for a
    /// duplicate, nor for a batch that was undone): where a service counts
    /// what its events did.
    fn applied(&self, _event: &IncomingEvent) {}

    /// The domains whose events build only what this service can build
    /// again from the streams (an account replica, read models): what
    /// `rebuild` empties with [`Self::forget_rebuilt`] and replays. Never
    /// a domain whose events move money or send mail (accounting's
    /// `tasks`): a replay must not price, pay or mail twice. None by
    /// default.
    fn rebuilt_domains(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// Empties, in `txn`, what the events of [`Self::rebuilt_domains`]
    /// built.
    fn forget_rebuilt(
        &self,
        _txn: &sea_orm::DatabaseTransaction,
    ) -> impl Future<Output = Result<(), DbErr>> + Send {
        async { Ok(()) }
    }

    /// Applies several events of one stream, in order, in one transaction.
    /// Any error undoes the whole batch, which the consumer then applies
    /// event by event with [`Self::handle`] (so a bad event is judged
    /// alone). An event written because of one of them is staged inside
    /// that event's [`IncomingEvent::span`] (`event.span.in_scope(..)`), so
    /// it carries the trace of its cause; `handle` already runs in it. The default calls `handle` for each; a handler overrides it
    /// to write a batch with fewer statements.
    fn handle_batch(
        &self,
        work: &UnitOfWork,
        events: &[&IncomingEvent],
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        async move {
            for event in events {
                self.handle(work, event).await?;
            }
            Ok(())
        }
    }
}

/// The events of a service that consumes none (auth-api).
#[derive(Debug, Clone, Copy)]
pub struct NoEvents;

impl EventHandler for NoEvents {
    fn subscriptions(&self) -> Vec<(&'static str, u32)> {
        Vec::new()
    }

    async fn handle(&self, _work: &UnitOfWork, event: &IncomingEvent) -> Result<(), HandlerError> {
        Err(HandlerError::Rejected(format!(
            "this service consumes no events, not {}",
            event.key
        )))
    }
}

/// How a consumer retries.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// The durable consumer's name, shared by every instance of a service.
    pub durable_name: String,
    /// Deliveries before an event that keeps failing becomes a dead letter.
    pub max_deliver: u32,
    /// First and longest back-off between deliveries of a failing event.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How long JetStream waits for an ack before redelivering.
    pub ack_wait: Duration,
    /// Where each event's outcome is counted (nowhere with `METRICS=off`).
    pub metrics: Option<ConsumerMetrics>,
}

impl ConsumerSettings {
    pub fn new(durable_name: impl Into<String>) -> Self {
        Self {
            durable_name: durable_name.into(),
            max_deliver: 10,
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(60),
            ack_wait: Duration::from_secs(30),
            metrics: None,
        }
    }
}

/// The most events applied in one database transaction.
const BATCH_SIZE: usize = 100;

/// Attempts at a batch as a whole while other transactions keep making the
/// database give up on it (two instances applying overlapping batches
/// deadlock on shared rows: a balance, a quarter hour's earnings). Only
/// after these does the batch fall back to event by event, where every
/// event that fails again is redelivered with back-off.
const BATCH_ATTEMPTS: u32 = 4;

/// What to do with a message after trying it.
enum Outcome {
    Applied,
    AlreadyApplied,
    Skipped,
    Retry(String),
    DeadLetter(String),
}

impl Outcome {
    /// Why it was not applied (empty for the outcomes that need no reason).
    fn reason(&self) -> String {
        match self {
            Outcome::Retry(reason) | Outcome::DeadLetter(reason) => reason.clone(),
            Outcome::Applied | Outcome::AlreadyApplied | Outcome::Skipped => String::new(),
        }
    }
}

/// The domains (streams) of `subscriptions`: `tasks` for `tasks.created`.
pub fn domains_of(subscriptions: &[(&'static str, u32)]) -> Vec<&'static str> {
    let domains: BTreeSet<&'static str> = subscriptions
        .iter()
        .filter_map(|(name, _)| name.split_once('.').map(|(domain, _)| domain))
        .collect();
    domains.into_iter().collect()
}

/// What the checks of an event read of a message: its subject (as on the
/// wire), its headers and its payload; from a live message or a dead
/// letter being replayed.
struct Delivery<'a> {
    subject: &'a str,
    headers: Option<&'a async_nats::HeaderMap>,
    payload: &'a [u8],
}

impl<'a> Delivery<'a> {
    fn of(message: &'a jetstream::Message) -> Self {
        Self {
            subject: message.subject.as_str(),
            headers: message.headers.as_ref(),
            payload: &message.payload,
        }
    }
}

/// What replaying a dead letter did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    /// The consumer applied it now.
    Applied,
    /// The consumer had already applied this event (its id is recorded).
    AlreadyApplied,
    /// Refused again, and why: it stays a dead letter.
    Refused(String),
}

/// Hands a dead letter to `handler` as the live consumer `durable_name`
/// hands it an event: the same origin, registry and subscription checks,
/// then the handler in a unit of work that records the event id (so it
/// takes effect once, however often it is replayed). The events it writes
/// go to this database's outbox, for the service's relay.
pub async fn replay<H: EventHandler>(
    bus: &EventBus,
    db: &DatabaseConnection,
    handler: Arc<H>,
    durable_name: &str,
    letter: &super::dead_letter::StoredDeadLetter,
) -> Replayed {
    let domain = letter
        .original_subject
        .split('.')
        .next()
        .unwrap_or_default();
    let worker = Workers::new(bus, db, handler, ConsumerSettings::new(durable_name)).on(domain);
    let subject = bus.naming().wire_subject(&letter.original_subject);
    let delivery = Delivery {
        subject: &subject,
        headers: Some(&letter.headers),
        payload: &letter.payload,
    };
    let span = worker.event_span(&delivery);
    let event = match span.in_scope(|| worker.decide(&delivery, letter.delivered, &span)) {
        Ok(event) => event,
        Err(Outcome::Skipped) => {
            return Replayed::Refused(format!(
                "{durable_name} does not read {}",
                letter.original_subject
            ));
        }
        Err(outcome) => return Replayed::Refused(outcome.reason()),
    };
    match worker.apply_one_by_one(&[&event]).await.pop() {
        Some(Outcome::Applied) => Replayed::Applied,
        Some(Outcome::AlreadyApplied) => Replayed::AlreadyApplied,
        Some(outcome) => Replayed::Refused(outcome.reason()),
        None => Replayed::Refused("no outcome for the event".into()),
    }
}

/// Runs one durable consumer per stream the handler subscribes to, until
/// `shutdown`; each finishes the message in hand before it stops.
pub async fn run<H: EventHandler>(
    bus: EventBus,
    db: DatabaseConnection,
    handler: Arc<H>,
    settings: ConsumerSettings,
    shutdown: CancellationToken,
) {
    let domains = domains_of(&handler.subscriptions());
    let workers = Workers::new(&bus, &db, handler, settings);
    let mut tasks = Vec::new();
    for domain in domains {
        tasks.push(tokio::spawn(workers.on(domain).run(shutdown.clone())));
    }
    for task in tasks {
        if let Err(error) = task.await {
            tracing::error!(%error, "consumer task failed");
        }
    }
}

/// Applies, as the live consumer would, every event waiting for the
/// durable consumer `settings.durable_name` on the streams of `domains`
/// (created from the beginning of each stream if missing), until nothing
/// waits and nothing awaits a retry. Returns how many deliveries it handled
/// per domain. What `rebuild` replays the streams with.
pub async fn catch_up<H: EventHandler>(
    bus: &EventBus,
    db: &DatabaseConnection,
    handler: Arc<H>,
    settings: &ConsumerSettings,
    domains: &[&str],
) -> Result<Vec<(String, u64)>, async_nats::Error> {
    let workers = Workers::new(bus, db, handler, settings.clone());
    let mut handled = Vec::with_capacity(domains.len());
    for domain in domains {
        handled.push(((*domain).to_owned(), workers.on(domain).catch_up().await?));
    }
    Ok(handled)
}

/// What the consumer of one handler shares across its streams.
struct Workers<H> {
    bus: EventBus,
    db: DatabaseConnection,
    handler: Arc<H>,
    subscriptions: Arc<BTreeSet<(String, u32)>>,
    settings: ConsumerSettings,
}

impl<H: EventHandler> Workers<H> {
    fn new(
        bus: &EventBus,
        db: &DatabaseConnection,
        handler: Arc<H>,
        settings: ConsumerSettings,
    ) -> Self {
        let subscriptions = handler
            .subscriptions()
            .into_iter()
            .map(|(name, version)| (name.to_owned(), version))
            .collect();
        Self {
            bus: bus.clone(),
            db: db.clone(),
            handler,
            subscriptions: Arc::new(subscriptions),
            settings,
        }
    }

    /// The worker of `domain`'s stream.
    fn on(&self, domain: &str) -> StreamWorker<H> {
        StreamWorker {
            bus: self.bus.clone(),
            db: self.db.clone(),
            handler: self.handler.clone(),
            subscriptions: self.subscriptions.clone(),
            settings: self.settings.clone(),
            domain: domain.to_owned(),
        }
    }
}

struct StreamWorker<H> {
    bus: EventBus,
    db: DatabaseConnection,
    handler: Arc<H>,
    subscriptions: Arc<BTreeSet<(String, u32)>>,
    settings: ConsumerSettings,
    domain: String,
}

impl<H: EventHandler> StreamWorker<H> {
    async fn run(self, shutdown: CancellationToken) {
        let mut failures = 0u32;
        loop {
            let outcome = tokio::select! {
                () = shutdown.cancelled() => break,
                outcome = self.consume(&shutdown) => outcome,
            };
            match outcome {
                Ok(()) => break,
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let wait = backoff(
                        failures,
                        Duration::from_millis(200),
                        Duration::from_secs(10),
                    );
                    tracing::warn!(domain = %self.domain, %error, retry_in = ?wait, "consumer lost its stream; reconnecting");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
        tracing::info!(domain = %self.domain, consumer = %self.settings.durable_name, "consumer stopped");
    }

    /// Creates the durable consumer if needed and processes messages until
    /// shutdown (`Ok`) or a broker error (`Err`, the caller reconnects).
    async fn consume(&self, shutdown: &CancellationToken) -> Result<(), async_nats::Error> {
        // Another service's stream: wait for its producer to create it.
        let Some(stream) = self.bus.wait_for_stream(&self.domain, shutdown).await? else {
            return Ok(());
        };
        let consumer = self.durable(&stream).await?;
        // Whatever is ready at once (up to a batch) is applied in one
        // database transaction: a backlog drains many events per commit,
        // a trickle still goes one by one without waiting.
        let mut batches = consumer.messages().await?.ready_chunks(BATCH_SIZE);
        tracing::info!(domain = %self.domain, consumer = %self.settings.durable_name, "consuming");
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                next = batches.next() => next,
            };
            let Some(batch) = next else {
                return Err("message stream ended".into());
            };
            let mut messages = Vec::with_capacity(batch.len());
            let mut broken = None;
            for item in batch {
                match item {
                    Ok(message) => messages.push(message),
                    Err(error) => broken = Some(error),
                }
            }
            self.process(messages).await?;
            if let Some(error) = broken {
                return Err(error.into());
            }
        }
    }

    /// The durable consumer on `stream` (created if needed, from the
    /// beginning of the stream), and the dead-letter stream it may write.
    async fn durable(
        &self,
        stream: &jetstream::stream::Stream,
    ) -> Result<jetstream::consumer::Consumer<pull::Config>, async_nats::Error> {
        self.bus.ensure_dead_letter_stream().await?;
        // Created, or updated to this configuration (a changed
        // `max_deliver` or `ack_wait` applies to an existing consumer).
        let consumer = stream
            .create_consumer(pull::Config {
                durable_name: Some(self.settings.durable_name.clone()),
                deliver_policy: DeliverPolicy::All,
                ack_policy: AckPolicy::Explicit,
                ack_wait: self.settings.ack_wait,
                max_deliver: i64::from(self.settings.max_deliver),
                filter_subject: self.bus.naming().domain_subjects(&self.domain),
                ..Default::default()
            })
            .await?;
        Ok(consumer)
    }

    /// Processes what waits for the durable consumer until nothing does:
    /// no message pending and none waiting for a retry (applied or dead
    /// lettered by then). Returns how many deliveries it handled.
    async fn catch_up(&self) -> Result<u64, async_nats::Error> {
        let Some(stream) = self.bus.existing_stream(&self.domain).await? else {
            return Ok(0);
        };
        let mut consumer = self.durable(&stream).await?;
        let mut handled = 0u64;
        loop {
            let batch: Vec<jetstream::Message> = consumer
                .batch()
                .max_messages(BATCH_SIZE)
                .expires(Duration::from_secs(1))
                .messages()
                .await?
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<_, _>>()?;
            if batch.is_empty() {
                let info = consumer.info().await?;
                if info.num_pending == 0 && info.num_ack_pending == 0 {
                    return Ok(handled);
                }
                continue;
            }
            handled += batch.len() as u64;
            self.process(batch).await?;
        }
    }

    /// Decides, applies (one transaction for the batch) and settles each
    /// message: ack, nak with back-off, or dead letter.
    async fn process(&self, messages: Vec<jetstream::Message>) -> Result<(), async_nats::Error> {
        let mut decided = Vec::with_capacity(messages.len());
        for message in messages {
            let delivered = message
                .info()
                .map(|info| u32::try_from(info.delivered).unwrap_or(u32::MAX))
                .unwrap_or(1);
            let delivery = Delivery::of(&message);
            let span = self.event_span(&delivery);
            let decision = span.in_scope(|| self.decide(&delivery, delivered, &span));
            decided.push((message, delivered, span, decision));
        }
        let events: Vec<&IncomingEvent> = decided
            .iter()
            .filter_map(|(_, _, _, decision)| decision.as_ref().ok())
            .collect();
        let mut applied = self.apply_batch(&events).await.into_iter();
        for (message, delivered, span, decision) in decided {
            let outcome = match decision {
                Ok(event) => {
                    let outcome = applied
                        .next()
                        .unwrap_or_else(|| Outcome::Retry("no outcome for the event".into()));
                    if matches!(outcome, Outcome::Applied) {
                        self.handler.applied(&event);
                    }
                    outcome
                }
                Err(outcome) => outcome,
            };
            self.settle(&message, delivered, outcome)
                .instrument(span)
                .await?;
        }
        Ok(())
    }

    async fn settle(
        &self,
        message: &jetstream::Message,
        delivered: u32,
        outcome: Outcome,
    ) -> Result<(), async_nats::Error> {
        let counted = match &outcome {
            Outcome::Applied => EventOutcome::applied,
            Outcome::AlreadyApplied => EventOutcome::duplicate,
            Outcome::Skipped => EventOutcome::skipped,
            Outcome::Retry(_) if delivered < self.settings.max_deliver => EventOutcome::retried,
            Outcome::Retry(_) | Outcome::DeadLetter(_) => EventOutcome::dead_lettered,
        };
        if let Some(metrics) = &self.settings.metrics {
            metrics.record(self.event_name(message.subject.as_str()), counted);
        }
        match outcome {
            Outcome::Applied | Outcome::AlreadyApplied | Outcome::Skipped => {
                message.ack().await?;
            }
            Outcome::Retry(reason) if delivered < self.settings.max_deliver => {
                let wait = backoff(delivered, self.settings.retry_base, self.settings.retry_max);
                tracing::warn!(subject = %message.subject, delivered, %reason, retry_in = ?wait, "event failed; will retry");
                message.ack_with(AckKind::Nak(Some(wait))).await?;
            }
            Outcome::Retry(reason) => {
                let reason = format!(
                    "gave up after {delivered} deliveries (max_deliver {}): {reason}",
                    self.settings.max_deliver
                );
                self.dead_letter(message, delivered, reason).await?;
            }
            Outcome::DeadLetter(reason) => {
                self.dead_letter(message, delivered, reason).await?;
            }
        }
        Ok(())
    }

    async fn dead_letter(
        &self,
        message: &jetstream::Message,
        delivered: u32,
        reason: String,
    ) -> Result<(), async_nats::Error> {
        tracing::error!(subject = %message.subject, %reason, "event moved to the dead-letter stream");
        dead_letter::publish(
            &self.bus,
            &DeadLetter {
                consumer: &self.settings.durable_name,
                message,
                delivered,
                reason: &reason,
            },
        )
        .await?;
        message.ack_with(AckKind::Term).await?;
        Ok(())
    }

    /// Parses and checks a message: the event to apply, or already its
    /// outcome (not JSON, invalid, not subscribed, unknown version).
    fn decide(
        &self,
        message: &Delivery<'_>,
        delivered: u32,
        span: &tracing::Span,
    ) -> Result<IncomingEvent, Outcome> {
        let envelope: Value = match serde_json::from_slice(message.payload) {
            Ok(envelope) => envelope,
            Err(error) => return Err(Outcome::DeadLetter(format!("payload is not JSON: {error}"))),
        };
        if let Err(reason) = self.check_origin(message, &envelope) {
            return Err(Outcome::DeadLetter(reason));
        }
        let key = match event_schemas::validate_envelope(&envelope) {
            Ok(key) => key,
            Err(SchemaError::UnknownEvent(key)) => {
                return Err(if self.is_subscribed_name(&key.name) {
                    Outcome::DeadLetter(format!(
                        "unknown event version: {key} is not in the registry"
                    ))
                } else {
                    Outcome::Skipped
                });
            }
            Err(error) => return Err(Outcome::DeadLetter(error.to_string())),
        };
        if !self.is_subscribed_name(&key.name) {
            return Err(Outcome::Skipped);
        }
        if !self
            .subscriptions
            .contains(&(key.name.clone(), key.version))
        {
            return Err(Outcome::DeadLetter(format!(
                "unknown event version: {} does not accept {key}",
                self.settings.durable_name
            )));
        }
        let event_id = envelope
            .get("event_id")
            .and_then(Value::as_str)
            .and_then(|id| Uuid::parse_str(id).ok())
            .unwrap_or_default();
        Ok(IncomingEvent {
            key,
            event_id,
            envelope,
            delivered,
            span: span.clone(),
        })
    }

    /// Defence in depth: an event in this stream must be one of the
    /// stream's domain (`tasks.*` in TASKS), from the domain's producing
    /// service, on its own subject (`<event_name>.v<event_version>`).
    /// Anything else was not published by the producer's relay.
    fn check_origin(&self, message: &Delivery<'_>, envelope: &Value) -> Result<(), String> {
        let field = |name: &str| envelope.get(name).and_then(Value::as_str);
        let producer = field("producer");
        let name = field("event_name").unwrap_or_default();
        let expected_producer = super::domain_producer(&self.domain);
        if producer.is_none() || producer != expected_producer {
            return Err(format!(
                "forged origin: producer {} is not {} (the producer of {})",
                producer.map_or_else(|| "(none)".to_owned(), |p| format!("{p:?}")),
                expected_producer.unwrap_or("(no producer)"),
                self.domain
            ));
        }
        if name.split_once('.').map(|(domain, _)| domain) != Some(self.domain.as_str()) {
            return Err(format!(
                "forged origin: event {name:?} is not of the {} domain",
                self.domain
            ));
        }
        let subject = self.bus.naming().local_subject(message.subject);
        let expected_subject = envelope
            .get("event_version")
            .and_then(Value::as_u64)
            .and_then(|version| u32::try_from(version).ok())
            .map(|version| super::Naming::event_subject(name, version));
        if expected_subject.as_deref() != Some(subject) {
            return Err(format!(
                "forged origin: event {name:?} arrived on subject {subject:?}, not its own {:?}",
                expected_subject.unwrap_or_default()
            ));
        }
        Ok(())
    }

    /// The span a message is decided, applied and settled in: a child of
    /// the trace its `traceparent` header names (the request that caused
    /// it), else the root of a new trace.
    fn event_span(&self, message: &Delivery<'_>) -> tracing::Span {
        let span = tracing::info_span!(
            "event",
            subject = %message.subject,
            consumer = %self.settings.durable_name,
            trace_id = tracing::field::Empty,
        );
        let traceparent = message
            .headers
            .and_then(|headers| headers.get(crate::trace::TRACEPARENT))
            .map(async_nats::HeaderValue::as_str);
        crate::trace::continue_trace(&span, traceparent);
        span
    }

    /// The event name a message's subject carries (`tasks.created` for
    /// `tasks.created.v1`), for counting.
    fn event_name<'m>(&self, subject: &'m str) -> &'m str {
        let subject = self.bus.naming().local_subject(subject);
        subject
            .rsplit_once('.')
            .filter(|(_, version)| version.starts_with('v'))
            .map_or(subject, |(name, _)| name)
    }

    fn is_subscribed_name(&self, name: &str) -> bool {
        self.subscriptions
            .iter()
            .any(|(subscribed, _)| subscribed == name)
    }

    /// Applies a batch in one transaction: first all at once (the event ids
    /// recorded in one statement, then the handler's `handle_batch`); if
    /// that fails, event by event, each in a savepoint of its own (a failing
    /// event is undone alone). Returns one outcome per event.
    ///
    /// A batch the database gave up on because of other transactions is
    /// applied again whole (up to [`BATCH_ATTEMPTS`] times, after a short
    /// random pause that keeps two instances from meeting again in step):
    /// the transaction that won has usually committed by then.
    async fn apply_batch(&self, events: &[&IncomingEvent]) -> Vec<Outcome> {
        if events.is_empty() {
            return Vec::new();
        }
        let mut attempt = 1;
        loop {
            match self.apply_all_at_once(events).await {
                Ok(outcomes) => return outcomes,
                Err(HandlerError::Contended(reason)) if attempt < BATCH_ATTEMPTS => {
                    tracing::debug!(%reason, attempt, events = events.len(), "batch met other transactions; applying it again");
                    let pause = rand::random_range(10..=50 * u64::from(attempt));
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                    attempt += 1;
                }
                Err(error) => {
                    tracing::debug!(%error, events = events.len(), "batch failed as a whole; applying event by event");
                    return self.apply_one_by_one(events).await;
                }
            }
        }
    }

    /// The whole batch in one transaction with no savepoints; any error
    /// rolls it all back.
    async fn apply_all_at_once(
        &self,
        events: &[&IncomingEvent],
    ) -> Result<Vec<Outcome>, HandlerError> {
        let work = UnitOfWork::begin(&self.db, &self.bus.outbox()).await?;
        let first_time = self.record_processed(&work, events).await?;
        let mut fresh = Vec::with_capacity(events.len());
        let mut outcomes = Vec::with_capacity(events.len());
        let mut seen = BTreeSet::new();
        for event in events {
            // The same id twice in one batch (a redelivery) applies once.
            if first_time.contains(&event.event_id) && seen.insert(event.event_id) {
                fresh.push(*event);
                outcomes.push(Outcome::Applied);
            } else {
                outcomes.push(Outcome::AlreadyApplied);
            }
        }
        match fresh.as_slice() {
            [] => {}
            // A batch of one is applied in its event's span; a handler
            // that writes events for a longer batch enters each event's
            // span as it writes that event's.
            [event] => {
                self.handler
                    .handle_batch(&work, &fresh)
                    .instrument(event.span.clone())
                    .await?;
            }
            _ => self.handler.handle_batch(&work, &fresh).await?,
        }
        work.commit().await?;
        Ok(outcomes)
    }

    /// Records every event id of the batch as processed by this consumer in
    /// one statement; returns the ids that were not recorded before.
    async fn record_processed(
        &self,
        txn: &impl ConnectionTrait,
        events: &[&IncomingEvent],
    ) -> Result<BTreeSet<Uuid>, DbErr> {
        use processed_event::Column;
        let mut insert = Query::insert();
        insert
            .into_table(processed_event::Entity)
            .columns([
                Column::Consumer,
                Column::EventId,
                Column::EventName,
                Column::ProcessedAt,
            ])
            .on_conflict(
                OnConflict::columns([Column::Consumer, Column::EventId])
                    .do_nothing()
                    .to_owned(),
            )
            .returning_col(Column::EventId);
        let now = Utc::now();
        for event in events {
            insert
                .values([
                    self.settings.durable_name.clone().into(),
                    event.event_id.into(),
                    event.key.name.clone().into(),
                    now.into(),
                ])
                .map_err(|error| DbErr::Custom(error.to_string()))?;
        }
        txn.query_all(&insert)
            .await?
            .iter()
            .map(|row| row.try_get::<Uuid>("", Column::EventId.as_str()))
            .collect()
    }

    /// Each event in a savepoint of its own.
    async fn apply_one_by_one(&self, events: &[&IncomingEvent]) -> Vec<Outcome> {
        let work = match UnitOfWork::begin(&self.db, &self.bus.outbox()).await {
            Ok(work) => work,
            Err(error) => {
                return events
                    .iter()
                    .map(|_| Outcome::Retry(error.to_string()))
                    .collect();
            }
        };
        let mut outcomes = Vec::with_capacity(events.len());
        for event in events {
            let outcome = match work.nested().await {
                Ok(savepoint) => match self
                    .apply(&savepoint, event)
                    .instrument(event.span.clone())
                    .await
                {
                    Ok(true) => match savepoint.commit().await {
                        Ok(()) => Outcome::Applied,
                        Err(error) => Outcome::Retry(error.to_string()),
                    },
                    Ok(false) => Outcome::AlreadyApplied,
                    Err(HandlerError::Transient(reason) | HandlerError::Contended(reason)) => {
                        Outcome::Retry(reason)
                    }
                    Err(HandlerError::Rejected(reason)) => Outcome::DeadLetter(reason),
                },
                Err(error) => Outcome::Retry(error.to_string()),
            };
            outcomes.push(outcome);
        }
        // Committing publishes what the handlers added to the outbox.
        if let Err(error) = work.commit().await {
            // Nothing of the batch was kept: every applied event retries.
            for outcome in &mut outcomes {
                if matches!(outcome, Outcome::Applied) {
                    *outcome = Outcome::Retry(error.to_string());
                }
            }
            return outcomes;
        }
        outcomes
    }

    /// Records the event id and applies the handler (in the caller's
    /// savepoint, which is dropped, i.e. rolled back, on any error).
    /// `Ok(false)`: this consumer had already applied the event.
    async fn apply(
        &self,
        savepoint: &UnitOfWork,
        event: &IncomingEvent,
    ) -> Result<bool, HandlerError> {
        let first_time = self
            .record_processed(savepoint, &[event])
            .await?
            .contains(&event.event_id);
        if !first_time {
            return Ok(false);
        }
        self.handler.handle(savepoint, event).await?;
        Ok(true)
    }
}

/// The durable consumer `durable_name` on `domain`'s stream, with the
/// stream, when both exist.
pub async fn durable_on(
    bus: &EventBus,
    domain: &str,
    durable_name: &str,
) -> Option<(jetstream::stream::Stream, jetstream::consumer::Info)> {
    let stream = bus
        .jetstream()
        .get_stream(bus.naming().domain_stream(domain))
        .await
        .ok()?;
    let info = stream.consumer_info(durable_name).await.ok()?;
    Some((stream, info))
}

/// Deletes a service's durable consumers on the streams of `domains` (see
/// [`domains_of`]), so the
/// next start replays the streams from the beginning (a rebuild, together
/// with emptying the service's read models and its processed events).
pub async fn delete_durable(
    bus: &EventBus,
    durable_name: &str,
    domains: &[&str],
) -> Result<(), async_nats::Error> {
    for domain in domains {
        if let Some((stream, _)) = durable_on(bus, domain, durable_name).await {
            stream.delete_consumer(durable_name).await?;
        }
    }
    Ok(())
}

/// Forgets that `consumer` applied the events of `domains` (part of a
/// rebuild): the replay applies them again.
pub async fn forget_processed(
    conn: &impl sea_orm::ConnectionTrait,
    consumer: &str,
    domains: &[&str],
) -> Result<(), DbErr> {
    use sea_orm::sea_query::Condition;
    use sea_orm::{ColumnTrait, QueryFilter};
    let of_domains = domains.iter().fold(Condition::any(), |any, domain| {
        any.add(processed_event::Column::EventName.starts_with(format!("{domain}.")))
    });
    processed_event::Entity::delete_many()
        .filter(processed_event::Column::Consumer.eq(consumer))
        .filter(of_domains)
        .exec(conn)
        .await?;
    Ok(())
}
