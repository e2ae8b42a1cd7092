//! Database connections: the same code on SQLite (embedded, the default) and
//! PostgreSQL (production), chosen by `DATABASE_URL` alone.

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

/// How long a SQLite writer waits for its turn before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://...`).
///
/// SQLite gets WAL, `synchronous=NORMAL`, a busy timeout and foreign keys:
/// readers never block the single writer, and writers queue instead of
/// failing. Tune the pool with `max_connections`.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|sqlite| {
            sqlite
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
        });
    Database::connect(options).await
}

/// Begins a transaction that will write.
///
/// On SQLite it is `BEGIN IMMEDIATE`: the writer takes the lock at the start
/// (waiting its turn under the busy timeout) instead of failing when a read
/// turns into a write under a concurrent writer. On PostgreSQL it is a plain
/// `BEGIN`.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            db.begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
        }
        _ => db.begin().await,
    }
}

/// Whether an error is a unique-constraint violation (maps to 409 Conflict).
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(
        error.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// The current time at the precision both databases store (microseconds),
/// so what a request returns equals what a later read returns.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::DurationRound;
    let now = chrono::Utc::now();
    now.duration_trunc(chrono::TimeDelta::microseconds(1))
        .unwrap_or(now)
}

/// Connects to `url` and brings the schema up to date with `M`'s
/// migrations: how every service opens its database at start.
pub async fn open<M: sea_orm_migration::MigratorTrait>(
    url: &str,
    max_connections: u32,
) -> anyhow::Result<DatabaseConnection> {
    use anyhow::Context;
    let db = connect(url, max_connections)
        .await
        .with_context(|| format!("cannot open the database at {url}"))?;
    M::up(&db, None).await.context("migrations failed")?;
    Ok(db)
}
