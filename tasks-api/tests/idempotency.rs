//! Retries with an `Idempotency-Key`: a repeat gets the first answer and
//! changes nothing (no second task, no second event), over real HTTP, real
//! tokens and a real JetStream broker.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ates_core::bus::EventBus;
use ates_core::testing::{
    Interrupted, eventually, plant_interrupted, problem, published_events, replayed,
};
use auth_api::testing::TestApp as AuthApp;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tasks_api::routes::tasks::{ShuffleResult, Task};
use tasks_api::testing::TasksApp;

const KEY: &str = "0b9c1a52-2f5e-4a8e-9d1e-6f3b1c7a2d40";

/// auth-api and tasks-api on one broker, an admin and a worker.
struct Retries {
    /// Kept running: it issues the tokens.
    _auth: AuthApp,
    tasks: TasksApp,
    bus: EventBus,
    admin: String,
    worker: String,
    worker_id: String,
}

impl Retries {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    async fn start_with(customize: impl FnOnce(&mut ates_core::config::ServiceSettings)) -> Self {
        let auth = AuthApp::spawn().await;
        let tasks = TasksApp::spawn_with(&auth.broker, &auth.jwks_url(), customize).await;
        let bus = EventBus::connect(&auth.broker.bus_config("retries-test"))
            .await
            .unwrap();
        let worker_id = auth.account_with_role("kesha@popug.inc", "worker").await;
        tasks.wait_for_account(&worker_id, true).await;
        let worker = auth.access_token("kesha@popug.inc").await;
        let admin = auth.admin_token().await;
        Self {
            _auth: auth,
            tasks,
            bus,
            admin,
            worker,
            worker_id,
        }
    }

    async fn create(&self, token: &str, title: &str, key: &str) -> Response {
        let body = json!({"title": title, "description": "to do"});
        self.tasks
            .post_with_key("/v1/tasks", token, Some(&body), key)
            .await
    }

    async fn total_tasks(&self) -> usize {
        self.tasks.all(&self.admin, "").await.len()
    }

    /// Waits for the event `name` of `task_id` (a positive marker: every
    /// event committed before it is in the stream), then returns every
    /// event named `name`.
    async fn events_after(&self, name: &str, task_id: &Value) -> Vec<Value> {
        eventually(Duration::from_secs(20), name, || async {
            let events: Vec<Value> = published_events(&self.bus, "tasks")
                .await
                .into_iter()
                .filter(|event| event["event_name"] == name)
                .collect();
            events
                .iter()
                .any(|event| &event["data"]["task_id"] == task_id)
                .then_some(events)
        })
        .await
    }
}

#[tokio::test]
async fn a_repeated_creation_creates_one_task_and_publishes_it_once() {
    let system = Retries::start().await;
    let first = system.create(&system.admin, "Fix the nest", KEY).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(!replayed(&first), "the first answer is not a replay");
    let first: Task = first.json().await.unwrap();

    let repeat = system.create(&system.admin, "Fix the nest", KEY).await;
    assert_eq!(repeat.status(), StatusCode::CREATED);
    assert!(replayed(&repeat));
    assert_eq!(
        repeat.headers()["content-type"],
        "application/json",
        "the stored Content-Type"
    );
    let repeat: Task = repeat.json().await.unwrap();
    assert_eq!(repeat, first, "the same answer, the same task");

    let marker = system
        .create(&system.admin, "Another task", "another-key")
        .await;
    assert_eq!(marker.status(), StatusCode::CREATED);
    let marker: Task = marker.json().await.unwrap();
    let created = system
        .events_after("tasks.created", &json!(marker.id))
        .await;
    let of_first = created
        .iter()
        .filter(|event| event["data"]["task_id"] == json!(first.id))
        .count();
    assert_eq!(of_first, 1, "one tasks.created for the repeated creation");
    assert_eq!(created.len(), 2);
    let assigned = system
        .events_after("tasks.assigned", &json!(marker.id))
        .await;
    assert_eq!(assigned.len(), 2, "one assignment (one fee) per task");
    assert_eq!(system.total_tasks().await, 2);
}

#[tokio::test]
async fn the_same_key_for_another_request_is_422_naming_the_header() {
    let system = Retries::start().await;
    let first = system.create(&system.admin, "Fix the nest", KEY).await;
    assert_eq!(first.status(), StatusCode::CREATED);

    let other_body = system.create(&system.admin, "Feed the chicks", KEY).await;
    let body = problem(other_body, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "Idempotency-Key");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("another request body"),
        "{body}"
    );
    let other_path = system
        .tasks
        .post_with_key("/v1/tasks/shuffle", &system.admin, None, KEY)
        .await;
    let body = problem(other_path, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("POST /v1/tasks"),
        "names where the key was used: {body}"
    );
    assert_eq!(system.total_tasks().await, 1);
}

