//! Query plans: the statements a test drives through the real services,
//! captured from sea-orm's statement log, explained by the database itself
//! (PostgreSQL's `EXPLAIN (FORMAT JSON)`, SQLite's `EXPLAIN QUERY PLAN`),
//! and refused when they read a large table whole.

use std::sync::{Arc, Mutex, OnceLock};

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// Every SQL statement sea-orm runs in this test process while recording
/// (sea-orm's `debug-print`, which the `testing` feature turns on).
#[derive(Clone, Default)]
pub struct SqlLog {
    recording: Arc<Mutex<Option<Vec<String>>>>,
}

static LOG: OnceLock<SqlLog> = OnceLock::new();

struct Capture(SqlLog);

struct Message(Option<String>);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = Some(format!("{value:?}"));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = Some(value.to_owned());
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if !event.metadata().target().starts_with("sea_orm") {
            return;
        }
        let mut message = Message(None);
        event.record(&mut message);
        if let (Some(sql), Ok(mut recording)) = (message.0, self.0.recording.lock())
            && let Some(statements) = recording.as_mut()
        {
            statements.push(sql);
        }
    }
}

impl SqlLog {
    /// The process's log; the first call installs it as the global
    /// subscriber (with warnings to the test output), so call it before
    /// anything else logs.
    pub fn install() -> Self {
        LOG.get_or_init(|| {
            let log = SqlLog::default();
            let capture = Capture(log.clone()).with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target("sea_orm", tracing::Level::DEBUG),
            );
            let output = tracing_subscriber::fmt::layer()
                .with_test_writer()
                .compact()
                .with_filter(EnvFilter::new("warn"));
            let subscriber = Registry::default().with(capture).with(output);
            tracing::subscriber::set_global_default(subscriber)
                .expect("the SQL log is installed before any other subscriber");
            log
        })
        .clone()
    }

    /// Starts recording (forgetting what was recorded before).
    pub fn start(&self) {
        *self.recording.lock().expect("the log") = Some(Vec::new());
    }

    /// Stops recording and returns the SELECTs recorded, each once.
    pub fn stop(&self) -> Vec<String> {
        let mut selects = self.stop_counting();
        selects.sort();
        selects.dedup();
        selects
    }

    /// Stops recording and returns every SELECT recorded, in order, as
    /// often as it ran.
    pub fn stop_counting(&self) -> Vec<String> {
        let recorded = self
            .recording
            .lock()
            .expect("the log")
            .take()
            .unwrap_or_default();
        recorded
            .into_iter()
            .map(|sql| sql.trim().to_owned())
            .filter(|sql| sql.to_ascii_uppercase().starts_with("SELECT"))
            .collect()
    }
}

/// Writes replica accounts `ids` (active workers named after their id)
/// straight into a service's database, 1,000 a statement: how the
/// query-plan tests fill the people a list pages through.
pub async fn seed_replica(db: &DatabaseConnection, ids: &[uuid::Uuid]) {
    use crate::account_replica::entity as account;
    use sea_orm::{ActiveValue::Set, EntityTrait};
    let now = crate::db::now();
    for chunk in ids.chunks(1_000) {
        account::Entity::insert_many(chunk.iter().map(|&id| account::ActiveModel {
            id: Set(id),
            email: Set(format!("{id}@popug.inc")),
            full_name: Set(format!("Popug {id}")),
            role: Set("worker".into()),
            active: Set(true),
            state_at: Set(now),
            details_revision: Set(Some(1)),
            role_revision: Set(Some(1)),
            active_revision: Set(Some(1)),
        }))
        .exec_without_returning(db)
        .await
        .expect("the replica accounts are written");
    }
}

