//! Database connections: the same code on SQLite (embedded, the default) and
//! PostgreSQL (production), chosen by `DATABASE_URL` alone.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, ExecResult, QueryResult, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait,
};
use tokio::sync::OwnedMutexGuard;

/// How long a SQLite writer waits for its turn before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Prepared statements each connection keeps (sqlx's default is 100). A
/// multi-row insert is a new statement for every row count (the outbox and
/// the ledger write batches of every size), and each keeps its compiled
/// program, which grows with its rows: with 100 per connection tasks-api
/// peaked at 70 MiB in `make bench` on SQLite, with 24 at 61 MiB. The few
/// statements every request runs stay cached; a big insert is prepared
/// again when its size comes back.
const STATEMENT_CACHE: usize = 24;

/// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://...`).
///
/// SQLite gets WAL, `synchronous=NORMAL`, a busy timeout and foreign keys:
/// readers never block the single writer, and writers queue instead of
/// failing. Tune the pool with `max_connections`.
///
/// A SQLite file that does not exist yet is created first, owner-only
/// (0600, its missing directories 0700): SQLite gives the `-wal` and `-shm`
/// files the main file's permissions, so none of them is readable by other
/// users. An existing file keeps the permissions it has.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    if DbBackend::Sqlite.is_prefix_of(url) {
        create_owner_only(url).map_err(|error| {
            DbErr::Custom(format!("cannot create the SQLite file of {url}: {error}"))
        })?;
    }
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
                .statement_cache_capacity(STATEMENT_CACHE)
        })
        .map_sqlx_postgres_opts(|postgres| postgres.statement_cache_capacity(STATEMENT_CACHE));
    Database::connect(options).await
}

/// Creates the file of a SQLite `url` with mode 0600 (and its missing
/// directories with 0700) unless it exists or the database is in memory.
#[cfg(unix)]
fn create_owner_only(url: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    use std::str::FromStr as _;

    let Ok(options) = sea_orm::sqlx::sqlite::SqliteConnectOptions::from_str(url) else {
        // Not for us to judge: the connection reports what is wrong with it.
        return Ok(());
    };
    let file = options.get_filename();
    let in_memory = url.contains("mode=memory")
        || file.as_os_str().is_empty()
        || file.as_os_str() == ":memory:";
    if in_memory || file.exists() {
        return Ok(());
    }
    if let Some(directory) = file.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(directory)?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

#[cfg(not(unix))]
fn create_owner_only(_url: &str) -> std::io::Result<()> {
    Ok(())
}

/// One writer lane per SQLite database file in this process.
static WRITE_LANES: LazyLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Mutex::default);

/// A turn in the database's writer lane, held while writing.
///
/// SQLite lets one writer in at a time; the others wait in its busy handler,
/// which sleeps 1, 2, 5, 10... up to 100 ms between attempts, so under load
/// the lock sits idle while every writer sleeps (seen as a 350 ms p99 on
/// `POST /v1/tasks`). Writers of one process therefore queue here, first in
/// first out, and reach SQLite one at a time; the busy timeout still orders
/// writers of different processes. PostgreSQL needs no lane: `None`.
pub type WriteTurn = Option<OwnedMutexGuard<()>>;

/// Waits for this process's turn to write to `db` (see [`WriteTurn`]).
pub async fn write_turn(db: &DatabaseConnection) -> WriteTurn {
    if db.get_database_backend() != DbBackend::Sqlite {
        return None;
    }
    let file = db
        .get_sqlite_connection_pool()
        .connect_options()
        .get_filename()
        .to_path_buf();
    let lane = {
        let mut lanes = WRITE_LANES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        lanes.entry(file).or_default().clone()
    };
    Some(lane.lock_owned().await)
}

/// A transaction that writes, holding its turn in the writer lane until it
/// commits, rolls back or is dropped. Use it as any connection.
pub struct WriteTransaction {
    txn: DatabaseTransaction,
    _turn: WriteTurn,
}

impl std::fmt::Debug for WriteTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTransaction").finish_non_exhaustive()
    }
}

impl WriteTransaction {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }

    /// The transaction and the turn it holds, for a unit of work to keep.
    pub(crate) fn into_parts(self) -> (DatabaseTransaction, WriteTurn) {
        (self.txn, self._turn)
    }
}

