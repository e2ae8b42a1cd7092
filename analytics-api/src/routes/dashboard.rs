//! The admin dashboard's endpoints.

use ates_core::auth::AuthUser;
use ates_core::http::{ApiError, Problem, RangeQuery, ValidatedQuery};
use ates_core::validation::BoundedDate;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use event_schemas::accounts::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::AppState;
use crate::domain::dashboard::{self, Period, PricedCompletion};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Today {
    pub date: NaiveDate,
    /// Fees taken minus rewards paid today.
    pub management_earnings_cents: i64,
    /// Accounts whose balance is below zero now.
    pub negative_balance_accounts: u64,
}

/// A completed task and its reward.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExpensiveTask {
    pub id: Uuid,
    /// Null until the task's `tasks.created` reached analytics.
    pub title: Option<String>,
    pub jira_id: Option<String>,
    pub reward_cents: i64,
    pub completed_at: DateTime<Utc>,
}

impl From<PricedCompletion> for ExpensiveTask {
    fn from(completion: PricedCompletion) -> Self {
        Self {
            id: completion.task_id,
            title: completion.title,
            jira_id: completion.jira_id,
            reward_cents: completion.reward_cents,
            completed_at: completion.completed_at,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PeriodName {
    Day,
    Week,
    Month,
}

impl From<PeriodName> for Period {
    fn from(name: PeriodName) -> Self {
        match name {
            PeriodName::Day => Period::Day,
            PeriodName::Week => Period::Week,
            PeriodName::Month => Period::Month,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MostExpensive {
    pub period: PeriodName,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub task: Option<ExpensiveTask>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DailyMostExpensive {
    pub date: NaiveDate,
    pub task: Option<ExpensiveTask>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PeriodQuery {
    /// `day`, `week` (Monday to Sunday) or `month`; default `day`.
    pub period: Option<PeriodName>,
    /// A day in the period (default today).
    #[param(inline)]
    pub date: Option<BoundedDate>,
}

/// Today's management earnings and negative balances (admin).
#[utoipa::path(get, path = "/v1/dashboard/today", tag = "analytics", security(("bearer" = [])),
    responses(
        (status = 200, description = "today's figures", body = Today),
        (status = 401, description = "no or bad token", body = Problem),
        (status = 403, description = "not an admin", body = Problem)))]
pub async fn today(State(state): State<AppState>, user: AuthUser) -> Result<Json<Today>, ApiError> {
    user.require_role(&[Role::Admin])?;
    let today = dashboard::today(&state.db, &state.calendar, ates_core::db::now()).await?;
    Ok(Json(Today {
        date: today.date,
        management_earnings_cents: today.management_earnings_cents,
        negative_balance_accounts: today.negative_balance_accounts,
    }))
}

/// The completed task with the highest reward in a day, week or month
/// (admin). Ties: the one completed first, then the smaller id.
#[utoipa::path(get, path = "/v1/most-expensive-task", tag = "analytics", security(("bearer" = [])),
    params(PeriodQuery),
    responses(
        (status = 200, description = "the task, or null when none was completed", body = MostExpensive),
        (status = 401, description = "no or bad token", body = Problem),
        (status = 403, description = "not an admin", body = Problem),
        (status = 422, description = "invalid period or date", body = Problem)))]
pub async fn most_expensive_task(
    State(state): State<AppState>,
    user: AuthUser,
    ValidatedQuery(query): ValidatedQuery<PeriodQuery>,
) -> Result<Json<MostExpensive>, ApiError> {
    user.require_role(&[Role::Admin])?;
    let period = query.period.unwrap_or(PeriodName::Day);
    let date = match query.date {
        Some(date) => date,
        None => BoundedDate::new(state.calendar.date_of(ates_core::db::now()))
            .map_err(ApiError::internal)?,
    };
    let days = Period::from(period).range(date);
    let task = dashboard::most_expensive_between(&state.db, &state.calendar, days).await?;
    Ok(Json(MostExpensive {
        period,
        from: days.from(),
        to: days.to(),
        task: task.map(ExpensiveTask::from),
    }))
}

/// The most expensive task of each day in a range (admin).
#[utoipa::path(get, path = "/v1/most-expensive-tasks/daily", tag = "analytics", security(("bearer" = [])),
    params(RangeQuery),
    responses(
        (status = 200, description = "one row per day", body = [DailyMostExpensive]),
        (status = 401, description = "no or bad token", body = Problem),
        (status = 403, description = "not an admin", body = Problem),
        (status = 422, description = "invalid range", body = Problem)))]
pub async fn most_expensive_daily(
    State(state): State<AppState>,
    user: AuthUser,
    ValidatedQuery(query): ValidatedQuery<RangeQuery>,
) -> Result<Json<Vec<DailyMostExpensive>>, ApiError> {
    user.require_role(&[Role::Admin])?;
    let days = query.range_or(state.calendar.date_of(ates_core::db::now()))?;
    let days = dashboard::most_expensive_daily(&state.db, &state.calendar, days).await?;
    Ok(Json(
        days.into_iter()
            .map(|(date, task)| DailyMostExpensive {
                date,
                task: task.map(ExpensiveTask::from),
            })
            .collect(),
    ))
}
