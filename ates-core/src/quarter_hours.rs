//! Money summed by quarter hour, kept in the transaction that writes the
//! entries it sums: a report over days reads at most 96 rows a day,
//! whatever the number of entries (accounting's management earnings,
//! analytics' dashboard).
//!
//! Why quarter hours, not business days: every time zone in use since 1972
//! is offset from UTC by a whole number of quarter hours, so a business day
//! in any zone is a whole range of them, and changing `BUSINESS_TIMEZONE`
//! needs no rebuild. A day whose bounds do not fall on a quarter hour (a
//! zone's local mean time, such as Liberia's before 1972) is reported by
//! the caller from its entries instead: see [`Aligned`].

use std::collections::BTreeMap;
use std::ops::Range;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use sea_orm_migration::SchemaManagerConnection;
use sea_orm_migration::prelude::*;

use crate::calendar::BusinessCalendar;
use crate::validation::DayRange;

/// Seconds in a quarter hour.
pub const SECONDS: i64 = 900;

/// The quarter hour `at` falls in, counted from the epoch.
pub fn of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(SECONDS)
}

/// The quarter hours of `[start, end)`, when both fall on a quarter hour.
pub fn between(start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Range<i64>> {
    let on_quarter = |at: DateTime<Utc>| {
        at.timestamp().rem_euclid(SECONDS) == 0 && at.timestamp_subsec_nanos() == 0
    };
    (on_quarter(start) && on_quarter(end)).then(|| of(start)..of(end))
}

/// The days of a report split by how they can be summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aligned {
    /// Each day whose bounds fall on quarter hours, with its quarters.
    pub days: Vec<(NaiveDate, Range<i64>)>,
    /// Days whose bounds do not: the caller sums their entries.
    pub others: Vec<NaiveDate>,
}

impl Aligned {
    pub fn of(calendar: &BusinessCalendar, days: DayRange) -> Self {
        let mut aligned = Self {
            days: Vec::new(),
            others: Vec::new(),
        };
        for day in days.days() {
            let (start, end) = calendar.bounds(day);
            match between(start, end) {
                Some(quarters) => aligned.days.push((day, quarters)),
                None => aligned.others.push(day),
            }
        }
        aligned
    }

    /// Every quarter hour of the aligned days, first to last.
    pub fn span(&self) -> Option<Range<i64>> {
        let first = self.days.first()?.1.start;
        let last = self.days.last()?.1.end;
        Some(first..last)
    }

    /// The aligned day a quarter hour belongs to.
    pub fn day_of(&self, quarter: i64) -> Option<NaiveDate> {
        let index = self
            .days
            .partition_point(|(_, quarters)| quarters.end <= quarter);
        self.days
            .get(index)
            .filter(|(_, quarters)| quarters.contains(&quarter))
            .map(|(day, _)| *day)
    }
}

/// Management earnings (fees taken minus rewards paid) per quarter hour.
pub mod earnings {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "earnings_by_quarter_hour")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub quarter: i64,
        pub earnings_cents: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// Adds each `(time, cents)` of earnings to its quarter hour, in one
