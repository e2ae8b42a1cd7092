//! The people of the account replica, as the task tracker shows them: who
//! a task's assignee is by name.

use ates_core::account_replica::{ReplicatedAccount, entity as account};
use ates_core::page::{self, Keyset, Page, PageRequest, Position};
use sea_orm::{Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

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
    let mut condition = Condition::all();
    if let Some(text) = search {
        condition = condition.add(page::contains(
            &[account::Column::Email, account::Column::FullName],
            text,
        ));
    }
    if let Some(after) = &request.after {
        condition = condition.add(after.after_id(account::Column::Id));
    }
    let rows = account::Entity::find()
        .filter(condition)
        .order_by_asc(account::Column::Id)
        .limit(request.limit())
        .all(db)
        .await?;
    Ok(request.finish(rows, |person| Position {
        key: (),
        id: person.id,
    }))
}