#[tokio::test]
async fn twenty_concurrent_requests_with_one_key_create_one_task() {
    let system = Retries::start().await;
    let answers = futures::future::join_all(
        (0..20).map(|_| system.create(&system.admin, "Fix the nest", KEY)),
    )
    .await;
    let mut ids = Vec::new();
    let mut in_flight = 0;
    for response in answers {
        match response.status() {
            StatusCode::CREATED => {
                let task: Task = response.json().await.unwrap();
                ids.push(task.id);
            }
            StatusCode::CONFLICT => {
                assert_eq!(response.headers()["retry-after"], "1");
                problem(response, StatusCode::CONFLICT).await;
                in_flight += 1;
            }
            other => panic!("a concurrent repeat got {other}"),
        }
    }
    assert!(!ids.is_empty(), "the first request succeeded");
    assert!(ids.iter().all(|id| id == &ids[0]), "one task: {ids:?}");
    assert_eq!(ids.len() + in_flight, 20);
    assert_eq!(system.total_tasks().await, 1);

    let later = system.create(&system.admin, "Fix the nest", KEY).await;
    assert!(replayed(&later));
    let later: Task = later.json().await.unwrap();
    assert_eq!(later.id, ids[0]);
}

#[tokio::test]
async fn a_repeated_completion_is_answered_again_and_completes_once() {
    let system = Retries::start().await;
    let task = system.tasks.task(&system.admin, "Fix the nest").await;
    let marker = system.tasks.task(&system.admin, "Another task").await;
    let path = format!("/v1/tasks/{}/complete", task.id);

    let first = system
        .tasks
        .post_with_key(&path, &system.worker, None, KEY)
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    let first: Task = first.json().await.unwrap();
    let repeat = system
        .tasks
        .post_with_key(&path, &system.worker, None, KEY)
        .await;
    assert_eq!(repeat.status(), StatusCode::OK, "not 'already done'");
    assert!(replayed(&repeat));
    assert_eq!(repeat.json::<Task>().await.unwrap(), first);
    // Without the key, the same request is the plain second completion.
    let plain = system
        .tasks
        .complete(&system.worker, &task.id.to_string())
        .await;
    problem(plain, StatusCode::CONFLICT).await;

    let done = system
        .tasks
        .complete(&system.worker, &marker.id.to_string())
        .await;
    assert_eq!(done.status(), StatusCode::OK);
    let completed = system
        .events_after("tasks.completed", &json!(marker.id))
        .await;
    let of_task = completed
        .iter()
        .filter(|event| event["data"]["task_id"] == task.id.to_string())
        .count();
    assert_eq!(of_task, 1, "one completion, one reward");
    assert_eq!(completed.len(), 2);
}

#[tokio::test]
async fn a_repeated_shuffle_shuffles_once() {
    let system = Retries::start().await;
    system.tasks.task(&system.admin, "Fix the nest").await;
    system.tasks.task(&system.admin, "Feed the chicks").await;

    let first = system
        .tasks
        .post_with_key("/v1/tasks/shuffle", &system.admin, None, KEY)
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    let first: ShuffleResult = first.json().await.unwrap();
    assert_eq!(first.reassigned, 2);
    let repeat = system
        .tasks
        .post_with_key("/v1/tasks/shuffle", &system.admin, None, KEY)
        .await;
    assert!(replayed(&repeat));
    assert_eq!(repeat.json::<ShuffleResult>().await.unwrap(), first);

    let marker = system.tasks.task(&system.admin, "Marker").await;
    let assigned = system
        .events_after("tasks.assigned", &json!(marker.id))
        .await;
    let by_shuffle = assigned
        .iter()
        .filter(|event| !event["data"]["previous_assignee_id"].is_null())
        .count();
    assert_eq!(by_shuffle, 2, "one shuffle's assignments (one fee each)");
    assert_eq!(assigned.len(), 5, "3 creations and one shuffle of 2");
}

#[tokio::test]
async fn another_caller_with_the_same_key_does_not_get_the_first_answer() {
    let system = Retries::start().await;
    let by_admin = system.create(&system.admin, "Fix the nest", KEY).await;
    assert_eq!(by_admin.status(), StatusCode::CREATED);
    let by_admin: Task = by_admin.json().await.unwrap();

    let by_worker = system.create(&system.worker, "Fix the nest", KEY).await;
    assert_eq!(by_worker.status(), StatusCode::CREATED);
    assert!(
        !replayed(&by_worker),
        "the worker's key is the worker's own"
    );
    let by_worker: Task = by_worker.json().await.unwrap();
    assert_ne!(by_worker.id, by_admin.id);
    assert_eq!(system.total_tasks().await, 2);
    assert_eq!(by_worker.assignee_id.to_string(), system.worker_id);
}

#[tokio::test]
async fn a_repeat_after_the_window_is_a_new_request() {
    let system = Retries::start_with(|config| {
        config.http.idempotency_window = Duration::from_secs(1);
    })
    .await;
    let first = system.create(&system.admin, "Fix the nest", KEY).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Task = first.json().await.unwrap();
    // Repeats inside the window are replays; the first one after it runs.
    let second = eventually(Duration::from_secs(10), "the window to end", || async {
        let response = system.create(&system.admin, "Fix the nest", KEY).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        if replayed(&response) {
            return None;
        }
        Some(response.json::<Task>().await.unwrap())
    })
    .await;
    assert_ne!(second.id, first.id);
    assert_eq!(system.total_tasks().await, 2);
}

