//! The people tasks can go to, so a client can show an assignee by name.

use ates_core::account_replica::ReplicatedAccount;
use ates_core::auth::AuthUser;
use ates_core::db::UnreadableRow;
use ates_core::http::{ApiError, Problem};
use axum::Json;
use axum::extract::State;
use event_schemas::accounts::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::domain::people;

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

/// Everyone tasks-api knows (any role), active or not, sorted by full name
/// (by code point), then by id.
#[utoipa::path(get, path = "/v1/people", tag = "people", security(("bearer" = [])),
    responses(
        (status = 200, description = "every account, by full name", body = Vec<Person>),
        (status = 401, description = "no or bad token", body = Problem)))]
pub async fn list_people(
    State(state): State<AppState>,
    _user: AuthUser,
) -> Result<Json<Vec<Person>>, ApiError> {
    let everyone = people::everyone(&state.db).await?;
    let people = everyone
        .into_iter()
        .map(Person::try_from)
        .collect::<Result<_, _>>()?;
    Ok(Json(people))
}