/// Tables with more than `min_rows` rows (after `ANALYZE`).
pub async fn large_tables(db: &DatabaseConnection, min_rows: i64) -> Vec<String> {
    let backend = db.get_database_backend();
    db.execute_unprepared("ANALYZE").await.expect("ANALYZE");
    let tables: Vec<String> = match backend {
        DatabaseBackend::Postgres => db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                "SELECT relname::text AS name FROM pg_class \
                 WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace AND reltuples > $1",
                [min_rows.into()],
            ))
            .await
            .expect("pg_class")
            .iter()
            .map(|row| row.try_get::<String>("", "name").expect("a name"))
            .collect(),
        _ => {
            let names: Vec<String> = db
                .query_all_raw(Statement::from_string(
                    backend,
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
                ))
                .await
                .expect("sqlite_master")
                .iter()
                .map(|row| row.try_get::<String>("", "name").expect("a name"))
                .collect();
            let mut large = Vec::new();
            for name in names {
                let count = db
                    .query_one_raw(Statement::from_string(
                        backend,
                        format!("SELECT COUNT(*) AS n FROM \"{name}\""),
                    ))
                    .await
                    .expect("a count")
                    .expect("a row")
                    .try_get::<i64>("", "n")
                    .expect("a number");
                if count > min_rows {
                    large.push(name);
                }
            }
            large
        }
    };
    tables
}

/// How `sql` reads each large table it reads whole, if it does: a sequential
/// scan on PostgreSQL, a `SCAN` without an index on SQLite.
pub async fn whole_table_reads(
    db: &DatabaseConnection,
    sql: &str,
    large: &[String],
) -> Vec<String> {
    let backend = db.get_database_backend();
    match backend {
        DatabaseBackend::Postgres => {
            let row = db
                .query_one_raw(Statement::from_string(
                    backend,
                    format!("EXPLAIN (FORMAT JSON) {sql}"),
                ))
                .await
                .unwrap_or_else(|error| panic!("EXPLAIN {sql}: {error}"))
                .expect("a plan");
            let plan: Value = row.try_get("", "QUERY PLAN").expect("a JSON plan");
            let mut found = Vec::new();
            seq_scans(&plan, large, &mut found);
            found
        }
        _ => db
            .query_all_raw(Statement::from_string(
                backend,
                format!("EXPLAIN QUERY PLAN {sql}"),
            ))
            .await
            .unwrap_or_else(|error| panic!("EXPLAIN QUERY PLAN {sql}: {error}"))
            .iter()
            .map(|row| row.try_get::<String>("", "detail").expect("a detail"))
            .filter(|detail| {
                large.iter().any(|table| {
                    detail == &format!("SCAN {table}")
                        || detail.starts_with(&format!("SCAN {table} "))
                            && !detail.contains(" USING ")
                })
            })
            .collect(),
    }
}

fn seq_scans(plan: &Value, large: &[String], found: &mut Vec<String>) {
    match plan {
        Value::Object(node) => {
            if node.get("Node Type").and_then(Value::as_str) == Some("Seq Scan")
                && let Some(table) = node.get("Relation Name").and_then(Value::as_str)
                && large.iter().any(|name| name == table)
            {
                found.push(format!("Seq Scan on {table}"));
            }
            node.values()
                .for_each(|value| seq_scans(value, large, found));
        }
        Value::Array(items) => items
            .iter()
            .for_each(|value| seq_scans(value, large, found)),
        _ => {}
    }
}

/// Fails, naming each statement and how it reads a large table whole,
/// unless every one of `statements` reads the large tables through an
/// index.
pub async fn assert_no_whole_table_reads(
    db: &DatabaseConnection,
    statements: &[String],
    large: &[String],
) {
    assert!(!large.is_empty(), "the test seeded no large table");
    let mut failures = Vec::new();
    for sql in statements {
        let reads = whole_table_reads(db, sql, large).await;
        if !reads.is_empty() {
            failures.push(format!("{}\n    {sql}", reads.join(", ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} statements read a large table ({large:?}) whole:\n{}",
        failures.len(),
        statements.len(),
        failures.join("\n")
    );
}