impl std::ops::Deref for WriteTransaction {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTransaction {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}

/// Begins a transaction that will write, after waiting for this process's
/// [`write_turn`].
///
/// On SQLite it is `BEGIN IMMEDIATE`: the writer takes the lock at the start
/// (waiting its turn under the busy timeout, for writers of other processes)
/// instead of failing when a read turns into a write under a concurrent
/// writer. On PostgreSQL it is a plain `BEGIN`.
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTransaction, DbErr> {
    let turn = write_turn(db).await;
    let txn = match db.get_database_backend() {
        DbBackend::Sqlite => {
            db.begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await?
        }
        _ => db.begin().await?,
    };
    Ok(WriteTransaction { txn, _turn: turn })
}

/// Whether an error is a unique-constraint violation (maps to 409 Conflict).
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(
        error.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// Whether the database refused a value of the statement, rather than
/// failing (a lost connection) or finding a conflict: PostgreSQL's data
/// exceptions (SQLSTATE class 22: a NUL byte, a timestamp or number out of
/// range, a string too long), not-null and check violations (23502,
/// 23514), SQLite's CHECK
/// and NOT NULL constraints (extended codes 275 and 1299) and datatype
/// mismatches (20, and 3091 in a STRICT table). The request that carried the value gets a 422.
pub fn is_refused_value(error: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    let (DbErr::Exec(RuntimeErr::SqlxError(error)) | DbErr::Query(RuntimeErr::SqlxError(error))) =
        error
    else {
        return false;
    };
    let Some(code) = error
        .as_database_error()
        .and_then(|database| database.code())
    else {
        return false;
    };
    // PostgreSQL's SQLSTATEs have five characters, SQLite's result codes
    // at most four digits.
    match code.len() {
        5 => code.starts_with("22") || matches!(code.as_ref(), "23502" | "23514"),
        _ => matches!(code.as_ref(), "275" | "1299" | "3091" | "20"),
    }
}

/// Whether the database gave up on a statement because of other
/// transactions (a deadlock, a serialization failure, a lock it could not
/// get, SQLite busy): nothing was written, and the same request may
/// succeed a moment later.
pub fn is_contention(error: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    let (DbErr::Exec(RuntimeErr::SqlxError(error))
    | DbErr::Query(RuntimeErr::SqlxError(error))
    | DbErr::Conn(RuntimeErr::SqlxError(error))) = error
    else {
        return false;
    };
    error
        .as_database_error()
        .and_then(|database| database.code())
        .is_some_and(|code| {
            matches!(
                code.as_ref(),
                "40P01" | "40001" | "55P03" | "5" | "6" | "261" | "517"
            )
        })
}

/// What a transaction fails with when the idempotent request it belongs to
/// was taken over by a retry (see [`crate::idempotency::Pledge::keep`]).
pub const SUPERSEDED: &str =
    "a later request with this Idempotency-Key took the request over; nothing was stored";

/// Whether `error` is [`SUPERSEDED`]: nothing was written, and a repeat of
/// the request gets the answer of the request that took it over.
pub fn is_superseded(error: &DbErr) -> bool {
    matches!(error, DbErr::Custom(message) if message == SUPERSEDED)
}

/// A stored value the code does not know: a role, status or kind written by
/// hand or by another version. Reading it is an internal error, logged with
/// the row's id, never a silent default (an unknown role must not become
/// `worker` inside a signed token).
#[derive(Debug, thiserror::Error)]
#[error("row {id} of {table}: {column} holds {value:?}, which is not a known value")]
pub struct UnreadableRow {
    pub table: &'static str,
    pub id: String,
    pub column: &'static str,
    pub value: String,
}

/// Parses `value`, the `column` of row `id` in `table`, into the domain
/// type: the one boundary between a string column and its Rust enum.
pub fn parse_stored<T: std::str::FromStr>(
    table: &'static str,
    id: impl std::fmt::Display,
    column: &'static str,
    value: &str,
) -> Result<T, UnreadableRow> {
    value.parse().map_err(|_| {
        let error = UnreadableRow {
            table,
            id: id.to_string(),
            column,
            value: value.to_owned(),
        };
        tracing::error!(table, id = %error.id, column, value, "a stored value does not parse");
        error
    })
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
///
/// On SQLite, another process that opens or migrates the same file at
/// the same moment can make this one's connection (switching the file to
/// WAL) or migration transaction fail with "database is locked", having
/// written nothing; the next attempt finds the file in WAL mode and the
/// migration applied. PostgreSQL instances take turns instead (see
/// [`migrate_in_turn`]).
pub async fn open<M: sea_orm_migration::MigratorTrait>(
    url: &str,
    max_connections: u32,
) -> anyhow::Result<DatabaseConnection> {
    let sqlite = DbBackend::Sqlite.is_prefix_of(url);
    let mut attempt = 1;
    loop {
        match open_once::<M>(url, max_connections).await {
            Err(error) if sqlite && attempt < OPEN_ATTEMPTS => {
                tracing::debug!(attempt, error = %format!("{error:#}"), "opening the database again");
                tokio::time::sleep(std::time::Duration::from_millis(50 * u64::from(attempt))).await;
                attempt += 1;
            }
            opened => return opened,
        }
    }
}

async fn open_once<M: sea_orm_migration::MigratorTrait>(
    url: &str,
    max_connections: u32,
) -> anyhow::Result<DatabaseConnection> {
    use anyhow::Context;
    let db = connect(url, max_connections).await.with_context(|| {
        format!(
            "cannot open the database at {}",
            crate::bus::identity::redacted_url(url)
        )
    })?;
    if db.get_database_backend() == DbBackend::Postgres {
        migrate_in_turn::<M>(url, &db).await?;
    } else {
        M::up(&db, None).await.context("migrations failed")?;
    }
    Ok(db)
}

/// Instances that start together on one empty PostgreSQL database take
/// turns (the loser would fail creating the same types and tables): an
/// advisory lock, held on a connection of its own while the migrations
/// run on the pool.
async fn migrate_in_turn<M: sea_orm_migration::MigratorTrait>(
    url: &str,
    db: &DatabaseConnection,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let turn = connect(url, 1).await?;
    turn.execute_unprepared(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
        .await
        .context("cannot take the migration lock")?;
    let migrated = M::up(db, None).await.context("migrations failed");
    // Closing the connection releases the lock as well.
    turn.close().await.ok();
    migrated
}

/// How often a SQLite database is opened before its error is final (see
/// [`open`]).
const OPEN_ATTEMPTS: u32 = 8;

/// The PostgreSQL advisory lock the migrations of a database run under.
const MIGRATION_LOCK: i64 = 0x0061_7465_736d_6967; // "atesmig"
