//! Task events, published by tasks-api.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{EventPayload, fixtures};

/// Whether a task still waits for its assignee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Open,
    Done,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 2] = [TaskStatus::Open, TaskStatus::Done];

    /// The wire name, as in the schemas, the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Done => "done",
        }
    }
}

impl std::str::FromStr for TaskStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        TaskStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| format!("unknown task status {text:?}"))
    }
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
            task_id: fixtures::task_id(),
            title: "[POPUG-42] Fix the nest".into(),
            description: "The nest in the north wing leaks.".into(),
            status: TaskStatus::Open,
            assignee_id: fixtures::account_id(),
            created_at: fixtures::time(),
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
            task_id: fixtures::task_id(),
            title: "Fix the nest".into(),
            jira_id: Some("POPUG-42".into()),
            description: "The nest in the north wing leaks.".into(),
            status: TaskStatus::Open,
            assignee_id: fixtures::account_id(),
            created_at: fixtures::time(),
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
            task_id: fixtures::task_id(),
            assignee_id: fixtures::account_id(),
            previous_assignee_id: None,
            assigned_at: fixtures::time(),
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
            task_id: fixtures::task_id(),
            assignee_id: fixtures::account_id(),
            completed_at: fixtures::time(),
        }
    }
}

/// `tasks.created` v3 (CUD): v2 plus the task's `revision` (1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskCreatedV3 {
    pub task_id: Uuid,
    pub title: String,
    pub jira_id: Option<String>,
    pub description: String,
    pub status: TaskStatus,
    pub assignee_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// The task's revision: 1 at creation, one more with every change.
    pub revision: i64,
}

impl EventPayload for TaskCreatedV3 {
    const NAME: &'static str = "tasks.created";
    const VERSION: u32 = 3;

    fn example() -> Self {
        Self::from_v2(TaskCreatedV2::example(), 1)
    }
}

impl TaskCreatedV3 {
    /// A v2 task with the revision its producer stamped.
    pub fn from_v2(v2: TaskCreatedV2, revision: i64) -> Self {
        Self {
            task_id: v2.task_id,
            title: v2.title,
            jira_id: v2.jira_id,
            description: v2.description,
            status: v2.status,
            assignee_id: v2.assignee_id,
            created_at: v2.created_at,
            revision,
        }
    }

    /// The same task without its revision (what v2 consumers read).
    pub fn into_v2(self) -> TaskCreatedV2 {
        TaskCreatedV2 {
            task_id: self.task_id,
            title: self.title,
            jira_id: self.jira_id,
            description: self.description,
            status: self.status,
            assignee_id: self.assignee_id,
            created_at: self.created_at,
        }
    }
}

/// `tasks.assigned` v2 (business): v1 plus the task's `revision` after
/// the assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskAssignedV2 {
    pub task_id: Uuid,
    pub assignee_id: Uuid,
    pub previous_assignee_id: Option<Uuid>,
    pub assigned_at: DateTime<Utc>,
    pub revision: i64,
}

impl EventPayload for TaskAssignedV2 {
    const NAME: &'static str = "tasks.assigned";
    const VERSION: u32 = 2;

    fn example() -> Self {
        let v1 = TaskAssignedV1::example();
        Self {
            task_id: v1.task_id,
            assignee_id: v1.assignee_id,
            previous_assignee_id: v1.previous_assignee_id,
            assigned_at: v1.assigned_at,
            revision: 1,
        }
    }
}

/// `tasks.completed` v2 (business): v1 plus the task's `revision` after
/// the completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskCompletedV2 {
    pub task_id: Uuid,
    pub assignee_id: Uuid,
    pub completed_at: DateTime<Utc>,
    pub revision: i64,
}

impl EventPayload for TaskCompletedV2 {
    const NAME: &'static str = "tasks.completed";
    const VERSION: u32 = 2;

