//! Events into read models, in the consumer's transaction (so each event
//! counts once). Order does not matter: a ledger entry and a task's title
//! are independent rows, joined only when read; a task's title is replaced
//! only by a `tasks.created` with a newer task revision.

use ates_core::account_replica;
use ates_core::bus::{HandlerError, IncomingEvent};
use chrono::{DateTime, Utc};
use event_schemas::EventPayload;
use event_schemas::accounting::{TransactionAppliedV1, TransactionKind};
use event_schemas::tasks::{TaskCreatedV1, TaskCreatedV2, TaskCreatedV3};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, IntoActiveModel};
use uuid::Uuid;

use crate::db::{balance, best_completion, earnings, ledger_entry, task};

/// Everything analytics reads.
pub fn subscriptions() -> Vec<(&'static str, u32)> {
    account_replica::SUBSCRIPTIONS
        .into_iter()
        .chain([
            (TaskCreatedV1::NAME, 1),
            (TaskCreatedV2::NAME, 2),
            (TaskCreatedV3::NAME, 3),
            (TransactionAppliedV1::NAME, TransactionAppliedV1::VERSION),
        ])
        .collect()
}

pub async fn apply(conn: &impl ConnectionTrait, event: &IncomingEvent) -> Result<(), HandlerError> {
    match (event.key.name.as_str(), event.key.version) {
        _ if account_replica::is_account_event(event) => account_replica::apply(conn, event).await,
        (TaskCreatedV1::NAME, 1) => {
            let created = TaskCreatedV2::from(event.decode::<TaskCreatedV1>()?.data);
            record_task(conn, &created, None).await
        }
        (TaskCreatedV2::NAME, 2) => {
            record_task(conn, &event.decode::<TaskCreatedV2>()?.data, None).await
        }
        (TaskCreatedV3::NAME, 3) => {
            let created = event.decode::<TaskCreatedV3>()?.data;
            let revision = created.revision;
            record_task(conn, &created.into_v2(), Some(revision)).await
        }
        (TransactionAppliedV1::NAME, 1) => {
            let applied = event.decode::<TransactionAppliedV1>()?.data;
            record_entry(conn, &applied).await
        }
        _ => Err(HandlerError::Rejected(format!(
            "analytics does not read {}",
            event.key
        ))),
    }
}

/// Records a task's title; a known task takes it only with a newer
/// revision (or, for events without one, while it holds none either).
async fn record_task(
    conn: &impl ConnectionTrait,
    created: &TaskCreatedV2,
    revision: Option<i64>,
) -> Result<(), HandlerError> {
    let recorded = task::Entity::insert(
        task::Model {
            id: created.task_id,
            title: created.title.clone(),
            jira_id: created.jira_id.clone(),
            revision,
        }
        .into_active_model(),
    )
    .on_conflict(
        OnConflict::column(task::Column::Id)
            .update_columns([
                task::Column::Title,
                task::Column::JiraId,
                task::Column::Revision,
            ])
            .action_and_where(Expr::cust(
                "tasks.revision IS NULL OR excluded.revision > tasks.revision",
            ))
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await;
    match recorded {
        // An older copy: the newer title stays.
        Ok(_) | Err(sea_orm::DbErr::RecordNotInserted) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

async fn record_entry(
    conn: &impl ConnectionTrait,
    applied: &TransactionAppliedV1,
) -> Result<(), HandlerError> {
    let inserted = ledger_entry::Entity::insert(
        ledger_entry::Model {
            id: applied.transaction_id,
            account_id: applied.account_id,
            kind: applied.kind.as_str().to_owned(),
            amount_cents: applied.amount_cents,
            task_id: applied.task_id,
            created_at: applied.created_at,
        }
        .into_active_model(),
    )
    .on_conflict(
        OnConflict::column(ledger_entry::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await;
    // The same transaction published twice (a re-published event with a
    // new id) still counts once.
    match inserted {
        Ok(0) | Err(sea_orm::DbErr::RecordNotInserted) => return Ok(()),
        Ok(_) => {}
        Err(error) => return Err(error.into()),
    }
    ates_core::balances::add(conn, [(applied.account_id, applied.amount_cents)]).await?;
    if applied.kind != TransactionKind::Payout {
        ates_core::quarter_hours::add_earnings(conn, [(applied.created_at, -applied.amount_cents)])
            .await?;
    }
    if let (TransactionKind::TaskReward, Some(task_id)) = (applied.kind, applied.task_id) {
        record_completion(conn, task_id, applied.amount_cents, applied.created_at).await?;
    }
    Ok(())
}

/// Keeps a completion as its quarter hour's best if it is better than the
/// one there: a higher reward, then an earlier completion, then a smaller
/// task id (the dashboard's order, compared as one row value).
pub async fn record_completion(
    conn: &impl ConnectionTrait,
    task_id: Uuid,
    reward_cents: i64,
    completed_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let kept = best_completion::Entity::insert(
        best_completion::Model {
            quarter: ates_core::quarter_hours::of(completed_at),
            task_id,
            reward_cents,
            completed_at,
        }
        .into_active_model(),
    )
    .on_conflict(
        OnConflict::column(best_completion::Column::Quarter)
            .update_columns([
                best_completion::Column::TaskId,
                best_completion::Column::RewardCents,
                best_completion::Column::CompletedAt,
            ])
            .action_and_where(Expr::cust(
                "(excluded.reward_cents, best_completion_by_quarter_hour.completed_at, \
                  best_completion_by_quarter_hour.task_id) \
                 > (best_completion_by_quarter_hour.reward_cents, excluded.completed_at, \
                  excluded.task_id)",
            ))
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await;
    match kept {
        // Not better than the best already kept.
        Ok(_) | Err(DbErr::RecordNotInserted) => Ok(()),
        Err(error) => Err(error),
    }
}

/// Empties every read model and the account replica: what a rebuild
/// replays the streams into.
pub async fn forget_everything(conn: &impl ConnectionTrait) -> Result<(), DbErr> {
    ledger_entry::Entity::delete_many().exec(conn).await?;
    balance::Entity::delete_many().exec(conn).await?;
    earnings::Entity::delete_many().exec(conn).await?;
    best_completion::Entity::delete_many().exec(conn).await?;
    task::Entity::delete_many().exec(conn).await?;
    account_replica::forget_all(conn).await
}