#[tokio::test]
async fn malformed_keys_are_400_and_failed_requests_give_the_key_back() {
    let system = Retries::start().await;
    let long = "k".repeat(256);
    for key in ["", long.as_str(), "two words", "tab\tkey"] {
        let response = system.create(&system.admin, "Fix the nest", key).await;
        let body = problem(response, StatusCode::BAD_REQUEST).await;
        assert!(
            body["detail"].as_str().unwrap().contains("Idempotency-Key"),
            "{body}"
        );
    }
    assert_eq!(system.total_tasks().await, 0);

    // A refused request is not stored: the corrected retry with the same
    // key runs.
    let invalid = system.create(&system.admin, "[POPUG-1] nest", KEY).await;
    problem(invalid, StatusCode::UNPROCESSABLE_ENTITY).await;
    let no_token = system
        .tasks
        .client
        .post(system.tasks.url("/v1/tasks"))
        .header("idempotency-key", KEY)
        .json(&json!({"title": "Fix the nest", "description": ""}))
        .send()
        .await
        .unwrap();
    problem(no_token, StatusCode::UNAUTHORIZED).await;
    let corrected = system.create(&system.admin, "Fix the nest", KEY).await;
    assert_eq!(corrected.status(), StatusCode::CREATED);
    assert!(!replayed(&corrected));
    assert_eq!(system.total_tasks().await, 1);
}

/// What an instance that died mid-request left, for the key `key`.
fn interrupted<'a>(
    system: &'a Retries,
    key: &'a str,
    body: &'a Value,
    committed: bool,
    silent_for: Duration,
) -> Interrupted<'a> {
    Interrupted {
        account_id: &system.worker_id,
        key,
        path: "/v1/tasks",
        body,
        committed,
        silent_for,
    }
}

#[tokio::test]
async fn a_retry_takes_over_a_request_whose_instance_died_before_it_committed() {
    let system = Retries::start().await;
    let body = json!({"title": "Fix the nest", "description": "to do"});
    // The heartbeat stopped 6 s ago and nothing was committed: the
    // instance died before the task was stored.
    plant_interrupted(
        &system.tasks.db,
        interrupted(&system, KEY, &body, false, Duration::from_secs(6)),
    )
    .await;

    let retry = system.create(&system.worker, "Fix the nest", KEY).await;
    assert_eq!(retry.status(), StatusCode::CREATED, "the retry runs");
    assert!(!replayed(&retry));
    let task: Task = retry.json().await.unwrap();
    let again = system.create(&system.worker, "Fix the nest", KEY).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert!(replayed(&again), "its answer is stored like any other");
    assert_eq!(again.json::<Task>().await.unwrap(), task);

    let created = system.events_after("tasks.created", &json!(task.id)).await;
    assert_eq!(created.len(), 1, "one task, published once");
    assert_eq!(system.total_tasks().await, 1);
}

#[tokio::test]
async fn a_request_still_running_or_interrupted_after_it_committed_is_never_run_again() {
    let system = Retries::start().await;
    let body = json!({"title": "Fix the nest", "description": "to do"});

    // Its heartbeat is fresh: its instance still runs it.
    plant_interrupted(
        &system.tasks.db,
        interrupted(&system, "running", &body, false, Duration::ZERO),
    )
    .await;
    let running = system
        .create(&system.worker, "Fix the nest", "running")
        .await;
    assert_eq!(running.headers()["retry-after"], "1");
    let detail = problem(running, StatusCode::CONFLICT).await;
    assert!(
        detail["detail"].as_str().unwrap().contains("still running"),
        "{detail}"
    );

    // The command committed, then the instance died before the answer was
    // stored: running it again would do it twice.
    plant_interrupted(
        &system.tasks.db,
        interrupted(&system, "committed", &body, true, Duration::from_secs(6)),
    )
    .await;
    let lost = system
        .create(&system.worker, "Fix the nest", "committed")
        .await;
    assert!(
        lost.headers().get("retry-after").is_none(),
        "waiting will not help"
    );
    let detail = problem(lost, StatusCode::CONFLICT).await;
    assert!(
        detail["detail"]
            .as_str()
            .unwrap()
            .contains("look the result up"),
        "{detail}"
    );

    // The marker: a request with a new key runs, so the two above were
    // answered by this instance and ran nothing.
    let marker = system.create(&system.worker, "Marker", "marker").await;
    assert_eq!(marker.status(), StatusCode::CREATED);
    let marker: Task = marker.json().await.unwrap();
    let created = system
        .events_after("tasks.created", &json!(marker.id))
        .await;
    assert_eq!(created.len(), 1, "only the marker was created");
    assert_eq!(system.total_tasks().await, 1);
}