/// statement (`INSERT … ON CONFLICT (quarter) DO UPDATE SET earnings_cents
/// = earnings_cents + excluded.earnings_cents`).
pub async fn add_earnings(
    conn: &impl ConnectionTrait,
    moves: impl IntoIterator<Item = (DateTime<Utc>, i64)>,
) -> Result<(), DbErr> {
    let mut by_quarter: BTreeMap<i64, i64> = BTreeMap::new();
    for (at, cents) in moves {
        let sum = by_quarter.entry(of(at)).or_default();
        *sum = sum
            .checked_add(cents)
            .ok_or_else(|| DbErr::Custom(format!("earnings of quarter {} overflow", of(at))))?;
    }
    if by_quarter.is_empty() {
        return Ok(());
    }
    earnings::Entity::insert_many(by_quarter.into_iter().map(|(quarter, cents)| {
        earnings::ActiveModel {
            quarter: ActiveValue::Set(quarter),
            earnings_cents: ActiveValue::Set(cents),
        }
    }))
    .on_conflict(
        OnConflict::column(earnings::Column::Quarter)
            .value(
                earnings::Column::EarningsCents,
                Expr::cust("earnings_by_quarter_hour.earnings_cents + excluded.earnings_cents"),
            )
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// The earnings of each aligned day: one range read of at most 96 rows a
/// day.
pub async fn earnings_by_day(
    conn: &impl ConnectionTrait,
    aligned: &Aligned,
) -> Result<BTreeMap<NaiveDate, i64>, DbErr> {
    let mut by_day: BTreeMap<NaiveDate, i64> =
        aligned.days.iter().map(|(day, _)| (*day, 0)).collect();
    let Some(span) = aligned.span() else {
        return Ok(by_day);
    };
    let rows = earnings::Entity::find()
        .filter(earnings::Column::Quarter.gte(span.start))
        .filter(earnings::Column::Quarter.lt(span.end))
        .all(conn)
        .await?;
    for row in rows {
        if let Some(day) = aligned.day_of(row.quarter) {
            let sum = by_day.entry(day).or_default();
            *sum = sum
                .checked_add(row.earnings_cents)
                .ok_or_else(|| DbErr::Custom(format!("earnings of {day} overflow")))?;
        }
    }
    Ok(by_day)
}

/// A money entry as a ledger table stores it (accounting's
/// `transactions`, analytics' `ledger_entries`).
#[derive(Debug, Clone)]
pub struct StoredEntry {
    pub id: uuid::Uuid,
    pub kind: String,
    pub amount_cents: i64,
    pub task_id: Option<uuid::Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Fills `earnings_by_quarter_hour` from the fees and rewards a ledger
/// `table` already holds, for the migration that creates it: each
/// [`EarningsFill::next`] reads the next 10,000 entries by id, adds them
/// to the sums and returns them (analytics derives more from them).
pub struct EarningsFill<'c> {
    conn: &'c SchemaManagerConnection<'c>,
    table: String,
    after: Option<uuid::Uuid>,
}

impl<'c> EarningsFill<'c> {
    pub fn new(conn: &'c SchemaManagerConnection<'c>, table: &str) -> Self {
        Self {
            conn,
            table: table.to_owned(),
            after: None,
        }
    }

    /// The next page of fees and rewards, already added; `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Vec<StoredEntry>>, DbErr> {
        let mut select = Query::select();
        select
            .columns(["id", "kind", "amount_cents", "task_id", "created_at"].map(Alias::new))
            .from(Alias::new(self.table.as_str()))
            .and_where(Expr::col(Alias::new("kind")).is_in(["assignment_fee", "task_reward"]))
            .order_by(Alias::new("id"), Order::Asc)
            .limit(10_000);
        if let Some(after) = self.after {
            select.and_where(Expr::col(Alias::new("id")).gt(after));
        }
        let rows = self.conn.query_all(&select).await?;
        let page = rows
            .iter()
            .map(|row| {
                Ok(StoredEntry {
                    id: row.try_get("", "id")?,
                    kind: row.try_get("", "kind")?,
                    amount_cents: row.try_get("", "amount_cents")?,
                    task_id: row.try_get("", "task_id")?,
                    created_at: row.try_get("", "created_at")?,
                })
            })
            .collect::<Result<Vec<_>, DbErr>>()?;
        let Some(last) = page.last() else {
            return Ok(None);
        };
        self.after = Some(last.id);
        add_earnings(
            self.conn,
            page.iter()
                .map(|entry| (entry.created_at, -entry.amount_cents)),
        )
        .await?;
        Ok(Some(page))
    }
}

#[derive(DeriveIden)]
enum EarningsByQuarterHour {
    Table,
    Quarter,
    EarningsCents,
}

/// Creates `earnings_by_quarter_hour` (for a service's own migration).
pub async fn create_earnings_table(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(EarningsByQuarterHour::Table)
                .col(
                    ColumnDef::new(EarningsByQuarterHour::Quarter)
                        .big_integer()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(EarningsByQuarterHour::EarningsCents)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("a time")
    }

    #[test]
    fn a_quarter_hour_is_counted_from_the_epoch() {
        assert_eq!(of(at("1970-01-01T00:14:59.999Z")), 0);
        assert_eq!(of(at("1970-01-01T00:15:00Z")), 1);
        assert_eq!(
            between(at("1970-01-01T00:15:00Z"), at("1970-01-01T01:00:00Z")),
            Some(1..4)
        );
        assert_eq!(
            between(at("1970-01-01T00:15:01Z"), at("1970-01-01T01:00:00Z")),
            None
        );
    }

    #[test]
    fn days_of_every_offset_in_use_are_whole_quarter_hours() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("a day");
        let range = |from, to| {
            DayRange::new(
                crate::validation::BoundedDate::new(from).expect("in range"),
                crate::validation::BoundedDate::new(to).expect("in range"),
            )
            .expect("a range")
        };
        for zone in [
            "UTC",
            "Europe/Berlin",
            "Asia/Kathmandu",
            "Australia/Eucla",
            "Pacific/Chatham",
            "America/St_Johns",
        ] {
            let calendar = BusinessCalendar::new(zone.parse().expect("a zone"));
            // Across a DST change in March and the days around it.
            let aligned = Aligned::of(&calendar, range(day(2026, 3, 1), day(2026, 4, 30)));
            assert!(aligned.others.is_empty(), "{zone}: {:?}", aligned.others);
            assert_eq!(aligned.days.len(), 61);
            assert!(
                aligned
                    .days
                    .windows(2)
                    .all(|pair| pair[0].1.end == pair[1].1.start),
                "{zone}: days follow each other"
            );
            let (first, quarters) = &aligned.days[0];
            assert_eq!(aligned.day_of(quarters.start), Some(*first));
            assert_eq!(aligned.day_of(quarters.end - 1), Some(*first));
        }
        // Liberia kept local mean time (-0:44:30) until 1972.
        let monrovia = BusinessCalendar::new("Africa/Monrovia".parse().expect("a zone"));
        let aligned = Aligned::of(&monrovia, range(day(1971, 1, 1), day(1971, 1, 2)));
        assert_eq!(aligned.days, vec![]);
        assert_eq!(aligned.others, vec![day(1971, 1, 1), day(1971, 1, 2)]);
    }
}
