//! Sign-up (or an admin creating an account), the caller's account, and the
//! admin's account management, temporary passwords included.

use ates_core::auth::AuthUser;
use ates_core::http::{ApiError, PathParam, Problem, ValidatedJson, ValidatedQuery};
use ates_core::idempotency::Answer;
use ates_core::page::SearchQuery;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use event_schemas::accounts::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::client::ClientAddress;
use ates_core::db::UnreadableRow;

use crate::AppState;
use crate::db::account;
use crate::domain::accounts::{
    self, AccountChange, AccountOrder, AdminNewAccount, SignUp, WithAdminPassword,
};
use crate::domain::passwords::{MAX_PASSWORD_LEN, MIN_PASSWORD_LEN};
use crate::domain::throttle;

/// An account as every API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01956b1e-7c4a-7d2e-9a4b-3c1d2e0f1a2b",
    "email": "kesha@popug.inc",
    "full_name": "Kesha Popugaev",
    "role": "worker",
    "active": true,
    "must_change_password": false,
    "created_at": "2026-03-03T09:30:00Z",
    "updated_at": "2026-03-03T09:30:00Z"
}))]
pub struct Account {
    /// The public id (the `sub` of the account's tokens).
    pub id: Uuid,
    /// Lower-case; unique.
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub active: bool,
    /// The password is temporary: login is refused until it is changed
    /// with `POST /v1/auth/password`.
    pub must_change_password: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<account::Model> for Account {
    type Error = UnreadableRow;

    fn try_from(model: account::Model) -> Result<Self, UnreadableRow> {
        Ok(Self {
            role: model.role()?,
            id: model.id,
            email: model.email,
            full_name: model.full_name,
            active: model.active,
            must_change_password: model.must_change_password,
            created_at: model.created_at,
            updated_at: model.updated_at,
        })
    }
}

/// A sign-up, or (with an admin's bearer token) an account an admin creates.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "kesha@popug.inc", "password": "correct horse battery", "full_name": "Kesha Popugaev"}))]
pub struct SignUpRequest {
    #[validate(
        email(message = "must be an email address"),
        length(max = 254, message = "must be at most 254 characters"),
        custom(function = "ates_core::validation::one_line")
    )]
    pub email: String,
    /// 10 to 128 characters. Required to sign up; an admin may leave it
    /// out to have a temporary password generated.
    #[validate(length(
        min = "MIN_PASSWORD_LEN",
        max = "MAX_PASSWORD_LEN",
        message = "must be 10 to 128 characters"
    ))]
    pub password: Option<String>,
    #[validate(
        length(min = 1, max = 200, message = "must be 1 to 200 characters"),
        custom(function = "ates_core::validation::one_line_not_blank")
    )]
    pub full_name: String,
    /// Admins only (default `worker`); a sign-up is always a worker.
    pub role: Option<Role>,
}

/// The new account; when an admin created it without a password, the
/// generated temporary password, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01956b1e-7c4a-7d2e-9a4b-3c1d2e0f1a2b",
    "email": "kesha@popug.inc",
    "full_name": "Kesha Popugaev",
    "role": "worker",
    "active": true,
    "must_change_password": true,
    "created_at": "2026-03-03T09:30:00Z",
    "updated_at": "2026-03-03T09:30:00Z",
    "temporary_password": "q8V1nB2kX0pL7sT4wY9z"
}))]
pub struct CreatedAccount {
    #[serde(flatten)]
    pub account: Account,
    /// Only when it was generated; only its hash is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporary_password: Option<String>,
}

impl TryFrom<WithAdminPassword> for CreatedAccount {
    type Error = UnreadableRow;

    fn try_from(created: WithAdminPassword) -> Result<Self, UnreadableRow> {
        Ok(Self {
            account: created.account.try_into()?,
            temporary_password: created.generated_password,
        })
    }
}

/// An admin's temporary password for an account; left out: generated.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({}))]
pub struct TemporaryPasswordRequest {
    #[validate(length(
        min = "MIN_PASSWORD_LEN",
        max = "MAX_PASSWORD_LEN",
        message = "must be 10 to 128 characters"
    ))]
    pub password: Option<String>,
}

