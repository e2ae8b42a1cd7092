//! What accounting shows: balances, a day's audit log, a day's totals, and
//! management earnings day by day.

use std::collections::{BTreeSet, HashMap};

use ates_core::account_replica::entity as account;
use ates_core::db::parse_stored;
use ates_core::page::{Keyset, Page, PageRequest, Position};
use ates_core::validation::DayRange;
use chrono::NaiveDate;
use chrono::{DateTime, Utc};
use event_schemas::accounting::TransactionKind;
use event_schemas::accounts::Role;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::AccountingError;
use crate::db::{balance, task, transaction};
use ates_core::calendar::BusinessCalendar;
use ates_core::{money, quarter_hours};

/// A transaction with its task, for the audit log.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub transaction: transaction::Model,
    pub task: Option<task::Model>,
}

/// A day's sums for one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayTotals {
    pub rewards_cents: i64,
    pub fees_cents: i64,
    pub payouts_cents: i64,
}

/// An account's balance with what the replica knows of it.
#[derive(Debug, Clone)]
pub struct AccountBalance {
    pub account_id: Uuid,
    pub email: Option<String>,
    pub full_name: Option<String>,
    pub role: Option<Role>,
    pub balance_cents: i64,
}

pub async fn balance_of(db: &DatabaseConnection, account_id: Uuid) -> Result<i64, AccountingError> {
    Ok(balance::Entity::find_by_id(account_id)
        .one(db)
        .await?
        .map_or(0, |balance| balance.balance_cents))
}

/// A day's audit log pages oldest first: by time, then id.
#[derive(Debug)]
pub enum TransactionOrder {}

impl Keyset for TransactionOrder {
    const LIST: &'static str = "transactions";
    type Key = DateTime<Utc>;
}

/// Balances page by account id: the order accounts were made in.
#[derive(Debug)]
pub enum AccountOrder {}

impl Keyset for AccountOrder {
    const LIST: &'static str = "accounts";
    type Key = ();
}

