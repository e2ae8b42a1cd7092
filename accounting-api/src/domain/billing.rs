//! Billing cycles. There is always exactly one open cycle; new ledger
//! entries go to it. Closing a cycle:
//!
//! 1. one short transaction marks it `closing` and opens the next cycle
//!    (from here on, new entries go to the next one);
//! 2. the accounts are paid in batches of 500 (by id), one transaction
//!    each: for every account whose balance up to the closing cycle is
//!    positive, a `payout` entry taking it to zero, the payout row, its
//!    email and the events. The payout row is unique per cycle and account,
//!    and the balance counted already includes a payout made before a
//!    crash, so a retry pays nobody twice;
//! 3. one transaction marks it `closed` with its totals and publishes
//!    `accounting.billing_cycle_closed`.
//!
//! Negative balances are left as they are and carry over. A crash between
//! the steps leaves the cycle `closing`; the next start finishes it.

use ates_core::bus::Outbox;
use ates_core::db;
use ates_core::page::{Keyset, Page, PageRequest, Position};
use ates_core::unit_of_work::UnitOfWork;
use chrono::{DateTime, Utc};
use event_schemas::accounting::{BillingCycleClosedV1, PaymentMadeV1, TransactionKind};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use uuid::Uuid;

use super::AccountingError;
use super::ledger::{self, LedgerEntry};
use crate::db::billing_cycle::CycleStatus;
use crate::db::{billing_cycle, payout, payout_email};
use ates_core::calendar::BusinessCalendar;

/// What a close did.
#[derive(Debug, Clone)]
pub struct CloseSummary {
    pub cycle: billing_cycle::Model,
    pub next_cycle_id: Uuid,
    pub negative_balances_carried: u64,
}

fn anyhow_of(error: ates_core::bus::HandlerError) -> AccountingError {
    AccountingError::Internal(anyhow::anyhow!(error.to_string()))
}

/// Opens the first cycle on a fresh database (idempotent).
pub async fn ensure_open_cycle(
    db: &DatabaseConnection,
    calendar: &BusinessCalendar,
    now: DateTime<Utc>,
) -> Result<billing_cycle::Model, AccountingError> {
    let txn = db::begin_write(db).await?;
    if let Some(open) = billing_cycle::Entity::find()
        .filter(billing_cycle::Column::Status.eq(CycleStatus::Open.as_str()))
        .one(&txn)
        .await?
    {
        txn.rollback().await?;
        return Ok(open);
    }
    let cycle = open_next(&txn, calendar, now).await?;
    txn.commit().await?;
    Ok(cycle)
}

async fn open_next(
    conn: &impl ConnectionTrait,
    calendar: &BusinessCalendar,
    now: DateTime<Utc>,
) -> Result<billing_cycle::Model, AccountingError> {
    let last = billing_cycle::Entity::find()
        .order_by_desc(billing_cycle::Column::Seq)
        .one(conn)
        .await?;
    let cycle = billing_cycle::Model {
        id: Uuid::now_v7(),
        seq: last.map_or(1, |cycle| cycle.seq + 1),
        business_date: calendar.date_of(now).to_string(),
        status: CycleStatus::Open.as_str().into(),
        opened_at: now,
        closed_at: None,
        payments_count: 0,
        payments_total_cents: 0,
    };
    billing_cycle::Entity::insert(cycle.clone().into_active_model())
        .exec_without_returning(conn)
        .await?;
    Ok(cycle)
}

