//! What accounting shows: balances, a day's audit log, a day's totals, and
//! management earnings day by day.

use std::collections::{BTreeSet, HashMap};

use ates_core::account_replica::entity as account;
use ates_core::validation::DayRange;
use chrono::NaiveDate;
use event_schemas::accounting::TransactionKind;
use event_schemas::accounts::Role;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::AccountingError;
use crate::db::{balance, task, transaction};
use ates_core::calendar::BusinessCalendar;
use ates_core::money;

/// Most task ids bound in one statement (SQLite allows 32,766 parameters,
/// PostgreSQL 65,535).
const TASKS_PER_QUERY: usize = 500;

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

/// An account's transactions on one business day, oldest first.
pub async fn log_of_day(
    db: &DatabaseConnection,
    calendar: &BusinessCalendar,
    account_id: Uuid,
    date: NaiveDate,
) -> Result<Vec<LogEntry>, AccountingError> {
    let (start, end) = calendar.bounds(date);
    let transactions = transaction::Entity::find()
        .filter(transaction::Column::AccountId.eq(account_id))
        .filter(transaction::Column::CreatedAt.gte(start))
        .filter(transaction::Column::CreatedAt.lt(end))
        .order_by_asc(transaction::Column::CreatedAt)
        .order_by_asc(transaction::Column::Id)
        .all(db)
        .await?;
    let task_ids: BTreeSet<Uuid> = transactions.iter().filter_map(|row| row.task_id).collect();
    let task_ids: Vec<Uuid> = task_ids.into_iter().collect();
    let mut tasks: HashMap<Uuid, task::Model> = HashMap::with_capacity(task_ids.len());
    // A bounded number of ids per statement: a busy day's log names more
    // tasks than SQLite takes parameters in one statement.
    for chunk in task_ids.chunks(TASKS_PER_QUERY) {
        let found = task::Entity::find()
            .filter(task::Column::Id.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        tasks.extend(found.into_iter().map(|task| (task.id, task)));
    }
    Ok(transactions
        .into_iter()
        .map(|transaction| LogEntry {
            task: transaction.task_id.and_then(|id| tasks.get(&id).cloned()),
            transaction,
        })
        .collect())
}

/// Sums a day's entries by kind; a kind it does not know or a sum that
/// overflows is an error.
pub fn totals(entries: &[LogEntry]) -> Result<DayTotals, AccountingError> {
    let mut totals = DayTotals::default();
    for entry in entries {
        let sum = match entry.transaction.kind()? {
            TransactionKind::TaskReward => &mut totals.rewards_cents,
            TransactionKind::AssignmentFee => &mut totals.fees_cents,
            TransactionKind::Payout => &mut totals.payouts_cents,
        };
        *sum = money::add(*sum, entry.transaction.amount_cents)?;
    }
    Ok(totals)
}

/// Every account with a balance or in the replica, by email.
pub async fn all_balances(db: &DatabaseConnection) -> Result<Vec<AccountBalance>, AccountingError> {
    let mut balances: HashMap<Uuid, i64> = balance::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.account_id, row.balance_cents))
        .collect();
    let mut result: Vec<AccountBalance> = account::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|account| {
            Ok(AccountBalance {
                balance_cents: balances.remove(&account.id).unwrap_or(0),
                role: Some(account.role()?),
                account_id: account.id,
                email: (!account.email.is_empty()).then_some(account.email),
                full_name: (!account.full_name.is_empty()).then_some(account.full_name),
            })
        })
        .collect::<Result<_, AccountingError>>()?;
    result.extend(
        balances
            .into_iter()
            .map(|(account_id, balance_cents)| AccountBalance {
                account_id,
                email: None,
                full_name: None,
                role: None,
                balance_cents,
            }),
    );
    result.sort_by(|a, b| a.email.cmp(&b.email).then(a.account_id.cmp(&b.account_id)));
    Ok(result)
}

/// Management earnings of each day from `from` to `to`: the fees taken
/// minus the rewards paid, i.e. `-(sum of fees and rewards)` with fees
/// negative. Payouts do not count.
pub async fn management_earnings(
    db: &DatabaseConnection,
    calendar: &BusinessCalendar,
    days: DayRange,
) -> Result<Vec<(NaiveDate, i64)>, AccountingError> {
    let (start, _) = calendar.bounds(days.from());
    let (_, end) = calendar.bounds(days.to());
    let rows = transaction::Entity::find()
        .filter(transaction::Column::CreatedAt.gte(start))
        .filter(transaction::Column::CreatedAt.lt(end))
        .filter(transaction::Column::Kind.is_in([
            TransactionKind::AssignmentFee.as_str(),
            TransactionKind::TaskReward.as_str(),
        ]))
        .all(db)
        .await?;
    let mut by_day: HashMap<NaiveDate, i64> = HashMap::new();
    for row in rows {
        *by_day.entry(calendar.date_of(row.created_at)).or_default() -= row.amount_cents;
    }
    Ok(days
        .days()
        .map(|day| (day, by_day.get(&day).copied().unwrap_or(0)))
        .collect())
}
