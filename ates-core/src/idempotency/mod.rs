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
//! An instance can die while it runs a request (a crash, `kill -9`, a
//! node lost), leaving a reservation without an answer. Two more columns
//! tell its repeat what happened:
//!
//! - The command marks the reservation committed *in its own transaction*
//!   (a [`Pledge`], kept by [`crate::unit_of_work::UnitOfWork::commit`]),
//!   so the mark and the command's effect are stored together or not at
//!   all. The mark requires the reservation to still be this request's.
//! - While the request runs, its instance writes a heartbeat every
//!   [`HEARTBEAT`].
//!
//! A repeat that finds a reservation without an answer gets 409 with
//! `Retry-After` while the heartbeat is fresh. Once it has been silent
//! for [`TAKEOVER_AFTER`]: a reservation that committed nothing is taken
//! over (the repeat gets a new reservation id and runs the operation; the
//! first request, were it only slow, can no longer commit, since its
//! pledge finds the reservation gone, and answers 503 with `Retry-After`);
//! a reservation that committed but was never answered (the instance died
//! between its commit and storing the answer, a moment) gets 409 without
//! `Retry-After`: "interrupted, look the result up", never a second
//! execution.

pub mod key;
pub mod store;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use axum::{Extension, http};
use base64::Engine as _;
use futures::FutureExt as _;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
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

/// How often the instance running a request says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// A reservation without an answer whose heartbeat has been silent this
/// long was interrupted: its instance is gone.
pub const TAKEOVER_AFTER: Duration = Duration::from_secs(5);

/// How often expired rows are pruned (at a reservation, at most this
/// often per process).
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Which headers of an answer are stored and replayed.
const STORED_HEADERS: [HeaderName; 3] = [
    header::CONTENT_TYPE,
    header::LOCATION,
    header::CACHE_CONTROL,
];

tokio::task_local! {
    /// The reservation of the idempotent request this task runs.
    static PLEDGE: Pledge;
}

/// The reservation an idempotent request runs under, which its command
/// marks committed in its own transaction ([`Pledge::keep`]). The layer
/// sets it for the handler's task; a handler that hands its command to
/// another task hands its pledge too ([`current`], [`carrying`]).
#[derive(Clone)]
pub struct Pledge {
    reservation_id: uuid::Uuid,
    scope: Arc<str>,
    key_hash: Arc<str>,
    secret: Arc<Secret>,
    /// Set once [`Pledge::keep_answering`] stored the answer in the
    /// command's transaction: the layer then stores nothing after it.
    answered: Arc<AtomicBool>,
}

impl std::fmt::Debug for Pledge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pledge")
            .field("reservation_id", &self.reservation_id)
            .finish_non_exhaustive()
    }
}

impl Pledge {
    /// The row of the key: its scope and key hash.
    fn row(&self) -> (&str, &str) {
        (&self.scope, &self.key_hash)
    }

    /// `parts` and `body` as stored for this reservation: the kept headers
    /// and the body, sealed with the key's secret for this row.
    fn seal(&self, parts: &http::response::Parts, body: &Bytes) -> anyhow::Result<Vec<u8>> {
        let (scope, key_hash) = self.row();
        let context = sealed_context(scope, key_hash, self.reservation_id);
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
        Ok(self.secret.seal(&context, &serde_json::to_vec(&answer)?)?)
    }

    /// Inside the command's transaction, before it commits: marks the
    /// reservation committed. Fails when a retry took the reservation over
    /// (this request was presumed dead): the transaction must then not
    /// commit, and the request answers 503 with `Retry-After`
    /// ([`crate::db::is_superseded`]). Keeping a pledge again (a command of
    /// several transactions) changes nothing.
    pub async fn keep(&self, txn: &impl ConnectionTrait) -> Result<(), DbErr> {
        let kept = store::pledge(txn, self.reservation_id, self.row(), crate::db::now()).await?;
        superseded_unless(kept)
    }

