//! The ledger: task events become transactions. Every assignment debits
//! the task's fee from the assignee, every completion credits its reward to
//! the assignee who completed it. A task is priced the first time any of
//! its events arrives (events may come in any order); `tasks.created` only
//! fills in its title and description, once: a later copy applies only
//! with a newer task revision (v3 carries it).
//!
//! Everything here runs inside the consumer's transaction, which also
//! records the event as processed: an event applied twice has one effect.

use ates_core::bus::{HandlerError, IncomingEvent};
use ates_core::money;
use ates_core::unit_of_work::UnitOfWork;
use chrono::{DateTime, Utc};
use event_schemas::EventPayload;
use event_schemas::accounting::{TaskPricedV1, TransactionAppliedV1, TransactionKind};
use event_schemas::tasks::{
    TaskAssignedV1, TaskAssignedV2, TaskCompletedV1, TaskCompletedV2, TaskCreatedV1, TaskCreatedV2,
    TaskCreatedV3,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use uuid::Uuid;

use super::pricing::Pricing;
use crate::db::billing_cycle::CycleStatus;
use crate::db::{billing_cycle, task, transaction};

/// Transactions per multi-row insert (seven columns a row).
const ROWS_PER_INSERT: usize = 1000;

/// The task events the ledger consumes: every version tasks-api has
/// published.
pub const SUBSCRIPTIONS: [(&str, u32); 7] = [
    (TaskCreatedV1::NAME, 1),
    (TaskCreatedV2::NAME, 2),
    (TaskCreatedV3::NAME, 3),
    (TaskAssignedV1::NAME, TaskAssignedV1::VERSION),
    (TaskAssignedV2::NAME, TaskAssignedV2::VERSION),
    (TaskCompletedV1::NAME, TaskCompletedV1::VERSION),
    (TaskCompletedV2::NAME, TaskCompletedV2::VERSION),
];

/// What one task event asks of the ledger.
enum Step {
    /// `tasks.created`: the task's details, with the task's revision (v3).
    Details(TaskCreatedV2, Option<i64>),
    /// `tasks.assigned` / `tasks.completed`: a fee or a reward.
    Charge {
        task_id: Uuid,
        account_id: Uuid,
        kind: TransactionKind,
        at: DateTime<Utc>,
    },
}

impl Step {
    fn of(event: &IncomingEvent) -> Result<Self, HandlerError> {
        Ok(match (event.key.name.as_str(), event.key.version) {
            (TaskCreatedV1::NAME, 1) => Step::Details(
                TaskCreatedV2::from(event.decode::<TaskCreatedV1>()?.data),
                None,
            ),
            (TaskCreatedV2::NAME, 2) => Step::Details(event.decode::<TaskCreatedV2>()?.data, None),
            (TaskCreatedV3::NAME, 3) => {
                let created = event.decode::<TaskCreatedV3>()?.data;
                let revision = created.revision;
                Step::Details(created.into_v2(), Some(revision))
            }
            (TaskAssignedV1::NAME, 1) => {
                let assigned = event.decode::<TaskAssignedV1>()?.data;
                Step::fee(assigned.task_id, assigned.assignee_id, assigned.assigned_at)
            }
            (TaskAssignedV2::NAME, 2) => {
                let assigned = event.decode::<TaskAssignedV2>()?.data;
                Step::fee(assigned.task_id, assigned.assignee_id, assigned.assigned_at)
            }
            (TaskCompletedV1::NAME, 1) => {
                let completed = event.decode::<TaskCompletedV1>()?.data;
                Step::reward(
                    completed.task_id,
                    completed.assignee_id,
                    completed.completed_at,
                )
            }
            (TaskCompletedV2::NAME, 2) => {
                let completed = event.decode::<TaskCompletedV2>()?.data;
                Step::reward(
                    completed.task_id,
                    completed.assignee_id,
                    completed.completed_at,
                )
            }
            _ => {
                return Err(HandlerError::Rejected(format!(
                    "the ledger does not read {}",
                    event.key
                )));
            }
        })
    }

    /// Every assignment (business event) debits the fee, whatever its
    /// revision: each is applied once by its event id.
    fn fee(task_id: Uuid, account_id: Uuid, at: DateTime<Utc>) -> Self {
        Step::Charge {
            task_id,
            account_id,
            kind: TransactionKind::AssignmentFee,
            at,
        }
    }

    fn reward(task_id: Uuid, account_id: Uuid, at: DateTime<Utc>) -> Self {
        Step::Charge {
            task_id,
            account_id,
            kind: TransactionKind::TaskReward,
            at,
        }
    }

    fn task_id(&self) -> Uuid {
        match self {
            Step::Details(created, _) => created.task_id,
            Step::Charge { task_id, .. } => *task_id,
        }
    }

    fn at(&self) -> DateTime<Utc> {
        match self {
            Step::Details(created, _) => created.created_at,
            Step::Charge { at, .. } => *at,
        }
    }
}

/// Whether `tasks.created` details of `revision` replace what a task holds:
/// the first details always; later ones only with a newer revision (a
/// copy of the same creation changes nothing); details without a revision
/// (v1, v2) only over details that had none either.
fn details_apply(task: &task::Model, revision: Option<i64>) -> bool {
    if task.title.is_none() {
        return true;
    }
    match (revision, task.revision) {
        (Some(revision), Some(held)) => revision > held,
        (Some(_), None) => true,
        (None, Some(_)) => false,
        (None, None) => true,
    }
}

/// Applies task events in order, with a handful of statements whatever
/// their number: the tasks read at once, new ones priced and inserted
/// together, then every fee and reward posted by [`post_all`].
pub async fn apply_task_events(
    work: &UnitOfWork,
    pricing: &Pricing,
    events: &[&IncomingEvent],
) -> Result<(), HandlerError> {
    let steps = events
        .iter()
        .map(|event| Step::of(event))
        .collect::<Result<Vec<_>, _>>()?;
    let ids: BTreeSet<Uuid> = steps.iter().map(Step::task_id).collect();
    let mut tasks: HashMap<Uuid, task::Model> = task::Entity::find()
        .filter(task::Column::Id.is_in(ids))
        .all(work)
        .await?
        .into_iter()
        .map(|task| (task.id, task))
        .collect();
    // New tasks, with the span of the event that priced them.
    let mut priced: Vec<(Uuid, tracing::Span)> = Vec::new();
    // Known tasks whose details arrived: updated after the new ones are
    // inserted (with their details already in).
    let mut detailed = BTreeSet::new();
    let mut entries = Vec::new();
    for (step, event) in steps.into_iter().zip(events) {
        let task_id = step.task_id();
        let task = match tasks.entry(task_id) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(unknown) => {
                priced.push((task_id, event.span.clone()));
                unknown.insert(price(pricing, task_id, step.at()))
            }
        };
        match step {
            Step::Details(created, revision) => {
                if !details_apply(task, revision) {
                    continue;
                }
                task.title = Some(created.title);
                task.jira_id = created.jira_id;
                task.description = Some(created.description);
                task.revision = revision;
                if !priced.iter().any(|(priced, _)| *priced == task_id) {
                    detailed.insert(task_id);
                }
            }
            Step::Charge {
                account_id,
                kind,
                at,
                ..
            } => entries.push(LedgerEntry {
                account_id,
                amount_cents: match kind {
                    TransactionKind::TaskReward => task.reward_cents,
                    _ => -task.assignment_fee_cents,
                },
                kind,
                task_id: Some(task_id),
                at,
                cause: event.span.clone(),
            }),
        }
    }
    let mut staged = Vec::with_capacity(priced.len() + entries.len());
    let mut new_rows = Vec::with_capacity(priced.len());
    for (task_id, cause) in &priced {
        let task = &tasks[task_id];
        staged.push(cause.in_scope(|| {
            work.stage_event(TaskPricedV1 {
                task_id: task.id,
                assignment_fee_cents: task.assignment_fee_cents,
                reward_cents: task.reward_cents,
                priced_at: task.priced_at,
            })
        })?);
        new_rows.push(task.clone().into_active_model());
    }
    if !new_rows.is_empty() {
        task::Entity::insert_many(new_rows)
            .exec_without_returning(work)
            .await?;
    }
    for task_id in &detailed {
        let task = &tasks[task_id];
        task::Entity::update_many()
            .col_expr(task::Column::Title, Expr::value(task.title.clone()))
            .col_expr(task::Column::JiraId, Expr::value(task.jira_id.clone()))
            .col_expr(
                task::Column::Description,
                Expr::value(task.description.clone()),
            )
            .col_expr(task::Column::Revision, Expr::value(task.revision))
            .filter(task::Column::Id.eq(*task_id))
            .exec(work)
            .await?;
    }
    work.add_staged(staged).await?;
    post_all(work, entries, None).await?;
    Ok(())
}

