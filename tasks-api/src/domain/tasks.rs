//! Tasks: create (assigned at once to a uniformly random eligible account),
//! shuffle every open task, complete by the assignee, and the reads.
//!
//! Eligible: an active account in the replica whose role is neither admin
//! nor manager. Every assignment (on creation and for each task in each
//! shuffle, even when the draw lands on the same account) is a
//! `tasks.assigned` event: accounting charges the fee per assignment.
//!
//! Every change moves the task's `revision` on by one in the transaction
//! that makes it (creation 1, each assignment and the completion one
//! more), and every task event carries it, so replicas order a task's
//! changes by it rather than by clocks.

use ates_core::account_replica::entity as account;
use ates_core::bus::Outbox;
use ates_core::idempotency::{Answer, Pledge};
use ates_core::page::{Keyset, Page, PageRequest, Position};
use ates_core::unit_of_work::{UnitOfWork, Written};
use chrono::{DateTime, Utc};
use event_schemas::accounts::Role;
use event_schemas::tasks::{TaskAssignedV2, TaskCompletedV2, TaskCreatedV3, TaskStatus};
use rand::Rng;
use rand::seq::IndexedRandom;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::TaskError;
use crate::db::task::{self, Column};

/// What a new task needs.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub title: String,
    pub jira_id: Option<String>,
    pub description: String,
}

/// Which tasks to list.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    pub assignee_id: Option<Uuid>,
}

/// Task lists (all, mine) page newest first: by creation time, then id.
#[derive(Debug)]
pub enum TaskOrder {}

impl Keyset for TaskOrder {
    const LIST: &'static str = "tasks";
    type Key = DateTime<Utc>;
}

/// Every account that may be given a task now.
async fn eligible_assignees(conn: &impl ConnectionTrait) -> Result<Vec<Uuid>, TaskError> {
    Ok(account::Entity::find()
        .select_only()
        .column(account::Column::Id)
        .filter(account::Column::Active.eq(true))
        .filter(account::Column::Role.is_not_in([Role::Admin.as_str(), Role::Manager.as_str()]))
        .order_by_asc(account::Column::Id)
        .into_tuple::<Uuid>()
        .all(conn)
        .await?)
}

fn draw(eligible: &[Uuid], rng: &mut impl Rng) -> Result<Uuid, TaskError> {
    eligible
        .choose(rng)
        .copied()
        .ok_or(TaskError::NoEligibleAssignee)
}

/// One request to create a task: who asks, for what, the request's span,
/// whose trace the task's events carry, and, for an idempotent request, its
/// pledge and how it answers, so its answer is stored in the transaction
/// that stores the task.
#[derive(Debug, Clone)]
pub struct Creation {
    pub creator: Uuid,
    pub task: NewTask,
    pub cause: tracing::Span,
    pub answering: Option<(Pledge, Answering)>,
}

/// The answer a creation gives for its task.
pub type Answering = fn(&task::Model) -> anyhow::Result<Answer>;

/// Creates tasks, each assigned at once to an independently drawn eligible
/// account, all in one transaction (see `ates_core::batcher`); publishes
/// `tasks.created` and `tasks.assigned` for each. Returns the tasks in the
/// order asked. All or nothing: with no eligible account, or when the
/// database refuses any row, nothing is stored and the batcher writes each
/// request again alone.
pub async fn create_batch(
    db: &DatabaseConnection,
    outbox: &Outbox,
    requests: Vec<Creation>,
    rng: &mut (impl Rng + Send),
    now: DateTime<Utc>,
) -> Result<Vec<task::Model>, TaskError> {
    let work = UnitOfWork::begin(db, outbox).await?;
    let eligible = eligible_assignees(&work).await?;
    let mut created = Vec::with_capacity(requests.len());
    let mut events = Vec::with_capacity(requests.len() * 2);
    for Creation {
        creator,
        task: new,
        cause,
        answering,
    } in requests
    {
        let assignee = draw(&eligible, rng)?;
        let model = task::Model {
            id: Uuid::now_v7(),
            title: new.title.trim().to_owned(),
            jira_id: new.jira_id,
            description: new.description,
            status: TaskStatus::Open.as_str().into(),
            assignee_id: assignee,
            created_by: creator,
            created_at: now,
            updated_at: now,
            completed_at: None,
            revision: 1,
        };
        // Creation and the first assignment are one change: revision 1.
        let (created_event, assigned_event) = cause.in_scope(|| {
            Ok::<_, TaskError>((
                work.stage_event(TaskCreatedV3 {
                    task_id: model.id,
                    title: model.title.clone(),
                    jira_id: model.jira_id.clone(),
                    description: model.description.clone(),
                    status: TaskStatus::Open,
                    assignee_id: assignee,
                    created_at: now,
                    revision: model.revision,
                })?,
                work.stage_event(TaskAssignedV2 {
                    task_id: model.id,
                    assignee_id: assignee,
                    previous_assignee_id: None,
                    assigned_at: now,
                    revision: model.revision,
                })?,
            ))
        })?;
        events.push(created_event);
        events.push(assigned_event);
        if let Some((pledge, answer)) = answering {
            pledge.keep_answering(&work, &answer(&model)?).await?;
        }
        created.push(model);
    }
    // Ten columns a row: a batch stays far below the parameter limits.
    task::Entity::insert_many(
        created
            .iter()
            .cloned()
            .map(IntoActiveModel::into_active_model),
    )
    .exec_without_returning(&work)
    .await?;
    work.add_staged(events).await?;
    work.commit().await?;
    Ok(created)
}

