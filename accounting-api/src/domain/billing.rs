//! Billing cycles. There is always exactly one open cycle; new ledger
//! entries go to it. Closing a cycle:
//!
//! 1. one short transaction marks it `closing` and opens the next cycle
//!    (from here on, new entries go to the next one);
//! 2. for each account whose balance up to the closing cycle is positive,
//!    one transaction writes the payout (a `payout` entry taking the
//!    balance to zero, the payout row, its email, the events); the payout
//!    row is unique per cycle and account, and the balance counted already
//!    includes a payout made before a crash, so a retry pays nobody twice;
//! 3. one transaction marks it `closed` with its totals and publishes
//!    `accounting.billing_cycle_closed`.
//!
//! Negative balances are left as they are and carry over. A crash between
//! the steps leaves the cycle `closing`; the next start finishes it.

use ates_core::bus::Outbox;
use ates_core::db;
use ates_core::money;
use ates_core::page::{Keyset, Page, PageRequest, Position};
use ates_core::unit_of_work::UnitOfWork;
use chrono::{DateTime, Utc};
use event_schemas::accounting::{BillingCycleClosedV1, PaymentMadeV1, TransactionKind};
use sea_orm::sea_query::Expr;
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

/// Step 1: marks the open cycle `closing` and opens the next one.
pub async fn begin_close(
    db: &DatabaseConnection,
    calendar: &BusinessCalendar,
    now: DateTime<Utc>,
) -> Result<billing_cycle::Model, AccountingError> {
    let txn = db::begin_write(db).await?;
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
    txn.commit().await?;
    Ok(billing_cycle::Model {
        status: CycleStatus::Closing.as_str().into(),
        closed_at: Some(now),
        ..open
    })
}

#[derive(Debug, FromQueryResult)]
struct BalanceAtClose {
    account_id: Uuid,
    balance_cents: i64,
}

/// Balances counting the cycles up to `seq`: every account's, or one's.
async fn balances_up_to(
    conn: &impl ConnectionTrait,
    seq: i64,
    account_id: Option<Uuid>,
) -> Result<Vec<BalanceAtClose>, AccountingError> {
    let backend = conn.get_database_backend();
    let (first, second) = match backend {
        sea_orm::DbBackend::Postgres => ("$1", "$2"),
        _ => ("?", "?"),
    };
    let mut values: Vec<sea_orm::Value> = vec![seq.into()];
    let account_filter = match account_id {
        Some(account_id) => {
            values.push(account_id.into());
            format!("AND t.account_id = {second}")
        }
        None => String::new(),
    };
    let sql = format!(
        "SELECT t.account_id AS account_id, CAST(SUM(t.amount_cents) AS BIGINT) AS balance_cents \
         FROM transactions t JOIN billing_cycles c ON c.id = t.billing_cycle_id \
         WHERE c.seq <= {first} {account_filter} GROUP BY t.account_id ORDER BY t.account_id"
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
    let balances = balances_up_to(db, cycle.seq, None).await?;
    let negative = balances
        .iter()
        .filter(|balance| balance.balance_cents < 0)
        .count() as u64;
    for balance in balances.iter().filter(|balance| balance.balance_cents > 0) {
        pay_out(db, outbox, &cycle, balance.account_id, now).await?;
    }

    let work = UnitOfWork::begin(db, outbox).await?;
    let payouts = payout::Entity::find()
        .filter(payout::Column::BillingCycleId.eq(cycle.id))
        .all(&work)
        .await?;
    let count = i64::try_from(payouts.len()).map_err(anyhow::Error::from)?;
    let total = money::sum(payouts.iter().map(|payout| payout.amount_cents))?;
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
            ..cycle
        },
        next_cycle_id: next.id,
        negative_balances_carried: negative,
    })
}

/// Pays one account's positive balance for `cycle`, in one transaction.
async fn pay_out(
    db: &DatabaseConnection,
    outbox: &Outbox,
    cycle: &billing_cycle::Model,
    account_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AccountingError> {
    let work = UnitOfWork::begin(db, outbox).await?;
    let already = payout::Entity::find()
        .filter(payout::Column::BillingCycleId.eq(cycle.id))
        .filter(payout::Column::AccountId.eq(account_id))
        .one(&work)
        .await?;
    // Recount inside the transaction: the balance up to this cycle.
    let owed = balances_up_to(&work, cycle.seq, Some(account_id))
        .await?
        .first()
        .map_or(0, |balance| balance.balance_cents);
    if already.is_some() || owed <= 0 {
        work.rollback().await?;
        return Ok(());
    }
    let entry = ledger::post(
        &work,
        LedgerEntry {
            account_id,
            kind: TransactionKind::Payout,
            amount_cents: -owed,
            task_id: None,
            at: now,
        },
        Some(cycle.id),
    )
    .await
    .map_err(anyhow_of)?;
    let payment = payout::Model {
        id: Uuid::now_v7(),
        billing_cycle_id: cycle.id,
        account_id,
        transaction_id: entry.id,
        amount_cents: owed,
        created_at: now,
    };
    payout::Entity::insert(payment.clone().into_active_model())
        .exec_without_returning(&work)
        .await?;
    payout_email::Entity::insert(
        payout_email::Model {
            payout_id: payment.id,
            account_id,
            amount_cents: owed,
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
        .into_active_model(),
    )
    .exec_without_returning(&work)
    .await?;
    work.add_event(PaymentMadeV1 {
        payment_id: payment.id,
        account_id,
        transaction_id: entry.id,
        billing_cycle_id: cycle.id,
        amount_cents: owed,
        paid_at: now,
    })
    .await?;
    work.commit().await?;
    Ok(())
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
