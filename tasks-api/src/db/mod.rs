//! tasks-api's tables: tasks, plus the bus tables and the account replica
//! from ates-core.

pub mod migrations;

/// A task.
pub mod task {
    use ates_core::db::{UnreadableRow, parse_stored};
    use event_schemas::tasks::TaskStatus;
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tasks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub title: String,
        pub jira_id: Option<String>,
        pub description: String,
        /// `open` or `done`.
        pub status: String,
        pub assignee_id: Uuid,
        pub created_by: Uuid,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub completed_at: Option<DateTimeUtc>,
        /// 1 at creation, one more with every assignment and the
        /// completion; stamped on every task event.
        pub revision: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}

    impl Model {
        /// The stored status as the enum; a value it does not know is an
        /// internal error naming this task.
        pub fn status(&self) -> Result<TaskStatus, UnreadableRow> {
            parse_stored("tasks", self.id, "status", &self.status)
        }
    }
}
