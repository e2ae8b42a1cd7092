//! The dashboard's answers: management earnings and negative balances
//! today, and the most expensive task of a day, week or month.
//!
//! The most expensive task of a period is the completed task with the
//! highest reward among those completed in it (a reward entry is the
//! completion, dated when the task was completed). Ties go to the task
//! completed first, then to the smaller task id. Weeks run Monday to
//! Sunday; months are calendar months; days are business days.

use std::collections::{BTreeMap, HashMap};

use ates_core::calendar::BusinessCalendar;
use ates_core::money;
use ates_core::quarter_hours::{self, Aligned};
use ates_core::validation::{BoundedDate, DayRange};
use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc};
use event_schemas::accounting::TransactionKind;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use uuid::Uuid;

use super::AnalyticsError;
use crate::db::{balance, best_completion, ledger_entry, task};

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
    let earnings = earnings_by_day(db, calendar, DayRange::spanning(date, date)).await?;
    // Counted on `idx_balances_balance`: as many rows as negative balances.
    let negative = balance::Entity::find()
        .filter(balance::Column::BalanceCents.lt(0))
        .count(db)
        .await?;
    Ok(Today {
        date,
        management_earnings_cents: earnings.get(&date).copied().unwrap_or(0),
        negative_balance_accounts: negative,
    })
}

/// Management earnings of each day: from the sums by quarter hour, or, for
/// a day whose bounds are not on quarter hours, from its ledger entries.
async fn earnings_by_day(
    db: &DatabaseConnection,
    calendar: &BusinessCalendar,
    days: DayRange,
) -> Result<BTreeMap<NaiveDate, i64>, AnalyticsError> {
    let aligned = Aligned::of(calendar, days);
    let mut by_day = quarter_hours::earnings_by_day(db, &aligned).await?;
    for day in aligned.others {
        let (start, end) = calendar.bounds(day);
        let entries = ledger_entry::Entity::find()
            .filter(ledger_entry::Column::CreatedAt.gte(start))
            .filter(ledger_entry::Column::CreatedAt.lt(end))
            .filter(ledger_entry::Column::Kind.is_in([
                TransactionKind::AssignmentFee.as_str(),
                TransactionKind::TaskReward.as_str(),
            ]))
            .all(db)
            .await?;
        let sum = money::sum(entries.iter().map(|entry| entry.amount_cents))?;
        by_day.insert(day, money::negate(sum)?);
    }
    Ok(by_day)
}

/// Every task completed in `[start, end)`, without titles.
async fn completions_between(
    db: &DatabaseConnection,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<PricedCompletion>, AnalyticsError> {
    let rewards = ledger_entry::Entity::find()
        .filter(ledger_entry::Column::Kind.eq(TransactionKind::TaskReward.as_str()))
        .filter(ledger_entry::Column::CreatedAt.gte(start))
        .filter(ledger_entry::Column::CreatedAt.lt(end))
        .all(db)
        .await?;
    Ok(rewards
        .into_iter()
        .filter_map(|entry| {
            Some(PricedCompletion {
                task_id: entry.task_id?,
                title: None,
                jira_id: None,
                reward_cents: entry.amount_cents,
                completed_at: entry.created_at,
            })
        })
        .collect())
}

/// The most expensive completion of each day that has one: the best of
/// the day's quarter hours (at most 96 rows a day), or, for a day whose
/// bounds are not on quarter hours, of its completions; with titles.
async fn best_by_day(
    db: &DatabaseConnection,
    calendar: &BusinessCalendar,
    days: DayRange,
) -> Result<BTreeMap<NaiveDate, PricedCompletion>, AnalyticsError> {
    let aligned = Aligned::of(calendar, days);
    let mut best: BTreeMap<NaiveDate, PricedCompletion> = BTreeMap::new();
    let mut keep = |day: NaiveDate, completion: PricedCompletion| match best.get(&day) {
        Some(kept) if !better(&completion, kept) => {}
        _ => {
            best.insert(day, completion);
        }
    };
    if let Some(span) = aligned.span() {
        let rows = best_completion::Entity::find()
            .filter(best_completion::Column::Quarter.gte(span.start))
            .filter(best_completion::Column::Quarter.lt(span.end))
            .all(db)
            .await?;
        for row in rows {
            if let Some(day) = aligned.day_of(row.quarter) {
                keep(
                    day,
                    PricedCompletion {
                        task_id: row.task_id,
                        title: None,
                        jira_id: None,
                        reward_cents: row.reward_cents,
                        completed_at: row.completed_at,
                    },
                );
            }
        }
    }
    for day in aligned.others {
        let (start, end) = calendar.bounds(day);
        for completion in completions_between(db, start, end).await? {
            keep(day, completion);
        }
    }
    // At most one task a day of the report (366): one bounded lookup.
    let ids: Vec<Uuid> = best.values().map(|completion| completion.task_id).collect();
    if !ids.is_empty() {
        let titles: HashMap<Uuid, task::Model> = task::Entity::find()
            .filter(task::Column::Id.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|task| (task.id, task))
            .collect();
        for completion in best.values_mut() {
            if let Some(task) = titles.get(&completion.task_id) {
                completion.title = Some(task.title.clone());
                completion.jira_id = task.jira_id.clone();
            }
        }
    }
    Ok(best)
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
    Ok(most_expensive(
        best_by_day(db, calendar, days).await?.into_values(),
    ))
}

/// The most expensive task of each day from `from` to `to`.
pub async fn most_expensive_daily(
    db: &DatabaseConnection,
    calendar: &BusinessCalendar,
    days: DayRange,
) -> Result<Vec<(NaiveDate, Option<PricedCompletion>)>, AnalyticsError> {
    let mut best = best_by_day(db, calendar, days).await?;
    Ok(days.days().map(|day| (day, best.remove(&day))).collect())
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