/// An admin's change; fields left out stay as they are.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "manager"}))]
pub struct UpdateAccountRequest {
    pub role: Option<Role>,
    #[validate(
        length(min = 1, max = 200, message = "must be 1 to 200 characters"),
        custom(function = "ates_core::validation::one_line_not_blank")
    )]
    pub full_name: Option<String>,
    /// `false` deactivates: every service refuses the account from then on.
    pub active: Option<bool>,
}

/// Sign up: the new account is a `worker`, if the sign-up policy admits
/// the email (`SIGNUP`, `SIGNUP_ALLOWED_DOMAINS`). With an admin's bearer
/// token, an admin creates the account instead, whatever the policy, with
/// any `role` and a temporary password (the one sent, or generated and
/// returned once) that must be changed at the first login.
///
/// Either way counted against the client address's attempts (429 with
/// `Retry-After` beyond); 503 with `Retry-After` when too many passwords
/// wait to be hashed.
#[utoipa::path(post, path = "/v1/accounts", tag = "accounts", request_body = SignUpRequest,
    security((), ("bearer" = [])),
    responses(
        (status = 201, description = "account created", body = CreatedAccount),
        (status = 400, description = "malformed JSON", body = Problem),
        (status = 401, description = "a bearer token that is not valid", body = Problem),
        (status = 403, description = "sign-up is closed (`signup-closed`) or not open to this email's domain (`signup-domain-not-allowed`); a role chosen without being an admin; a bearer token of someone who is not an admin", body = Problem),
        (status = 409, description = "the email is taken", body = Problem),
        (status = 415, description = "not JSON", body = Problem),
        (status = 422, description = "invalid fields (a sign-up needs a password)", body = Problem),
        (status = 429, description = "too many attempts from this address", body = Problem,
            headers(("Retry-After" = u64, description = "seconds to wait"))),
        (status = 503, description = "too many passwords waiting to be hashed", body = Problem,
            headers(("Retry-After" = u64, description = "seconds to wait")))))]
pub async fn sign_up(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    admin: Option<AuthUser>,
    ValidatedJson(body): ValidatedJson<SignUpRequest>,
) -> Result<Answer, ApiError> {
    let now = ates_core::db::now();
    throttle::admit_client(&state.db, &state.sessions.throttle, client, now).await?;
    if let Some(admin) = admin {
        admin.require_role(&[Role::Admin])?;
        let new = AdminNewAccount {
            email: body.email,
            full_name: body.full_name,
            role: body.role.unwrap_or(Role::Worker),
            password: body.password,
        };
        return accounts::create_by_admin(&state.db, &state.outbox, new, now)
            .await?
            .commit_answering(|created| {
                Answer::json(
                    StatusCode::CREATED,
                    &CreatedAccount::try_from(created.clone())?,
                )
            })
            .await;
    }
    if body.role.is_some() {
        return Err(ApiError::Forbidden(
            "only an admin chooses a role; a sign-up is a worker (leave `role` out)".into(),
        ));
    }
    let Some(password) = body.password else {
        return Err(ApiError::invalid_field(
            "password",
            "must be 10 to 128 characters",
        ));
    };
    let sign_up = SignUp {
        email: body.email,
        password,
        full_name: body.full_name,
    };
    accounts::sign_up(&state.db, &state.outbox, &state.signup, sign_up, now)
        .await?
        .commit_answering(|account| {
            Answer::json(
                StatusCode::CREATED,
                &CreatedAccount {
                    account: account.clone().try_into()?,
                    temporary_password: None,
                },
            )
        })
        .await
}

/// The caller's own account.
#[utoipa::path(get, path = "/v1/accounts/me", tag = "accounts", security(("bearer" = [])),
    responses(
        (status = 200, description = "your account", body = Account),
        (status = 401, description = "no or bad token", body = Problem)))]
pub async fn me(State(state): State<AppState>, user: AuthUser) -> Result<Json<Account>, ApiError> {
    Ok(Json(
        accounts::find(&state.db, user.account_id)
            .await?
            .try_into()?,
    ))
}

/// A page of accounts, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountPage {
    pub items: Vec<Account>,
    /// Pass it back as `cursor` (with the same `q`) for the next page; null
    /// on the last page.
    pub next_cursor: Option<String>,
}

