//! Retries are safe: the `POST` operations that create or change state
//! take an `Idempotency-Key` header (draft-ietf-httpapi-idempotency-key-
//! header, with Stripe's behaviour as the model). A repeat with the same
//! key and the same request within the window gets the first answer again
//! (status, body, `Content-Type`, `Location`, `Cache-Control`, plus
//! `Idempotency-Replayed: true`) and changes nothing.
//!
//! A service wraps an operation with [`route`] (which also documents the
//! header and the answers it adds) and gives the router the store
//! ([`IdempotencyStore::layer`]). Around the handler, for a `POST` that
//! carries the header:
//!
//! 1. The key must be 1 to 255 visible ASCII characters (400 otherwise).
//! 2. The caller is the token's account ([`Caller`]); the key is scoped by
//!    it, so another caller's same key is another key.
//! 3. One statement reserves `(caller, key)` in the service's database
//!    (`INSERT … ON CONFLICT DO UPDATE … WHERE the old row's window ended`),
//!    so the first request wins however many instances share the database.
//!    A repeat finds the row: another method, path or body is 422; the
//!    first still running is 409 with `Retry-After`; otherwise the stored
//!    answer.
//! 4. The handler runs in a task of its own, so a client that hangs up
//!    does not cancel it: its answer is stored for the retry.
//! 5. A 2xx answer is stored (sealed, see [`key`]); any other answer gives
//!    the key back (the row is deleted), so a repeat runs again. Every
//!    error these operations answer is given before they write anything,
//!    so running the repeat is safe and it gets the answer that is true
//!    now; a 5xx must never be stored.
//!
//! The answer is stored after the command's transaction commits, not in
//! it (the commands own their transactions; the group commit of task
//! creations writes many requests in one). A process that dies in between
//! leaves a reservation without an answer: its repeats get 409 (without
//! `Retry-After` once it is older than [`IN_FLIGHT_LEASE`]: "interrupted,
//! look the result up") until the window ends, never a second execution.

pub mod key;
pub mod store;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use axum::{Extension, http};
use base64::Engine as _;
use futures::FutureExt as _;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr, Required, ResponseBuilder};
use utoipa_axum::router::UtoipaMethodRouter;

pub use self::key::IdempotencyKey;
use self::key::Secret;
use self::store::Attempt;
use crate::auth::{AuthUser, Authenticator};
use crate::http::{ApiError, HttpSettings};

pub use self::store::migrations;

/// The header that marks a stored answer given again.
pub const REPLAYED: &str = "idempotency-replayed";

/// The default window: a key is remembered for 24 hours after its first
/// request (`IDEMPOTENCY_WINDOW_SECS`).
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// The longest window accepted (`IDEMPOTENCY_WINDOW_SECS`).
pub const MAX_WINDOW: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// A reservation without an answer older than this was interrupted (the
/// process stopped while the request ran): longer than any request takes.
pub const IN_FLIGHT_LEASE: Duration = Duration::from_secs(120);

/// How often expired rows are pruned (at a reservation, at most this
/// often per process).
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Which headers of an answer are stored and replayed.
const STORED_HEADERS: [HeaderName; 3] = [
    header::CONTENT_TYPE,
    header::LOCATION,
    header::CACHE_CONTROL,
];

/// Who a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The operation needs a token: the key is the token's account's. A
    /// request the token does not admit gets the handler's own 401.
    Account,
    /// A token is optional (sign-up, or an admin creating an account):
    /// the account's key with one, an anonymous key without.
    AccountOrAnonymous,
    /// No token is read (a password change proves itself with the
    /// password): the key alone. Anonymous keys are shared by everyone
    /// who does not send a token; a repeat must also send the same body
    /// to get the answer, and that answer is what the body's sender
    /// already knows.
    Anonymous,
}

/// What the idempotency layer needs: the service's database, its
/// authenticator (to scope keys by caller), the window and the body limit.
#[derive(Clone)]
pub struct IdempotencyStore {
    db: DatabaseConnection,
    authenticator: Authenticator,
    window: Duration,
    max_body_bytes: usize,
    /// Unix second of the last prune.
    last_prune: Arc<AtomicI64>,
}

