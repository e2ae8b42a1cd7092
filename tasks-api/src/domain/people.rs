//! The people of the account replica, as the task tracker shows them: who
//! a task's assignee is by name.

use ates_core::account_replica::{ReplicatedAccount, entity as account};
use sea_orm::{DatabaseConnection, EntityTrait};

use super::TaskError;

/// Every account the replica knows (active or not, of every role), sorted
/// by full name, then by id. Names compare by code point, so the order is
/// the same on SQLite and PostgreSQL whatever the database's collation.
pub async fn everyone(db: &DatabaseConnection) -> Result<Vec<ReplicatedAccount>, TaskError> {
    let mut people = account::Entity::find().all(db).await?;
    people.sort_by(|a, b| a.full_name.cmp(&b.full_name).then(a.id.cmp(&b.id)));
    Ok(people)
}
