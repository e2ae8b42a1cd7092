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

pub mod backlog;
pub mod consumer;
pub mod dead_letter;
pub mod identity;
pub mod outbox;
pub mod permissions;
pub mod relay;
mod schema;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use tokio::sync::Notify;

pub use consumer::{ConsumerSettings, EventHandler, HandlerError, IncomingEvent, forget_processed};
pub use identity::{BrokerStatus, BusCredentials, BusTls, Secret};
pub use outbox::{Outbox, OutboxError, StagedEvent};
pub use relay::{Relay, RelaySettings};
pub use schema::{BusMigrator, migrations};

/// The producing domains; each has a stream of its own.
pub const DOMAINS: [&str; 3] = ["accounts", "tasks", "accounting"];

/// Which service produces each domain: the only one that publishes its
/// subjects, creates and updates its stream, and whose name an event of the
/// domain carries as `producer`.
pub const DOMAIN_PRODUCERS: [(&str, &str); 3] = [
    ("accounts", "auth-api"),
    ("tasks", "tasks-api"),
    ("accounting", "accounting-api"),
];

/// The service that produces `domain`'s events.
pub fn domain_producer(domain: &str) -> Option<&'static str> {
    DOMAIN_PRODUCERS
        .iter()
        .find(|(name, _)| *name == domain)
        .map(|(_, producer)| *producer)
}

/// The domain `service` produces, if it produces one.
pub fn produced_domain(service: &str) -> Option<&'static str> {
    DOMAIN_PRODUCERS
        .iter()
        .find(|(_, producer)| *producer == service)
        .map(|(domain, _)| *domain)
}

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

/// How long a JetStream API call or a publish's acknowledgement may take.
/// A publish in flight when its stream's leader dies waits this long, then
/// the relay sends it again (JetStream drops a copy it already holds, by
/// message id): the events of a domain stop for about this long plus the
/// election. 10 s made that stall 10.7 s in `make test-cluster`; a loaded
/// broker still acknowledges in well under it.
const JETSTREAM_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the broker is, how this service is named on it and who it is.
#[derive(Clone, Default)]
pub struct BusConfig {
    /// `NATS_URL`, e.g. `nats://127.0.0.1:4222` (without userinfo: a
    /// user and password in it are moved to `credentials` when read).
    pub nats_url: String,
    /// `NATS_SUBJECT_PREFIX`: an environment namespace, usually empty.
    pub subject_prefix: Option<String>,
    /// The service name: the envelope's `producer` and the consumers' name.
    pub service: String,
    /// The service's identity on the broker (none on an open broker).
    pub credentials: BusCredentials,
    /// TLS to the broker.
    pub tls: BusTls,
    /// `NATS_STREAM_REPLICAS` (1 by default, at most 5): the copies a
    /// JetStream cluster keeps of each stream this service creates (3 on a
    /// three-node cluster). 0 means the server's default (1).
    pub stream_replicas: usize,
}

