//! The task tracker's endpoints.

use ates_core::auth::AuthUser;
use ates_core::http::{ApiError, PathParam, Problem, ValidatedJson, ValidatedQuery};
use ates_core::idempotency::Answer;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use event_schemas::accounts::Role;
use event_schemas::tasks::{TaskStatus, is_jira_id};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::{Validate, ValidationError};

use ates_core::db::UnreadableRow;
use ates_core::page::{Cursor, CursorText, PageRequest};

use crate::AppState;
use crate::db::task;
use crate::domain::tasks::{self, Creation, NewTask, TaskFilter, TaskOrder};

/// A task as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01956b1f-0000-7abc-8def-0123456789ab",
    "title": "Fix the nest",
    "jira_id": "POPUG-42",
    "description": "The nest in the north wing leaks.",
    "status": "open",
    "assignee_id": "01956b1e-7c4a-7d2e-9a4b-3c1d2e0f1a2b",
    "created_at": "2026-03-03T10:00:00Z",
    "updated_at": "2026-03-03T10:00:00Z",
    "completed_at": null
}))]
pub struct Task {
    pub id: Uuid,
    pub title: String,
    pub jira_id: Option<String>,
    pub description: String,
    pub status: TaskStatus,
    pub assignee_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl TryFrom<task::Model> for Task {
    type Error = UnreadableRow;

    fn try_from(model: task::Model) -> Result<Self, UnreadableRow> {
        Ok(Self {
            status: model.status()?,
            id: model.id,
            title: model.title,
            jira_id: model.jira_id,
            description: model.description,
            assignee_id: model.assignee_id,
            created_at: model.created_at,
            updated_at: model.updated_at,
            completed_at: model.completed_at,
        })
    }
}

fn title_rules(title: &str) -> Result<(), ValidationError> {
    ates_core::validation::one_line_not_blank(title)?;
    if title.contains(['[', ']']) {
        return Err(ValidationError::new("jira_id_in_title").with_message(
            "must not contain '[' or ']': put the Jira id (like POPUG-123) in the jira_id field instead"
                .into(),
        ));
    }
    Ok(())
}

fn jira_id_rules(jira_id: &str) -> Result<(), ValidationError> {
    ates_core::validation::one_line(jira_id)?;
    if is_jira_id(jira_id) {
        Ok(())
    } else {
        Err(ValidationError::new("jira_id").with_message(
            "must look like POPUG-123 (capital letters and digits, a dash, a number)".into(),
        ))
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Fix the nest", "jira_id": "POPUG-42", "description": "The nest in the north wing leaks."}))]
pub struct CreateTaskRequest {
    /// 1 to 200 characters, not blank, no `[` or `]` (the Jira id goes in
    /// `jira_id`). One line: no control characters (U+0000–U+001F,
    /// U+007F–U+009F), no bidi embeddings, overrides or isolates
    /// (U+202A–U+202E, U+2066–U+2069), no U+2028/U+2029.
    #[validate(
        length(min = 1, max = 200, message = "must be 1 to 200 characters"),
        custom(function = "title_rules")
    )]
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// Like `POPUG-123`, at most 50 characters.
    #[validate(
        length(min = 1, max = 50, message = "must be 1 to 50 characters"),
        custom(function = "jira_id_rules")
    )]
    #[schema(min_length = 1, max_length = 50)]
    pub jira_id: Option<String>,
    /// Up to 10,000 characters. Line breaks (`\n`, `\r\n`) and tabs
    /// allowed; no other control character, no bidi embeddings, overrides
    /// or isolates, no U+2028/U+2029.
    #[validate(
        length(max = 10000, message = "must be at most 10000 characters"),
        custom(function = "ates_core::validation::multi_line")
    )]
    #[schema(max_length = 10000)]
    pub description: String,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `open` or `done`.
    pub status: Option<TaskStatus>,
    /// Only tasks of this assignee.
    pub assignee_id: Option<Uuid>,
    #[param(value_type = Option<CursorText>, inline)]
    pub cursor: Option<Cursor<TaskOrder>>,
    /// 1 to 100 (default 20).
    #[validate(range(min = 1, max = 100, message = "must be 1 to 100"))]
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u64>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MineQuery {
    /// `open` or `done`.
    pub status: Option<TaskStatus>,
    #[param(value_type = Option<CursorText>, inline)]
    pub cursor: Option<Cursor<TaskOrder>>,
    /// 1 to 100 (default 20).
    #[validate(range(min = 1, max = 100, message = "must be 1 to 100"))]
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u64>,
}

/// A page of tasks, newest first.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TaskPage {
    pub items: Vec<Task>,
    /// Pass it back as `cursor` (with the same filters) for the next page;
    /// null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShuffleResult {
    /// How many open tasks got a newly drawn assignee.
    pub reassigned: u64,
}

async fn page(
    state: &AppState,
    filter: TaskFilter,
    request: PageRequest<TaskOrder>,
) -> Result<Json<TaskPage>, ApiError> {
    let found = tasks::list(&state.db, filter, &request)
        .await?
        .try_map(Task::try_from)?;
    Ok(Json(TaskPage {
        items: found.items,
        next_cursor: found.next_cursor,
    }))
}

