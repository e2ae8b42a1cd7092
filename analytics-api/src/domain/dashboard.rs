//! The dashboard's answers: management earnings and negative balances
//! today, and the most expensive task of a day, week or month.
//!
//! The most expensive task of a period is the completed task with the
//! highest reward among those completed in it (a reward entry is the
//! completion, dated when the task was completed). Ties go to the task
//! completed first, then to the smaller task id. Weeks run Monday to
//! Sunday; months are calendar months; days are business days.

use std::collections::HashMap;

use ates_core::calendar::BusinessCalendar;
use ates_core::money;
use ates_core::validation::{BoundedDate, DayRange};
use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc};
use event_schemas::accounting::TransactionKind;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use uuid::Uuid;

use super::AnalyticsError;
use crate::db::{balance, ledger_entry, task};

/// A period to look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    /// The days of the period containing `date`. A week runs Monday to
    /// Sunday. Every period of a [`BoundedDate`] has four-digit years
    /// (see `ates_core::validation`), so the arithmetic is checked only
    /// to keep it panic-free; the fallback keeps `date` itself.
    pub fn range(self, date: BoundedDate) -> DayRange {
        let day = date.date();
        let (first, last) = match self {
            Period::Day => (day, day),
            Period::Week => {
                let monday = day
                    .checked_sub_days(Days::new(u64::from(day.weekday().num_days_from_monday())))
                    .unwrap_or(day);
                (monday, monday.checked_add_days(Days::new(6)).unwrap_or(day))
            }
            Period::Month => {
                let first = day.with_day(1).unwrap_or(day);
                let last = first
                    .checked_add_months(Months::new(1))
                    .and_then(|next| next.pred_opt())
                    .unwrap_or(day);
                (first, last)
            }
        };
        DayRange::spanning(first, last)
    }
}

/// A completed task and what it paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedCompletion {
    pub task_id: Uuid,
    pub title: Option<String>,
    pub jira_id: Option<String>,
    pub reward_cents: i64,
    pub completed_at: DateTime<Utc>,
}

/// Today's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Today {
    pub date: NaiveDate,
    pub management_earnings_cents: i64,
    pub negative_balance_accounts: u64,
}

pub async fn today(
    db: &DatabaseConnection,
    calendar: &BusinessCalendar,
    now: DateTime<Utc>,
) -> Result<Today, AnalyticsError> {
    let date = calendar.date_of(now);
    let (start, end) = calendar.bounds(date);
    let entries = ledger_entry::Entity::find()
        .filter(ledger_entry::Column::CreatedAt.gte(start))
        .filter(ledger_entry::Column::CreatedAt.lt(end))
        .filter(ledger_entry::Column::Kind.is_in([
            TransactionKind::AssignmentFee.as_str(),
            TransactionKind::TaskReward.as_str(),
        ]))
        .all(db)
        .await?;
    let negative = balance::Entity::find()
        .filter(balance::Column::BalanceCents.lt(0))
        .count(db)
        .await?;
    Ok(Today {
        date,
        management_earnings_cents: money::negate(money::sum(
            entries.iter().map(|entry| entry.amount_cents),
        )?)?,
        negative_balance_accounts: negative,
    })
}

/// Every task completed from `from` to `to` (business days, inclusive).
async fn completions(
    db: &DatabaseConnection,
    calendar: &BusinessCalendar,
    days: DayRange,
) -> Result<Vec<PricedCompletion>, AnalyticsError> {
    let (start, _) = calendar.bounds(days.from());
    let (_, end) = calendar.bounds(days.to());
    let rewards = ledger_entry::Entity::find()
        .filter(ledger_entry::Column::Kind.eq(TransactionKind::TaskReward.as_str()))
        .filter(ledger_entry::Column::CreatedAt.gte(start))
        .filter(ledger_entry::Column::CreatedAt.lt(end))
        .all(db)
        .await?;
    let ids: Vec<Uuid> = rewards.iter().filter_map(|entry| entry.task_id).collect();
    let titles: HashMap<Uuid, task::Model> = if ids.is_empty() {
        HashMap::new()
    } else {
        task::Entity::find()
            .filter(task::Column::Id.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|task| (task.id, task))
            .collect()
    };
    Ok(rewards
        .into_iter()
        .filter_map(|entry| {
            let task_id = entry.task_id?;
            let known = titles.get(&task_id);
            Some(PricedCompletion {
                task_id,
                title: known.map(|task| task.title.clone()),
                jira_id: known.and_then(|task| task.jira_id.clone()),
                reward_cents: entry.amount_cents,
                completed_at: entry.created_at,
            })
        })
        .collect())
}

