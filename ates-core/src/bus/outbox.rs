//! The transactional outbox: events are stored in the same database
//! transaction as the change they describe, after passing the schema
//! registry; the relay publishes them. Commands add events only through a
//! [`UnitOfWork`](crate::unit_of_work::UnitOfWork), whose commit wakes the
//! relay.

use std::sync::Arc;

use chrono::Utc;
use event_schemas::{Envelope, EventPayload, SchemaError};
use sea_orm::{ActiveValue, ConnectionTrait, DbErr, EntityTrait};
use tokio::sync::Notify;

use super::Naming;
use super::schema::outbox_event;

/// Why an event could not be put in the outbox.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The event breaks its schema: it is never stored nor published.
    #[error("refused to publish: {0}")]
    Invalid(#[from] SchemaError),
    #[error("cannot serialize the event: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("cannot store the event: {0}")]
    Database(#[from] DbErr),
}

/// Rows per multi-row insert: well under the bound-parameter limits of
/// SQLite (32,766) and PostgreSQL (65,535) at ten columns a row.
const ROWS_PER_INSERT: usize = 500;

/// An event checked against the registry, ready to store
/// ([`Outbox::stage`], [`Outbox::add_staged`]).
#[derive(Debug, Clone)]
pub struct StagedEvent(outbox_event::ActiveModel);

/// The producer side of the bus, handed to business commands.
#[derive(Clone)]
pub struct Outbox {
    producer: Arc<str>,
    relay_wakeup: Arc<Notify>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("producer", &self.producer)
            .finish_non_exhaustive()
    }
}

impl Outbox {
    pub(crate) fn new(producer: Arc<str>, relay_wakeup: Arc<Notify>) -> Self {
        Self {
            producer,
            relay_wakeup,
        }
    }

    /// An outbox that wakes no relay (command-line tools, tests): its
    /// events are published by the service's relay at its next poll.
    pub fn detached(producer: &str) -> Self {
        Self::new(Arc::from(producer), Arc::new(Notify::new()))
    }

    /// A new envelope around `data` from this producer.
    pub(crate) fn envelope<T: EventPayload>(&self, data: T) -> Envelope<T> {
        Envelope::new(&self.producer, data)
    }

    /// Wraps `data` in a new envelope from this producer and checks it
    /// against the registry, to be stored with others in a
    /// [`UnitOfWork`](crate::unit_of_work::UnitOfWork).
    pub fn stage<T: EventPayload>(&self, data: T) -> Result<StagedEvent, OutboxError> {
        Self::stage_envelope(&Envelope::new(&self.producer, data))
    }

    /// Checks `envelope` against the registry and prepares its outbox row,
    /// which keeps the current span's trace ([`crate::trace`]).
    pub fn stage_envelope<T: EventPayload>(
        envelope: &Envelope<T>,
    ) -> Result<StagedEvent, OutboxError> {
        let value = serde_json::to_value(envelope)?;
        event_schemas::validate(&envelope.event_name, envelope.event_version, &value)?;
        Ok(StagedEvent(outbox_event::ActiveModel {
            id: ActiveValue::NotSet,
            event_id: ActiveValue::Set(envelope.event_id),
            event_name: ActiveValue::Set(envelope.event_name.clone()),
            event_version: ActiveValue::Set(
                i32::try_from(envelope.event_version).unwrap_or(i32::MAX),
            ),
            subject: ActiveValue::Set(Naming::event_subject(
                &envelope.event_name,
                envelope.event_version,
            )),
            payload: ActiveValue::Set(value.to_string()),
            created_at: ActiveValue::Set(Utc::now()),
            published_at: ActiveValue::Set(None),
            attempts: ActiveValue::Set(0),
            last_error: ActiveValue::Set(None),
            trace_parent: ActiveValue::Set(crate::trace::current_traceparent()),
        }))
    }

    /// Stores staged events on `conn` (a unit of work's transaction), in
    /// their order, a few hundred rows per statement.
    pub(crate) async fn insert_staged(
        &self,
        conn: &impl ConnectionTrait,
        events: Vec<StagedEvent>,
    ) -> Result<(), OutboxError> {
        let mut rows = events.into_iter().map(|event| event.0).peekable();
        while rows.peek().is_some() {
            let chunk: Vec<_> = rows.by_ref().take(ROWS_PER_INSERT).collect();
            outbox_event::Entity::insert_many(chunk)
                .exec_without_returning(conn)
                .await?;
        }
        Ok(())
    }

    /// Tells the relay that a transaction with outbox events committed, so
    /// it publishes them now instead of at its next poll.
    pub(crate) fn notify_committed(&self) {
        self.relay_wakeup.notify_one();
    }
}
