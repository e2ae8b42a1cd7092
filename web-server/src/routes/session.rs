//! The browser's session: the refresh token lives in an `HttpOnly`,
//! `SameSite=Strict` cookie scoped to `/session` that page script cannot
//! read; the page only ever holds the short-lived access token, in memory.
//! Every endpoint is a `POST` that needs `X-ATES-Session: 1` (a cross-site
//! form cannot send it) and answers `Cache-Control: no-store`. See
//! `docs/adr/0001-session-cookie.md`.

use std::net::SocketAddr;

use ates_core::http::{ApiError, BoundedBody};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::AppState;
use crate::config::SessionSettings;
use crate::service::Service;
use crate::upstream::{self, Call};

/// The cookie holding the refresh token.
pub const COOKIE: &str = "ates_refresh";
/// The header every session call must carry, with the value `1`.
pub const GUARD_HEADER: &str = "x-ates-session";

/// Tokens as auth-api answers a login, a refresh or a password change.
#[derive(Debug, Deserialize)]
struct Tokens {
    access_token: String,
    token_type: String,
    expires_in: u64,
    refresh_token: String,
}

/// What the page gets: the access token alone.
#[derive(Debug, Serialize)]
pub struct AccessToken {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
}

/// auth-api's body for a refresh and a logout.
#[derive(Debug, Serialize)]
struct RefreshRequest<'a> {
    refresh_token: &'a str,
}

/// `/session/{login,refresh,logout,password}`:
/// - `login` `{email, password}` → auth-api's `POST /v1/auth/login`;
/// - `password` `{email, current_password, new_password}` → auth-api's
///   `POST /v1/auth/password` (with the page's `Authorization`, if any),
///   a new session as for a login;
/// - `refresh` and `logout` use the cookie alone.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", starting_session("/v1/auth/login"))
        .route("/password", starting_session("/v1/auth/password"))
        .route("/refresh", post(refresh))
        .route("/logout", post(logout))
        .method_not_allowed_fallback(super::method_not_allowed)
        .layer(middleware::from_fn(require_guard_header))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

/// Refuses (403) a call without `X-ATES-Session: 1`: a page of another
/// site can make the browser send the cookie with a form, but not with a
/// header of its own (that needs CORS, which this origin never grants).
async fn require_guard_header(request: Request, next: Next) -> Response {
    let guarded = request
        .headers()
        .get(GUARD_HEADER)
        .is_some_and(|value| value == "1");
    if guarded {
        next.run(request).await
    } else {
        ApiError::Forbidden(
            "session calls need the header `X-ATES-Session: 1` (a guard against cross-site requests)"
                .into(),
        )
        .into_response()
    }
}

/// A `POST` that hands the page's body to auth-api at `auth_path`: on
/// 200 the refresh token goes into the cookie and the page gets the access
/// token; any other answer comes back as it is.
fn starting_session(auth_path: &'static str) -> MethodRouter<AppState> {
    post(
        move |State(state): State<AppState>,
              ConnectInfo(peer): ConnectInfo<SocketAddr>,
              headers: HeaderMap,
              BoundedBody(body): BoundedBody| async move {
            let answer = call_auth(&state, auth_path, &headers, body, peer).await?;
            start_session(&state.config.session, answer).await
        },
    )
}

/// `POST /session/refresh`: spends the cookie's refresh token for new
/// tokens and rotates the cookie. No cookie, or one auth-api refuses, is
/// a 401 that clears the cookie.
async fn refresh(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let settings = &state.config.session;
    let Some(token) = refresh_token(&headers) else {
        return Ok(ended(settings, "no session: log in"));
    };
    let body = refresh_body(token)?;
    let answer = call_auth(&state, "/v1/auth/refresh", &json_only(), body, peer).await?;
    match answer.status() {
        // 422: the cookie holds something that is not a refresh token.
        StatusCode::UNAUTHORIZED | StatusCode::UNPROCESSABLE_ENTITY => Ok(ended(
            settings,
            "the session has ended (expired, logged out, or its token was used twice): log in again",
        )),
        _ => start_session(settings, answer).await,
    }
}

