//! `/healthz` (the process is alive) and `/readyz` (its database and
//! broker answer), documented in every service's OpenAPI.

use axum::Json;
use axum::extract::State;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use crate::bus::EventBus;

/// What a health endpoint answers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthStatus {
    /// `ok`, or what is not ready.
    pub status: String,
}

/// What `/readyz` checks.
#[derive(Clone, Debug)]
pub struct Readiness {
    pub db: DatabaseConnection,
    pub bus: EventBus,
}

/// Alive: the process answers HTTP.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "alive", body = HealthStatus)))]
pub async fn healthz() -> Json<HealthStatus> {
    Json(HealthStatus {
        status: "ok".into(),
    })
}

/// Ready: the database answers and the broker connection is up.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "ready", body = HealthStatus),
        (status = 503, description = "database or broker unreachable", body = super::Problem)))]
pub async fn readyz(State(readiness): State<Readiness>) -> Result<Json<HealthStatus>, ApiError> {
    if let Err(error) = readiness.db.ping().await {
        return Err(ApiError::Unavailable(format!(
            "database unreachable: {error}"
        )));
    }
    // The reason names the broker (without userinfo) and, when it refuses
    // this service's credentials, says so.
    if let Some(reason) = readiness.bus.not_ready() {
        return Err(ApiError::Unavailable(reason));
    }
    Ok(Json(HealthStatus {
        status: "ok".into(),
    }))
}
