//! accounting-api's share of the hardening: the mailer refuses what could
//! inject an SMTP header (nothing reaches the wire), and the HTTP side has
//! the bearer scheme in any case and the shared headers. accounting-api
//! takes no JSON body (closing the day has none), so the body statuses are
//! checked on the other services.

#![allow(clippy::unwrap_used)]

use accounting_api::db::{billing_cycle, payout_email, task, transaction};
use accounting_api::mailer::{self, Mailer};
use accounting_api::testing::{AccountingApp, SmtpSink, account_with, pending_payout_email};
use ates_core::testing::{
    TestDatabase, assert_bearer_any_case_and_no_store, assert_dates_bounded,
    assert_nosniff_everywhere,
};
use auth_api::testing::TestApp as AuthApp;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

#[tokio::test]
async fn addresses_and_names_that_could_inject_smtp_headers_are_refused_unsent() {
    let database = TestDatabase::create().await;
    let db = ates_core::db::open::<accounting_api::db::migrations::Migrator>(database.url(), 2)
        .await
        .unwrap();
    let sink = SmtpSink::start().await;

    let honest = account_with(&db, "kesha@popug.inc", "Kesha").await;
    let crlf_address = account_with(&db, "a@b.c\r\nBcc: x@y.z", "Evil").await;
    let named_address = account_with(&db, "\"Boss\" <boss@popug.inc>", "Boss").await;
    let crlf_name = account_with(&db, "name@popug.inc", "Kesha\r\nBcc: x@y.z").await;
    let honest_payout = pending_payout_email(&db, honest).await;
    let refused = [
        pending_payout_email(&db, crlf_address).await,
        pending_payout_email(&db, named_address).await,
        pending_payout_email(&db, crlf_name).await,
    ];

    let mailer = Mailer::new(
        db.clone(),
        Some(&sink.url()),
        "aTES Accounting <accounting@popug.inc>",
    )
    .unwrap();
    assert_eq!(mailer.deliver_pending().await.unwrap(), 1);

    let mails = sink.messages();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec!["kesha@popug.inc".to_owned()]);
    assert!(!mails[0].data.to_ascii_lowercase().contains("bcc"));
    assert_eq!(
        sink.connections(),
        1,
        "only the honest email opened a connection"
    );
    let sent = payout_email::Entity::find_by_id(honest_payout)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sent.status, mailer::SENT);
    for payout in refused {
        let row = payout_email::Entity::find_by_id(payout)
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.status, mailer::PENDING, "kept, not sent");
        assert_eq!(row.attempts, 1);
        let error = row.last_error.unwrap();
        assert!(error.starts_with("refused"), "{error}");
    }
}

#[tokio::test]
async fn my_account_answers_to_any_bearer_case_and_is_never_cached() {
    let auth = AuthApp::spawn().await;
    let accounting = AccountingApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let id = auth.account_with_role("kesha@popug.inc", "worker").await;
    accounting.wait_for_account(&id, true).await;
    let token = auth.access_token("kesha@popug.inc").await;
    assert_bearer_any_case_and_no_store(&accounting.client, &accounting.url("/v1/me"), &token)
        .await;
    let bad_day = accounting
        .get("/v1/me/transactions?date=yesterday", &token)
        .await;
    ates_core::testing::problem(bad_day, reqwest::StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_nosniff_everywhere(&accounting.client, &accounting.url("")).await;
}

#[tokio::test]
async fn every_date_parameter_is_bounded_and_a_bad_one_is_named() {
    let auth = AuthApp::spawn().await;
    let accounting = AccountingApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let admin = auth.admin_token().await;
    let admin_id = auth.account_id_of(&admin).await;
    accounting.wait_for_account(&admin_id, true).await;
    for (path, parameter) in [
        ("/v1/me/transactions?date={}".to_owned(), "date"),
        (
            format!("/v1/accounts/{admin_id}/transactions?date={{}}"),
            "date",
        ),
        ("/v1/stats/management?from={}".to_owned(), "from"),
        ("/v1/stats/management?from={}&to={}".to_owned(), "from"),
    ] {
        assert_dates_bounded(
            &accounting.client,
            &accounting.url(&path),
            parameter,
            &admin,
        )
        .await;
    }
    let bad_end = accounting
        .get(
            "/v1/stats/management?from=2026-03-01&to=-262143-01-01",
            &admin,
        )
        .await;
    let body =
        ates_core::testing::problem(bad_end, reqwest::StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "to", "{body}");
}

/// More tasks in one day's log than SQLite takes parameters in a statement
/// (32,766), all at the same instant: paging the log (100 a page, by time
/// then id) gives every entry exactly once, each with its task, and the
/// day's sums count every entry.
#[tokio::test]
async fn a_day_with_more_tasks_than_a_statement_takes_parameters_is_logged_whole() {
    const TASKS: usize = 33_000;
    let auth = AuthApp::spawn().await;
    let accounting = AccountingApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let kesha = auth.account_with_role("kesha@popug.inc", "worker").await;
    accounting.wait_for_account(&kesha, true).await;
    let token = auth.access_token("kesha@popug.inc").await;
    let kesha: Uuid = kesha.parse().unwrap();
    let cycle = billing_cycle::Entity::find()
        .filter(billing_cycle::Column::Status.eq("open"))
        .one(&accounting.db)
        .await
        .unwrap()
        .expect("an open cycle");
    // With nanoseconds, as an event from elsewhere may carry: SQLite keeps
    // them, so the cursor must carry them too or the log would never move
    // past its first page.
    let now = chrono::Utc::now();
    let ids: Vec<Uuid> = (0..TASKS).map(|_| Uuid::now_v7()).collect();
    for chunk in ids.chunks(1_000) {
        task::Entity::insert_many(chunk.iter().map(|&id| task::ActiveModel {
            id: Set(id),
            title: Set(Some(format!("Task {id}"))),
            jira_id: Set(None),
            description: Set(None),
            assignment_fee_cents: Set(10),
            reward_cents: Set(20),
            priced_at: Set(now),
            revision: Set(None),
        }))
        .exec_without_returning(&accounting.db)
        .await
        .unwrap();
        transaction::Entity::insert_many(chunk.iter().map(|&id| transaction::ActiveModel {
            id: Set(Uuid::now_v7()),
            account_id: Set(kesha),
            kind: Set("assignment_fee".into()),
            amount_cents: Set(-10),
            task_id: Set(Some(id)),
            billing_cycle_id: Set(cycle.id),
            created_at: Set(now),
        }))
        .exec_without_returning(&accounting.db)
        .await
        .unwrap();
    }

    let log = accounting.my_transactions(&token, None).await;
    assert_eq!(log.len(), TASKS);
    let distinct: std::collections::HashSet<Uuid> = log.iter().map(|entry| entry.id).collect();
    assert_eq!(distinct.len(), TASKS, "no entry twice");
    assert!(
        log.iter().all(|entry| entry
            .task
            .as_ref()
            .is_some_and(|task| task.title.as_deref() == Some(&format!("Task {}", task.id)))),
        "every entry carries its own task"
    );
    let me = accounting.me(&token).await;
    assert_eq!(me.today.fees_cents, -10 * i64::try_from(TASKS).unwrap());
}