/// The fee or reward a task event posts and its cents (a task is priced
/// once, by the same [`Pricing`]); `None` for an event that posts nothing.
pub fn charge_of(pricing: &Pricing, event: &IncomingEvent) -> Option<(TransactionKind, i64)> {
    match Step::of(event).ok()? {
        Step::Charge { task_id, kind, .. } => {
            let price = pricing.price(task_id);
            Some(match kind {
                TransactionKind::TaskReward => (kind, price.reward_cents),
                _ => (kind, price.assignment_fee_cents),
            })
        }
        Step::Details(..) => None,
    }
}

/// A new task's price, decided at `at`.
fn price(pricing: &Pricing, task_id: Uuid, at: DateTime<Utc>) -> task::Model {
    let price = pricing.price(task_id);
    task::Model {
        id: task_id,
        title: None,
        jira_id: None,
        description: None,
        assignment_fee_cents: price.assignment_fee_cents,
        reward_cents: price.reward_cents,
        priced_at: at,
        revision: None,
    }
}

/// One ledger entry to write.
#[derive(Debug, Clone)]
pub struct LedgerEntry {
    pub account_id: Uuid,
    pub kind: TransactionKind,
    pub amount_cents: i64,
    pub task_id: Option<Uuid>,
    pub at: DateTime<Utc>,
    /// The span of what caused it (its task event's, or the command's
    /// `Span::current()`): its `accounting.transaction_applied` carries
    /// that span's trace.
    pub cause: tracing::Span,
}

