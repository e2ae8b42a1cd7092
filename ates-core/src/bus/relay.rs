//! The outbox relay: publishes pending outbox rows to JetStream in outbox
//! order, with the event id as `Nats-Msg-Id` (JetStream drops a copy it has
//! already stored within the duplicate window) and the row's trace as
//! `traceparent` ([`crate::trace`]), waits for the acks, marks
//! the rows published, and retries with back-off while NATS is down.
//!
//! Several instances of a service may each run a relay on the same
//! database: a row published twice is de-duplicated by its message id.

use std::future::IntoFuture;
use std::time::Duration;

use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use chrono::Utc;
use futures::future::join_all;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect,
};
use tokio_util::sync::CancellationToken;

use super::schema::outbox_event::{self, Column};
use super::{EventBus, backoff};
use crate::db;
use crate::metrics::RelayMetrics;

/// How the relay paces itself.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// Rows published per round trip to the database.
    pub batch_size: u64,
    /// How often to look for rows when nobody signals a commit.
    pub poll_interval: Duration,
    /// First and longest wait after a failed publish.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Published rows older than this are deleted from the outbox.
    pub retention: chrono::Duration,
    /// How often published rows past their retention are deleted.
    pub prune_every: Duration,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            poll_interval: Duration::from_millis(500),
            retry_base: Duration::from_millis(200),
            retry_max: Duration::from_secs(10),
            retention: chrono::Duration::days(7),
            prune_every: Duration::from_secs(600),
        }
    }
}

/// The columns the relay needs from a pending row.
#[derive(Debug, FromQueryResult)]
struct PendingRow {
    id: i64,
    event_id: uuid::Uuid,
    subject: String,
    payload: String,
    trace_parent: Option<String>,
}

/// A sent batch waiting for its acks.
struct InFlight {
    ids: Vec<i64>,
    acks: Vec<PublishAckFuture>,
    /// The row whose send failed, and why (the rows after it were not sent).
    send_error: Option<(i64, String)>,
}

/// Publishes one service's outbox; see the module docs.
pub struct Relay {
    bus: EventBus,
    db: DatabaseConnection,
    settings: RelaySettings,
    metrics: RelayMetrics,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("database: {0}")]
    Database(#[from] DbErr),
    #[error("broker: {0}")]
    Broker(String),
}

impl Relay {
    pub(crate) fn new(bus: EventBus, db: DatabaseConnection, settings: RelaySettings) -> Self {
        Self {
            bus,
            db,
            settings,
            metrics: RelayMetrics::default(),
        }
    }