impl std::fmt::Debug for BusConfig {
    /// Never shows a secret: the URL without userinfo, the credential's kind.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusConfig")
            .field("nats_url", &identity::redacted_url(&self.nats_url))
            .field("subject_prefix", &self.subject_prefix)
            .field("service", &self.service)
            .field("credentials", &self.credentials.kind())
            .field("tls", &self.tls)
            .finish()
    }
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
    dead_letters_ready: Arc<std::sync::atomic::AtomicBool>,
    status: Arc<BrokerStatus>,
    stream_replicas: usize,
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
    /// Connects to NATS with the service's identity. The connection is
    /// retried in the background: a service starts (and keeps writing to
    /// its outbox) while the broker is down or refuses its credentials, and
    /// the relay and consumers catch up once it accepts them. Fails only on
    /// a configuration that can never work (an unreadable credential file).
    pub async fn connect(config: &BusConfig) -> Result<Self, async_nats::ConnectError> {
        let address = identity::redacted_url(&config.nats_url);
        let status = Arc::new(BrokerStatus::new(address.clone()));
        let events = status.clone();
        let mut options = async_nats::ConnectOptions::new()
            .name(config.service.clone())
            // Replies come to this service's own inboxes only: the
            // permission set lets it subscribe to nothing else.
            .custom_inbox_prefix(permissions::inbox_prefix(&config.service))
            .event_callback(move |event| {
                let events = events.clone();
                async move { events.on_event(&event) }
            })
            .retry_on_initial_connect()
            .max_reconnects(None);
        options = match &config.credentials {
            BusCredentials::None => options,
            BusCredentials::UserPassword { user, password } => {
                options.user_and_password(user.clone(), password.expose().to_owned())
            }
            BusCredentials::Token(token) => options.token(token.expose().to_owned()),
            BusCredentials::NkeySeedFile(path) => {
                let seed = std::fs::read_to_string(path).map_err(|error| {
                    async_nats::ConnectError::with_source(
                        async_nats::ConnectErrorKind::Authentication,
                        format!("cannot read the nkey seed file {}: {error}", path.display()),
                    )
                })?;
                options.nkey(seed.trim().to_owned())
            }
            BusCredentials::CredsFile(path) => {
                options.credentials_file(path).await.map_err(|error| {
                    async_nats::ConnectError::with_source(
                        async_nats::ConnectErrorKind::Authentication,
                        format!("cannot read the creds file {}: {error}", path.display()),
                    )
                })?
            }
        };
        if let Some(ca_file) = &config.tls.ca_file {
            options = options
                .add_root_certificates(ca_file.clone())
                .require_tls(true);
        }
        if let Some((cert, key)) = &config.tls.client_certificate {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        if config.nats_url.trim_start().starts_with("tls://") {
            options = options.require_tls(true);
        }
        // A seed list (`nats://a:4222,nats://b:4222`) names every node of
        // a cluster: the client connects to one and moves to another when
        // it is lost.
        let seeds: Vec<&str> = config
            .nats_url
            .split(',')
            .map(str::trim)
            .filter(|seed| !seed.is_empty())
            .collect();
        let client = options.connect(seeds).await?;
        tracing::info!(broker = %address, credentials = config.credentials.kind(), tls = config.tls.ca_file.is_some(), "broker connection set up");
        let jetstream = jetstream::ContextBuilder::new()
            .timeout(JETSTREAM_TIMEOUT)
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
            dead_letters_ready: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            status,
            stream_replicas: config.stream_replicas,
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

    /// What the broker last said about this connection.
    pub fn status(&self) -> &BrokerStatus {
        &self.status
    }

    /// Why the bus is not ready (for `/readyz`): the broker refuses the
    /// credentials, or cannot be reached. `None` when connected.
    pub fn not_ready(&self) -> Option<String> {
        if let Some(refusal) = self.status.refusal() {
            return Some(refusal);
        }
        (!self.is_connected())
            .then(|| format!("broker (NATS at {}) unreachable", self.status.address()))
    }

    /// Creates (or updates) the stream of the domain this service produces
    /// (none for a service that produces nothing): only the owning service
    /// creates or updates a domain's stream. Idempotent; once it has
    /// succeeded on this connection the later calls cost nothing.
    pub async fn ensure_own_stream(&self) -> Result<(), async_nats::Error> {
        use std::sync::atomic::Ordering;
        if self.streams_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        if let Some(domain) = produced_domain(&self.service) {
            self.ensure_stream(
                self.naming.domain_stream(domain),
                self.naming.domain_subjects(domain),
            )
            .await?;
        }
        self.streams_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Creates every domain stream and the dead-letter stream, updating
    /// those that exist: for test tools, benchmarks and operators, with an
    /// identity allowed to manage every stream (a service's own identity
    /// may not).
    pub async fn ensure_streams(&self) -> Result<(), async_nats::Error> {
        for domain in DOMAINS {
            self.ensure_stream(
                self.naming.domain_stream(domain),
                self.naming.domain_subjects(domain),
            )
            .await?;
        }
        self.ensure_dead_letter_stream().await
    }

    /// Creates the shared dead-letter stream if it does not exist, never
    /// updating it (any consuming service may create it, none may change
    /// it). Idempotent.
    pub async fn ensure_dead_letter_stream(&self) -> Result<(), async_nats::Error> {
        use std::sync::atomic::Ordering;
        if self.dead_letters_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        self.jetstream
            .get_or_create_stream(stream_config(
                self.naming.dead_letter_stream(),
                self.naming.with_prefix("deadletter.>"),
                self.stream_replicas,
            ))
            .await?;
        self.dead_letters_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// The stream of `domain`, once its producer has created it: a consumer
    /// never creates another service's stream. Waits with back-off (logging
    /// once) while it does not exist; `None` when `shutdown` comes first.
    pub async fn wait_for_stream(
        &self,
        domain: &str,
        shutdown: &tokio_util::sync::CancellationToken,
    ) -> Result<Option<stream::Stream>, async_nats::Error> {
        let mut attempt = 0u32;
        loop {
            if let Some(stream) = self.existing_stream(domain).await? {
                if attempt > 0 {
                    tracing::info!(stream = %stream.cached_info().config.name, "the stream exists now");
                }
                return Ok(Some(stream));
            }
            attempt = attempt.saturating_add(1);
            if attempt == 1 {
                tracing::warn!(stream = %self.naming.domain_stream(domain), producer = domain_producer(domain).unwrap_or("its producer"), "the stream does not exist yet; waiting for its producer to create it");
            }
            let wait = backoff(attempt, Duration::from_millis(100), Duration::from_secs(2));
            tokio::select! {
                () = shutdown.cancelled() => return Ok(None),
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// `domain`'s stream, or `None` when its producer has not created it.
    pub async fn existing_stream(
        &self,
        domain: &str,
    ) -> Result<Option<stream::Stream>, async_nats::Error> {
        use async_nats::jetstream::ErrorCode;
        use async_nats::jetstream::context::GetStreamErrorKind;
        match self
            .jetstream
            .get_stream(self.naming.domain_stream(domain))
            .await
        {
            Ok(stream) => Ok(Some(stream)),
            Err(error)
                if matches!(error.kind(), GetStreamErrorKind::JetStream(inner)
                    if inner.error_code() == ErrorCode::STREAM_NOT_FOUND) =>
            {
                Ok(None)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Makes the next `ensure_own_stream` check the server again (after a
    /// publish failed: the broker may have lost its streams).
    pub(crate) fn recheck_streams(&self) {
        self.streams_ready
            .store(false, std::sync::atomic::Ordering::Release);
        self.dead_letters_ready
            .store(false, std::sync::atomic::Ordering::Release);
    }

    async fn ensure_stream(&self, name: String, subjects: String) -> Result<(), async_nats::Error> {
        self.jetstream
            .create_or_update_stream(stream_config(name, subjects, self.stream_replicas))
            .await?;
        Ok(())
    }
}

/// The configuration of every aTES stream, kept in `replicas` copies.
fn stream_config(name: String, subjects: String, replicas: usize) -> stream::Config {
    stream::Config {
        name,
        subjects: vec![subjects],
        num_replicas: replicas,
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        duplicate_window: DUPLICATE_WINDOW,
        ..Default::default()
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
