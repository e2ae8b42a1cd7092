//! `GET /.well-known/jwks.json`: the public keys tokens are signed with.

use ates_core::auth::Jwks;
use ates_core::http::ApiError;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::AppState;
use crate::domain::keys;

/// The active signing key and the retired ones still in their grace
/// period. Other services fetch this at start and again when a token names
/// an unknown `kid`.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "keys",
    responses((status = 200, description = "JWKS document (RFC 7517)", body = Jwks)))]
pub async fn jwks(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let document = keys::jwks(&state.db, state.signing_key_grace).await?;
    Ok((
        [(header::CACHE_CONTROL, "public, max-age=60")],
        Json(document),
    ))
}
