//! Management earnings are read from sums by quarter hour: those sums are
//! filled from the transactions a database already holds when the
//! migration runs, and a day whose bounds are not on quarter hours (a
//! zone's local mean time) is summed from its transactions instead.

#![allow(clippy::unwrap_used)]

use accounting_api::db::migrations::Migrator;
use accounting_api::db::transaction;
use accounting_api::domain::reports;
use ates_core::calendar::BusinessCalendar;
use ates_core::testing::TestDatabase;
use ates_core::validation::{BoundedDate, DayRange};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};
use sea_orm_migration::MigratorTrait;
use uuid::Uuid;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn days(from: &str, to: &str) -> DayRange {
    DayRange::new(from.parse().unwrap(), to.parse::<BoundedDate>().unwrap()).unwrap()
}

async fn post(db: &DatabaseConnection, kind: &str, cents: i64, when: DateTime<Utc>) {
    transaction::Entity::insert(transaction::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(Uuid::now_v7()),
        kind: Set(kind.into()),
        amount_cents: Set(cents),
        task_id: Set(Some(Uuid::now_v7())),
        billing_cycle_id: Set(Uuid::now_v7()),
        created_at: Set(when),
    })
    .exec_without_returning(db)
    .await
    .unwrap();
}

/// A database migrated up to just before the sums, holding `entries`,
/// then migrated to the end.
async fn migrated_with(entries: &[(&str, i64, &str)]) -> (TestDatabase, DatabaseConnection) {
    let database = TestDatabase::create().await;
    let db = ates_core::db::connect(database.url(), 2).await.unwrap();
    let before_sums = Migrator::migrations().len() - 1;
    Migrator::up(&db, Some(u32::try_from(before_sums).unwrap()))
        .await
        .unwrap();
    for (kind, cents, when) in entries {
        post(&db, kind, *cents, at(when)).await;
    }
    Migrator::up(&db, None).await.unwrap();
    (database, db)
}

#[tokio::test]
async fn the_sums_are_filled_from_the_ledger_already_written() {
    let (_database, db) = migrated_with(&[
        // Two fees and a reward on 3 March (UTC), one on each side of a
        // quarter hour and one with nanoseconds.
        ("assignment_fee", -1500, "2026-03-03T10:14:59.999999999Z"),
        ("assignment_fee", -2000, "2026-03-03T10:15:00Z"),
        ("task_reward", 3000, "2026-03-03T23:59:59Z"),
        // Payouts are not earnings.
        ("payout", -9900, "2026-03-03T12:00:00Z"),
        // 4 March: a fee just after midnight.
        ("assignment_fee", -1000, "2026-03-04T00:00:00Z"),
    ])
    .await;
    let utc = BusinessCalendar::new(chrono_tz::UTC);
    let earnings = reports::management_earnings(&db, &utc, days("2026-03-02", "2026-03-04"))
        .await
        .unwrap();
    let day = |text: &str| text.parse::<NaiveDate>().unwrap();
    assert_eq!(
        earnings,
        vec![
            (day("2026-03-02"), 0),
            (day("2026-03-03"), 1500 + 2000 - 3000),
            (day("2026-03-04"), 1000),
        ]
    );
    // In Kathmandu (+5:45) the reward of 23:59 UTC falls on 4 March, with
    // the fee of 00:00 UTC.
    let kathmandu = BusinessCalendar::new(chrono_tz::Asia::Kathmandu);
    let earnings = reports::management_earnings(&db, &kathmandu, days("2026-03-03", "2026-03-04"))
        .await
        .unwrap();
    assert_eq!(
        earnings,
        vec![(day("2026-03-03"), 3500), (day("2026-03-04"), -3000 + 1000)]
    );
}

#[tokio::test]
async fn a_day_off_the_quarter_hours_is_summed_from_its_transactions() {
    // Liberia kept local mean time (-0:44:30) until 1972: its days then
    // start at 00:44:30 UTC, mid-quarter.
    let (_database, db) = migrated_with(&[
        ("assignment_fee", -1000, "1971-03-03T00:44:29Z"),
        ("assignment_fee", -2000, "1971-03-03T00:44:30Z"),
        ("task_reward", 500, "1971-03-04T00:44:29Z"),
        ("assignment_fee", -700, "1971-03-04T00:44:30Z"),
    ])
    .await;
    let monrovia = BusinessCalendar::new(chrono_tz::Africa::Monrovia);
    let earnings = reports::management_earnings(&db, &monrovia, days("1971-03-02", "1971-03-04"))
        .await
        .unwrap();
    let day = |text: &str| text.parse::<NaiveDate>().unwrap();
    assert_eq!(
        earnings,
        vec![
            (day("1971-03-02"), 1000),
            (day("1971-03-03"), 2000 - 500),
            (day("1971-03-04"), 700),
        ]
    );
}
