//! How often the running mailer reads its queue: once when it starts and
//! once per wake-up, never in a loop while nothing is due. A test binary
//! of its own, so that the process's SQL log holds only this mailer's
//! statements.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use accounting_api::db::payout_email;
use accounting_api::mailer::{self, Mailer};
use accounting_api::testing::{SmtpSink, account_with, pending_payout_email};
use ates_core::testing::{SqlLog, TestDatabase, eventually};
use sea_orm::{DatabaseConnection, EntityTrait};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

async fn sent(db: &DatabaseConnection, payout: Uuid) -> bool {
    payout_email::Entity::find_by_id(payout)
        .one(db)
        .await
        .unwrap()
        .is_some_and(|email| email.status == mailer::SENT)
}

#[tokio::test]
async fn an_idle_mailer_reads_its_queue_once_per_wake_up() {
    let log = SqlLog::install();
    let database = TestDatabase::create().await;
    let db = ates_core::db::open::<accounting_api::db::migrations::Migrator>(database.url(), 2)
        .await
        .unwrap();
    let sink = SmtpSink::start().await;
    let mailer = Mailer::new(
        db.clone(),
        Some(&sink.url()),
        "aTES Accounting <accounting@popug.inc>",
    )
    .unwrap();
    let kesha = account_with(&db, "kesha@popug.inc", "Kesha").await;
    let first = pending_payout_email(&db, kesha).await;
    let shutdown = CancellationToken::new();

    log.start();
    tokio::spawn(mailer.clone().run(shutdown.clone()));
    eventually(Duration::from_secs(10), "the first email sent", || async {
        sent(&db, first).await.then_some(())
    })
    .await;
    // The marker: a wake-up with a second email; once it is sent, the
    // rounds so far are the start's and the wake-up's.
    let second = pending_payout_email(&db, kesha).await;
    mailer.notify();
    eventually(Duration::from_secs(10), "the second email sent", || async {
        sent(&db, second).await.then_some(())
    })
    .await;
    let rounds = log
        .stop_counting()
        .into_iter()
        .filter(|sql| sql.contains("\"next_attempt_at\" <="))
        .count();
    shutdown.cancel();
    assert_eq!(rounds, 2, "one read of the queue per wake-up");
    assert_eq!(sink.messages().len(), 2);
}
