//! The ledger: task events become transactions. Every assignment debits
//! the task's fee from the assignee, every completion credits its reward to
//! the assignee who completed it. A task is priced the first time any of
//! its events arrives (events may come in any order); `tasks.created` only
//! fills in its title and description.
//!
//! Everything here runs inside the consumer's transaction, which also
//! records the event as processed: an event applied twice has one effect.

use ates_core::bus::{HandlerError, IncomingEvent, Outbox};
use chrono::{DateTime, Utc};
use event_schemas::EventPayload;
use event_schemas::accounting::{TaskPricedV1, TransactionAppliedV1, TransactionKind};
use event_schemas::tasks::{TaskAssignedV1, TaskCompletedV1, TaskCreatedV1, TaskCreatedV2};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter,
};
use uuid::Uuid;

use super::pricing::Pricing;
use crate::db::{balance, billing_cycle, task, transaction};

/// The task events the ledger consumes.
pub const SUBSCRIPTIONS: [(&str, u32); 4] = [
    (TaskCreatedV1::NAME, 1),
    (TaskCreatedV2::NAME, 2),
    (TaskAssignedV1::NAME, TaskAssignedV1::VERSION),
    (TaskCompletedV1::NAME, TaskCompletedV1::VERSION),
];

/// Applies one task event.
pub async fn apply_task_event(
    conn: &impl ConnectionTrait,
    outbox: &Outbox,
    pricing: &Pricing,
    event: &IncomingEvent,
) -> Result<(), HandlerError> {
    match (event.key.name.as_str(), event.key.version) {
        (TaskCreatedV1::NAME, 1) => {
            let created = TaskCreatedV2::from(event.decode::<TaskCreatedV1>()?.data);
            record_details(conn, outbox, pricing, &created).await
        }
        (TaskCreatedV2::NAME, 2) => {
            let created = event.decode::<TaskCreatedV2>()?.data;
            record_details(conn, outbox, pricing, &created).await
        }
        (TaskAssignedV1::NAME, 1) => {
            let assigned = event.decode::<TaskAssignedV1>()?.data;
            let task = ensure_priced(
                conn,
                outbox,
                pricing,
                assigned.task_id,
                assigned.assigned_at,
            )
            .await?;
            post(
                conn,
                outbox,
                Entry {
                    account_id: assigned.assignee_id,
                    kind: TransactionKind::AssignmentFee,
                    amount_cents: -task.assignment_fee_cents,
                    task_id: Some(task.id),
                    at: assigned.assigned_at,
                },
                None,
            )
            .await?;
            Ok(())
        }
        (TaskCompletedV1::NAME, 1) => {
            let completed = event.decode::<TaskCompletedV1>()?.data;
            let task = ensure_priced(
                conn,
                outbox,
                pricing,
                completed.task_id,
                completed.completed_at,
            )
            .await?;
            post(
                conn,
                outbox,
                Entry {
                    account_id: completed.assignee_id,
                    kind: TransactionKind::TaskReward,
                    amount_cents: task.reward_cents,
                    task_id: Some(task.id),
                    at: completed.completed_at,
                },
                None,
            )
            .await?;
            Ok(())
        }
        _ => Err(HandlerError::Rejected(format!(
            "the ledger does not read {}",
            event.key
        ))),
    }
}

async fn record_details(
    conn: &impl ConnectionTrait,
    outbox: &Outbox,
    pricing: &Pricing,
    created: &TaskCreatedV2,
) -> Result<(), HandlerError> {
    let task = ensure_priced(conn, outbox, pricing, created.task_id, created.created_at).await?;
    let mut row = task.into_active_model();
    row.title = ActiveValue::Set(Some(created.title.clone()));
    row.jira_id = ActiveValue::Set(created.jira_id.clone());
    row.description = ActiveValue::Set(Some(created.description.clone()));
    row.update(conn).await?;
    Ok(())
}

/// The task with its price; priced now (and `accounting.task_priced`
/// published) if this is the first event of it.
pub async fn ensure_priced(
    conn: &impl ConnectionTrait,
    outbox: &Outbox,
    pricing: &Pricing,
    task_id: Uuid,
    at: DateTime<Utc>,
) -> Result<task::Model, HandlerError> {
    if let Some(task) = task::Entity::find_by_id(task_id).one(conn).await? {
        return Ok(task);
    }
    let price = pricing.price(task_id);
    let task = task::Model {
        id: task_id,
        title: None,
        jira_id: None,
        description: None,
        assignment_fee_cents: price.assignment_fee_cents,
        reward_cents: price.reward_cents,
        priced_at: at,
    };
    task::Entity::insert(task.clone().into_active_model())
        .exec_without_returning(conn)
        .await?;
    outbox
        .add(
            conn,
            TaskPricedV1 {
                task_id,
                assignment_fee_cents: price.assignment_fee_cents,
                reward_cents: price.reward_cents,
                priced_at: at,
            },
        )
        .await
        .map_err(|error| HandlerError::Transient(error.to_string()))?;
    Ok(task)
}

/// One ledger entry to write.
#[derive(Debug, Clone)]
pub struct Entry {
    pub account_id: Uuid,
    pub kind: TransactionKind,
    pub amount_cents: i64,
    pub task_id: Option<Uuid>,
    pub at: DateTime<Utc>,
}

/// The open billing cycle.
pub async fn open_cycle(conn: &impl ConnectionTrait) -> Result<billing_cycle::Model, HandlerError> {
    billing_cycle::Entity::find()
        .filter(billing_cycle::Column::Status.eq(super::billing::OPEN))
        .one(conn)
        .await?
        .ok_or_else(|| HandlerError::Transient("no open billing cycle yet".into()))
}

/// Appends a transaction (to `cycle`, else the open cycle), moves the
/// balance by the same amount, and publishes `accounting.transaction_applied`.
pub async fn post(
    conn: &impl ConnectionTrait,
    outbox: &Outbox,
    entry: Entry,
    cycle: Option<Uuid>,
) -> Result<transaction::Model, HandlerError> {
    let billing_cycle_id = match cycle {
        Some(cycle) => cycle,
        None => open_cycle(conn).await?.id,
    };
    let row = transaction::Model {
        id: Uuid::now_v7(),
        account_id: entry.account_id,
        kind: entry.kind.as_str().to_owned(),
        amount_cents: entry.amount_cents,
        task_id: entry.task_id,
        billing_cycle_id,
        created_at: entry.at,
    };
    transaction::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(conn)
        .await?;
    balance::Entity::insert(balance::ActiveModel {
        account_id: ActiveValue::Set(entry.account_id),
        balance_cents: ActiveValue::Set(entry.amount_cents),
    })
    .on_conflict(
        OnConflict::column(balance::Column::AccountId)
            .value(
                balance::Column::BalanceCents,
                Expr::cust("balances.balance_cents + excluded.balance_cents"),
            )
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    outbox
        .add(
            conn,
            TransactionAppliedV1 {
                transaction_id: row.id,
                account_id: row.account_id,
                kind: entry.kind,
                amount_cents: row.amount_cents,
                task_id: row.task_id,
                billing_cycle_id,
                created_at: row.created_at,
            },
        )
        .await
        .map_err(|error| HandlerError::Transient(error.to_string()))?;
    Ok(row)
}