    /// Counts its publishes and failures in `metrics`.
    pub fn with_metrics(mut self, metrics: RelayMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Runs until `shutdown` is cancelled, finishing the batch in flight.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut failures = 0u32;
        let mut last_prune = tokio::time::Instant::now();
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let round = async {
                self.bus
                    .ensure_own_stream()
                    .await
                    .map_err(|error| RelayError::Broker(error.to_string()))?;
                self.drain().await
            };
            match round.await {
                Ok(()) => {
                    failures = 0;
                    if last_prune.elapsed() >= self.settings.prune_every {
                        last_prune = tokio::time::Instant::now();
                        if let Err(error) = self.prune().await {
                            tracing::warn!(%error, "outbox prune failed");
                        }
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = self.bus.relay_wakeup().notified() => {}
                        () = tokio::time::sleep(self.settings.poll_interval) => {}
                    }
                }
                Err(error) => {
                    self.metrics.failures.inc();
                    self.bus.recheck_streams();
                    failures = failures.saturating_add(1);
                    let wait = backoff(failures, self.settings.retry_base, self.settings.retry_max);
                    tracing::warn!(%error, attempt = failures, retry_in = ?wait, "outbox relay cannot publish; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
        tracing::info!("outbox relay stopped");
    }

    /// Publishes pending rows until none are left, two batches deep: batch
    /// k+1 is read and sent while the acks of batch k arrive, then batch k
    /// is marked published. On an error the rest stays pending (a row sent
    /// again is dropped by JetStream as a duplicate).
    async fn drain(&self) -> Result<(), RelayError> {
        let mut cursor = 0i64;
        let mut in_flight: Option<InFlight> = None;
        loop {
            let rows = self.pending_after(cursor).await?;
            let full_batch = rows.len() as u64 == self.settings.batch_size;
            if let Some(last) = rows.last() {
                cursor = last.id;
            }
            let sent = self.send(rows).await;
            if let Some(previous) = in_flight.take() {
                self.settle(previous).await?;
            }
            if full_batch {
                in_flight = Some(sent);
            } else {
                return self.settle(sent).await;
            }
        }
    }

    async fn pending_after(&self, cursor: i64) -> Result<Vec<PendingRow>, DbErr> {
        outbox_event::Entity::find()
            .select_only()
            .columns([
                Column::Id,
                Column::EventId,
                Column::Subject,
                Column::Payload,
                Column::TraceParent,
            ])
            .filter(Column::PublishedAt.is_null())
            .filter(Column::Id.gt(cursor))
            .order_by_asc(Column::Id)
            .limit(self.settings.batch_size)
            .into_model()
            .all(&self.db)
            .await
    }

    /// Sends rows without waiting for their acks. A send that fails keeps
    /// what was sent before it, and reports the failure at settle time.
    async fn send(&self, rows: Vec<PendingRow>) -> InFlight {
        let mut flight = InFlight {
            ids: Vec::with_capacity(rows.len()),
            acks: Vec::with_capacity(rows.len()),
            send_error: None,
        };
        for row in rows {
            let mut message = PublishMessage::build()
                .payload(Bytes::from(row.payload))
                .message_id(row.event_id.to_string());
            if let Some(trace_parent) = &row.trace_parent {
                message = message.header(crate::trace::TRACEPARENT, trace_parent.as_str());
            }
            let subject = self.bus.naming().wire_subject(&row.subject);
            match self.bus.jetstream().send_publish(subject, message).await {
                Ok(ack) => {
                    flight.ids.push(row.id);
                    flight.acks.push(ack);
                }
                Err(error) => {
                    flight.send_error = Some((row.id, error.to_string()));
                    break;
                }
            }
        }
        flight
    }

    /// Waits for a batch's acks and marks the acknowledged prefix published.
    async fn settle(&self, flight: InFlight) -> Result<(), RelayError> {
        let results = join_all(flight.acks.into_iter().map(IntoFuture::into_future)).await;
        let mut published = Vec::with_capacity(results.len());
        let mut failure = None;
        for (id, ack) in flight.ids.iter().zip(results) {
            match ack {
                Ok(_) => published.push(*id),
                Err(error) => {
                    failure = Some((*id, error.to_string()));
                    break;
                }
            }
        }
        let failure = failure.or(flight.send_error);
        if !published.is_empty() {
            let count = published.len() as u64;
            let _turn = db::write_turn(&self.db).await;
            outbox_event::Entity::update_many()
                .col_expr(Column::PublishedAt, Expr::value(Utc::now()))
                .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
                .filter(Column::Id.is_in(published))
                .exec(&self.db)
                .await?;
            self.metrics.published.inc_by(count);
        }
        match failure {
            None => Ok(()),
            Some((id, error)) => {
                self.record_failure(id, &error).await?;
                Err(RelayError::Broker(error))
            }
        }
    }

    async fn record_failure(&self, id: i64, error: &str) -> Result<(), DbErr> {
        let _turn = db::write_turn(&self.db).await;
        outbox_event::Entity::update_many()
            .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
            .col_expr(Column::LastError, Expr::value(error.to_owned()))
            .filter(Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    async fn prune(&self) -> Result<(), DbErr> {
        let cutoff = Utc::now() - self.settings.retention;
        let _turn = db::write_turn(&self.db).await;
        let deleted = outbox_event::Entity::delete_many()
            .filter(Column::PublishedAt.lt(cutoff))
            .exec(&self.db)
            .await?;
        if deleted.rows_affected > 0 {
            tracing::info!(rows = deleted.rows_affected, "pruned published outbox rows");
        }
        Ok(())
    }
}
