//! What `GET /metrics` reads from the database and the broker when it is
//! scraped: the outbox backlog and, for a consuming service, its durable
//! consumers' pending counts and its dead letters waiting.

use chrono::Utc;
use sea_orm::{DatabaseConnection, DbErr, FromQueryResult, Statement};

use super::EventBus;
use crate::metrics::Metrics;

/// Where the gauges are read from.
#[derive(Debug, Clone)]
pub struct Sources {
    pub db: DatabaseConnection,
    pub bus: EventBus,
    /// The durable consumer's name (read only when the service consumes).
    pub consumer: String,
}

/// Sets the gauges of `metrics` from `sources`. A source that cannot be
/// read keeps its gauges' last values (and is logged): `up` and the alerts
/// on it tell that a service is down.
pub async fn sample(metrics: &Metrics, sources: &Sources) {
    match outbox(&sources.db).await {
        Ok((waiting, oldest_age)) => metrics.set_outbox(waiting, oldest_age),
        Err(error) => tracing::warn!(%error, "metrics: cannot read the outbox backlog"),
    }
    let streams = metrics.consumed_streams();
    if streams.is_empty() {
        return;
    }
    for stream in &streams {
        if let Some((_, info)) =
            super::consumer::durable_on(&sources.bus, stream, &sources.consumer).await
        {
            let pending = info
                .num_pending
                .saturating_add(u64::try_from(info.num_ack_pending).unwrap_or(u64::MAX));
            metrics.set_consumer_pending(stream, i64::try_from(pending).unwrap_or(i64::MAX));
        }
    }
    match super::dead_letter::waiting_count(&sources.bus, &sources.db, &sources.consumer).await {
        Ok(waiting) => metrics.set_dead_letters_waiting(i64::try_from(waiting).unwrap_or(i64::MAX)),
        Err(error) => tracing::warn!(%error, "metrics: cannot count the dead letters"),
    }
}

/// Outbox rows not yet published, and the oldest one's age in seconds (0
/// when none waits).
async fn outbox(db: &DatabaseConnection) -> Result<(i64, f64), DbErr> {
    #[derive(FromQueryResult)]
    struct Backlog {
        waiting: i64,
        oldest: Option<chrono::DateTime<Utc>>,
    }
    let backlog = Backlog::find_by_statement(Statement::from_string(
        db.get_database_backend(),
        "SELECT COUNT(*) AS waiting, MIN(created_at) AS oldest \
         FROM outbox_events WHERE published_at IS NULL",
    ))
    .one(db)
    .await?;
    let (waiting, oldest) = backlog.map_or((0, None), |row| (row.waiting, row.oldest));
    let age = oldest.map_or(0.0, |oldest| {
        (Utc::now() - oldest)
            .to_std()
            .unwrap_or_default()
            .as_secs_f64()
    });
    Ok((waiting, age))
}
