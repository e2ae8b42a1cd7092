//! The dashboard reads earnings and the most expensive task from sums by
//! quarter hour. The migration fills them from the ledger entries a
//! database already holds, later entries add to them as they are recorded,
//! and a day whose bounds are not on quarter hours is read from its
//! entries instead; every way gives what the entries themselves say.

#![allow(clippy::unwrap_used)]

use analytics_api::db::migrations::Migrator;
use analytics_api::db::{ledger_entry, task};
use analytics_api::domain::dashboard::{self, PricedCompletion};
use analytics_api::domain::read_models;
use ates_core::bus::IncomingEvent;
use ates_core::calendar::BusinessCalendar;
use ates_core::testing::TestDatabase;
use ates_core::validation::{BoundedDate, DayRange};
use chrono::{DateTime, NaiveDate, Utc};
use event_schemas::accounting::TransactionAppliedV1;
use event_schemas::{Envelope, EventKey, EventPayload};
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};
use sea_orm_migration::MigratorTrait;
use uuid::Uuid;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn days(from: &str, to: &str) -> DayRange {
    DayRange::new(from.parse().unwrap(), to.parse::<BoundedDate>().unwrap()).unwrap()
}

/// A ledger entry: kind, cents, when, task.
type Entry = (&'static str, i64, &'static str, Uuid);

async fn insert(db: &DatabaseConnection, (kind, cents, when, task_id): Entry) {
    ledger_entry::Entity::insert(ledger_entry::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(Uuid::now_v7()),
        kind: Set(kind.into()),
        amount_cents: Set(cents),
        task_id: Set(Some(task_id)),
        created_at: Set(at(when)),
    })
    .exec_without_returning(db)
    .await
    .unwrap();
}

/// The same entry as `accounting.transaction_applied`, recorded by the
/// read model as the consumer records it.
async fn record(db: &DatabaseConnection, (kind, cents, when, task_id): Entry) {
    let data = TransactionAppliedV1 {
        transaction_id: Uuid::now_v7(),
        account_id: Uuid::now_v7(),
        kind: kind.parse().unwrap(),
        amount_cents: cents,
        task_id: Some(task_id),
        billing_cycle_id: Uuid::now_v7(),
        created_at: at(when),
    };
    let envelope = Envelope::at("accounting-api", at(when), data);
    let event = IncomingEvent {
        key: EventKey {
            name: TransactionAppliedV1::NAME.into(),
            version: TransactionAppliedV1::VERSION,
        },
        event_id: envelope.event_id,
        envelope: serde_json::to_value(&envelope).unwrap(),
        delivered: 1,
        span: tracing::Span::none(),
    };
    read_models::apply(db, &event).await.unwrap();
}

async fn database(before: &[Entry], after: &[Entry]) -> (TestDatabase, DatabaseConnection) {
    let database = TestDatabase::create().await;
    let db = ates_core::db::connect(database.url(), 2).await.unwrap();
    let before_sums = Migrator::migrations().len() - 1;
    Migrator::up(&db, Some(u32::try_from(before_sums).unwrap()))
        .await
        .unwrap();
    for entry in before {
        insert(&db, *entry).await;
    }
    Migrator::up(&db, None).await.unwrap();
    for entry in after {
        record(&db, *entry).await;
    }
    (database, db)
}

fn completion(
    task_id: Uuid,
    reward_cents: i64,
    when: &str,
    title: Option<&str>,
) -> PricedCompletion {
    PricedCompletion {
        task_id,
        title: title.map(str::to_owned),
        jira_id: None,
        reward_cents,
        completed_at: at(when),
    }
}

#[tokio::test]
async fn entries_before_and_after_the_migration_count_alike() {
    let [c, d, e] = [(); 3].map(|()| Uuid::now_v7());
    // The later entry has the smaller id, so it must displace the kept one.
    let (b, a) = (Uuid::now_v7(), Uuid::now_v7());
    let low = b;
    let (_database, db) = database(
        &[
            ("assignment_fee", -1500, "2026-03-03T10:00:00Z", a),
            ("task_reward", 3000, "2026-03-03T10:05:00Z", a),
            // The same reward later in the same quarter hour: not better.
            ("task_reward", 3000, "2026-03-03T10:10:00Z", c),
            ("payout", -5000, "2026-03-03T12:00:00Z", a),
        ],
        &[
            ("assignment_fee", -2000, "2026-03-03T10:01:00Z", b),
            // The same reward at the same instant: the smaller id wins.
            ("task_reward", 3000, "2026-03-03T10:05:00Z", b),
            ("task_reward", 1000, "2026-03-04T09:00:00Z", d),
            ("task_reward", 3500, "2026-03-04T23:59:59.999999Z", e),
        ],
    )
    .await;
    task::Entity::insert(task::ActiveModel {
        id: Set(e),
        title: Set("Feed the parrots".into()),
        jira_id: Set(None),
        revision: Set(None),
    })
    .exec_without_returning(&db)
    .await
    .unwrap();
    let utc = BusinessCalendar::new(chrono_tz::UTC);

    let today = dashboard::today(&db, &utc, at("2026-03-03T18:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        today.management_earnings_cents,
        1500 + 2000 - 3000 - 3000 - 3000
    );
    let daily = dashboard::most_expensive_daily(&db, &utc, days("2026-03-02", "2026-03-04"))
        .await
        .unwrap();
    assert_eq!(
        daily,
        vec![
            (day("2026-03-02"), None),
            (
                day("2026-03-03"),
                Some(completion(low, 3000, "2026-03-03T10:05:00Z", None))
            ),
            (
                day("2026-03-04"),
                Some(completion(
                    e,
                    3500,
                    "2026-03-04T23:59:59.999999Z",
                    Some("Feed the parrots")
                ))
            ),
        ]
    );
    let best = dashboard::most_expensive_between(&db, &utc, days("2026-03-01", "2026-03-31"))
        .await
        .unwrap();
    assert_eq!(best, daily[2].1);
}

#[tokio::test]
async fn a_day_off_the_quarter_hours_is_read_from_its_entries() {
    let [a, b] = [(); 2].map(|()| Uuid::now_v7());
    // Liberia's days started at 00:44:30 UTC until 1972.
    let (_database, db) = database(
        &[("task_reward", 2000, "1971-03-03T00:44:29Z", a)],
        &[
            ("task_reward", 1000, "1971-03-03T00:44:30Z", b),
            ("assignment_fee", -300, "1971-03-03T00:44:31Z", b),
        ],
    )
    .await;
    let monrovia = BusinessCalendar::new(chrono_tz::Africa::Monrovia);
    let daily = dashboard::most_expensive_daily(&db, &monrovia, days("1971-03-02", "1971-03-03"))
        .await
        .unwrap();
    assert_eq!(
        daily,
        vec![
            (
                day("1971-03-02"),
                Some(completion(a, 2000, "1971-03-03T00:44:29Z", None))
            ),
            (
                day("1971-03-03"),
                Some(completion(b, 1000, "1971-03-03T00:44:30Z", None))
            ),
        ]
    );
    let today = dashboard::today(&db, &monrovia, at("1971-03-03T12:00:00Z"))
        .await
        .unwrap();
    assert_eq!(today.management_earnings_cents, 300 - 1000);
}