/// Step 1: marks the open cycle `closing` and opens the next one. Refused
/// (`CloseInProgress`) while another close is still paying: two closes at
/// once would each count the other's payouts out of the balance they pay.
pub async fn begin_close(
    db: &DatabaseConnection,
    calendar: &BusinessCalendar,
    now: DateTime<Utc>,
) -> Result<billing_cycle::Model, AccountingError> {
    let txn = db::begin_write(db).await?;
    if billing_cycle::Entity::find()
        .filter(billing_cycle::Column::Status.eq(CycleStatus::Closing.as_str()))
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(AccountingError::CloseInProgress);
    }
    let open = billing_cycle::Entity::find()
        .filter(billing_cycle::Column::Status.eq(CycleStatus::Open.as_str()))
        .one(&txn)
        .await?
        .ok_or(AccountingError::CloseInProgress)?;
    let marked = billing_cycle::Entity::update_many()
        .col_expr(
            billing_cycle::Column::Status,
            Expr::value(CycleStatus::Closing.as_str()),
        )
        .col_expr(billing_cycle::Column::ClosedAt, Expr::value(now))
        .filter(billing_cycle::Column::Id.eq(open.id))
        .filter(billing_cycle::Column::Status.eq(CycleStatus::Open.as_str()))
        .exec(&txn)
        .await?;
    if marked.rows_affected == 0 {
        return Err(AccountingError::CloseInProgress);
    }
    open_next(&txn, calendar, now).await?;
    // The close has begun: a request's key that runs it is kept here, so
    // its retry never begins another.
    ates_core::idempotency::keep_current(&*txn).await?;
    txn.commit().await?;
    Ok(billing_cycle::Model {
        status: CycleStatus::Closing.as_str().into(),
        closed_at: Some(now),
        ..open
    })
}

/// Accounts paid per transaction of a close: a crash loses at most one
/// batch's work (rolled back, redone on restart), and 100,000 accounts take
/// 200 commits instead of 100,000.
const PAYOUTS_PER_TRANSACTION: u64 = 500;

#[derive(Debug, FromQueryResult)]
struct BalanceAtClose {
    account_id: Uuid,
    balance_cents: i64,
    paid: i64,
}

/// The next `PAYOUTS_PER_TRANSACTION` accounts after `after` (by id) with
/// their balance counting the cycles up to `cycle` (the balance kept in
/// `balances` less what later cycles added: only the entries that arrived
/// since the close began) and whether `cycle` paid them already. One
/// statement, so one snapshot on PostgreSQL; on SQLite it runs in the
/// write transaction.
async fn balances_at_close(
    conn: &impl ConnectionTrait,
    cycle: &billing_cycle::Model,
    after: Option<Uuid>,
) -> Result<Vec<BalanceAtClose>, AccountingError> {
    let backend = conn.get_database_backend();
    let placeholder = |n: usize| match backend {
        sea_orm::DbBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    };
    let mut values: Vec<sea_orm::Value> = vec![cycle.seq.into(), cycle.id.into()];
    let after_filter = match after {
        Some(after) => {
            values.push(after.into());
            format!("WHERE b.account_id > {}", placeholder(3))
        }
        None => String::new(),
    };
    let sql = format!(
        "SELECT b.account_id AS account_id, \
           CAST(b.balance_cents - COALESCE((SELECT SUM(t.amount_cents) FROM transactions t \
             JOIN billing_cycles c ON c.id = t.billing_cycle_id \
             WHERE t.account_id = b.account_id AND c.seq > {seq}), 0) AS BIGINT) AS balance_cents, \
           (SELECT COUNT(*) FROM payouts p WHERE p.billing_cycle_id = {cycle} AND p.account_id = b.account_id) AS paid \
         FROM balances b {after_filter} ORDER BY b.account_id LIMIT {PAYOUTS_PER_TRANSACTION}",
        seq = placeholder(1),
        cycle = placeholder(2),
    );
    Ok(
        BalanceAtClose::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
            .all(conn)
            .await?,
    )
}