    /// [`Pledge::keep`], storing `answer` too in the command's transaction:
    /// the request's effect and its answer are committed together, so no
    /// crash can leave one without the other. The request must then give
    /// exactly this answer ([`Answer::into_response`]).
    pub async fn keep_answering(
        &self,
        txn: &impl ConnectionTrait,
        answer: &Answer,
    ) -> Result<(), DbErr> {
        let sealed = self.seal(&answer.parts, &answer.body).map_err(|error| {
            DbErr::Custom(format!("cannot seal an idempotent answer: {error:#}"))
        })?;
        let stored = store::pledge_answering(
            txn,
            self.reservation_id,
            self.row(),
            crate::db::now(),
            answer.parts.status.as_u16(),
            sealed,
        )
        .await?;
        superseded_unless(stored)?;
        self.answered.store(true, Ordering::Release);
        Ok(())
    }
}

fn superseded_unless(kept: bool) -> Result<(), DbErr> {
    if kept {
        Ok(())
    } else {
        Err(DbErr::Custom(crate::db::SUPERSEDED.to_owned()))
    }
}

/// A successful answer, ready to be stored with the command that gave it
/// ([`Pledge::keep_answering`]) and then sent as it is.
#[derive(Debug)]
pub struct Answer {
    parts: http::response::Parts,
    body: Bytes,
}

impl Answer {
    /// `body` as JSON with `status`, as axum's `Json` sends it.
    pub fn json(status: StatusCode, body: &impl Serialize) -> Result<Self, ApiError> {
        let body = Bytes::from(serde_json::to_vec(body).map_err(ApiError::internal)?);
        let (mut parts, ()) = Response::new(()).into_parts();
        parts.status = status;
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(Self { parts, body })
    }

    pub fn status(&self) -> StatusCode {
        self.parts.status
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        Response::from_parts(self.parts, Body::from(self.body))
    }
}

/// The pledge of the idempotent request this task runs, if any.
pub fn current() -> Option<Pledge> {
    PLEDGE.try_with(Pledge::clone).ok()
}

/// Runs `future` (to be spawned on another task) under `pledge`.
pub async fn carrying<F: Future>(pledge: Option<Pledge>, future: F) -> F::Output {
    match pledge {
        Some(pledge) => PLEDGE.scope(pledge, future).await,
        None => future.await,
    }
}

/// Keeps the pledge of the request this task runs, if any, in `txn`.
pub async fn keep_current(txn: &impl ConnectionTrait) -> Result<(), DbErr> {
    match current() {
        Some(pledge) => pledge.keep(txn).await,
        None => Ok(()),
    }
}

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
    // Three times at most: a row seen taken may be gone a moment later (its
    // request failed and gave it back), or taken over by another repeat.
    for _ in 0..3 {
        let reserved = store::reserve(&store.db, &attempt, now, now + window)
            .await
            .map_err(|error| ApiError::from(error).into_response())?;
        let reservation_id = match reserved {
            Some(reservation_id) => reservation_id,
            None => {
                let row = store::find(&store.db, &scope, &key_hash)
                    .await
                    .map_err(|error| ApiError::from(error).into_response())?;
                let Some(row) = row else { continue };
                match answer_repeat(&attempt, &secret, &row, now) {
                    Repeat::Answer(response) => return Err(response),
                    Repeat::TakeOver => match take_over(store, &row, now).await? {
                        Some(reservation_id) => reservation_id,
                        None => continue,
                    },
                }
            }
        };
        let request = Request::from_parts(parts, Body::from(body));
        let pledge = Pledge {
            reservation_id,
            scope: scope.into(),
            key_hash: key_hash.into(),
            secret: Arc::new(secret),
            answered: Arc::new(AtomicBool::new(false)),
        };
        return Ok(run(store.clone(), pledge, request, next).await);
    }
    Err(in_flight("another request with this Idempotency-Key is being answered").into_response())
}

