//! Group commit on a real database (SQLite, or PostgreSQL with
//! `TEST_DATABASE_URL`): one job whose statement the database refuses
//! fails only its own caller; the jobs it was batched with are written.

use std::sync::{Arc, Mutex};

use ates_core::batcher::Batcher;
use ates_core::db;
use ates_core::testing::TestDatabase;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, Value};

/// The name the table's CHECK constraint refuses.
const REFUSED: &str = "refused";

async fn create_table(db: &DatabaseConnection) {
    db.execute_unprepared(&format!(
        "CREATE TABLE popugs (name TEXT NOT NULL CHECK (name <> '{REFUSED}'))"
    ))
    .await
    .expect("table created");
}

/// Every name in one multi-row statement in one transaction: all or nothing.
async fn insert_all(db: &DatabaseConnection, names: Vec<String>) -> Result<Vec<String>, DbErr> {
    let backend = db.get_database_backend();
    let placeholders: Vec<String> = (1..=names.len())
        .map(|index| match backend {
            DbBackend::Postgres => format!("(${index})"),
            _ => "(?)".to_owned(),
        })
        .collect();
    let sql = format!(
        "INSERT INTO popugs (name) VALUES {}",
        placeholders.join(", ")
    );
    let values = names.iter().cloned().map(Value::from).collect::<Vec<_>>();
    let txn = db::begin_write(db).await?;
    txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    txn.commit().await?;
    Ok(names)
}

async fn stored_names(db: &DatabaseConnection) -> Vec<String> {
    let backend = db.get_database_backend();
    db.query_all_raw(Statement::from_string(
        backend,
        "SELECT name FROM popugs ORDER BY name",
    ))
    .await
    .expect("names read")
    .into_iter()
    .map(|row| row.try_get::<String>("", "name").expect("a name"))
    .collect()
}

#[tokio::test]
async fn a_refused_statement_fails_only_its_own_caller() {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    create_table(&db).await;
    let batches = Arc::new(Mutex::new(Vec::<Vec<String>>::new()));
    let batcher = {
        let (db, batches) = (db.clone(), batches.clone());
        Batcher::spawn(64, move |names: Vec<String>| {
            let (db, batches) = (db.clone(), batches.clone());
            async move {
                batches.lock().unwrap().push(names.clone());
                insert_all(&db, names).await
            }
        })
    };

    let names: Vec<String> = (0..30)
        .map(|index| match index {
            17 => REFUSED.to_owned(),
            _ => format!("popug-{index:02}"),
        })
        .collect();
    let calls: Vec<_> = names
        .iter()
        .cloned()
        .map(|name| {
            let batcher = batcher.clone();
            tokio::spawn(async move { (name.clone(), batcher.submit(name).await) })
        })
        .collect();
    for call in calls {
        let (name, answer) = call.await.expect("joined");
        match answer.expect("answered") {
            Ok(written) => {
                assert_ne!(name, REFUSED);
                assert_eq!(written, name);
            }
            Err(error) => {
                assert_eq!(name, REFUSED, "{name} failed: {error}");
                assert!(db::is_refused_value(&error), "{error}");
            }
        }
    }

    let mut expected: Vec<String> = names.into_iter().filter(|name| name != REFUSED).collect();
    expected.sort();
    assert_eq!(stored_names(&db).await, expected);
    let batches = batches.lock().unwrap();
    assert!(
        batches
            .iter()
            .any(|batch| batch.len() > 1 && batch.iter().any(|name| name == REFUSED)),
        "the refused name was never batched with others, so nothing was proved: {batches:?}"
    );
}

#[tokio::test]
async fn refused_values_are_told_from_conflicts_and_failures() {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    create_table(&db).await;
    db.execute_unprepared("CREATE TABLE unique_names (name TEXT PRIMARY KEY)")
        .await
        .expect("table created");
    let refused = insert_all(&db, vec![REFUSED.to_owned()]).await.unwrap_err();
    assert!(db::is_refused_value(&refused), "CHECK: {refused}");
    let null = db
        .execute_unprepared("INSERT INTO popugs (name) VALUES (NULL)")
        .await
        .unwrap_err();
    assert!(db::is_refused_value(&null), "NOT NULL: {null}");
    db.execute_unprepared("INSERT INTO unique_names (name) VALUES ('kesha')")
        .await
        .expect("first insert");
    let duplicate = db
        .execute_unprepared("INSERT INTO unique_names (name) VALUES ('kesha')")
        .await
        .unwrap_err();
    assert!(db::is_unique_violation(&duplicate), "{duplicate}");
    assert!(!db::is_refused_value(&duplicate), "a conflict: {duplicate}");
    let missing = db
        .execute_unprepared("INSERT INTO no_such_table (name) VALUES ('x')")
        .await
        .unwrap_err();
    assert!(!db::is_refused_value(&missing), "a failure: {missing}");

    // What PostgreSQL refuses and SQLite stores: why text and dates are
    // validated before they reach the database.
    let nul = insert_all(&db, vec!["a\0b".to_owned()]).await;
    let far_date = db
        .execute_unprepared("SELECT CAST('-262143-01-01 00:00:00+00' AS TIMESTAMP WITH TIME ZONE)")
        .await;
    if database.is_postgres() {
        let nul = nul.expect_err("PostgreSQL refuses NUL in text");
        assert!(db::is_refused_value(&nul), "{nul}");
        let far_date = far_date.expect_err("PostgreSQL refuses the year -262143");
        assert!(db::is_refused_value(&far_date), "{far_date}");
    } else {
        assert_eq!(nul.expect("SQLite stores NUL"), vec!["a\0b".to_owned()]);
        far_date.expect("SQLite has no timestamp type to refuse it");
    }
}
