//! What accounting consumes: account events (into its account replica, for
//! payout emails and the gate) and task events (into the ledger). What it
//! publishes (`accounting.task_priced`, `accounting.transaction_applied`,
//! `accounting.payment_made`, `accounting.billing_cycle_closed`) is written
//! by the domain functions.

use ates_core::account_replica;
use ates_core::bus::{EventHandler, HandlerError, IncomingEvent};
use ates_core::unit_of_work::UnitOfWork;
use sea_orm::{DatabaseTransaction, DbErr};

use crate::LedgerCounters;
use crate::domain::ledger;
use crate::domain::pricing::Pricing;

/// The consumer of account and task events.
#[derive(Debug, Clone)]
pub struct AccountingEvents {
    pub pricing: Pricing,
    pub counters: LedgerCounters,
}

impl EventHandler for AccountingEvents {
    fn subscriptions(&self) -> Vec<(&'static str, u32)> {
        account_replica::SUBSCRIPTIONS
            .into_iter()
            .chain(ledger::SUBSCRIPTIONS)
            .collect()
    }

    async fn handle(&self, work: &UnitOfWork, event: &IncomingEvent) -> Result<(), HandlerError> {
        self.handle_batch(work, &[event]).await
    }

    /// The account replica; never the ledger's task events.
    fn rebuilt_domains(&self) -> Vec<&'static str> {
        vec![account_replica::DOMAIN]
    }

    async fn forget_rebuilt(&self, txn: &DatabaseTransaction) -> Result<(), DbErr> {
        account_replica::forget_all(txn).await
    }

    /// Counts the fee or reward an applied task event posted.
    fn applied(&self, event: &IncomingEvent) {
        if let Some((kind, cents)) = ledger::charge_of(&self.pricing, event) {
            self.counters.charged(kind, cents);
        }
    }

    /// A batch comes from one stream: all account events (to the replica,
    /// one by one) or all task events (to the ledger, together).
    async fn handle_batch(
        &self,
        work: &UnitOfWork,
        events: &[&IncomingEvent],
    ) -> Result<(), HandlerError> {
        if events
            .iter()
            .any(|event| account_replica::is_account_event(event))
        {
            for event in events {
                account_replica::apply(work, event).await?;
            }
            Ok(())
        } else {
            ledger::apply_task_events(work, &self.pricing, events).await
        }
    }
}