/// Takes the reservation of `row`'s interrupted request over; `None` when
/// another repeat was first or the request committed after all.
async fn take_over(
    store: &IdempotencyStore,
    row: &store::StoredKey,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<uuid::Uuid>, Response> {
    let silence =
        chrono::Duration::from_std(TAKEOVER_AFTER).unwrap_or(chrono::Duration::seconds(5));
    let taken = store::take_over(
        &store.db,
        row.reservation_id,
        (&row.scope, &row.key_hash),
        now - silence,
        now,
    )
    .await
    .map_err(|error| ApiError::from(error).into_response())?;
    if taken.is_some() {
        tracing::warn!(
            interrupted = %row.reservation_id,
            "took over the reservation of an interrupted request"
        );
    }
    Ok(taken)
}

/// What a repeat finds when the key is held.
enum Repeat {
    /// The stored answer, or why there is none to give.
    Answer(Response),
    /// The first request was interrupted before committing anything: run
    /// this one in its place.
    TakeOver,
}

fn answer_repeat(
    attempt: &Attempt<'_>,
    secret: &Secret,
    row: &store::StoredKey,
    now: chrono::DateTime<chrono::Utc>,
) -> Repeat {
    if row.method != attempt.method || row.path != attempt.path {
        return Repeat::Answer(reused(&format!(
            "this Idempotency-Key was used for {} {}; use a new key for another request",
            row.method, row.path
        )));
    }
    if row.request_hash != attempt.request_hash {
        return Repeat::Answer(reused(
            "this Idempotency-Key was used with another request body; use a new key for another request",
        ));
    }
    let (Some(status), Some(sealed)) = (row.status, row.response.as_deref()) else {
        let silent_for = (now - row.alive_at.unwrap_or(row.created_at))
            .to_std()
            .unwrap_or_default();
        if silent_for < TAKEOVER_AFTER {
            return Repeat::Answer(in_flight(
                "the first request with this Idempotency-Key is still running; try again shortly",
            ));
        }
        if row.committed_at.is_none() && row.alive_at.is_some() {
            return Repeat::TakeOver;
        }
        return Repeat::Answer(
            ApiError::Conflict(
                "the first request with this Idempotency-Key was interrupted after it took effect, \
                 and its answer was lost: look the result up, and use a new key to try again"
                    .into(),
            )
            .into_response(),
        );
    };
    Repeat::Answer(
        match replay(
            secret,
            &sealed_context(&row.scope, &row.key_hash, row.reservation_id),
            status,
            sealed,
        ) {
            Ok(response) => response,
            Err(error) => ApiError::internal(error).into_response(),
        },
    )
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

/// Runs the handler under the reservation's pledge and stores or releases
/// the key. The handler runs in a task of its own: a client that hangs up
/// does not cancel it halfway, and its answer is still stored for the
/// retry. A heartbeat runs beside it until it answers.
async fn run(store: IdempotencyStore, pledge: Pledge, request: Request, next: Next) -> Response {
    let task = tokio::spawn(async move {
        let heartbeat = tokio::spawn(heartbeat(store.clone(), pledge.clone()));
        let answered = AssertUnwindSafe(PLEDGE.scope(pledge.clone(), next.run(request)))
            .catch_unwind()
            .await;
        heartbeat.abort();
        let response = match answered {
            Ok(response) => response,
            Err(_) => {
                release(&store, &pledge).await;
                return ApiError::internal(anyhow::anyhow!("handler panicked")).into_response();
            }
        };
        if !response.status().is_success() {
            release(&store, &pledge).await;
            return response;
        }
        if pledge.answered.load(Ordering::Acquire) {
            // Stored with the command, in its transaction.
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
        if let Err(error) = store_answer(&store, &pledge, &parts, &body).await {
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

/// Says every [`HEARTBEAT`] that the request of `pledge` still runs here.
async fn heartbeat(store: IdempotencyStore, pledge: Pledge) {
    let mut every = tokio::time::interval(HEARTBEAT);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        every.tick().await;
        let beat = store::beat(
            &store.db,
            pledge.reservation_id,
            pledge.row(),
            crate::db::now(),
        );
        if let Err(error) = beat.await {
            tracing::warn!(%error, "cannot write an idempotent request's heartbeat");
        }
    }
}

async fn store_answer(
    store: &IdempotencyStore,
    pledge: &Pledge,
    parts: &http::response::Parts,
    body: &Bytes,
) -> anyhow::Result<()> {
    let sealed = pledge.seal(parts, body)?;
    let status = parts.status.as_u16();
    let stored = store::record(
        &store.db,
        pledge.reservation_id,
        pledge.row(),
        status,
        sealed,
    )
    .await?;
    if !stored {
        tracing::warn!("an idempotency key's window ended before its request was answered");
    }
    Ok(())
}

async fn release(store: &IdempotencyStore, pledge: &Pledge) {
    if let Err(error) = store::release(&store.db, pledge.reservation_id, pledge.row()).await {
        // Left reserved, repeats get 409 once its heartbeat is silent, and
        // then take it over unless it committed: never a second execution.
        tracing::error!(%error, "cannot give an idempotency key back");
    }
}
