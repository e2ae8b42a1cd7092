//! The people tasks can go to, so a client can show an assignee by name.

use ates_core::account_replica::ReplicatedAccount;
use ates_core::auth::AuthUser;
use ates_core::db::UnreadableRow;
use ates_core::http::{ApiError, Problem, ValidatedQuery};
use ates_core::page::SearchQuery;
use axum::Json;
use axum::extract::State;
use event_schemas::accounts::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::domain::people::{self, PeopleOrder};

/// An account as tasks-api knows it from auth-api's account events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01956b1e-7c4a-7d2e-9a4b-3c1d2e0f1a2b",
    "full_name": "Kesha Popugaev",
    "role": "worker",
    "active": true
}))]
pub struct Person {
    pub id: Uuid,
    /// Empty until the account's name has arrived.
    pub full_name: String,
    pub role: Role,
    /// A deactivated account gets no new tasks but keeps its done ones.
    pub active: bool,
}

impl TryFrom<ReplicatedAccount> for Person {
    type Error = UnreadableRow;

    fn try_from(account: ReplicatedAccount) -> Result<Self, UnreadableRow> {
        Ok(Self {
            role: account.role()?,
            id: account.id,
            full_name: account.full_name,
            active: account.active,
        })
    }
}

/// A page of people, in the order their accounts were made.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PeoplePage {
    pub items: Vec<Person>,
    /// Pass it back as `cursor` (with the same `q`) for the next page;
    /// null on the last page.
    pub next_cursor: Option<String>,
}

/// Everyone tasks-api knows (any role), active or not, a page at a time in
/// the order the accounts were made; `q` searches emails and names.
#[utoipa::path(get, path = "/v1/people", tag = "people", security(("bearer" = [])),
    params(SearchQuery<PeopleOrder>),
    responses(
        (status = 200, description = "a page of people", body = PeoplePage),
        (status = 401, description = "no or bad token", body = Problem),
        (status = 422, description = "invalid search, cursor or page size, or an unknown parameter", body = Problem)))]
pub async fn list_people(
    State(state): State<AppState>,
    _user: AuthUser,
    ValidatedQuery(query): ValidatedQuery<SearchQuery<PeopleOrder>>,
) -> Result<Json<PeoplePage>, ApiError> {
    let (search, request) = query.request();
    let found = people::page(&state.db, search.as_deref(), &request)
        .await?
        .try_map(Person::try_from)?;
    Ok(Json(PeoplePage {
        items: found.items,
        next_cursor: found.next_cursor,
    }))
}
