//! accounting-api's migrations: the bus tables and the account replica,
//! then its own. Released migrations are never edited.

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub struct Migrator;

#[async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut migrations = ates_core::bus::migrations();
        migrations.extend(ates_core::account_replica::migrations());
        migrations.push(Box::new(CreateAccountingTables));
        migrations.push(Box::new(AddPricedTaskRevision));
        migrations.extend(ates_core::idempotency::migrations());
        migrations.push(Box::new(AddAuditLogPageIndex));
        migrations.push(Box::new(AddEarningsByQuarterHour));
        migrations
    }
}

#[derive(DeriveIden)]
enum PricedTasks {
    Table,
    Id,
    Title,
    JiraId,
    Description,
    AssignmentFeeCents,
    RewardCents,
    PricedAt,
    Revision,
}

#[derive(DeriveIden)]
enum Transactions {
    Table,
    Id,
    AccountId,
    Kind,
    AmountCents,
    TaskId,
    BillingCycleId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Balances {
    Table,
    AccountId,
    BalanceCents,
}

#[derive(DeriveIden)]
enum BillingCycles {
    Table,
    Id,
    Seq,
    BusinessDate,
    Status,
    OpenedAt,
    ClosedAt,
    PaymentsCount,
    PaymentsTotalCents,
}

#[derive(DeriveIden)]
enum Payouts {
    Table,
    Id,
    BillingCycleId,
    AccountId,
    TransactionId,
    AmountCents,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PayoutEmails {
    Table,
    PayoutId,
    AccountId,
    AmountCents,
    BusinessDate,
    Status,
    Recipient,
    Subject,
    Body,
    Attempts,
    LastError,
    NextAttemptAt,
    SentAt,
}

struct CreateAccountingTables;

impl MigrationName for CreateAccountingTables {
    fn name(&self) -> &str {
        "m20261124_300001_create_accounting_tables"
    }
}

fn time(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn optional_time(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden + Send,
    columns: Vec<DynIden>,
    unique: bool,
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table);
    if unique {
        index.unique();
    }
    for column in columns {
        index.col(column);
    }
    manager.create_index(index.to_owned()).await
}

#[async_trait]
impl MigrationTrait for CreateAccountingTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PricedTasks::Table)
                    .col(
                        ColumnDef::new(PricedTasks::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(PricedTasks::Title).string_len(250).null())
                    .col(ColumnDef::new(PricedTasks::JiraId).string_len(50).null())
                    .col(ColumnDef::new(PricedTasks::Description).text().null())
                    .col(
                        ColumnDef::new(PricedTasks::AssignmentFeeCents)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PricedTasks::RewardCents)
                            .big_integer()
                            .not_null(),
                    )
                    .col(time(PricedTasks::PricedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Transactions::Table)
                    .col(
                        ColumnDef::new(Transactions::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Transactions::AccountId).uuid().not_null())
                    .col(ColumnDef::new(Transactions::Kind).string_len(20).not_null())
                    .col(
                        ColumnDef::new(Transactions::AmountCents)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Transactions::TaskId).uuid().null())
                    .col(
                        ColumnDef::new(Transactions::BillingCycleId)
                            .uuid()
                            .not_null(),
                    )
                    .col(time(Transactions::CreatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_transactions_account_time",
            Transactions::Table,
            vec![
                Transactions::AccountId.into_iden(),
                Transactions::CreatedAt.into_iden(),
            ],
            false,
        )
        .await?;
        index(
            manager,
            "idx_transactions_time",
            Transactions::Table,
            vec![Transactions::CreatedAt.into_iden()],
            false,
        )
        .await?;
        index(
            manager,
            "idx_transactions_cycle_account",
            Transactions::Table,
            vec![
                Transactions::BillingCycleId.into_iden(),
                Transactions::AccountId.into_iden(),
            ],
            false,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(Balances::Table)
                    .col(
                        ColumnDef::new(Balances::AccountId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Balances::BalanceCents)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BillingCycles::Table)
                    .col(
                        ColumnDef::new(BillingCycles::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(BillingCycles::Seq)
                            .big_integer()
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(BillingCycles::BusinessDate)
                            .string_len(10)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(BillingCycles::Status)
                            .string_len(10)
                            .not_null(),
                    )
                    .col(time(BillingCycles::OpenedAt))
                    .col(optional_time(BillingCycles::ClosedAt))
                    .col(
                        ColumnDef::new(BillingCycles::PaymentsCount)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(BillingCycles::PaymentsTotalCents)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        // Exactly one open cycle, enforced by the database itself (the same
        // partial-index syntax on SQLite and PostgreSQL).
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX idx_billing_cycles_one_open ON billing_cycles (status) WHERE status = 'open'",
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Payouts::Table)
                    .col(ColumnDef::new(Payouts::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Payouts::BillingCycleId).uuid().not_null())
                    .col(ColumnDef::new(Payouts::AccountId).uuid().not_null())
                    .col(ColumnDef::new(Payouts::TransactionId).uuid().not_null())
                    .col(
                        ColumnDef::new(Payouts::AmountCents)
                            .big_integer()
                            .not_null(),
                    )
                    .col(time(Payouts::CreatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_payouts_once_per_cycle",
            Payouts::Table,
            vec![
                Payouts::BillingCycleId.into_iden(),
                Payouts::AccountId.into_iden(),
            ],
            true,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(PayoutEmails::Table)
                    .col(
                        ColumnDef::new(PayoutEmails::PayoutId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(PayoutEmails::AccountId).uuid().not_null())
                    .col(
                        ColumnDef::new(PayoutEmails::AmountCents)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PayoutEmails::BusinessDate)
                            .string_len(10)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PayoutEmails::Status)
                            .string_len(10)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PayoutEmails::Recipient)
                            .string_len(254)
                            .null(),
                    )
                    .col(ColumnDef::new(PayoutEmails::Subject).string_len(300).null())
                    .col(ColumnDef::new(PayoutEmails::Body).text().null())
                    .col(
                        ColumnDef::new(PayoutEmails::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(PayoutEmails::LastError).text().null())
                    .col(time(PayoutEmails::NextAttemptAt))
                    .col(optional_time(PayoutEmails::SentAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_payout_emails_pending",
            PayoutEmails::Table,
            vec![
                PayoutEmails::Status.into_iden(),
                PayoutEmails::NextAttemptAt.into_iden(),
            ],
            false,
        )
        .await
    }
}

struct AddPricedTaskRevision;

impl MigrationName for AddPricedTaskRevision {
    fn name(&self) -> &str {
        "m20261201_300001_add_priced_task_revision"
    }
}

#[async_trait]
impl MigrationTrait for AddPricedTaskRevision {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(PricedTasks::Table)
                    .add_column(ColumnDef::new(PricedTasks::Revision).big_integer().null())
                    .to_owned(),
            )
            .await
    }
}

/// The audit log pages by (time, id) within an account: an index in that
/// order walks straight to a cursor, also among rows of the same time.
struct AddAuditLogPageIndex;

impl MigrationName for AddAuditLogPageIndex {
    fn name(&self) -> &str {
        "m20261205_300001_add_audit_log_page_index"
    }
}

#[async_trait]
impl MigrationTrait for AddAuditLogPageIndex {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        index(
            manager,
            "idx_transactions_account_time_id",
            Transactions::Table,
            vec![
                Transactions::AccountId.into_iden(),
                Transactions::CreatedAt.into_iden(),
                Transactions::Id.into_iden(),
            ],
            false,
        )
        .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_transactions_account_time")
                    .table(Transactions::Table)
                    .to_owned(),
            )
            .await
    }
}

/// Management earnings by quarter hour, filled from the transactions
/// already written; from then on the ledger adds to it as it posts.
struct AddEarningsByQuarterHour;

impl MigrationName for AddEarningsByQuarterHour {
    fn name(&self) -> &str {
        "m20261205_300002_add_earnings_by_quarter_hour"
    }
}

#[async_trait]
impl MigrationTrait for AddEarningsByQuarterHour {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ates_core::quarter_hours::create_earnings_table(manager).await?;
        let mut fill =
            ates_core::quarter_hours::EarningsFill::new(manager.get_connection(), "transactions");
        while fill.next().await?.is_some() {}
        Ok(())
    }
}