/// Create a task (any role). It is assigned at once to a random account
/// that is active and neither admin nor manager.
#[utoipa::path(post, path = "/v1/tasks", tag = "tasks", security(("bearer" = [])),
    request_body = CreateTaskRequest,
    responses(
        (status = 201, description = "created and assigned", body = Task),
        (status = 400, description = "malformed JSON", body = Problem),
        (status = 401, description = "no or bad token", body = Problem),
        (status = 409, description = "no one can take tasks", body = Problem),
        (status = 422, description = "invalid fields (a Jira id in the title goes to jira_id)", body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ValidatedJson(body): ValidatedJson<CreateTaskRequest>,
) -> Result<Answer, ApiError> {
    let new = NewTask {
        title: body.title,
        jira_id: body.jira_id,
        description: body.description,
    };
    let task = state
        .creator
        .submit(Creation {
            creator: user.account_id,
            task: new,
            cause: tracing::Span::current(),
            answering: ates_core::idempotency::current()
                .map(|pledge| (pledge, created as tasks::Answering)),
        })
        .await
        .map_err(|stopped| ApiError::Unavailable(stopped.to_string()))??;
    state.counters.created.inc();
    created(&task).map_err(ApiError::internal)
}

/// What `POST /v1/tasks` answers for the task it created.
fn created(task: &task::Model) -> anyhow::Result<Answer> {
    Ok(Answer::json(
        StatusCode::CREATED,
        &Task::try_from(task.clone())?,
    )?)
}

/// All tasks (any role), newest first, filtered, a page at a time: follow
/// `next_cursor` for the next page.
#[utoipa::path(get, path = "/v1/tasks", tag = "tasks", security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "a page of tasks", body = TaskPage),
        (status = 401, description = "no or bad token", body = Problem),
        (status = 422, description = "invalid filter, cursor or page size, or an unknown parameter", body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    _user: AuthUser,
    ValidatedQuery(query): ValidatedQuery<ListQuery>,
) -> Result<Json<TaskPage>, ApiError> {
    let filter = TaskFilter {
        status: query.status,
        assignee_id: query.assignee_id,
    };
    page(
        &state,
        filter,
        PageRequest::new(query.cursor, query.per_page),
    )
    .await
}

/// The caller's tasks, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/tasks/mine", tag = "tasks", security(("bearer" = [])),
    params(MineQuery),
    responses(
        (status = 200, description = "a page of your tasks", body = TaskPage),
        (status = 401, description = "no or bad token", body = Problem),
        (status = 422, description = "invalid filter, cursor or page size, or an unknown parameter", body = Problem)))]
pub async fn mine(
    State(state): State<AppState>,
    user: AuthUser,
    ValidatedQuery(query): ValidatedQuery<MineQuery>,
) -> Result<Json<TaskPage>, ApiError> {
    let filter = TaskFilter {
        status: query.status,
        assignee_id: Some(user.account_id),
    };
    page(
        &state,
        filter,
        PageRequest::new(query.cursor, query.per_page),
    )
    .await
}

/// One task.
#[utoipa::path(get, path = "/v1/tasks/{id}", tag = "tasks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the task's id")),
    responses(
        (status = 200, description = "the task", body = Task),
        (status = 400, description = "malformed id", body = Problem),
        (status = 401, description = "no or bad token", body = Problem),
        (status = 404, description = "no such task", body = Problem)))]
pub async fn get_one(
    State(state): State<AppState>,
    _user: AuthUser,
    PathParam(id): PathParam<Uuid>,
) -> Result<Json<Task>, ApiError> {
    Ok(Json(Task::try_from(tasks::find(&state.db, id).await?)?))
}

/// Mark a task done. Only its assignee can; a done task cannot be done
/// again.
#[utoipa::path(post, path = "/v1/tasks/{id}/complete", tag = "tasks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the task's id")),
    responses(
        (status = 200, description = "the task, done", body = Task),
        (status = 400, description = "malformed id", body = Problem),
        (status = 401, description = "no or bad token", body = Problem),
        (status = 403, description = "not the assignee", body = Problem),
        (status = 404, description = "no such task", body = Problem),
        (status = 409, description = "already done", body = Problem)))]
pub async fn complete(
    State(state): State<AppState>,
    user: AuthUser,
    PathParam(id): PathParam<Uuid>,
) -> Result<Answer, ApiError> {
    let answer = tasks::complete(
        &state.db,
        &state.outbox,
        id,
        user.account_id,
        ates_core::db::now(),
    )
    .await?
    .commit_answering(|task| Answer::json(StatusCode::OK, &Task::try_from(task.clone())?))
    .await?;
    state.counters.completed.inc();
    Ok(answer)
}

/// Reassign every open task at random (admins and managers).
#[utoipa::path(post, path = "/v1/tasks/shuffle", tag = "tasks", security(("bearer" = [])),
    responses(
        (status = 200, description = "how many tasks were reassigned", body = ShuffleResult),
        (status = 401, description = "no or bad token", body = Problem),
        (status = 403, description = "neither admin nor manager", body = Problem),
        (status = 409, description = "no one can take tasks", body = Problem)))]
pub async fn shuffle(State(state): State<AppState>, user: AuthUser) -> Result<Answer, ApiError> {
    user.require_role(&[Role::Admin, Role::Manager])?;
    let mut rng = StdRng::from_os_rng();
    tasks::shuffle(&state.db, &state.outbox, &mut rng, ates_core::db::now())
        .await?
        .commit_answering(|&reassigned| Answer::json(StatusCode::OK, &ShuffleResult { reassigned }))
        .await
}
