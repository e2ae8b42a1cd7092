//! accounting-api's tables: priced tasks, the ledger (transactions),
//! balances, billing cycles, payouts and their emails; plus the bus tables
//! and the account replica from ates-core.

pub mod migrations;

/// A task as accounting knows it: its price (set once) and, once
/// `tasks.created` arrived, its title and description.
pub mod task {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "priced_tasks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub title: Option<String>,
        pub jira_id: Option<String>,
        pub description: Option<String>,
        pub assignment_fee_cents: i64,
        pub reward_cents: i64,
        pub priced_at: DateTimeUtc,
        /// The task's revision in the `tasks.created` its details come
        /// from; `None` before details arrived or for a v1/v2 event.
        pub revision: Option<i64>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// The ledger: append-only.
pub mod transaction {
    use ates_core::db::{UnreadableRow, parse_stored};
    use event_schemas::accounting::TransactionKind;
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "transactions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub account_id: Uuid,
        /// `assignment_fee`, `task_reward` or `payout`.
        pub kind: String,
        /// Signed: fees and payouts negative, rewards positive.
        pub amount_cents: i64,
        pub task_id: Option<Uuid>,
        pub billing_cycle_id: Uuid,
        pub created_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}

    impl Model {
        /// The stored kind as the enum; a value it does not know is an
        /// internal error naming this transaction.
        pub fn kind(&self) -> Result<TransactionKind, UnreadableRow> {
            parse_stored("transactions", self.id, "kind", &self.kind)
        }
    }
}

pub use ates_core::balances::entity as balance;

/// Billing cycles: exactly one `open`; `closing` while payouts run;
/// `closed` after.
pub mod billing_cycle {
    use ates_core::db::{UnreadableRow, parse_stored};
    use sea_orm::entity::prelude::*;

    /// Where a billing cycle is in its life; stored as its name.
    #[derive(
        Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
    )]
    #[serde(rename_all = "snake_case")]
    pub enum CycleStatus {
        /// Takes the day's transactions.
        Open,
        /// Paying out: the next cycle is open already.
        Closing,
        /// Paid out.
        Closed,
    }

    impl CycleStatus {
        pub const ALL: [CycleStatus; 3] =
            [CycleStatus::Open, CycleStatus::Closing, CycleStatus::Closed];

        /// Its name, as stored and in JSON.
        pub fn as_str(self) -> &'static str {
            match self {
                CycleStatus::Open => "open",
                CycleStatus::Closing => "closing",
                CycleStatus::Closed => "closed",
            }
        }
    }

    impl std::str::FromStr for CycleStatus {
        type Err = String;

        fn from_str(text: &str) -> Result<Self, Self::Err> {
            Self::ALL
                .into_iter()
                .find(|status| status.as_str() == text)
                .ok_or_else(|| format!("unknown billing cycle status {text:?}"))
        }
    }

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "billing_cycles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Increases with each cycle.
        #[sea_orm(unique)]
        pub seq: i64,
        /// The business day the cycle was opened for, `YYYY-MM-DD`.
        pub business_date: String,
        pub status: String,
        pub opened_at: DateTimeUtc,
        pub closed_at: Option<DateTimeUtc>,
        pub payments_count: i64,
        pub payments_total_cents: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}

    impl Model {
        /// The stored status as the enum; a value it does not know is an
        /// internal error naming this cycle.
        pub fn status(&self) -> Result<CycleStatus, UnreadableRow> {
            parse_stored("billing_cycles", self.id, "status", &self.status)
        }
    }
}

/// One payout per account and cycle (unique): the guard against paying
/// twice.
pub mod payout {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "payouts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub billing_cycle_id: Uuid,
        pub account_id: Uuid,
        pub transaction_id: Uuid,
        pub amount_cents: i64,
        pub created_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// The email of a payout: written with the payout, sent (or stored) by the
/// mailer, once.
pub mod payout_email {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "payout_emails")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub payout_id: Uuid,
        pub account_id: Uuid,
        pub amount_cents: i64,
        pub business_date: String,
        /// `pending`, `sent` (over SMTP) or `stored` (no SMTP configured).
        pub status: String,
        pub recipient: Option<String>,
        pub subject: Option<String>,
        pub body: Option<String>,
        pub attempts: i32,
        pub last_error: Option<String>,
        pub next_attempt_at: DateTimeUtc,
        pub sent_at: Option<DateTimeUtc>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
