//! `/readyz`: the built app is there and every service answers its
//! `/healthz` (`/healthz` is the shared one: the process answers).

use ates_core::http::ApiError;
use ates_core::http::health::HealthStatus;
use axum::Json;
use axum::extract::State;

use crate::AppState;
use crate::service::Service;

/// Ready: `index.html` is in `WEB_DIST` and the four services answer;
/// else a 503 naming each thing missing.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<HealthStatus>, ApiError> {
    let checks = Service::ALL.map(|service| state.upstreams.check(service));
    let mut missing: Vec<String> = futures::future::join_all(checks)
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect();
    if !super::files::app_is_built(&state.config.web_dist).await {
        missing.insert(0, super::files::not_built_reason(&state.config.web_dist));
    }
    if missing.is_empty() {
        Ok(Json(HealthStatus {
            status: "ok".into(),
        }))
    } else {
        Err(ApiError::Unavailable(format!(
            "not ready: {}",
            missing.join("; ")
        )))
    }
}
