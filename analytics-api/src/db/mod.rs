//! analytics-api's read models, all built from events: task titles, the
//! ledger entries accounting published, balances, earnings and the best
//! completion by quarter hour; plus the bus tables and
//! the account replica from ates-core.

pub mod migrations;

/// A task's title and Jira id, from `tasks.created`.
pub mod task {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tasks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub title: String,
        pub jira_id: Option<String>,
        /// The task's revision in the `tasks.created` this came from;
        /// `None` for v1/v2 events.
        pub revision: Option<i64>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// A ledger entry, from `accounting.transaction_applied`.
pub mod ledger_entry {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ledger_entries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub account_id: Uuid,
        pub kind: String,
        pub amount_cents: i64,
        pub task_id: Option<Uuid>,
        pub created_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// The most expensive completion of each quarter hour (highest reward,
/// then the earlier completion, then the smaller task id), kept as
/// `accounting.transaction_applied` rewards arrive: a period's most
/// expensive task reads at most 96 rows a day.
pub mod best_completion {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "best_completion_by_quarter_hour")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub quarter: i64,
        pub task_id: Uuid,
        pub reward_cents: i64,
        pub completed_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub use ates_core::balances::entity as balance;
pub use ates_core::quarter_hours::earnings;