/// Every account (admin only), oldest first, a page at a time; `q`
/// searches emails and names.
#[utoipa::path(get, path = "/v1/accounts", tag = "accounts", security(("bearer" = [])),
    params(SearchQuery<AccountOrder>),
    responses(
        (status = 200, description = "a page of accounts, oldest first", body = AccountPage),
        (status = 401, description = "no or bad token", body = Problem),
        (status = 403, description = "not an admin", body = Problem),
        (status = 422, description = "invalid search, cursor or page size, or an unknown parameter", body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ValidatedQuery(query): ValidatedQuery<SearchQuery<AccountOrder>>,
) -> Result<Json<AccountPage>, ApiError> {
    user.require_role(&[Role::Admin])?;
    let (search, request) = query.request();
    let page = accounts::list(&state.db, search.as_deref(), &request)
        .await?
        .try_map(Account::try_from)?;
    Ok(Json(AccountPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// One account: an admin's, or your own.
#[utoipa::path(get, path = "/v1/accounts/{id}", tag = "accounts", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the account's public id")),
    responses(
        (status = 200, description = "the account", body = Account),
        (status = 400, description = "malformed id", body = Problem),
        (status = 401, description = "no or bad token", body = Problem),
        (status = 403, description = "neither an admin nor this account", body = Problem),
        (status = 404, description = "no such account", body = Problem)))]
pub async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    PathParam(id): PathParam<Uuid>,
) -> Result<Json<Account>, ApiError> {
    if user.account_id != id {
        user.require_role(&[Role::Admin])?;
    }
    Ok(Json(accounts::find(&state.db, id).await?.try_into()?))
}

/// Change an account's role, name or active flag (admin only).
#[utoipa::path(patch, path = "/v1/accounts/{id}", tag = "accounts", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the account's public id")),
    request_body = UpdateAccountRequest,
    responses(
        (status = 200, description = "the changed account", body = Account),
        (status = 400, description = "malformed id or JSON", body = Problem),
        (status = 401, description = "no or bad token", body = Problem),
        (status = 403, description = "not an admin", body = Problem),
        (status = 404, description = "no such account", body = Problem),
        (status = 409, description = "would leave no active admin", body = Problem),
        (status = 422, description = "invalid fields", body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    PathParam(id): PathParam<Uuid>,
    ValidatedJson(body): ValidatedJson<UpdateAccountRequest>,
) -> Result<Json<Account>, ApiError> {
    user.require_role(&[Role::Admin])?;
    let change = AccountChange {
        role: body.role,
        full_name: body.full_name,
        active: body.active,
    };
    let account =
        accounts::change(&state.db, &state.outbox, id, change, ates_core::db::now()).await?;
    Ok(Json(account.try_into()?))
}

/// Set a temporary password (admin only): the one sent, or one generated
/// and returned this once. The account must change it at its next login,
/// every session of the account is revoked, and auth-api refuses its
/// access tokens issued before now.
#[utoipa::path(post, path = "/v1/accounts/{id}/temporary-password", tag = "accounts",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the account's public id")),
    request_body = TemporaryPasswordRequest,
    responses(
        (status = 200, description = "the account, must change its password; `temporary_password` when generated", body = CreatedAccount),
        (status = 400, description = "malformed id or JSON", body = Problem),
        (status = 401, description = "no or bad token", body = Problem),
        (status = 403, description = "not an admin", body = Problem),
        (status = 404, description = "no such account", body = Problem),
        (status = 415, description = "not JSON (send `{}` to have one generated)", body = Problem),
        (status = 422, description = "invalid fields", body = Problem)))]
pub async fn set_temporary_password(
    State(state): State<AppState>,
    user: AuthUser,
    PathParam(id): PathParam<Uuid>,
    ValidatedJson(body): ValidatedJson<TemporaryPasswordRequest>,
) -> Result<Json<CreatedAccount>, ApiError> {
    user.require_role(&[Role::Admin])?;
    let set = accounts::set_temporary_password(&state.db, id, body.password, ates_core::db::now())
        .await?;
    Ok(Json(set.try_into()?))
}
