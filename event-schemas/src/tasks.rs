//! Task events, published by tasks-api.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{EventPayload, examples};

/// Whether a task still waits for its assignee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Open,
    Done,
}

/// `tasks.created` v1 (CUD): the first contract, where a Jira id is written
/// into the title (`[POPUG-1] Fix the nest`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskCreatedV1 {
    pub task_id: Uuid,
    pub title: String,
    pub description: String,
    pub status: TaskStatus,
    pub assignee_id: Uuid,
    pub created_at: DateTime<Utc>,
}

impl EventPayload for TaskCreatedV1 {
    const NAME: &'static str = "tasks.created";
    const VERSION: u32 = 1;

    fn example() -> Self {
        Self {
            task_id: examples::task_id(),
            title: "[POPUG-42] Fix the nest".into(),
            description: "The nest in the north wing leaks.".into(),
            status: TaskStatus::Open,
            assignee_id: examples::account_id(),
            created_at: examples::time(),
        }
    }
}

/// `tasks.created` v2 (CUD): the Jira id has a field of its own; the title
/// holds no brackets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskCreatedV2 {
    pub task_id: Uuid,
    pub title: String,
    pub jira_id: Option<String>,
    pub description: String,
    pub status: TaskStatus,
    pub assignee_id: Uuid,
    pub created_at: DateTime<Utc>,
}

impl EventPayload for TaskCreatedV2 {
    const NAME: &'static str = "tasks.created";
    const VERSION: u32 = 2;

    fn example() -> Self {
        Self {
            task_id: examples::task_id(),
            title: "Fix the nest".into(),
            jira_id: Some("POPUG-42".into()),
            description: "The nest in the north wing leaks.".into(),
            status: TaskStatus::Open,
            assignee_id: examples::account_id(),
            created_at: examples::time(),
        }
    }
}

/// `tasks.assigned` v1 (business): a task went to an assignee, on creation
/// or in a shuffle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskAssignedV1 {
    pub task_id: Uuid,
    pub assignee_id: Uuid,
    pub previous_assignee_id: Option<Uuid>,
    pub assigned_at: DateTime<Utc>,
}

impl EventPayload for TaskAssignedV1 {
    const NAME: &'static str = "tasks.assigned";
    const VERSION: u32 = 1;

    fn example() -> Self {
        Self {
            task_id: examples::task_id(),
            assignee_id: examples::account_id(),
            previous_assignee_id: None,
            assigned_at: examples::time(),
        }
    }
}

/// `tasks.completed` v1 (business): the assignee marked the task done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskCompletedV1 {
    pub task_id: Uuid,
    pub assignee_id: Uuid,
    pub completed_at: DateTime<Utc>,
}

impl EventPayload for TaskCompletedV1 {
    const NAME: &'static str = "tasks.completed";
    const VERSION: u32 = 1;

    fn example() -> Self {
        Self {
            task_id: examples::task_id(),
            assignee_id: examples::account_id(),
            completed_at: examples::time(),
        }
    }
}
