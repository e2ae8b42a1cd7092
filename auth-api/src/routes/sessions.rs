//! Login, password change, refresh, logout.

use ates_core::http::{ApiError, Problem, ValidatedJson};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::client::ClientAddress;
use crate::AppState;
use crate::domain::AuthError;
use crate::domain::passwords::{MAX_PASSWORD_LEN, MIN_PASSWORD_LEN};
use crate::domain::sessions::{self, PasswordChange, TokenPair};

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "kesha@popug.inc", "password": "correct horse battery"}))]
pub struct LoginRequest {
    #[validate(
        length(min = 1, max = 254, message = "enter your email"),
        custom(function = "ates_core::validation::one_line")
    )]
    pub email: String,
    #[validate(length(min = 1, max = 1024, message = "enter your password"))]
    pub password: String,
}

/// A password change, proven by the current (or temporary) password.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "kesha@popug.inc", "current_password": "correct horse battery", "new_password": "purple staple orbit"}))]
pub struct ChangePasswordRequest {
    #[validate(
        length(min = 1, max = 254, message = "enter your email"),
        custom(function = "ates_core::validation::one_line")
    )]
    pub email: String,
    #[validate(length(min = 1, max = 1024, message = "enter your current password"))]
    pub current_password: String,
    /// 10 to 128 characters, not the current password.
    #[validate(length(
        min = "MIN_PASSWORD_LEN",
        max = "MAX_PASSWORD_LEN",
        message = "must be 10 to 128 characters"
    ))]
    pub new_password: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh.
    #[validate(length(min = 1, max = 200, message = "send the refresh token"))]
    pub refresh_token: String,
}

/// Tokens for a session.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "access_token": "eyJhbGciOiJFZERTQSIsImtpZCI6IjIwMjYxMTI0In0...",
    "token_type": "Bearer",
    "expires_in": 900,
    "refresh_token": "q8V1nB2k..."
}))]
pub struct TokenResponse {
    /// A JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque; spend it at `/v1/auth/refresh` for new tokens. Single use.
    pub refresh_token: String,
}

impl From<TokenPair> for TokenResponse {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            token_type: "Bearer".into(),
            expires_in: pair.expires_in,
            refresh_token: pair.refresh_token,
        }
    }
}

/// Log in. Any failure is the same 401.
///
/// An email gets a limited number of password checks per window and a
/// client address a limited number of attempts: beyond, 429 with
/// `Retry-After`, nothing checked. When too many password checks are
/// already waiting, 503 with `Retry-After`.
#[utoipa::path(post, path = "/v1/auth/login", tag = "sessions", request_body = LoginRequest,
    responses(
        (status = 200, description = "logged in", body = TokenResponse),
        (status = 401, description = "email or password is wrong", body = Problem),
        (status = 403, description = "the password is temporary: change it first with `POST /v1/auth/password` (`password-change-required`); no tokens", body = Problem),
        (status = 422, description = "invalid request", body = Problem),
        (status = 429, description = "too many failed logins for this email, or too many attempts from this address", body = Problem,
            headers(("Retry-After" = u64, description = "seconds to wait"))),
        (status = 503, description = "too many password checks waiting", body = Problem,
            headers(("Retry-After" = u64, description = "seconds to wait")))))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ValidatedJson(body): ValidatedJson<LoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let login = sessions::login(
        &state.db,
        &state.sessions,
        &body.email,
        body.password,
        client,
        ates_core::db::now(),
    )
    .await;
    state.logins.inc(match &login {
        Ok(_) => "succeeded",
        Err(AuthError::Throttled { .. } | AuthError::ClientThrottled { .. }) => "throttled",
        Err(_) => "refused",
    });
    Ok(Json(login?.into()))
}

/// Change your password with your current (or temporary) password; no
/// token needed. Every other session of the account is revoked and
/// auth-api refuses the access tokens issued before the change; the answer
/// is a new session. Wrong credentials are the same 401 as a login, and
/// count towards the same throttle.
#[utoipa::path(post, path = "/v1/auth/password", tag = "sessions", request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "password changed; a new session", body = TokenResponse),
        (status = 400, description = "malformed JSON", body = Problem),
        (status = 401, description = "email or current password is wrong, or the account is deactivated", body = Problem),
        (status = 415, description = "not JSON", body = Problem),
        (status = 422, description = "invalid request, or the new password is the current one", body = Problem),
        (status = 429, description = "too many failed password checks for this email, or too many attempts from this address", body = Problem,
            headers(("Retry-After" = u64, description = "seconds to wait"))),
        (status = 503, description = "too many passwords waiting to be hashed", body = Problem,
            headers(("Retry-After" = u64, description = "seconds to wait")))))]
pub async fn change_password(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ValidatedJson(body): ValidatedJson<ChangePasswordRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let change = PasswordChange {
        email: body.email,
        current_password: body.current_password,
        new_password: body.new_password,
    };
    let pair = sessions::change_password(
        &state.db,
        &state.sessions,
        change,
        client,
        ates_core::db::now(),
    )
    .await?;
    Ok(Json(pair.into()))
}

/// Spend a refresh token for new tokens. Presenting a token that was
/// already spent revokes every token of that login.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "sessions", request_body = RefreshRequest,
    responses(
        (status = 200, description = "new tokens", body = TokenResponse),
        (status = 401, description = "unknown, spent, revoked or expired refresh token", body = Problem),
        (status = 422, description = "invalid request", body = Problem)))]
pub async fn refresh(
    State(state): State<AppState>,
    ValidatedJson(body): ValidatedJson<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let pair = sessions::refresh(
        &state.db,
        &state.sessions,
        &body.refresh_token,
        ates_core::db::now(),
    )
    .await?;
    Ok(Json(pair.into()))
}

/// Log out: revokes the refresh token and every token of its login.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "sessions", request_body = RefreshRequest,
    responses(
        (status = 204, description = "logged out"),
        (status = 401, description = "unknown refresh token", body = Problem),
        (status = 422, description = "invalid request", body = Problem)))]
pub async fn logout(
    State(state): State<AppState>,
    ValidatedJson(body): ValidatedJson<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    sessions::logout(&state.db, &body.refresh_token, ates_core::db::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