/// Gives every open task an independently drawn eligible assignee, in one
/// transaction; returns how many were reassigned, to be committed. A task
/// completed meanwhile is left alone (the update requires it still open).
pub async fn shuffle(
    db: &DatabaseConnection,
    outbox: &Outbox,
    rng: &mut (impl Rng + Send),
    now: DateTime<Utc>,
) -> Result<Written<u64>, TaskError> {
    let work = UnitOfWork::begin(db, outbox).await?;
    let eligible = eligible_assignees(&work).await?;
    let open: Vec<(Uuid, Uuid)> = task::Entity::find()
        .select_only()
        .columns([Column::Id, Column::AssigneeId])
        .filter(Column::Status.eq(TaskStatus::Open.as_str()))
        .order_by_asc(Column::Id)
        .into_tuple()
        .all(&work)
        .await?;
    if open.is_empty() {
        return Ok(Written::new(work, 0));
    }
    if eligible.is_empty() {
        return Err(TaskError::NoEligibleAssignee);
    }
    let mut reassigned = 0;
    let mut assignments = Vec::new();
    for (task_id, previous) in open {
        let assignee = draw(&eligible, rng)?;
        let updated = task::Entity::update_many()
            .col_expr(Column::AssigneeId, Expr::value(assignee))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .col_expr(Column::Revision, Expr::col(Column::Revision).add(1))
            .filter(Column::Id.eq(task_id))
            .filter(Column::Status.eq(TaskStatus::Open.as_str()))
            .exec_with_returning(&work)
            .await?;
        // A task completed meanwhile is left alone.
        let Some(updated) = updated.into_iter().next() else {
            continue;
        };
        assignments.push(work.stage_event(TaskAssignedV2 {
            task_id,
            assignee_id: assignee,
            previous_assignee_id: Some(previous),
            assigned_at: now,
            revision: updated.revision,
        })?);
        reassigned += 1;
    }
    work.add_staged(assignments).await?;
    Ok(Written::new(work, reassigned))
}

/// Marks a task done by its assignee and publishes `tasks.completed`, to
/// be committed. Completing a done task is `AlreadyDone` and publishes
/// nothing.
pub async fn complete(
    db: &DatabaseConnection,
    outbox: &Outbox,
    task_id: Uuid,
    caller: Uuid,
    now: DateTime<Utc>,
) -> Result<Written<task::Model>, TaskError> {
    let work = UnitOfWork::begin(db, outbox).await?;
    let task = task::Entity::find_by_id(task_id)
        .one(&work)
        .await?
        .ok_or(TaskError::NotFound)?;
    if task.assignee_id != caller {
        return Err(TaskError::NotTheAssignee);
    }
    if task.status()? == TaskStatus::Done {
        return Err(TaskError::AlreadyDone);
    }
    // Conditional: a concurrent shuffle or completion that committed first
    // wins. The revision moves on from whatever the row holds then.
    let updated = task::Entity::update_many()
        .col_expr(Column::Status, Expr::value(TaskStatus::Done.as_str()))
        .col_expr(Column::CompletedAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .col_expr(Column::Revision, Expr::col(Column::Revision).add(1))
        .filter(Column::Id.eq(task_id))
        .filter(Column::Status.eq(TaskStatus::Open.as_str()))
        .filter(Column::AssigneeId.eq(caller))
        .exec_with_returning(&work)
        .await?;
    let Some(done) = updated.into_iter().next() else {
        return Err(TaskError::AlreadyDone);
    };
    work.add_event(TaskCompletedV2 {
        task_id,
        assignee_id: caller,
        completed_at: now,
        revision: done.revision,
    })
    .await?;
    Ok(Written::new(work, done))
}

pub async fn find(db: &DatabaseConnection, task_id: Uuid) -> Result<task::Model, TaskError> {
    task::Entity::find_by_id(task_id)
        .one(db)
        .await?
        .ok_or(TaskError::NotFound)
}

/// A page of tasks, newest first. Each filter has an index in this order
/// (see the migrations), so a page is one index range scan.
pub async fn list(
    db: &DatabaseConnection,
    filter: TaskFilter,
    request: &PageRequest<TaskOrder>,
) -> Result<Page<task::Model>, TaskError> {
    let mut condition = Condition::all();
    if let Some(status) = filter.status {
        condition = condition.add(Column::Status.eq(status.as_str()));
    }
    if let Some(assignee) = filter.assignee_id {
        condition = condition.add(Column::AssigneeId.eq(assignee));
    }
    if let Some(after) = &request.after {
        condition = condition.add(after.before_in_descending(Column::CreatedAt, Column::Id));
    }
    let rows = task::Entity::find()
        .filter(condition)
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .limit(request.limit())
        .all(db)
        .await?;
    Ok(request.finish(rows, |task| Position {
        key: task.created_at,
        id: task.id,
    }))
}