/// A page of an account's transactions on one business day, oldest first,
/// each with its task: one range scan of `idx_transactions_account_time_id`
/// and one lookup of at most a page of task ids.
pub async fn log_page(
    db: &DatabaseConnection,
    calendar: &BusinessCalendar,
    account_id: Uuid,
    date: NaiveDate,
    request: &PageRequest<TransactionOrder>,
) -> Result<Page<LogEntry>, AccountingError> {
    let (start, end) = calendar.bounds(date);
    let mut condition = Condition::all()
        .add(transaction::Column::AccountId.eq(account_id))
        .add(transaction::Column::CreatedAt.gte(start))
        .add(transaction::Column::CreatedAt.lt(end));
    if let Some(after) = &request.after {
        condition = condition
            .add(after.after_in_ascending(transaction::Column::CreatedAt, transaction::Column::Id));
    }
    let rows = transaction::Entity::find()
        .filter(condition)
        .order_by_asc(transaction::Column::CreatedAt)
        .order_by_asc(transaction::Column::Id)
        .limit(request.limit())
        .all(db)
        .await?;
    let page = request.finish(rows, |row| Position {
        key: row.created_at,
        id: row.id,
    });
    let task_ids: BTreeSet<Uuid> = page.items.iter().filter_map(|row| row.task_id).collect();
    let tasks: HashMap<Uuid, task::Model> = if task_ids.is_empty() {
        HashMap::new()
    } else {
        task::Entity::find()
            .filter(task::Column::Id.is_in(task_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|task| (task.id, task))
            .collect()
    };
    page.try_map(|transaction| {
        Ok(LogEntry {
            task: transaction.task_id.and_then(|id| tasks.get(&id).cloned()),
            transaction,
        })
    })
}

/// An account's sums by kind on one business day, summed by the database.
pub async fn day_totals(
    db: &DatabaseConnection,
    calendar: &BusinessCalendar,
    account_id: Uuid,
    date: NaiveDate,
) -> Result<DayTotals, AccountingError> {
    let (start, end) = calendar.bounds(date);
    let sums: Vec<(String, i64)> = transaction::Entity::find()
        .select_only()
        .column(transaction::Column::Kind)
        .column_as(
            Expr::col(transaction::Column::AmountCents)
                .sum()
                .cast_as("BIGINT"),
            "total",
        )
        .filter(transaction::Column::AccountId.eq(account_id))
        .filter(transaction::Column::CreatedAt.gte(start))
        .filter(transaction::Column::CreatedAt.lt(end))
        .group_by(transaction::Column::Kind)
        .into_tuple()
        .all(db)
        .await?;
    let mut totals = DayTotals::default();
    for (kind, sum) in sums {
        let kind: TransactionKind = parse_stored(
            "transactions",
            format!("{account_id} on {date}"),
            "kind",
            &kind,
        )?;
        *match kind {
            TransactionKind::TaskReward => &mut totals.rewards_cents,
            TransactionKind::AssignmentFee => &mut totals.fees_cents,
            TransactionKind::Payout => &mut totals.payouts_cents,
        } = sum;
    }
    Ok(totals)
}

/// A page of balances, by account id: every account in the replica (a
/// balance of 0 when it has none yet) and every balance whose account's
/// events have not arrived. With `search`, only replica accounts whose
/// email or full name contains it. Two bounded index walks (replica and
/// balances from the cursor on) and one lookup of a page of balances.
pub async fn balances_page(
    db: &DatabaseConnection,
    search: Option<&str>,
    request: &PageRequest<AccountOrder>,
) -> Result<Page<AccountBalance>, AccountingError> {
    let known = request.id_filter(
        account::Column::Id,
        search,
        &[account::Column::Email, account::Column::FullName],
    );
    let orphans = request.id_filter(balance::Column::AccountId, None, &[]);
    let accounts: HashMap<Uuid, account::Model> = account::Entity::find()
        .filter(known)
        .order_by_asc(account::Column::Id)
        .limit(request.limit())
        .all(db)
        .await?
        .into_iter()
        .map(|account| (account.id, account))
        .collect();
    let mut ids: BTreeSet<Uuid> = accounts.keys().copied().collect();
    if search.is_none() {
        ids.extend(
            balance::Entity::find()
                .filter(orphans)
                .order_by_asc(balance::Column::AccountId)
                .limit(request.limit())
                .select_only()
                .column(balance::Column::AccountId)
                .into_tuple::<Uuid>()
                .all(db)
                .await?,
        );
    }
    let wanted = usize::try_from(request.limit()).unwrap_or(usize::MAX);
    let ids: Vec<Uuid> = ids.into_iter().take(wanted).collect();
    let balances: HashMap<Uuid, i64> = balance::Entity::find()
        .filter(balance::Column::AccountId.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.account_id, row.balance_cents))
        .collect();
    let mut accounts = accounts;
    let rows = ids
        .into_iter()
        .map(|id| {
            let balance_cents = balances.get(&id).copied().unwrap_or(0);
            Ok(match accounts.remove(&id) {
                Some(account) => AccountBalance {
                    role: Some(account.role()?),
                    account_id: id,
                    email: (!account.email.is_empty()).then_some(account.email),
                    full_name: (!account.full_name.is_empty()).then_some(account.full_name),
                    balance_cents,
                },
                None => AccountBalance {
                    account_id: id,
                    email: None,
                    full_name: None,
                    role: None,
                    balance_cents,
                },
            })
        })
        .collect::<Result<Vec<_>, AccountingError>>()?;
    Ok(request.finish_by_id(rows, |row| row.account_id))
}

/// Management earnings of each day from `from` to `to`: the fees taken
/// minus the rewards paid, i.e. `-(sum of fees and rewards)` with fees
/// negative. Payouts do not count. Read from the sums by quarter hour
/// (at most 96 rows a day); a day whose bounds are not on quarter hours
/// is summed from its transactions.
pub async fn management_earnings(
    db: &DatabaseConnection,
    calendar: &BusinessCalendar,
    days: DayRange,
) -> Result<Vec<(NaiveDate, i64)>, AccountingError> {
    let aligned = quarter_hours::Aligned::of(calendar, days);
    let mut by_day = quarter_hours::earnings_by_day(db, &aligned).await?;
    for day in aligned.others {
        by_day.insert(day, earnings_of_day(db, calendar, day).await?);
    }
    Ok(days
        .days()
        .map(|day| (day, by_day.get(&day).copied().unwrap_or(0)))
        .collect())
}

/// A day's earnings summed from its transactions.
async fn earnings_of_day(
    db: &DatabaseConnection,
    calendar: &BusinessCalendar,
    day: NaiveDate,
) -> Result<i64, AccountingError> {
    let (start, end) = calendar.bounds(day);
    let rows = transaction::Entity::find()
        .filter(transaction::Column::CreatedAt.gte(start))
        .filter(transaction::Column::CreatedAt.lt(end))
        .filter(transaction::Column::Kind.is_in([
            TransactionKind::AssignmentFee.as_str(),
            TransactionKind::TaskReward.as_str(),
        ]))
        .all(db)
        .await?;
    let sum = money::sum(rows.iter().map(|row| row.amount_cents))?;
    Ok(money::negate(sum)?)
}
