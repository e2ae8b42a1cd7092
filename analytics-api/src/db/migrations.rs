//! analytics-api's migrations: the bus tables and the account replica,
//! then its read models. Released migrations are never edited.

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub struct Migrator;

#[async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut migrations = ates_core::bus::migrations();
        migrations.extend(ates_core::account_replica::migrations());
        migrations.push(Box::new(CreateReadModels));
        migrations.push(Box::new(AddTaskRevision));
        migrations.push(Box::new(AddQuarterHourSums));
        migrations
    }
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    Title,
    JiraId,
    Revision,
}

#[derive(DeriveIden)]
enum LedgerEntries {
    Table,
    Id,
    AccountId,
    Kind,
    AmountCents,
    TaskId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Balances {
    Table,
    AccountId,
    BalanceCents,
}

struct CreateReadModels;

impl MigrationName for CreateReadModels {
    fn name(&self) -> &str {
        "m20261124_400001_create_read_models"
    }
}

#[async_trait]
impl MigrationTrait for CreateReadModels {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tasks::Table)
                    .col(ColumnDef::new(Tasks::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Tasks::Title).string_len(250).not_null())
                    .col(ColumnDef::new(Tasks::JiraId).string_len(50).null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LedgerEntries::Table)
                    .col(
                        ColumnDef::new(LedgerEntries::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(LedgerEntries::AccountId).uuid().not_null())
                    .col(
                        ColumnDef::new(LedgerEntries::Kind)
                            .string_len(20)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(LedgerEntries::AmountCents)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(LedgerEntries::TaskId).uuid().null())
                    .col(
                        ColumnDef::new(LedgerEntries::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ledger_entries_kind_time")
                    .table(LedgerEntries::Table)
                    .col(LedgerEntries::Kind)
                    .col(LedgerEntries::CreatedAt)
                    .to_owned(),
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
            .await
    }
}

struct AddTaskRevision;

impl MigrationName for AddTaskRevision {
    fn name(&self) -> &str {
        "m20261201_400001_add_task_revision"
    }
}

#[async_trait]
impl MigrationTrait for AddTaskRevision {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .add_column(ColumnDef::new(Tasks::Revision).big_integer().null())
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum BestCompletionByQuarterHour {
    Table,
    Quarter,
    TaskId,
    RewardCents,
    CompletedAt,
}

/// Earnings and the best completion by quarter hour, filled from the
/// ledger entries already recorded; from then on each entry adds to them
/// as it is recorded. Negative balances get an index: the dashboard counts
/// them.
struct AddQuarterHourSums;

impl MigrationName for AddQuarterHourSums {
    fn name(&self) -> &str {
        "m20261205_400001_add_quarter_hour_sums"
    }
}

#[async_trait]
impl MigrationTrait for AddQuarterHourSums {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ates_core::quarter_hours::create_earnings_table(manager).await?;
        manager
            .create_table(
                Table::create()
                    .table(BestCompletionByQuarterHour::Table)
                    .col(
                        ColumnDef::new(BestCompletionByQuarterHour::Quarter)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(BestCompletionByQuarterHour::TaskId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(BestCompletionByQuarterHour::RewardCents)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(BestCompletionByQuarterHour::CompletedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_balances_balance")
                    .table(Balances::Table)
                    .col(Balances::BalanceCents)
                    .to_owned(),
            )
            .await?;
        let conn = manager.get_connection();
        let mut fill = ates_core::quarter_hours::EarningsFill::new(conn, "ledger_entries");
        while let Some(page) = fill.next().await? {
            for entry in page {
                if let (Some(task_id), "task_reward") = (entry.task_id, entry.kind.as_str()) {
                    crate::domain::read_models::record_completion(
                        conn,
                        task_id,
                        entry.amount_cents,
                        entry.created_at,
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }
}
