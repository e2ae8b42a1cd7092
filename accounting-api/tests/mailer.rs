//! The mailer's promises, against a real SMTP conversation: a refused
//! send is retried with a doubling back-off, an email waits for its
//! account's address, the Message-ID is the payout's (so the one repeat a
//! crash can cause is recognisable), and a sent email is never sent again,
//! whatever restarts.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use accounting_api::db::payout_email;
use accounting_api::domain::billing;
use accounting_api::mailer::{self, Mailer};
use accounting_api::testing::{
    AccountingApp, SmtpSink, account_with, pending_payout_email, replicate_account, seed_earners,
};
use ates_core::bus::Outbox;
use ates_core::calendar::BusinessCalendar;
use ates_core::metrics::Metrics;
use ates_core::testing::{TestBroker, TestDatabase, eventually};
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

const FROM: &str = "aTES Accounting <accounting@popug.inc>";
const UNUSED_JWKS: &str = "http://127.0.0.1:9/not-used-by-these-tests";

async fn database() -> (TestDatabase, DatabaseConnection) {
    let database = TestDatabase::create().await;
    let db = ates_core::db::open::<accounting_api::db::migrations::Migrator>(database.url(), 2)
        .await
        .unwrap();
    (database, db)
}

/// A fresh database, an SMTP sink and a mailer sending to it.
async fn mailer_on_a_sink() -> (TestDatabase, DatabaseConnection, SmtpSink, Mailer) {
    let (database, db) = database().await;
    let sink = SmtpSink::start().await;
    let mailer = Mailer::new(db.clone(), Some(&sink.url()), FROM).unwrap();
    (database, db, sink, mailer)
}

/// `mailer` counting its outcomes in a registry of its own, as the
/// service does for `GET /metrics`.
fn counted(mailer: Mailer) -> (Mailer, Metrics) {
    let metrics = Metrics::new();
    let outcomes = metrics.counter_by(
        "ates_payout_emails",
        "Payout emails by outcome",
        "outcome",
        &["sent", "stored", "failed"],
    );
    (mailer.counted_in(outcomes), metrics)
}

