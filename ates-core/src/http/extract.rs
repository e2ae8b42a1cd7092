//! Extractors that turn every bad body or query into a problem-details
//! error before a handler runs: a missing or other than JSON content type
//! 415, an oversized body 413, a body that is not well-formed JSON 400
//! (checked before the body meets its type, so `[1,2` is a 400 whatever
//! the type), well-formed JSON of the wrong shape and broken `validator`
//! rules 422 with the fields named.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::{DeserializeOwned, IgnoredAny};
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use super::{ApiError, FieldError};

/// A JSON body that parsed and passed its `validator` rules.
#[derive(Debug, Clone)]
pub struct ValidatedJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidatedJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with `Content-Type: application/json`".into(),
            ));
        }
        let BoundedBody(body) = BoundedBody::from_request(request, state).await?;
        serde_json::from_slice::<IgnoredAny>(&body).map_err(|error| {
            ApiError::BadRequest(format!("the body is not valid JSON: {error}"))
        })?;
        let Json(value) = Json::<T>::from_bytes(&body).map_err(json_rejection)?;
        value.validate().map_err(validation_errors)?;
        Ok(Self(value))
    }
}

/// The whole request body, at most `MAX_BODY_BYTES` (the body limit layer):
/// a larger one is a 413 problem, one that cannot be read a 400.
#[derive(Debug, Clone)]
pub struct BoundedBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for BoundedBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(request, state)
            .await
            .map(Self)
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(
                        "the request body is larger than this service accepts".into(),
                    )
                } else {
                    ApiError::BadRequest(rejection.body_text())
                }
            })
    }
}

/// `application/json` or any `application/...+json`, with or without
/// parameters (`; charset=utf-8`), in any letter case: what axum's `Json`
/// accepts.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence
        .strip_prefix("application/")
        .is_some_and(|subtype| subtype == "json" || subtype.ends_with("+json"))
}

/// Query parameters that parsed and passed their `validator` rules.
#[derive(Debug, Clone)]
pub struct ValidatedQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ValidatedQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(value) = Query::<T>::from_request_parts(parts, state).await.map_err(
            |rejection: QueryRejection| {
                let message = rejection.body_text();
                ApiError::Validation(vec![FieldError {
                    field: field_of(&message).unwrap_or("query").to_owned(),
                    message,
                }])
            },
        )?;
        value.validate().map_err(validation_errors)?;
        Ok(Self(value))
    }
}

/// A path parameter; one that does not parse (a malformed id) is a 400
/// problem, not axum's plain-text rejection.
#[derive(Debug, Clone)]
pub struct PathParam<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParam<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(value) = Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|rejection: PathRejection| ApiError::BadRequest(rejection.body_text()))?;
        Ok(Self(value))
    }
}

/// The body is well-formed JSON by now: what is left is its shape (a wrong
/// type, a missing or unknown field), a 422.
fn json_rejection(rejection: JsonRejection) -> ApiError {
    let detail = rejection.body_text();
    ApiError::Validation(vec![FieldError {
        field: field_of(&detail).unwrap_or("body").to_owned(),
        message: detail,
    }])
}

/// axum's message names the broken field after its own prefix
/// (`Failed to deserialize ...: title: invalid type`), for a body and for
/// a query string alike.
fn field_of(detail: &str) -> Option<&str> {
    detail.split(": ").nth(1).filter(|part| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '[' || c == ']')
    })
}

/// Every broken rule, one entry per field and rule, sorted by field.
pub(crate) fn validation_errors(errors: ValidationErrors) -> ApiError {
    let mut fields = Vec::new();
    collect(&errors, "", &mut fields);
    fields.sort_by(|a, b| a.field.cmp(&b.field));
    ApiError::Validation(fields)
}

fn collect(errors: &ValidationErrors, prefix: &str, into: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for error in list {
                    let message = error
                        .message
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_else(|| format!("fails the `{}` rule", error.code));
                    into.push(FieldError {
                        field: path.clone(),
                        message,
                    });
                }
            }
            ValidationErrorsKind::Struct(inner) => collect(inner, &path, into),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect(inner, &format!("{path}[{index}]"), into);
                }
            }
        }
    }
}