/// Highest reward first; then the earlier completion; then the smaller id.
fn better(a: &PricedCompletion, b: &PricedCompletion) -> bool {
    (
        b.reward_cents,
        std::cmp::Reverse(b.completed_at),
        std::cmp::Reverse(b.task_id),
    ) < (
        a.reward_cents,
        std::cmp::Reverse(a.completed_at),
        std::cmp::Reverse(a.task_id),
    )
}

fn most_expensive(
    completions: impl IntoIterator<Item = PricedCompletion>,
) -> Option<PricedCompletion> {
    completions.into_iter().fold(None, |best, next| match best {
        Some(best) if !better(&next, &best) => Some(best),
        _ => Some(next),
    })
}

/// The most expensive task completed from `from` to `to`.
pub async fn most_expensive_between(
    db: &DatabaseConnection,
    calendar: &BusinessCalendar,
    days: DayRange,
) -> Result<Option<PricedCompletion>, AnalyticsError> {
    Ok(most_expensive(completions(db, calendar, days).await?))
}

/// The most expensive task of each day from `from` to `to`.
pub async fn most_expensive_daily(
    db: &DatabaseConnection,
    calendar: &BusinessCalendar,
    days: DayRange,
) -> Result<Vec<(NaiveDate, Option<PricedCompletion>)>, AnalyticsError> {
    let mut by_day: HashMap<NaiveDate, Vec<PricedCompletion>> = HashMap::new();
    for completion in completions(db, calendar, days).await? {
        by_day
            .entry(calendar.date_of(completion.completed_at))
            .or_default()
            .push(completion);
    }
    Ok(days
        .days()
        .map(|day| (day, most_expensive(by_day.remove(&day).unwrap_or_default())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn period(period: Period, y: i32, m: u32, d: u32) -> (NaiveDate, NaiveDate) {
        let days = period.range(BoundedDate::new(date(y, m, d)).unwrap());
        (days.from(), days.to())
    }

    #[test]
    fn periods_are_calendar_weeks_from_monday_and_calendar_months() {
        // 2026-03-04 is a Wednesday.
        assert_eq!(
            period(Period::Day, 2026, 3, 4),
            (date(2026, 3, 4), date(2026, 3, 4))
        );
        assert_eq!(
            period(Period::Week, 2026, 3, 4),
            (date(2026, 3, 2), date(2026, 3, 8))
        );
        assert_eq!(
            period(Period::Week, 2026, 3, 2),
            (date(2026, 3, 2), date(2026, 3, 8))
        );
        assert_eq!(
            period(Period::Week, 2026, 3, 8),
            (date(2026, 3, 2), date(2026, 3, 8))
        );
        assert_eq!(
            period(Period::Month, 2026, 2, 14),
            (date(2026, 2, 1), date(2026, 2, 28))
        );
        assert_eq!(
            period(Period::Month, 2028, 2, 29),
            (date(2028, 2, 1), date(2028, 2, 29))
        );
        assert_eq!(
            period(Period::Month, 2026, 12, 31),
            (date(2026, 12, 1), date(2026, 12, 31))
        );
    }

    #[test]
    fn periods_of_the_first_and_last_accepted_days_stay_in_four_digit_years() {
        assert_eq!(
            period(Period::Week, 1970, 1, 1),
            (date(1969, 12, 29), date(1970, 1, 4))
        );
        assert_eq!(
            period(Period::Week, 9998, 12, 31),
            (date(9998, 12, 28), date(9999, 1, 3))
        );
        assert_eq!(
            period(Period::Month, 9998, 12, 31),
            (date(9998, 12, 1), date(9998, 12, 31))
        );
    }

    #[test]
    fn ties_go_to_the_earlier_completion_then_the_smaller_id() {
        let at = |minute: u32| {
            DateTime::<Utc>::from_naive_utc_and_offset(
                date(2026, 3, 3).and_hms_opt(10, minute, 0).unwrap(),
                Utc,
            )
        };
        let task = |id: u128, reward: i64, minute: u32| PricedCompletion {
            task_id: Uuid::from_u128(id),
            title: None,
            jira_id: None,
            reward_cents: reward,
            completed_at: at(minute),
        };
        let best = most_expensive([
            task(1, 3000, 5),
            task(2, 4000, 9),
            task(3, 4000, 7),
            task(4, 4000, 7),
        ])
        .unwrap();
        assert_eq!(best.task_id, Uuid::from_u128(3));
        assert_eq!(most_expensive(Vec::new()), None);
    }
}