/// The counts of `sent`, `stored` and `failed` in `metrics`' exposition.
fn outcomes(metrics: &Metrics) -> [String; 3] {
    let text = metrics.render();
    ["sent", "stored", "failed"].map(|outcome| {
        let series = format!("ates_payout_emails_total{{outcome=\"{outcome}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&series))
            .unwrap_or_else(|| panic!("no {series} in {text}"))
            .to_owned()
    })
}

async fn email(db: &DatabaseConnection, payout: Uuid) -> payout_email::Model {
    payout_email::Entity::find_by_id(payout)
        .one(db)
        .await
        .unwrap()
        .unwrap()
}

/// Makes the email of `payout` due now, as time passing would.
async fn make_due(db: &DatabaseConnection, payout: Uuid) {
    payout_email::Entity::update_many()
        .col_expr(
            payout_email::Column::NextAttemptAt,
            Expr::value(Utc::now() - TimeDelta::seconds(1)),
        )
        .filter(payout_email::Column::PayoutId.eq(payout))
        .exec(db)
        .await
        .unwrap();
}

/// One round of `mailer`, with the instants around it.
async fn round(mailer: &Mailer) -> (usize, DateTime<Utc>, DateTime<Utc>) {
    let before = Utc::now();
    let delivered = mailer.deliver_pending().await.unwrap();
    (delivered, before, Utc::now())
}

fn assert_retry_in(
    row: &payout_email::Model,
    wait: TimeDelta,
    window: (DateTime<Utc>, DateTime<Utc>),
) {
    let (before, after) = window;
    assert!(
        row.next_attempt_at >= before + wait && row.next_attempt_at <= after + wait,
        "retry {wait} after the attempt (between {before} and {after}), not at {}",
        row.next_attempt_at
    );
}

#[tokio::test]
async fn a_refused_send_is_retried_with_a_doubling_back_off_until_it_goes_out() {
    let (_database, db, sink, mailer) = mailer_on_a_sink().await;
    let (mailer, metrics) = counted(mailer);
    let kesha = account_with(&db, "kesha@popug.inc", "Kesha").await;
    let payout = pending_payout_email(&db, kesha).await;
    sink.refuse_next(2);

    let (delivered, before, after) = round(&mailer).await;
    assert_eq!(delivered, 0);
    let row = email(&db, payout).await;
    assert_eq!((row.status.as_str(), row.attempts), (mailer::PENDING, 1));
    assert!(
        row.last_error.as_deref().unwrap().contains("451"),
        "{row:?}"
    );
    assert_retry_in(&row, TimeDelta::seconds(60), (before, after));

    // Not due yet: the next round leaves it alone (and opens no connection).
    assert_eq!(mailer.deliver_pending().await.unwrap(), 0);
    assert_eq!(sink.connections(), 1);
    assert_eq!(email(&db, payout).await.attempts, 1);

    make_due(&db, payout).await;
    let (delivered, before, after) = round(&mailer).await;
    assert_eq!(delivered, 0);
    let row = email(&db, payout).await;
    assert_eq!(row.attempts, 2);
    assert_retry_in(&row, TimeDelta::seconds(120), (before, after));

    make_due(&db, payout).await;
    assert_eq!(mailer.deliver_pending().await.unwrap(), 1);
    let row = email(&db, payout).await;
    assert_eq!((row.status.as_str(), row.attempts), (mailer::SENT, 3));
    assert_eq!(row.recipient.as_deref(), Some("kesha@popug.inc"));
    let mails = sink.messages();
    assert_eq!(mails.len(), 1, "the two refused attempts left nothing");
    assert_eq!(mails[0].to, ["kesha@popug.inc"]);
    assert_eq!(sink.connections(), 3);
    assert_eq!(outcomes(&metrics), ["1", "0", "2"]);
}

#[tokio::test]
async fn without_smtp_an_email_is_stored_with_its_text_and_counted_stored() {
    let (_database, db) = database().await;
    let (mailer, metrics) = counted(Mailer::new(db.clone(), None, FROM).unwrap());
    let payout = pending_payout_email(&db, account_with(&db, "kesha@popug.inc", "").await).await;
    assert_eq!(mailer.deliver_pending().await.unwrap(), 1);
    let row = email(&db, payout).await;
    assert_eq!((row.status.as_str(), row.attempts), (mailer::STORED, 1));
    assert_eq!(
        row.subject.as_deref(),
        Some("aTES payout for 2026-12-01: $12.34")
    );
    assert!(
        row.body.unwrap().starts_with("Hello popug,"),
        "an empty name reads popug"
    );
    assert_eq!(outcomes(&metrics), ["0", "1", "0"]);
    assert_eq!(mailer.deliver_pending().await.unwrap(), 0, "stored once");
}

#[tokio::test]
async fn the_back_off_stops_doubling_at_two_hours_and_eight_minutes() {
    let (_database, db, sink, mailer) = mailer_on_a_sink().await;
    let payout = pending_payout_email(&db, account_with(&db, "kesha@popug.inc", "").await).await;
    payout_email::Entity::update_many()
        .col_expr(payout_email::Column::Attempts, Expr::value(11))
        .filter(payout_email::Column::PayoutId.eq(payout))
        .exec(&db)
        .await
        .unwrap();
    sink.refuse_next(1);
    let (delivered, before, after) = round(&mailer).await;
    assert_eq!(delivered, 0);
    let row = email(&db, payout).await;
    assert_eq!(row.attempts, 12);
    // 30 s doubled eight times at most.
    assert_retry_in(&row, TimeDelta::seconds(30 * 256), (before, after));
}

#[tokio::test]
async fn an_email_waits_for_its_accounts_address_and_goes_out_once_it_arrives() {
    let (_database, db, sink, mailer) = mailer_on_a_sink().await;
    let unknown = Uuid::new_v4();
    let payout = pending_payout_email(&db, unknown).await;

    let (delivered, before, after) = round(&mailer).await;
    assert_eq!(delivered, 0);
    let row = email(&db, payout).await;
    assert_eq!((row.status.as_str(), row.attempts), (mailer::PENDING, 1));
    assert!(
        row.last_error
            .as_deref()
            .unwrap()
            .starts_with("no email address known for account"),
        "{row:?}"
    );
    assert_retry_in(&row, TimeDelta::seconds(60), (before, after));
    assert_eq!(sink.connections(), 0, "nothing to send, no connection");

    replicate_account(&db, unknown, "late@popug.inc", "Late").await;
    make_due(&db, payout).await;
    assert_eq!(mailer.deliver_pending().await.unwrap(), 1);
    assert_eq!(email(&db, payout).await.status, mailer::SENT);
    let mails = sink.messages();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["late@popug.inc"]);
    assert!(mails[0].data.contains("Hello Late,"), "{}", mails[0].data);
}

