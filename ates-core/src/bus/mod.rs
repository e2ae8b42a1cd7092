//! The event bus on NATS JetStream.
//!
//! Producers never publish directly: a business command writes its events to
//! the [`outbox`] in the same database transaction as its change, and the
//! [`relay`] publishes them afterwards, so an event is neither lost (the
//! broker is down) nor sent for a change that rolled back. Consumers are
//! durable pull consumers ([`consumer`]) that apply each event exactly once
//! per database, and move what can never be processed to the
//! [`dead_letter`] stream.
//!
//! Naming (see [`Naming`]): the subject of an event is
//! `<domain>.<event>.v<version>` (`tasks.created.v2`), one stream per
//! producing domain (`ACCOUNTS` holds `accounts.>`), dead letters in
//! `DEAD_LETTERS` under `deadletter.<consumer>.<original subject>`. An
//! optional prefix puts a whole environment in its own namespace on a shared
//! NATS (`NATS_SUBJECT_PREFIX=staging`: `staging.tasks.created.v2` in stream
//! `STAGING_TASKS`).

pub mod consumer;
pub mod dead_letter;
pub mod outbox;
pub mod relay;
mod schema;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use tokio::sync::Notify;

pub use consumer::{ConsumerSettings, EventHandler, HandlerError, IncomingEvent, forget_processed};
pub use outbox::{Outbox, OutboxError, StagedEvent};
pub use relay::{Relay, RelaySettings};
pub use schema::{BusMigrator, migrations};

/// The producing domains; each has a stream of its own.
pub const DOMAINS: [&str; 3] = ["accounts", "tasks", "accounting"];

/// How long JetStream remembers a message id to drop a re-published copy.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Subject and stream names, with the optional environment prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Naming {
    prefix: Option<String>,
}

impl Naming {
    /// `prefix`: empty or `None` for none.
    pub fn new(prefix: Option<&str>) -> Self {
        let prefix = prefix
            .map(str::trim)
            .filter(|prefix| !prefix.is_empty())
            .map(str::to_owned);
        Self { prefix }
    }

    fn with_prefix(&self, subject: &str) -> String {
        match &self.prefix {
            Some(prefix) => format!("{prefix}.{subject}"),
            None => subject.to_owned(),
        }
    }

    fn stream(&self, base: &str) -> String {
        let name = match &self.prefix {
            Some(prefix) => format!("{prefix}_{base}"),
            None => base.to_owned(),
        };
        name.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect()
    }

    /// The subject of one event version, without prefix: `tasks.created.v2`.
    /// This is what the outbox stores.
    pub fn event_subject(name: &str, version: u32) -> String {
        format!("{name}.v{version}")
    }

    /// The subject on the wire for an outbox subject.
    pub fn wire_subject(&self, subject: &str) -> String {
        self.with_prefix(subject)
    }

    /// The outbox subject for a subject on the wire (strips the prefix).
    pub fn local_subject<'a>(&self, wire_subject: &'a str) -> &'a str {
        match &self.prefix {
            Some(prefix) => wire_subject
                .strip_prefix(prefix.as_str())
                .and_then(|rest| rest.strip_prefix('.'))
                .unwrap_or(wire_subject),
            None => wire_subject,
        }
    }

    /// The stream of a producing domain: `TASKS`.
    pub fn domain_stream(&self, domain: &str) -> String {
        self.stream(domain)
    }

    /// The subjects of a domain's stream: `tasks.>`.
    pub fn domain_subjects(&self, domain: &str) -> String {
        self.with_prefix(&format!("{domain}.>"))
    }

    /// The dead-letter stream.
    pub fn dead_letter_stream(&self) -> String {
        self.stream("DEAD_LETTERS")
    }

    /// Where a consumer's dead letters go: `deadletter.<consumer>.<subject>`.
    pub fn dead_letter_subject(&self, consumer: &str, local_subject: &str) -> String {
        self.with_prefix(&format!("deadletter.{consumer}.{local_subject}"))
    }

    /// All dead letters of one consumer.
    pub fn dead_letter_filter(&self, consumer: &str) -> String {
        self.with_prefix(&format!("deadletter.{consumer}.>"))
    }
}

/// Where the broker is and how this service is named on it.
#[derive(Debug, Clone)]
pub struct BusConfig {
    /// `NATS_URL`, e.g. `nats://127.0.0.1:4222`.
    pub nats_url: String,
    /// `NATS_SUBJECT_PREFIX`: an environment namespace, usually empty.
    pub subject_prefix: Option<String>,
    /// The service name: the envelope's `producer` and the consumers' name.
    pub service: String,
}