/// `POST /session/logout`: revokes the cookie's session at auth-api (when
/// there is a cookie) and clears the cookie; 204 either way.
async fn logout(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = refresh_token(&headers) {
        let body = refresh_body(token)?;
        match call_auth(&state, "/v1/auth/logout", &json_only(), body, peer).await {
            Ok(answer)
                if answer.status().is_success() || answer.status() == StatusCode::UNAUTHORIZED => {}
            Ok(answer) => {
                tracing::warn!(status = %answer.status(), "auth-api did not revoke a session at logout");
            }
            Err(error) => {
                tracing::warn!(%error, "auth-api did not revoke a session at logout");
            }
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, clearing_cookie(&state.config.session));
    Ok(response)
}

/// A `POST` of `body` to auth-api with the page's allowed headers.
async fn call_auth(
    state: &AppState,
    path: &str,
    headers: &HeaderMap,
    body: Bytes,
    peer: SocketAddr,
) -> Result<reqwest::Response, ApiError> {
    let call = Call {
        method: Method::POST,
        path_and_query: path,
        headers,
        body,
        client: peer.ip(),
    };
    state.upstreams.send(Service::Auth, call).await
}

/// The headers of a JSON body made here.
fn json_only() -> HeaderMap {
    HeaderMap::from_iter([(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    )])
}

fn refresh_body(refresh_token: &str) -> Result<Bytes, ApiError> {
    serde_json::to_vec(&RefreshRequest { refresh_token })
        .map(Bytes::from)
        .map_err(ApiError::internal)
}

/// auth-api's 200 with tokens → the cookie set and the access token for
/// the page; any other answer relayed as it is.
async fn start_session(
    settings: &SessionSettings,
    answer: reqwest::Response,
) -> Result<Response, ApiError> {
    if answer.status() != StatusCode::OK {
        return upstream::relay(Service::Auth, answer).await;
    }
    let tokens: Tokens = answer.json().await.map_err(|error| {
        ApiError::internal(anyhow::anyhow!("auth-api's tokens do not parse: {error}"))
    })?;
    let cookie = session_cookie(settings, &tokens.refresh_token)?;
    let mut response = Json(AccessToken {
        access_token: tokens.access_token,
        token_type: tokens.token_type,
        expires_in: tokens.expires_in,
    })
    .into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// A 401 problem that clears the cookie.
fn ended(settings: &SessionSettings, detail: &str) -> Response {
    let mut response = ApiError::Unauthorized(detail.into()).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, clearing_cookie(settings));
    response
}

/// The refresh token of the request's cookie, if any.
fn refresh_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|cookie| cookie.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE && !value.is_empty())
        .map(|(_, value)| value)
}

fn session_cookie(settings: &SessionSettings, token: &str) -> Result<HeaderValue, ApiError> {
    // auth-api's refresh tokens are base64url: nothing that could end the
    // value or add an attribute.
    let plain = !token.is_empty()
        && token
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if !plain {
        return Err(ApiError::internal(anyhow::anyhow!(
            "auth-api's refresh token is not base64url; it cannot go into a cookie"
        )));
    }
    let secure = if settings.cookie_secure {
        "; Secure"
    } else {
        ""
    };
    let max_age = settings.refresh_token_ttl.as_secs();
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; {ATTRIBUTES}; Max-Age={max_age}{secure}"
    ))
    .map_err(ApiError::internal)
}

/// The cookie's attributes but its lifetime and `Secure`.
const ATTRIBUTES: &str = "HttpOnly; SameSite=Strict; Path=/session";

/// A `Set-Cookie` that deletes the session cookie.
fn clearing_cookie(settings: &SessionSettings) -> HeaderValue {
    HeaderValue::from_static(if settings.cookie_secure {
        "ates_refresh=; HttpOnly; SameSite=Strict; Path=/session; Max-Age=0; Secure"
    } else {
        "ates_refresh=; HttpOnly; SameSite=Strict; Path=/session; Max-Age=0"
    })
}