impl std::fmt::Debug for IdempotencyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotencyStore")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl IdempotencyStore {
    pub fn new(
        db: DatabaseConnection,
        authenticator: Authenticator,
        settings: &HttpSettings,
    ) -> Self {
        Self {
            db,
            authenticator,
            window: settings.idempotency_window,
            max_body_bytes: settings.max_body_bytes,
            last_prune: Arc::new(AtomicI64::new(0)),
        }
    }

    /// The layer that hands the store to the routes wrapped by [`route`];
    /// put it on the service's whole router.
    pub fn layer(self) -> Extension<Self> {
        Extension(self)
    }

    async fn scope_of(
        &self,
        caller: Caller,
        parts: &mut http::request::Parts,
    ) -> Result<String, ApiError> {
        let user = match caller {
            Caller::Anonymous => None,
            Caller::Account => Some(
                <AuthUser as FromRequestParts<Authenticator>>::from_request_parts(
                    parts,
                    &self.authenticator,
                )
                .await?,
            ),
            Caller::AccountOrAnonymous => {
                <AuthUser as OptionalFromRequestParts<Authenticator>>::from_request_parts(
                    parts,
                    &self.authenticator,
                )
                .await?
            }
        };
        Ok(match user {
            Some(user) => format!("account:{}", user.account_id),
            None => "anonymous".to_owned(),
        })
    }

    /// Prunes expired rows when the last prune is [`PRUNE_EVERY`] ago.
    async fn prune_now_and_then(&self, now: chrono::DateTime<chrono::Utc>) {
        let last = self.last_prune.load(Ordering::Relaxed);
        let every = i64::try_from(PRUNE_EVERY.as_secs()).unwrap_or(60);
        if now.timestamp() - last < every
            || self
                .last_prune
                .compare_exchange(last, now.timestamp(), Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        match store::prune(&self.db, now).await {
            Ok(0) => {}
            Ok(pruned) => tracing::debug!(pruned, "pruned expired idempotency keys"),
            Err(error) => tracing::warn!(%error, "cannot prune expired idempotency keys"),
        }
    }
}

/// `route` of an operation made safe to retry: the handler runs behind the
/// idempotency layer, and the operation's OpenAPI gets the
/// `Idempotency-Key` parameter, the 409 and 422 it may answer and the
/// `Idempotency-Replayed` header of its success.
pub fn route<S>(caller: Caller, route: UtoipaMethodRouter<S>) -> UtoipaMethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    let (schemas, mut paths, method_router) = route;
    for item in paths.paths.values_mut() {
        if let Some(operation) = item.post.as_mut() {
            document(operation);
        }
    }
    let layer = from_fn(move |request: Request, next: Next| guard(caller, request, next));
    (schemas, paths, method_router.route_layer(layer))
}

fn document(operation: &mut Operation) {
    let parameter = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes a retry safe: a repeat with the same key and the same request within the \
             window (24 h by default) gets the first answer again, with \
             `Idempotency-Replayed: true`, and changes nothing. 1 to 255 visible ASCII \
             characters; use a new random one (a UUID) per operation. Scoped by the caller.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(key::MAX_LEN))
                .pattern(Some("^[!-~]+$")),
        ))
        .build();
    operation
        .parameters
        .get_or_insert_with(Vec::new)
        .push(parameter);
    let problem = || {
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build()
    };
    let responses = &mut operation.responses.responses;
    for (status, response) in responses.iter_mut() {
        if status.starts_with('2')
            && let RefOr::T(response) = response
        {
            response.headers.insert(
                "Idempotency-Replayed".into(),
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["true"])))
                    .description(Some(
                        "`true` when this is the stored answer of an earlier request with the same Idempotency-Key",
                    ))
                    .build(),
            );
        }
    }
    let retry_after = HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::Integer))
        .description(Some(
            "seconds to wait, when another request with this Idempotency-Key is in flight",
        ))
        .build();
    let answers = [
        (
            "409",
            "another request with this Idempotency-Key is still running (try again after `Retry-After`), or was interrupted",
        ),
        (
            "422",
            "this Idempotency-Key was used for another request (another body, method or path)",
        ),
    ];
    for (status, description) in answers {
        let entry = responses.entry(status.to_owned()).or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description("")
                    .content("application/problem+json", problem())
                    .build(),
            )
        });
        if let RefOr::T(response) = entry {
            response.description = if response.description.is_empty() {
                description.to_owned()
            } else {
                format!("{}; or {description}", response.description)
            };
            if status == "409" {
                response
                    .headers
                    .insert("Retry-After".into(), retry_after.clone());
            }
        }
    }
}