fn message_id(data: &str) -> &str {
    data.lines()
        .find_map(|line| line.strip_prefix("Message-ID: "))
        .unwrap_or_else(|| panic!("no Message-ID in {data}"))
}

#[tokio::test]
async fn the_message_id_is_the_payouts_so_a_repeat_after_a_crash_is_recognisable() {
    let (_database, db, sink, mailer) = mailer_on_a_sink().await;
    let kesha = account_with(&db, "kesha@popug.inc", "Kesha").await;
    let first = pending_payout_email(&db, kesha).await;
    let second = pending_payout_email(&db, kesha).await;
    assert_eq!(mailer.deliver_pending().await.unwrap(), 2);

    // The crash window: the server took the first email, the process died
    // before marking it sent, so the next start sends it again.
    payout_email::Entity::update_many()
        .col_expr(payout_email::Column::Status, Expr::value(mailer::PENDING))
        .filter(payout_email::Column::PayoutId.eq(first))
        .exec(&db)
        .await
        .unwrap();
    let restarted = Mailer::new(db.clone(), Some(&sink.url()), FROM).unwrap();
    assert_eq!(restarted.deliver_pending().await.unwrap(), 1);

    let mut ids: Vec<String> = sink
        .messages()
        .iter()
        .map(|mail| message_id(&mail.data).to_owned())
        .collect();
    ids.sort();
    let mut expected = vec![
        format!("<payout-{first}@ates.popug.inc>"),
        format!("<payout-{first}@ates.popug.inc>"),
        format!("<payout-{second}@ates.popug.inc>"),
    ];
    expected.sort();
    assert_eq!(
        ids, expected,
        "the repeat carries the first one's Message-ID"
    );
}

/// Pays `count` new earners $10 each in a close of its own; their ids.
async fn close_for_new_earners(app: &AccountingApp, count: usize) -> Vec<Uuid> {
    let earners = seed_earners(&app.db, count, 1_000).await;
    let calendar = BusinessCalendar::new(app.config.service.business_timezone);
    billing::close_now(
        &app.db,
        &Outbox::detached("accounting-api"),
        &calendar,
        ates_core::db::now(),
    )
    .await
    .unwrap();
    earners
}

#[tokio::test]
async fn a_sent_email_is_not_sent_again_after_a_restart() {
    let broker = TestBroker::start().await;
    let sink = SmtpSink::start().await;
    let app = AccountingApp::spawn_with(&broker, UNUSED_JWKS, |config| {
        config.smtp_url = Some(sink.url());
    })
    .await;
    let first = close_for_new_earners(&app, 2).await;
    eventually(
        Duration::from_secs(30),
        "the first close's 2 emails",
        || async { (sink.messages().len() == 2).then_some(()) },
    )
    .await;

    let app = app.stop_and_open().await.restart().await;
    // Markers: a later close's email, then a still later one's. A round
    // ends only when all its sends have, so once the third close's email
    // is in, every round that could have repeated an earlier one is over.
    let mut later = Vec::new();
    for _ in 0..2 {
        let earner = close_for_new_earners(&app, 1).await[0];
        eventually(Duration::from_secs(30), "a later close's email", || async {
            sink.messages()
                .iter()
                .any(|mail| mail.to == [format!("{earner}@popug.inc")])
                .then_some(())
        })
        .await;
        later.push(earner);
    }
    let mut recipients: Vec<String> = sink
        .messages()
        .into_iter()
        .flat_map(|mail| mail.to)
        .collect();
    recipients.sort();
    let mut expected: Vec<String> = first
        .iter()
        .chain(&later)
        .map(|id| format!("{id}@popug.inc"))
        .collect();
    expected.sort();
    assert_eq!(recipients, expected, "each payout mailed once");
    let sent = payout_email::Entity::find()
        .filter(payout_email::Column::Status.eq(mailer::SENT))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(sent.len(), 4);
}