/// The open billing cycle.
pub async fn open_cycle(conn: &impl ConnectionTrait) -> Result<billing_cycle::Model, HandlerError> {
    billing_cycle::Entity::find()
        .filter(billing_cycle::Column::Status.eq(CycleStatus::Open.as_str()))
        .one(conn)
        .await?
        .ok_or_else(|| HandlerError::Transient("no open billing cycle yet".into()))
}

/// Appends a transaction (to `cycle`, else the open cycle), moves the
/// balance by the same amount, and publishes `accounting.transaction_applied`.
pub async fn post(
    work: &UnitOfWork,
    entry: LedgerEntry,
    cycle: Option<Uuid>,
) -> Result<transaction::Model, HandlerError> {
    post_all(work, vec![entry], cycle)
        .await?
        .pop()
        .ok_or_else(|| HandlerError::Transient("the entry was not posted".into()))
}

/// Appends transactions in order (to `cycle`, else the open cycle), moves
/// each account's balance by their sum, adds fees and rewards to the
/// management earnings of their quarter hour, and publishes one
/// `accounting.transaction_applied` per transaction: four inserts and one
/// read of the open cycle, however many entries.
pub async fn post_all(
    work: &UnitOfWork,
    entries: Vec<LedgerEntry>,
    cycle: Option<Uuid>,
) -> Result<Vec<transaction::Model>, HandlerError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let billing_cycle_id = match cycle {
        Some(cycle) => cycle,
        None => open_cycle(work).await?.id,
    };
    let mut rows = Vec::with_capacity(entries.len());
    let mut staged = Vec::with_capacity(entries.len());
    let mut moves: BTreeMap<Uuid, i64> = BTreeMap::new();
    for entry in entries {
        let row = transaction::Model {
            id: Uuid::now_v7(),
            account_id: entry.account_id,
            kind: entry.kind.as_str().to_owned(),
            amount_cents: entry.amount_cents,
            task_id: entry.task_id,
            billing_cycle_id,
            created_at: entry.at,
        };
        let moved = moves.entry(entry.account_id).or_default();
        *moved = money::add(*moved, entry.amount_cents)
            .map_err(|error| HandlerError::Transient(error.to_string()))?;
        staged.push(entry.cause.in_scope(|| {
            work.stage_event(TransactionAppliedV1 {
                transaction_id: row.id,
                account_id: row.account_id,
                kind: entry.kind,
                amount_cents: row.amount_cents,
                task_id: row.task_id,
                billing_cycle_id,
                created_at: row.created_at,
            })
        })?);
        rows.push(row);
    }
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        transaction::Entity::insert_many(
            chunk
                .iter()
                .cloned()
                .map(IntoActiveModel::into_active_model),
        )
        .exec_without_returning(work)
        .await?;
    }
    ates_core::balances::add(work, moves).await?;
    ates_core::quarter_hours::add_earnings(
        work,
        rows.iter()
            .filter(|row| row.kind != TransactionKind::Payout.as_str())
            .map(|row| (row.created_at, -row.amount_cents)),
    )
    .await?;
    work.add_staged(staged).await?;
    Ok(rows)
}
