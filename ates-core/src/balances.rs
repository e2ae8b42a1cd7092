//! Each account's balance, kept where its money is counted: accounting's
//! ledger and analytics' read model both keep a `balances` table (each in
//! its own database, made by its own migrations) and move it the same way.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue, ConnectionTrait, DbErr, EntityTrait};
use uuid::Uuid;

/// One row per account: the sum of its money movements, in cents.
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "balances")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub account_id: Uuid,
        pub balance_cents: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// Adds each `(account, cents)` to that account's balance (a new account
/// starts at 0) in one statement: `INSERT … ON CONFLICT (account_id) DO
/// UPDATE SET balance_cents = balances.balance_cents +
/// excluded.balance_cents`, the same on SQLite and PostgreSQL. Each account
/// at most once: PostgreSQL refuses to upsert a row twice in one statement.
pub async fn add(
    conn: &impl ConnectionTrait,
    moves: impl IntoIterator<Item = (Uuid, i64)>,
) -> Result<(), DbErr> {
    let rows = moves
        .into_iter()
        .map(|(account_id, cents)| entity::ActiveModel {
            account_id: ActiveValue::Set(account_id),
            balance_cents: ActiveValue::Set(cents),
        })
        .collect::<Vec<_>>();
    if rows.is_empty() {
        return Ok(());
    }
    entity::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(entity::Column::AccountId)
                .value(
                    entity::Column::BalanceCents,
                    Expr::cust("balances.balance_cents + excluded.balance_cents"),
                )
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}
