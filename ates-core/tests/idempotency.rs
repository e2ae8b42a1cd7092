//! The idempotency store's guarantee against an instance presumed dead: a
//! request whose reservation a retry took over can no longer commit, and a
//! request that committed can no longer be taken over, on both databases.

#![allow(clippy::unwrap_used)]

use ates_core::idempotency::store::{self, Attempt};
use ates_core::testing::TestDatabase;
use sea_orm::TransactionTrait;
use sea_orm_migration::{MigrationTrait, MigratorTrait};

struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        ates_core::idempotency::migrations()
    }
}

const ROW: (&str, &str) = ("account:1", "key-hash");

fn attempt() -> Attempt<'static> {
    Attempt {
        scope: ROW.0,
        key_hash: ROW.1,
        method: "POST",
        path: "/v1/tasks",
        request_hash: "request-hash",
    }
}

#[tokio::test]
async fn a_request_taken_over_cannot_commit_and_a_committed_one_cannot_be_taken_over() {
    let database = TestDatabase::create().await;
    let db = ates_core::db::open::<Migrator>(database.url(), 4)
        .await
        .unwrap();
    let now = ates_core::db::now();
    let later = now + chrono::Duration::hours(1);
    let first = store::reserve(&db, &attempt(), now, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store::reserve(&db, &attempt(), now, later).await.unwrap(),
        None
    );

    // A retry finds the first silent and takes its reservation over.
    let silent_since = now + chrono::Duration::seconds(1);
    let retry = store::take_over(&db, first, ROW, silent_since, now)
        .await
        .unwrap()
        .expect("a silent, uncommitted reservation is taken over");
    assert_eq!(
        store::take_over(&db, first, ROW, silent_since, now)
            .await
            .unwrap(),
        None,
        "only once"
    );

    // The first was only slow: its command cannot commit now.
    let late = db.begin().await.unwrap();
    assert!(!store::pledge(&late, first, ROW, now).await.unwrap());
    late.rollback().await.unwrap();

    // An answer stored with a command that rolls back is gone with it.
    let rolled_back = db.begin().await.unwrap();
    assert!(
        store::pledge_answering(&rolled_back, retry, ROW, now, 201, b"sealed".to_vec())
            .await
            .unwrap()
    );
    rolled_back.rollback().await.unwrap();
    let row = store::find(&db, ROW.0, ROW.1).await.unwrap().unwrap();
    assert_eq!((row.status, row.committed_at), (None, None));

    // The retry's command commits; while its transaction is open a second
    // retry that presumes it dead waits for it, then finds it committed.
    let command = db.begin().await.unwrap();
    assert!(store::pledge(&command, retry, ROW, now).await.unwrap());
    let second_retry = tokio::spawn({
        let db = db.clone();
        async move {
            let silent_since = ates_core::db::now() + chrono::Duration::seconds(10);
            store::take_over(&db, retry, ROW, silent_since, ates_core::db::now()).await
        }
    });
    // Lets the second retry reach the row first (it waits for the lock);
    // had it not, it finds the commit: the answer is the same either way.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    command.commit().await.unwrap();
    assert_eq!(
        second_retry.await.unwrap().unwrap(),
        None,
        "a committed request is never run again"
    );
    let row = store::find(&db, ROW.0, ROW.1).await.unwrap().unwrap();
    assert_eq!(row.reservation_id, retry);
    assert!(row.committed_at.is_some());
}
