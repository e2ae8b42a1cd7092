//! tasks-api's migrations: the bus tables first, then its own. Released
//! migrations are never edited.

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub struct Migrator;

#[async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut migrations = ates_core::bus::migrations();
        migrations.extend(ates_core::account_replica::migrations());
        migrations.push(Box::new(CreateTaskTables));
        migrations.push(Box::new(AddTaskRevision));
        migrations.extend(ates_core::idempotency::migrations());
        migrations
    }
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    Title,
    JiraId,
    Description,
    Status,
    AssigneeId,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
    CompletedAt,
    Revision,
}

struct CreateTaskTables;

impl MigrationName for CreateTaskTables {
    fn name(&self) -> &str {
        "m20261124_200001_create_task_tables"
    }
}

#[async_trait]
impl MigrationTrait for CreateTaskTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tasks::Table)
                    .col(ColumnDef::new(Tasks::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Tasks::Title).string_len(200).not_null())
                    .col(ColumnDef::new(Tasks::JiraId).string_len(50).null())
                    .col(ColumnDef::new(Tasks::Description).text().not_null())
                    .col(ColumnDef::new(Tasks::Status).string_len(10).not_null())
                    .col(ColumnDef::new(Tasks::AssigneeId).uuid().not_null())
                    .col(ColumnDef::new(Tasks::CreatedBy).uuid().not_null())
                    .col(
                        ColumnDef::new(Tasks::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Tasks::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Tasks::CompletedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            // Each list query walks one index in its order (newest first)
            // and stops after the page: no sort of all matching rows.
            (
                "idx_tasks_assignee_created",
                vec![Tasks::AssigneeId, Tasks::CreatedAt, Tasks::Id],
            ),
            (
                "idx_tasks_assignee_status_created",
                vec![
                    Tasks::AssigneeId,
                    Tasks::Status,
                    Tasks::CreatedAt,
                    Tasks::Id,
                ],
            ),
            (
                "idx_tasks_status_created",
                vec![Tasks::Status, Tasks::CreatedAt, Tasks::Id],
            ),
            ("idx_tasks_created", vec![Tasks::CreatedAt, Tasks::Id]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Tasks::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }
}

struct AddTaskRevision;

impl MigrationName for AddTaskRevision {
    fn name(&self) -> &str {
        "m20261201_200001_add_task_revision"
    }
}

#[async_trait]
impl MigrationTrait for AddTaskRevision {
    /// Tasks from before revisions start at 1: their earlier events carry
    /// none, and replicas let the first revisioned event through.
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .add_column(
                        ColumnDef::new(Tasks::Revision)
                            .big_integer()
                            .not_null()
                            .default(1),
                    )
                    .to_owned(),
            )
            .await
    }
}
