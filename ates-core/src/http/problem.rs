//! Errors as RFC 9457 problem details: `application/problem+json` with
//! `type`, `title`, `status`, `detail`, and per-field `errors` for
//! validation failures.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `Retry-After` of a plain 503 (not ready, shutting down): soon.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 1;

/// Where the problem types are documented.
const TYPE_BASE: &str = "https://ates.popug.inc/problems/";

/// When a client may try a timed-out request again.
const TIMED_OUT_RETRY_AFTER_SECS: u64 = 1;

/// One broken rule of a request field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// The field, e.g. `title`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// The error body of every aTES endpoint (RFC 9457).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "https://ates.popug.inc/problems/validation",
    "title": "Validation failed",
    "status": 422,
    "detail": "the request has invalid fields",
    "errors": [{"field": "title", "message": "must not contain '[' or ']': put the Jira id in jira_id"}]
}))]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// Every way a request can fail, each with its status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// A 403 with a problem type of its own (`kind`), for refusals a client
    /// must tell apart from a missing role: sign-up closed, a password that
    /// must be changed first.
    #[error("{detail}")]
    Refused {
        kind: &'static str,
        title: &'static str,
        detail: String,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    Unavailable(String),
    /// 503 with `Retry-After`: too busy right now, come back then (a full
    /// work queue refuses at once rather than making everyone wait).
    #[error("{detail}")]
    Overloaded {
        detail: String,
        retry_after_secs: u64,
    },
    /// 503 with `Retry-After`: the request ran past `REQUEST_TIMEOUT_SECS`
    /// and was stopped.
    #[error("{0}")]
    TimedOut(String),
    /// Logged with its cause; the client sees an opaque 500.
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl ApiError {
    /// A 422 for one field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }])
    }

    /// An error the caller cannot fix. A database error inside it keeps
    /// its meaning: contention and a taken-over request are 503 with
    /// `Retry-After` (nothing was written), a refused value 422.
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        match error.into().downcast::<sea_orm::DbErr>() {
            Ok(error) => ApiError::from(error),
            Err(error) => ApiError::Internal(error),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::Refused { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::Overloaded { .. } | ApiError::TimedOut(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::BadRequest(_) => ("bad-request", "Malformed request"),
            ApiError::Unauthorized(_) => ("unauthorized", "Authentication required"),
            ApiError::Forbidden(_) => ("forbidden", "Not allowed for your role"),
            ApiError::Refused { kind, title, .. } => (*kind, *title),
            ApiError::NotFound(_) => ("not-found", "Not found"),
            ApiError::MethodNotAllowed(_) => ("method-not-allowed", "Method not allowed"),
            ApiError::Conflict(_) => ("conflict", "Conflict"),
            ApiError::PayloadTooLarge(_) => ("payload-too-large", "Request body too large"),
            ApiError::UnsupportedMediaType(_) => {
                ("unsupported-media-type", "Unsupported media type")
            }
            ApiError::Validation(_) => ("validation", "Validation failed"),
            ApiError::TooManyRequests { .. } => ("too-many-requests", "Too many requests"),
            ApiError::Unavailable(_) => ("unavailable", "Service unavailable"),
            ApiError::Overloaded { .. } => ("overloaded", "Too busy, try again shortly"),
            ApiError::TimedOut(_) => ("timeout", "The request took too long"),
            ApiError::Internal(_) => ("internal", "Internal server error"),
        }
    }

    /// The body this error is sent as.
    pub fn to_problem(&self) -> Problem {
        let (slug, title) = self.slug_and_title();
        let (detail, errors) = match self {
            ApiError::Validation(errors) => {
                ("the request has invalid fields".to_owned(), errors.clone())
            }
            ApiError::Internal(_) => (
                "something went wrong on our side; it has been logged".to_owned(),
                Vec::new(),
            ),
            other => (other.to_string(), Vec::new()),
        };
        Problem {
            problem_type: format!("{TYPE_BASE}{slug}"),
            title: title.to_owned(),
            status: self.status().as_u16(),
            detail,
            errors,
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(error: sea_orm::DbErr) -> Self {
        if crate::db::is_refused_value(&error) {
            tracing::warn!(error = %error, "the database refused a value");
            return ApiError::invalid_field("body", "a value of this request cannot be stored");
        }
        if crate::db::is_superseded(&error) {
            tracing::warn!("an idempotent request was taken over by its retry");
            return ApiError::Overloaded {
                detail: format!("{}; try again to get its answer", crate::db::SUPERSEDED),
                retry_after_secs: 1,
            };
        }
        if crate::db::is_contention(&error) {
            tracing::warn!(error = %error, "the database is busy with other transactions");
            return ApiError::Overloaded {
                detail: "the database is busy with other requests; try again".into(),
                retry_after_secs: 1,
            };
        }
        ApiError::Internal(error.into())
    }
}

impl From<crate::db::UnreadableRow> for ApiError {
    fn from(error: crate::db::UnreadableRow) -> Self {
        ApiError::Internal(error.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        let status = self.status();
        let mut response = (status, Json(self.to_problem())).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match &self {
            ApiError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::TooManyRequests {
                retry_after_secs, ..
            }
            | ApiError::Overloaded {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            // Every 503 says when to come back (the OpenAPI documents promise it).
            ApiError::Unavailable(_) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
                );
            }
            ApiError::TimedOut(_) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(TIMED_OUT_RETRY_AFTER_SECS),
                );
            }
            _ => {}
        }
        response
    }
}