    fn example() -> Self {
        let v1 = TaskCompletedV1::example();
        Self {
            task_id: v1.task_id,
            assignee_id: v1.assignee_id,
            completed_at: v1.completed_at,
            revision: 2,
        }
    }
}

/// The Jira key pattern of `jira_id`: `POPUG-123`.
pub fn is_jira_id(text: &str) -> bool {
    let Some((project, number)) = text.split_once('-') else {
        return false;
    };
    let mut project_chars = project.chars();
    project_chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && project.len() >= 2
        && project_chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit())
}

/// The longest title v2 allows.
const V2_TITLE_MAX_CHARS: usize = 200;

/// Reads a v1 task as v2: the first `[KEY-123]` in the title becomes
/// `jira_id`, the rest (trimmed) the title. Other brackets become
/// parentheses (v2 titles hold none), an empty title becomes the Jira id,
/// and a title over 200 characters is cut: every v1 event upgrades to a
/// valid v2 event.
impl From<TaskCreatedV1> for TaskCreatedV2 {
    fn from(v1: TaskCreatedV1) -> Self {
        let (jira_id, rest) = split_jira_id(&v1.title);
        let cleaned: String = rest
            .chars()
            .map(|c| match c {
                '[' => '(',
                ']' => ')',
                other => other,
            })
            .collect();
        let mut title: String = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
        if title.is_empty() {
            title = jira_id.clone().unwrap_or_else(|| "(untitled)".to_owned());
        }
        let title = title.chars().take(V2_TITLE_MAX_CHARS).collect();
        TaskCreatedV2 {
            task_id: v1.task_id,
            title,
            jira_id,
            description: v1.description,
            status: v1.status,
            assignee_id: v1.assignee_id,
            created_at: v1.created_at,
        }
    }
}

/// The first bracketed Jira key in a v1 title, and the title without it.
fn split_jira_id(title: &str) -> (Option<String>, String) {
    let mut search_from = 0;
    while let Some(open) = title[search_from..].find('[').map(|at| at + search_from) {
        let Some(close) = title[open..].find(']').map(|at| at + open) else {
            break;
        };
        let inner = title[open + 1..close].trim();
        if is_jira_id(inner) {
            let rest = format!("{} {}", &title[..open], &title[close + 1..]);
            return (Some(inner.to_owned()), rest);
        }
        search_from = open + 1;
    }
    (None, title.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1(title: &str) -> TaskCreatedV1 {
        TaskCreatedV1 {
            title: title.into(),
            ..TaskCreatedV1::example()
        }
    }

    #[test]
    fn jira_ids_are_recognized() {
        for good in ["POPUG-1", "UBER2-42", "AB-007"] {
            assert!(is_jira_id(good), "{good}");
        }
        for bad in [
            "popug-1", "P-1", "POPUG-", "POPUG1", "-1", "POPUG-1a", "PO PUG-1", "",
        ] {
            assert!(!is_jira_id(bad), "{bad}");
        }
    }

    #[test]
    fn a_leading_jira_id_moves_to_its_field() {
        let v2 = TaskCreatedV2::from(v1("[POPUG-42] Fix the nest"));
        assert_eq!(v2.jira_id.as_deref(), Some("POPUG-42"));
        assert_eq!(v2.title, "Fix the nest");
    }

    #[test]
    fn a_jira_id_anywhere_and_other_brackets_are_handled() {
        let v2 = TaskCreatedV2::from(v1("Fix [urgent] the nest [POPUG-7]"));
        assert_eq!(v2.jira_id.as_deref(), Some("POPUG-7"));
        assert_eq!(v2.title, "Fix (urgent) the nest");
        let plain = TaskCreatedV2::from(v1("Feed the parrots"));
        assert_eq!(plain.jira_id, None);
        assert_eq!(plain.title, "Feed the parrots");
        let only_id = TaskCreatedV2::from(v1("[POPUG-9]"));
        assert_eq!(only_id.title, "POPUG-9");
        assert_eq!(only_id.jira_id.as_deref(), Some("POPUG-9"));
    }
}
