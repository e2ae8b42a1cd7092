//! Accounting events, published by accounting-api.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{EventPayload, fixtures};

/// What a ledger transaction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TransactionKind {
    AssignmentFee,
    TaskReward,
    Payout,
}

impl TransactionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionKind::AssignmentFee => "assignment_fee",
            TransactionKind::TaskReward => "task_reward",
            TransactionKind::Payout => "payout",
        }
    }
}

impl std::str::FromStr for TransactionKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [
            TransactionKind::AssignmentFee,
            TransactionKind::TaskReward,
            TransactionKind::Payout,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
        .ok_or_else(|| format!("unknown transaction kind {text:?}"))
    }
}

fn example_cycle_id() -> Uuid {
    Uuid::from_u128(0x0195_6b30_0000_7000_8000_0000_0000_00c1)
}

/// `accounting.task_priced` v1: a task's price, set once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskPricedV1 {
    pub task_id: Uuid,
    pub assignment_fee_cents: i64,
    pub reward_cents: i64,
    pub priced_at: DateTime<Utc>,
}

impl EventPayload for TaskPricedV1 {
    const NAME: &'static str = "accounting.task_priced";
    const VERSION: u32 = 1;

    fn example() -> Self {
        Self {
            task_id: fixtures::task_id(),
            assignment_fee_cents: 1500,
            reward_cents: 2800,
            priced_at: fixtures::time(),
        }
    }
}

/// `accounting.transaction_applied` v1: one entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransactionAppliedV1 {
    pub transaction_id: Uuid,
    pub account_id: Uuid,
    pub kind: TransactionKind,
    pub amount_cents: i64,
    pub task_id: Option<Uuid>,
    pub billing_cycle_id: Uuid,
    pub created_at: DateTime<Utc>,
}

impl EventPayload for TransactionAppliedV1 {
    const NAME: &'static str = "accounting.transaction_applied";
    const VERSION: u32 = 1;

    fn example() -> Self {
        Self {
            transaction_id: Uuid::from_u128(0x0195_6b31_0000_7000_8000_0000_0000_0001),
            account_id: fixtures::account_id(),
            kind: TransactionKind::TaskReward,
            amount_cents: 2800,
            task_id: Some(fixtures::task_id()),
            billing_cycle_id: example_cycle_id(),
            created_at: fixtures::time(),
        }
    }
}

/// `accounting.payment_made` v1: a positive balance was paid out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentMadeV1 {
    pub payment_id: Uuid,
    pub account_id: Uuid,
    pub transaction_id: Uuid,
    pub billing_cycle_id: Uuid,
    pub amount_cents: i64,
    pub paid_at: DateTime<Utc>,
}

impl EventPayload for PaymentMadeV1 {
    const NAME: &'static str = "accounting.payment_made";
    const VERSION: u32 = 1;

    fn example() -> Self {
        Self {
            payment_id: Uuid::from_u128(0x0195_6b32_0000_7000_8000_0000_0000_0001),
            account_id: fixtures::account_id(),
            transaction_id: Uuid::from_u128(0x0195_6b31_0000_7000_8000_0000_0000_0002),
            billing_cycle_id: example_cycle_id(),
            amount_cents: 1300,
            paid_at: fixtures::time(),
        }
    }
}

/// `accounting.billing_cycle_closed` v1: a business day's cycle closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingCycleClosedV1 {
    pub billing_cycle_id: Uuid,
    pub business_date: NaiveDate,
    pub opened_at: DateTime<Utc>,
    pub closed_at: DateTime<Utc>,
    pub payments_count: u64,
    pub payments_total_cents: i64,
    pub next_billing_cycle_id: Uuid,
}

impl EventPayload for BillingCycleClosedV1 {
    const NAME: &'static str = "accounting.billing_cycle_closed";
    const VERSION: u32 = 1;

    fn example() -> Self {
        Self {
            billing_cycle_id: example_cycle_id(),
            business_date: fixtures::time().date_naive(),
            opened_at: fixtures::time(),
            closed_at: fixtures::time(),
            payments_count: 1,
            payments_total_cents: 1300,
            next_billing_cycle_id: Uuid::from_u128(0x0195_6b30_0000_7000_8000_0000_0000_00c2),
        }
    }
}