/// Steps 2 and 3 for a cycle marked `closing`; safe to run again.
pub async fn finish_close(
    db: &DatabaseConnection,
    outbox: &Outbox,
    cycle_id: Uuid,
    now: DateTime<Utc>,
) -> Result<CloseSummary, AccountingError> {
    let cycle = billing_cycle::Entity::find_by_id(cycle_id)
        .one(db)
        .await?
        .ok_or_else(|| AccountingError::Internal(anyhow::anyhow!("no cycle {cycle_id}")))?;
    let mut negative = 0;
    let mut after = None;
    loop {
        let batch = retried("a batch of payouts", || {
            pay_out_batch(db, outbox, &cycle, after, now)
        })
        .await?;
        negative += batch.negative;
        match batch.last {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    let mut summary = retried("marking the cycle closed", || {
        mark_closed(db, outbox, &cycle, now)
    })
    .await?;
    summary.negative_balances_carried = negative;
    Ok(summary)
}

/// The attempts at one transaction of a close: a transaction that fails
/// (a deadlock with the ledger's writes, a lost connection) wrote nothing
/// and runs again, so that a close is not left half done until the next
/// start.
const CLOSE_ATTEMPTS: u32 = 5;

async fn retried<T, F, Fut>(what: &str, mut step: F) -> Result<T, AccountingError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AccountingError>>,
{
    let mut attempt = 1;
    loop {
        match step().await {
            Ok(value) => return Ok(value),
            Err(AccountingError::Internal(error)) if attempt < CLOSE_ATTEMPTS => {
                let wait = std::time::Duration::from_millis(50 * 2u64.pow(attempt));
                tracing::warn!(error = format!("{error:#}"), attempt, retry_in = ?wait, "{what} failed; trying again");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Marks `cycle` closed with its payouts' count and sum, and publishes
/// `accounting.billing_cycle_closed` (once).
async fn mark_closed(
    db: &DatabaseConnection,
    outbox: &Outbox,
    cycle: &billing_cycle::Model,
    now: DateTime<Utc>,
) -> Result<CloseSummary, AccountingError> {
    let cycle_id = cycle.id;
    let work = UnitOfWork::begin(db, outbox).await?;
    let (count, total) = payout_totals(&work, cycle.id).await?;
    let next = billing_cycle::Entity::find()
        .filter(billing_cycle::Column::Seq.gt(cycle.seq))
        .order_by_asc(billing_cycle::Column::Seq)
        .one(&work)
        .await?
        .ok_or_else(|| {
            AccountingError::Internal(anyhow::anyhow!("cycle {cycle_id} has no successor"))
        })?;
    let closed_at = cycle.closed_at.unwrap_or(now);
    let marked = billing_cycle::Entity::update_many()
        .col_expr(
            billing_cycle::Column::Status,
            Expr::value(CycleStatus::Closed.as_str()),
        )
        .col_expr(billing_cycle::Column::PaymentsCount, Expr::value(count))
        .col_expr(
            billing_cycle::Column::PaymentsTotalCents,
            Expr::value(total),
        )
        .filter(billing_cycle::Column::Id.eq(cycle.id))
        .filter(billing_cycle::Column::Status.eq(CycleStatus::Closing.as_str()))
        .exec(&work)
        .await?;
    if marked.rows_affected == 1 {
        work.add_event(BillingCycleClosedV1 {
            billing_cycle_id: cycle.id,
            business_date: cycle.business_date.parse().map_err(|error| {
                AccountingError::Internal(anyhow::anyhow!("cycle date: {error}"))
            })?,
            opened_at: cycle.opened_at,
            closed_at,
            payments_count: u64::try_from(count).unwrap_or(0),
            payments_total_cents: total,
            next_billing_cycle_id: next.id,
        })
        .await?;
    }
    work.commit().await?;
    Ok(CloseSummary {
        cycle: billing_cycle::Model {
            status: CycleStatus::Closed.as_str().into(),
            closed_at: Some(closed_at),
            payments_count: count,
            payments_total_cents: total,
            ..cycle.clone()
        },
        next_cycle_id: next.id,
        negative_balances_carried: 0,
    })
}

#[derive(Debug, FromQueryResult)]
struct PayoutTotals {
    count: i64,
    total: Option<i64>,
}

/// How many payouts `cycle` made and their sum, counted by the database.
async fn payout_totals(
    conn: &impl ConnectionTrait,
    cycle: Uuid,
) -> Result<(i64, i64), AccountingError> {
    let totals = payout::Entity::find()
        .select_only()
        .column_as(Expr::col(payout::Column::Id).count(), "count")
        .column_as(
            Expr::col(payout::Column::AmountCents)
                .sum()
                .cast_as("BIGINT"),
            "total",
        )
        .filter(payout::Column::BillingCycleId.eq(cycle))
        .into_model::<PayoutTotals>()
        .one(conn)
        .await?
        .ok_or_else(|| AccountingError::Internal(anyhow::anyhow!("no payout totals")))?;
    Ok((totals.count, totals.total.unwrap_or(0)))
}

/// What one batch of a close did.
#[derive(Debug, Clone, Copy)]
pub struct Batch {
    /// The last account it looked at (the next batch starts after it);
    /// `None` when none were left.
    pub last: Option<Uuid>,
    /// Accounts in it whose negative balance carries over.
    pub negative: u64,
}

/// Pays the positive balances of the next batch of accounts after `after`
/// for `cycle`, in one transaction: their payout entries, payout rows,
/// emails and events. An account paid before a crash has its payout row
/// (and a balance of zero up to the cycle), so a retry pays nobody twice.
pub async fn pay_out_batch(
    db: &DatabaseConnection,
    outbox: &Outbox,
    cycle: &billing_cycle::Model,
    after: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Batch, AccountingError> {
    let work = UnitOfWork::begin(db, outbox).await?;
    let balances = balances_at_close(&work, cycle, after).await?;
    let Some(last) = balances.last().map(|balance| balance.account_id) else {
        work.rollback().await?;
        return Ok(Batch {
            last: None,
            negative: 0,
        });
    };
    let negative = balances
        .iter()
        .filter(|balance| balance.balance_cents < 0)
        .count() as u64;
    let owed: Vec<(Uuid, i64)> = balances
        .iter()
        .filter(|balance| balance.paid == 0 && balance.balance_cents > 0)
        .map(|balance| (balance.account_id, balance.balance_cents))
        .collect();
    if owed.is_empty() {
        work.rollback().await?;
        return Ok(Batch {
            last: Some(last),
            negative,
        });
    }
    let entries = ledger::post_all(
        &work,
        owed.iter()
            .map(|&(account_id, cents)| LedgerEntry {
                account_id,
                kind: TransactionKind::Payout,
                amount_cents: -cents,
                task_id: None,
                at: now,
                cause: tracing::Span::current(),
            })
            .collect(),
        Some(cycle.id),
    )
    .await
    .map_err(anyhow_of)?;
    let payments: Vec<payout::Model> = entries
        .iter()
        .map(|entry| payout::Model {
            id: Uuid::now_v7(),
            billing_cycle_id: cycle.id,
            account_id: entry.account_id,
            transaction_id: entry.id,
            amount_cents: -entry.amount_cents,
            created_at: now,
        })
        .collect();
    payout::Entity::insert_many(
        payments
            .iter()
            .cloned()
            .map(IntoActiveModel::into_active_model),
    )
    .exec_without_returning(&work)
    .await?;
    payout_email::Entity::insert_many(payments.iter().map(|payment| {
        payout_email::Model {
            payout_id: payment.id,
            account_id: payment.account_id,
            amount_cents: payment.amount_cents,
            business_date: cycle.business_date.clone(),
            status: crate::mailer::PENDING.into(),
            recipient: None,
            subject: None,
            body: None,
            attempts: 0,
            last_error: None,
            next_attempt_at: now,
            sent_at: None,
        }
        .into_active_model()
    }))
    .exec_without_returning(&work)
    .await?;
    let staged = payments
        .iter()
        .map(|payment| {
            work.stage_event(PaymentMadeV1 {
                payment_id: payment.id,
                account_id: payment.account_id,
                transaction_id: payment.transaction_id,
                billing_cycle_id: cycle.id,
                amount_cents: payment.amount_cents,
                paid_at: now,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    work.add_staged(staged).await?;
    work.commit().await?;
    Ok(Batch {
        last: Some(last),
        negative,
    })
}

/// Closes the open cycle now (the admin endpoint).
pub async fn close_now(
    db: &DatabaseConnection,
    outbox: &Outbox,
    calendar: &BusinessCalendar,
    now: DateTime<Utc>,
) -> Result<CloseSummary, AccountingError> {
    let closing = begin_close(db, calendar, now).await?;
    finish_close(db, outbox, closing.id, now).await
}

/// Finishes every close a crash interrupted (at start).
pub async fn resume_closes(
    db: &DatabaseConnection,
    outbox: &Outbox,
    now: DateTime<Utc>,
) -> Result<Vec<CloseSummary>, AccountingError> {
    let closing = billing_cycle::Entity::find()
        .filter(billing_cycle::Column::Status.eq(CycleStatus::Closing.as_str()))
        .order_by_asc(billing_cycle::Column::Seq)
        .all(db)
        .await?;
    let mut summaries = Vec::new();
    for cycle in closing {
        tracing::warn!(cycle = %cycle.id, date = %cycle.business_date, "finishing an interrupted close");
        summaries.push(finish_close(db, outbox, cycle.id, now).await?);
    }
    Ok(summaries)
}

/// The scheduler's step: closes the open cycle if its business day is over.
pub async fn close_if_day_over(
    db: &DatabaseConnection,
    outbox: &Outbox,
    calendar: &BusinessCalendar,
    now: DateTime<Utc>,
) -> Result<Option<CloseSummary>, AccountingError> {
    let open = ensure_open_cycle(db, calendar, now).await?;
    if open.business_date >= calendar.date_of(now).to_string() {
        return Ok(None);
    }
    match close_now(db, outbox, calendar, now).await {
        Ok(summary) => Ok(Some(summary)),
        // Another instance is closing it.
        Err(AccountingError::CloseInProgress) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Billing cycles page newest first, by their sequence number.
#[derive(Debug)]
pub enum CycleOrder {}

impl Keyset for CycleOrder {
    const LIST: &'static str = "billing-cycles";
    type Key = i64;
}

/// A page of cycles, newest first.
pub async fn list(
    db: &DatabaseConnection,
    request: &PageRequest<CycleOrder>,
) -> Result<Page<billing_cycle::Model>, AccountingError> {
    let mut query = billing_cycle::Entity::find();
    if let Some(after) = &request.after {
        query = query.filter(
            after.before_in_descending(billing_cycle::Column::Seq, billing_cycle::Column::Id),
        );
    }
    let rows = query
        .order_by_desc(billing_cycle::Column::Seq)
        .order_by_desc(billing_cycle::Column::Id)
        .limit(request.limit())
        .all(db)
        .await?;
    Ok(request.finish(rows, |cycle| Position {
        key: cycle.seq,
        id: cycle.id,
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    use super::*;

    /// Runs `retried` over a step that always fails with `error`: the
    /// attempts made and the time it took.
    async fn failing_always(error: fn() -> AccountingError) -> (u32, Duration) {
        let attempts = AtomicU32::new(0);
        let started = Instant::now();
        let outcome: Result<(), _> = retried("a step", || {
            attempts.fetch_add(1, Ordering::SeqCst);
            async move { Err(error()) }
        })
        .await;
        assert!(outcome.is_err());
        (attempts.load(Ordering::SeqCst), started.elapsed())
    }

    #[tokio::test]
    async fn a_failing_step_of_a_close_runs_five_times_with_doubling_pauses() {
        let (attempts, took) =
            failing_always(|| AccountingError::Internal(anyhow::anyhow!("deadlock"))).await;
        assert_eq!(attempts, CLOSE_ATTEMPTS);
        // 100 + 200 + 400 + 800 ms between the five attempts.
        assert!(took >= Duration::from_millis(1_500), "{took:?}");
    }

    #[tokio::test]
    async fn a_refused_close_is_not_retried() {
        let (attempts, _) = failing_always(|| AccountingError::CloseInProgress).await;
        assert_eq!(attempts, 1);
    }

    #[tokio::test]
    async fn a_step_that_succeeds_on_its_third_attempt_returns_its_value() {
        let attempts = AtomicU32::new(0);
        let value = retried("a step", || {
            let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if attempt < 3 {
                    Err(AccountingError::Internal(anyhow::anyhow!(
                        "lost connection"
                    )))
                } else {
                    Ok(attempt)
                }
            }
        })
        .await
        .unwrap();
        assert_eq!((value, attempts.load(Ordering::SeqCst)), (3, 3));
    }
}
