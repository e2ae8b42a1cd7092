//! What tasks-api consumes: account events, into its account replica (the
//! accounts tasks can be assigned to, and the deactivation gate). What it
//! publishes is written by the commands in `domain::tasks`:
//! `tasks.created` v2, `tasks.assigned` v1, `tasks.completed` v1.

use ates_core::account_replica;
use ates_core::bus::{EventHandler, HandlerError, IncomingEvent};
use ates_core::unit_of_work::UnitOfWork;
use sea_orm::{DatabaseTransaction, DbErr};

/// The account-events consumer.
#[derive(Debug, Clone, Copy)]
pub struct AccountEvents;

impl EventHandler for AccountEvents {
    fn subscriptions(&self) -> Vec<(&'static str, u32)> {
        account_replica::SUBSCRIPTIONS.to_vec()
    }

    async fn handle(&self, work: &UnitOfWork, event: &IncomingEvent) -> Result<(), HandlerError> {
        account_replica::apply(work, event).await
    }

    /// The account replica; never the ledger's task events.
    fn rebuilt_domains(&self) -> Vec<&'static str> {
        vec![account_replica::DOMAIN]
    }

    async fn forget_rebuilt(&self, txn: &DatabaseTransaction) -> Result<(), DbErr> {
        account_replica::forget_all(txn).await
    }
}