/// A connection to JetStream, shared by the relay, the consumers and the
/// dead-letter tools of one service.
#[derive(Clone)]
pub struct EventBus {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    naming: Naming,
    service: Arc<str>,
    relay_wakeup: Arc<Notify>,
    streams_ready: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("naming", &self.naming)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl EventBus {
    /// Connects to NATS. The connection is retried in the background: a
    /// service starts (and keeps writing to its outbox) while the broker is
    /// down, and the relay and consumers catch up once it is back.
    pub async fn connect(config: &BusConfig) -> Result<Self, async_nats::ConnectError> {
        let client = async_nats::ConnectOptions::new()
            .name(config.service.clone())
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connect(config.nats_url.as_str())
            .await?;
        let jetstream = jetstream::ContextBuilder::new()
            // API calls and publish acks; generous, as a loaded broker
            // answers slowly and a timeout only means a retry.
            .timeout(Duration::from_secs(10))
            .max_ack_inflight(4096)
            .backpressure_on_inflight(true)
            .build(client.clone());
        Ok(Self {
            client,
            jetstream,
            naming: Naming::new(config.subject_prefix.as_deref()),
            service: Arc::from(config.service.as_str()),
            relay_wakeup: Arc::new(Notify::new()),
            streams_ready: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        })
    }

    /// The producer side: hand it to business commands.
    pub fn outbox(&self) -> Outbox {
        Outbox::new(self.service.clone(), self.relay_wakeup.clone())
    }

    /// The relay that publishes this service's outbox.
    pub fn relay(&self, db: sea_orm::DatabaseConnection, settings: RelaySettings) -> Relay {
        Relay::new(self.clone(), db, settings)
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub fn naming(&self) -> &Naming {
        &self.naming
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    pub(crate) fn relay_wakeup(&self) -> &Arc<Notify> {
        &self.relay_wakeup
    }

    /// Whether the broker connection is up (for `/readyz`).
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Creates (or updates) the domain streams and the dead-letter stream.
    /// Idempotent; the relay and every consumer call it, and once it has
    /// succeeded on this connection the later calls cost nothing.
    pub async fn ensure_streams(&self) -> Result<(), async_nats::Error> {
        use std::sync::atomic::Ordering;
        if self.streams_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        self.create_streams().await?;
        self.streams_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Makes the next `ensure_streams` check the server again (after a
    /// publish failed: the broker may have lost its streams).
    pub(crate) fn recheck_streams(&self) {
        self.streams_ready
            .store(false, std::sync::atomic::Ordering::Release);
    }

    async fn create_streams(&self) -> Result<(), async_nats::Error> {
        for domain in DOMAINS {
            self.ensure_stream(
                self.naming.domain_stream(domain),
                self.naming.domain_subjects(domain),
            )
            .await?;
        }
        self.ensure_stream(
            self.naming.dead_letter_stream(),
            self.naming.with_prefix("deadletter.>"),
        )
        .await
    }

    async fn ensure_stream(&self, name: String, subjects: String) -> Result<(), async_nats::Error> {
        self.jetstream
            .create_or_update_stream(stream::Config {
                name,
                subjects: vec![subjects],
                storage: stream::StorageType::File,
                retention: stream::RetentionPolicy::Limits,
                duplicate_window: DUPLICATE_WINDOW,
                ..Default::default()
            })
            .await?;
        Ok(())
    }
}

/// Exponential back-off: `base * 2^(attempt-1)`, at most `max`.
pub(crate) fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
    base.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_without_prefix() {
        let naming = Naming::new(None);
        assert_eq!(
            Naming::event_subject("tasks.created", 2),
            "tasks.created.v2"
        );
        assert_eq!(naming.wire_subject("tasks.created.v2"), "tasks.created.v2");
        assert_eq!(naming.domain_stream("tasks"), "TASKS");
        assert_eq!(naming.domain_subjects("tasks"), "tasks.>");
        assert_eq!(naming.dead_letter_stream(), "DEAD_LETTERS");
        assert_eq!(
            naming.dead_letter_subject("tasks-api", "accounts.created.v1"),
            "deadletter.tasks-api.accounts.created.v1"
        );
    }

    #[test]
    fn names_with_prefix() {
        let naming = Naming::new(Some("staging-2"));
        assert_eq!(
            naming.wire_subject("tasks.created.v2"),
            "staging-2.tasks.created.v2"
        );
        assert_eq!(
            naming.local_subject("staging-2.tasks.created.v2"),
            "tasks.created.v2"
        );
        assert_eq!(naming.domain_stream("tasks"), "STAGING_2_TASKS");
        assert_eq!(naming.dead_letter_stream(), "STAGING_2_DEAD_LETTERS");
        assert_eq!(Naming::new(Some("  ")), Naming::new(None));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        assert_eq!(backoff(1, base, max), Duration::from_millis(100));
        assert_eq!(backoff(2, base, max), Duration::from_millis(200));
        assert_eq!(backoff(4, base, max), Duration::from_millis(800));
        assert_eq!(backoff(10, base, max), max);
        assert_eq!(backoff(u32::MAX, base, max), max);
    }
}
