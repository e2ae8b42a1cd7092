//! The people of the account replica, as the task tracker shows them: who
//! a task's assignee is by name.

use ates_core::account_replica::{ReplicatedAccount, entity as account};
use ates_core::page::{Keyset, Page, PageRequest};
use sea_orm::{DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::TaskError;

/// People page by id: the order accounts were made in (ids are UUIDv7),
/// the same on SQLite and PostgreSQL whatever the database's collation.
#[derive(Debug)]
pub enum PeopleOrder {}

impl Keyset for PeopleOrder {
    const LIST: &'static str = "people";
    type Key = ();
}

/// A page of the accounts the replica knows (active or not, of every
/// role), those whose email or full name contains `search` if given.
pub async fn page(
    db: &DatabaseConnection,
    search: Option<&str>,
    request: &PageRequest<PeopleOrder>,
) -> Result<Page<ReplicatedAccount>, TaskError> {
    let rows = account::Entity::find()
        .filter(request.id_filter(
            account::Column::Id,
            search,
            &[account::Column::Email, account::Column::FullName],
        ))
        .order_by_asc(account::Column::Id)
        .limit(request.limit())
        .all(db)
        .await?;
    Ok(request.finish_by_id(rows, |person| person.id))
}