/// An answer as stored (before sealing).
#[derive(Debug, Serialize, Deserialize)]
struct StoredAnswer {
    headers: Vec<(String, String)>,
    /// base64
    body: String,
}

/// The middleware of [`route`].
async fn guard(caller: Caller, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let key = match IdempotencyKey::from_headers(request.headers()) {
        Ok(Some(key)) => key,
        Ok(None) => return next.run(request).await,
        Err(error) => return error.into_response(),
    };
    let Some(store) = request.extensions().get::<IdempotencyStore>().cloned() else {
        return ApiError::internal(anyhow::anyhow!(
            "an idempotent route has no IdempotencyStore: add IdempotencyStore::layer to the router"
        ))
        .into_response();
    };
    match guarded(&store, caller, key, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn guarded(
    store: &IdempotencyStore,
    caller: Caller,
    key: IdempotencyKey,
    request: Request,
    next: Next,
) -> Result<Response, Response> {
    let (mut parts, body) = request.into_parts();
    let scope = store
        .scope_of(caller, &mut parts)
        .await
        .map_err(IntoResponse::into_response)?;
    let body = axum::body::to_bytes(body, store.max_body_bytes)
        .await
        .map_err(|error| {
            let too_large = error.into_inner().is::<http_body_util::LengthLimitError>();
            if too_large {
                ApiError::PayloadTooLarge(
                    "the request body is larger than this service accepts".into(),
                )
            } else {
                ApiError::BadRequest("the request body could not be read".into())
            }
            .into_response()
        })?;
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let key_hash = key.hash();
    let secret = key.secret(&scope);
    let request_hash = secret.request_hash(&method, &path, &body);
    let attempt = Attempt {
        scope: &scope,
        key_hash: &key_hash,
        method: &method,
        path: &path,
        request_hash: &request_hash,
    };
    let now = crate::db::now();
    store.prune_now_and_then(now).await;
    let window = chrono::Duration::from_std(store.window).unwrap_or(chrono::Duration::days(1));
    // Twice at most: a row seen taken may be gone a moment later (its
    // request failed and gave it back).
    for _ in 0..3 {
        let reserved = store::reserve(&store.db, &attempt, now, now + window)
            .await
            .map_err(|error| ApiError::from(error).into_response())?;
        if let Some(reservation_id) = reserved {
            let request = Request::from_parts(parts, Body::from(body));
            return Ok(run(
                store.clone(),
                reservation_id,
                (scope, key_hash),
                secret,
                request,
                next,
            )
            .await);
        }
        let row = store::find(&store.db, &scope, &key_hash)
            .await
            .map_err(|error| ApiError::from(error).into_response())?;
        if let Some(row) = row {
            return Err(answer_repeat(&attempt, &secret, row, now));
        }
    }
    Err(in_flight("another request with this Idempotency-Key is being answered").into_response())
}

/// What a repeat gets when the key is held.
fn answer_repeat(
    attempt: &Attempt<'_>,
    secret: &Secret,
    row: store::StoredKey,
    now: chrono::DateTime<chrono::Utc>,
) -> Response {
    if row.method != attempt.method || row.path != attempt.path {
        return reused(&format!(
            "this Idempotency-Key was used for {} {}; use a new key for another request",
            row.method, row.path
        ));
    }
    if row.request_hash != attempt.request_hash {
        return reused(
            "this Idempotency-Key was used with another request body; use a new key for another request",
        );
    }
    let (Some(status), Some(sealed)) = (row.status, row.response.as_deref()) else {
        let running_for = (now - row.created_at).to_std().unwrap_or_default();
        if running_for < IN_FLIGHT_LEASE {
            return in_flight(
                "the first request with this Idempotency-Key is still running; try again shortly",
            );
        }
        return ApiError::Conflict(
            "the first request with this Idempotency-Key was interrupted and its effect is unknown: \
             look the result up, and use a new key to try again"
                .into(),
        )
        .into_response();
    };
    match replay(
        secret,
        &sealed_context(&row.scope, &row.key_hash, row.reservation_id),
        status,
        sealed,
    ) {
        Ok(response) => response,
        Err(error) => ApiError::internal(error).into_response(),
    }
}

fn reused(message: &str) -> Response {
    ApiError::invalid_field("Idempotency-Key", message).into_response()
}

fn in_flight(detail: &str) -> Response {
    let mut response = ApiError::Conflict(detail.to_owned()).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(1u32));
    response
}

/// The row a sealed answer belongs to (its additional authenticated data).
fn sealed_context(scope: &str, key_hash: &str, reservation_id: uuid::Uuid) -> String {
    format!("{scope}\n{key_hash}\n{reservation_id}")
}

fn replay(secret: &Secret, context: &str, status: i32, sealed: &[u8]) -> anyhow::Result<Response> {
    let plain = secret.open(context, sealed)?;
    let stored: StoredAnswer = serde_json::from_slice(&plain)?;
    let body = base64::engine::general_purpose::STANDARD.decode(stored.body)?;
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(u16::try_from(status)?)?;
    let headers = response.headers_mut();
    for (name, value) in stored.headers {
        headers.insert(HeaderName::try_from(name)?, HeaderValue::try_from(value)?);
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    Ok(response)
}

/// Runs the handler for the reservation and stores or releases the key. The
/// handler runs in a task of its own: a client that hangs up does not
/// cancel it halfway, and its answer is still stored for the retry.
async fn run(
    store: IdempotencyStore,
    reservation_id: uuid::Uuid,
    (scope, key_hash): (String, String),
    secret: Secret,
    request: Request,
    next: Next,
) -> Response {
    let task = tokio::spawn(async move {
        let row = (scope.as_str(), key_hash.as_str());
        let answered = AssertUnwindSafe(next.run(request)).catch_unwind().await;
        let response = match answered {
            Ok(response) => response,
            Err(_) => {
                release(&store, reservation_id, row).await;
                return ApiError::internal(anyhow::anyhow!("handler panicked")).into_response();
            }
        };
        if !response.status().is_success() {
            release(&store, reservation_id, row).await;
            return response;
        }
        let (parts, body) = response.into_parts();
        let body = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(body) => body,
            Err(error) => {
                // The command ran: keep the reservation (repeats get 409).
                tracing::error!(%error, "cannot read an answer to store it");
                return ApiError::internal(anyhow::anyhow!("the answer could not be read"))
                    .into_response();
            }
        };
        let context = sealed_context(&scope, &key_hash, reservation_id);
        if let Err(error) = store_answer(
            &store,
            &secret,
            &context,
            reservation_id,
            row,
            &parts,
            &body,
        )
        .await
        {
            // The command ran: the reservation stays, so a repeat gets 409
            // rather than running it twice.
            tracing::error!(
                error = format!("{error:#}"),
                "cannot store an idempotent answer"
            );
        }
        Response::from_parts(parts, Body::from(body))
    });
    match task.await {
        Ok(response) => response,
        Err(error) => ApiError::internal(error).into_response(),
    }
}

async fn store_answer(
    store: &IdempotencyStore,
    secret: &Secret,
    context: &str,
    reservation_id: uuid::Uuid,
    row: (&str, &str),
    parts: &http::response::Parts,
    body: &Bytes,
) -> anyhow::Result<()> {
    let headers = STORED_HEADERS
        .iter()
        .filter_map(|name| {
            let value = parts.headers.get(name)?.to_str().ok()?;
            Some((name.as_str().to_owned(), value.to_owned()))
        })
        .collect();
    let answer = StoredAnswer {
        headers,
        body: base64::engine::general_purpose::STANDARD.encode(body),
    };
    let sealed = secret.seal(context, &serde_json::to_vec(&answer)?)?;
    let stored = store::record(
        &store.db,
        reservation_id,
        row,
        parts.status.as_u16(),
        sealed,
    )
    .await?;
    if !stored {
        tracing::warn!("an idempotency key's window ended before its request was answered");
    }
    Ok(())
}

async fn release(store: &IdempotencyStore, reservation_id: uuid::Uuid, row: (&str, &str)) {
    if let Err(error) = store::release(&store.db, reservation_id, row).await {
        // Left reserved, repeats get 409 until the window ends: never a
        // second execution.
        tracing::error!(%error, "cannot give an idempotency key back");
    }
}
