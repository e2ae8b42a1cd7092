//! The task tracker's business processes, each one function: create a task
//! (assigned at once at random), shuffle the open tasks, complete a task,
//! read tasks, and list the people tasks go to. Handlers only parse,
//! authorize and call these.

pub mod people;
pub mod tasks;

use ates_core::bus::OutboxError;

/// What can go wrong in the task tracker's rules.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error(
        "no one can take tasks: there is no active account whose role is neither admin nor manager"
    )]
    NoEligibleAssignee,
    #[error("no task with this id")]
    NotFound,
    #[error("only the task's assignee can complete it")]
    NotTheAssignee,
    #[error("the task is already done")]
    AlreadyDone,
    #[error("a value of this request cannot be stored")]
    RefusedValue,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for TaskError {
    fn from(error: sea_orm::DbErr) -> Self {
        if ates_core::db::is_refused_value(&error) {
            tracing::warn!(error = %error, "the database refused a value");
            TaskError::RefusedValue
        } else {
            TaskError::Internal(error.into())
        }
    }
}

impl From<ates_core::db::UnreadableRow> for TaskError {
    fn from(error: ates_core::db::UnreadableRow) -> Self {
        TaskError::Internal(error.into())
    }
}

impl From<OutboxError> for TaskError {
    fn from(error: OutboxError) -> Self {
        TaskError::Internal(error.into())
    }
}
