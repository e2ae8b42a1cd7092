//! tasks-api over HTTP with real auth-api tokens, real account events and a
//! real JetStream broker.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use ates_core::bus::EventBus;
use ates_core::config::ServiceSettings;
use ates_core::testing::{CommandRun, count, eventually, problem, published_events, run_command};
use auth_api::testing::{ADMIN_EMAIL, Popug, TestApp as AuthApp};
use event_schemas::tasks::TaskStatus;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tasks_api::routes::tasks::Task;
use tasks_api::testing::TasksApp;

/// auth-api and tasks-api on one broker.
struct System {
    auth: AuthApp,
    tasks: TasksApp,
    bus: EventBus,
}

/// A person in a test: their account id and access token.
impl System {
    async fn start() -> Self {
        let auth = AuthApp::spawn().await;
        let tasks = TasksApp::spawn(&auth.broker, &auth.jwks_url()).await;
        let bus = EventBus::connect(&auth.broker.bus_config("tasks-test"))
            .await
            .unwrap();
        Self { auth, tasks, bus }
    }

    /// Signs up `email` with `role` and waits until tasks-api knows it.
    /// A popug of `role` whom tasks-api knows.
    async fn popug(&self, email: &str, role: &str) -> Popug {
        let popug = self.auth.popug(email, role).await;
        self.tasks.wait_for_account(&popug.id, true).await;
        self.tasks.wait_for_role(&popug.id, role).await;
        popug
    }

    async fn admin(&self) -> Popug {
        let token = self.auth.admin_token().await;
        let id = self.auth.account_id_of(&token).await;
        self.tasks.wait_for_account(&id, true).await;
        Popug {
            id,
            email: ADMIN_EMAIL.to_owned(),
            token,
        }
    }

    /// Waits until exactly `count` events named `name` are in the stream.
    async fn task_events(&self, name: &str, count: usize) -> Vec<Value> {
        eventually(
            Duration::from_secs(20),
            &format!("exactly {count} {name}"),
            || async {
                let events: Vec<Value> = published_events(&self.bus, "tasks")
                    .await
                    .into_iter()
                    .filter(|event| event["event_name"] == name)
                    .collect();
                (events.len() == count).then_some(events)
            },
        )
        .await
    }
}

#[tokio::test]
async fn a_new_task_is_assigned_at_once_and_published() {
    let system = System::start().await;
    let admin = system.admin().await;
    let worker = system.popug("kesha@popug.inc", "worker").await;
    let response = system
        .tasks
        .create_task(
            &admin.token,
            &json!({"title": "Fix the nest", "jira_id": "POPUG-42", "description": "It leaks."}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let task: Task = response.json().await.unwrap();
    assert_eq!(task.status, TaskStatus::Open);
    assert_eq!(
        task.assignee_id.to_string(),
        worker.id,
        "the only eligible account"
    );
    assert_eq!(task.jira_id.as_deref(), Some("POPUG-42"));
    assert_eq!(task.completed_at, None);

    let created = system.task_events("tasks.created", 1).await;
    assert_eq!(created[0]["event_version"], 3);
    assert_eq!(created[0]["data"]["revision"], 1);
    assert_eq!(created[0]["producer"], "tasks-api");
    assert_eq!(created[0]["data"]["task_id"], json!(task.id));
    assert_eq!(created[0]["data"]["jira_id"], "POPUG-42");
    assert_eq!(created[0]["data"]["assignee_id"], json!(worker.id));
    let assigned = system.task_events("tasks.assigned", 1).await;
    assert_eq!(assigned[0]["event_version"], 2);
    assert_eq!(assigned[0]["data"]["assignee_id"], json!(worker.id));
    assert_eq!(assigned[0]["data"]["previous_assignee_id"], Value::Null);
    assert_eq!(assigned[0]["data"]["revision"], 1, "one change: creation");

    let fetched = system
        .tasks
        .fetch(&worker.token, &task.id.to_string())
        .await;
    assert_eq!(fetched, task);
}

#[tokio::test]
async fn text_at_its_limits_is_kept_as_sent() {
    let system = System::start().await;
    let worker = system.popug("kesha@popug.inc", "worker").await;
    // 200 two-byte characters (400 bytes); new lines and tabs in a description.
    let title = "ж".repeat(200);
    let description = "Step 1:\tfind the leak\r\nStep 2:\tfix it\n";
    let response = system
        .tasks
        .create_task(
            &worker.token,
            &json!({"title": title, "description": description}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let task: Task = response.json().await.unwrap();
    assert_eq!(task.title, title);
    assert_eq!(task.description, description);
}

#[tokio::test]
async fn invalid_tasks_are_refused_with_clear_errors_and_nothing_is_stored() {
    let system = System::start().await;
    let worker = system.popug("kesha@popug.inc", "worker").await;
    let body = problem(
        system
            .tasks
            .create_task(
                &worker.token,
                &json!({"title": "[POPUG-1] Fix the nest", "description": ""}),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "title");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("jira_id")
    );

    for (invalid, field) in [
        (
            json!({"title": "Fix", "jira_id": "popug 1", "description": ""}),
            "jira_id",
        ),
        (json!({"title": "", "description": ""}), "title"),
        (
            json!({"title": "x".repeat(201), "description": ""}),
            "title",
        ),
        (
            json!({"title": "Fix", "description": "d".repeat(10_001)}),
            "description",
        ),
        // PostgreSQL refuses a NUL byte in text: it is a 422, never a 500.
        (json!({"title": "Fix\u{0}it", "description": ""}), "title"),
        (
            json!({"title": "Fix", "description": "a\u{0}b"}),
            "description",
        ),
        (
            json!({"title": "Fix\u{7}\u{1b}[2J", "description": ""}),
            "title",
        ),
        (json!({"title": "Fix\rit", "description": ""}), "title"),
        (
            json!({"title": "Fix", "jira_id": "POPUG-1\u{0}", "description": ""}),
            "jira_id",
        ),
        // Lengths are characters, not bytes.
        (
            json!({"title": "ж".repeat(201), "description": ""}),
            "title",
        ),
    ] {
        let body = problem(
            system.tasks.create_task(&worker.token, &invalid).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(body["errors"][0]["field"], field);
    }
    problem(
        system
            .tasks
            .create_task(
                &worker.token,
                &json!({"title": "Fix", "description": "", "reward": 1}),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let malformed = system
        .tasks
        .client
        .post(system.tasks.url("/v1/tasks"))
        .bearer_auth(&worker.token)
        .header("content-type", "application/json")
        .body("{\"title\":")
        .send()
        .await
        .unwrap();
    problem(malformed, StatusCode::BAD_REQUEST).await;
    problem(
        system
            .tasks
            .client
            .post(system.tasks.url("/v1/tasks"))
            .json(&json!({"title": "Fix", "description": ""}))
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;

    let all = system.tasks.list(&worker.token, "").await;
    assert_eq!(all.items, vec![]);
    assert_eq!(all.next_cursor, None);
    assert!(published_events(&system.bus, "tasks").await.is_empty());
}

#[tokio::test]
async fn with_no_eligible_account_a_task_is_refused_and_nothing_published() {
    let system = System::start().await;
    let admin = system.admin().await;
    let manager = system.popug("boss@popug.inc", "manager").await;
    let body = problem(
        system
            .tasks
            .create_task(
                &manager.token,
                &json!({"title": "Fix the nest", "description": ""}),
            )
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("no one can take tasks")
    );
    let all = system.tasks.list(&admin.token, "").await;
    assert_eq!(all.items, vec![]);
    assert_eq!(all.next_cursor, None);
    assert!(published_events(&system.bus, "tasks").await.is_empty());
}

#[tokio::test]
async fn random_assignment_is_spread_over_eligible_accounts_only() {
    let system = System::start().await;
    let admin = system.admin().await;
    let manager = system.popug("boss@popug.inc", "manager").await;
    let mut eligible = Vec::new();
    for (email, role) in [
        ("a@popug.inc", "worker"),
        ("b@popug.inc", "worker"),
        ("c@popug.inc", "worker"),
        ("d@popug.inc", "accountant"),
    ] {
        eligible.push(system.popug(email, role).await.id);
    }
    let tasks = 200;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for index in 0..tasks {
        let task = system
            .tasks
            .task(&admin.token, &format!("Task {index}"))
            .await;
        *counts.entry(task.assignee_id.to_string()).or_default() += 1;
    }
    assert!(!counts.contains_key(&admin.id), "never an admin");
    assert!(!counts.contains_key(&manager.id), "never a manager");
    // Uniform over 4 accounts: 50 each expected; each gets at least 25
    // (the chance of fewer is below 1e-5 per account).
    for id in &eligible {
        let got = counts.get(id).copied().unwrap_or(0);
        assert!(got >= 25, "account {id} got {got} of {tasks}: {counts:?}");
    }
}

#[tokio::test]
async fn concurrent_creations_are_each_stored_and_published_once() {
    let system = System::start().await;
    let admin = system.admin().await;
    let a = system.popug("a@popug.inc", "worker").await;
    let b = system.popug("b@popug.inc", "worker").await;
    // Sent together, they are written in a few group commits.
    let titles: Vec<String> = (0..60).map(|index| format!("Together {index}")).collect();
    let created = futures::future::join_all(
        titles
            .iter()
            .map(|title| system.tasks.task(&admin.token, title)),
    )
    .await;
    let mut assignees = HashMap::new();
    for (task, title) in created.iter().zip(&titles) {
        assert_eq!(task.title, *title, "each caller gets its own task");
        let assignee = task.assignee_id.to_string();
        assert!(assignee == a.id || assignee == b.id, "assigned to a worker");
        assert!(
            assignees.insert(task.id.to_string(), assignee).is_none(),
            "ids are distinct"
        );
    }
    // Tasks written in one group commit may share a creation time: paging
    // by (time, id) still gives each exactly once, newest first.
    let mut listed = Vec::new();
    let mut query = "per_page=7".to_owned();
    loop {
        let page = system.tasks.list(&admin.token, &query).await;
        assert!(page.items.len() <= 7);
        listed.extend(page.items);
        match page.next_cursor {
            Some(cursor) => query = format!("per_page=7&cursor={cursor}"),
            None => break,
        }
    }
    let listed_ids: Vec<String> = listed.iter().map(|task| task.id.to_string()).collect();
    let mut unique = listed_ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 60, "every task once: {listed_ids:?}");
    assert_eq!(
        unique.into_iter().collect::<std::collections::HashSet<_>>(),
        assignees.keys().cloned().collect(),
    );
    assert!(
        listed
            .windows(2)
            .all(|pair| (pair[0].created_at, pair[0].id) > (pair[1].created_at, pair[1].id)),
        "newest first, ties by id"
    );
    for name in ["tasks.created", "tasks.assigned"] {
        let events = system.task_events(name, 60).await;
        let mut published: HashMap<String, String> = HashMap::new();
        for event in &events {
            let id = event["data"]["task_id"].as_str().unwrap().to_owned();
            let assignee = event["data"]["assignee_id"].as_str().unwrap().to_owned();
            assert!(
                published.insert(id, assignee).is_none(),
                "{name} once per task"
            );
        }
        assert_eq!(published, assignees, "{name} matches what was returned");
    }
}

#[tokio::test]
async fn one_bad_creation_among_thirty_concurrent_fails_alone() {
    let system = System::start().await;
    let worker = system.popug("kesha@popug.inc", "worker").await;
    // The NUL title is what PostgreSQL refused, failing the requests it was
    // committed with; now it is a 422 of its own and the rest are written.
    let bodies: Vec<Value> = (0..30)
        .map(|index| match index {
            13 => json!({"title": "Bad\u{0}title", "description": ""}),
            _ => json!({"title": format!("Good {index}"), "description": "ok"}),
        })
        .collect();
    let responses = futures::future::join_all(
        bodies
            .iter()
            .map(|body| system.tasks.create_task(&worker.token, body)),
    )
    .await;
    let mut created = 0;
    for (index, response) in responses.into_iter().enumerate() {
        if index == 13 {
            let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
            assert_eq!(body["errors"][0]["field"], "title", "{body}");
        } else {
            assert_eq!(response.status(), StatusCode::CREATED, "request {index}");
            let task: Task = response.json().await.unwrap();
            assert_eq!(task.title, format!("Good {index}"));
            created += 1;
        }
    }
    assert_eq!(created, 29);
    let listed = system.tasks.all(&worker.token, "").await;
    assert_eq!(listed.len(), 29);
}

#[tokio::test]
async fn only_admins_and_managers_shuffle() {
    let system = System::start().await;
    let worker = system.popug("kesha@popug.inc", "worker").await;
    let accountant = system.popug("money@popug.inc", "accountant").await;
    let manager = system.popug("boss@popug.inc", "manager").await;
    let admin = system.admin().await;
    problem(
        system.tasks.shuffle(&worker.token).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        system.tasks.shuffle(&accountant.token).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    for allowed in [&manager, &admin] {
        let result = system.tasks.shuffled(&allowed.token).await;
        assert_eq!(result.reassigned, 0);
    }
}

#[tokio::test]
async fn demoted_managers_and_admins_cannot_shuffle_with_their_old_tokens() {
    let system = System::start().await;
    let manager = system.popug("boss@popug.inc", "manager").await;
    let second_admin = system.popug("chief@popug.inc", "admin").await;
    for allowed in [&manager, &second_admin] {
        assert_eq!(
            system.tasks.shuffle(&allowed.token).await.status(),
            StatusCode::OK,
            "allowed before the demotion"
        );
    }
    for demoted in [&manager, &second_admin] {
        system.auth.set_role(&demoted.id, "worker").await;
        system.tasks.wait_for_role(&demoted.id, "worker").await;
        let body = problem(
            system.tasks.shuffle(&demoted.token).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("your role is now worker"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_promoted_workers_old_token_still_cannot_shuffle() {
    let system = System::start().await;
    let kesha = system.popug("kesha@popug.inc", "worker").await;
    system.auth.set_role(&kesha.id, "manager").await;
    system.tasks.wait_for_role(&kesha.id, "manager").await;
    // Both the token's role and the role last heard must permit it.
    problem(
        system.tasks.shuffle(&kesha.token).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let fresh = system.auth.access_token("kesha@popug.inc").await;
    assert_eq!(system.tasks.shuffle(&fresh).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn every_change_of_a_task_moves_its_revision_on_by_one() {
    let system = System::start().await;
    let admin = system.admin().await;
    let kesha = system.popug("kesha@popug.inc", "worker").await;
    let task = system.tasks.task(&admin.token, "Fix the nest").await;
    let shuffled = system.tasks.shuffled(&admin.token).await;
    assert_eq!(shuffled.reassigned, 1);
    let task_id = &task.id.to_string();
    assert_eq!(
        system.tasks.complete(&kesha.token, task_id).await.status(),
        StatusCode::OK
    );
    let completed = system.task_events("tasks.completed", 1).await;
    assert_eq!(completed[0]["event_version"], 2);
    assert_eq!(completed[0]["data"]["revision"], 3);
    let assigned = system.task_events("tasks.assigned", 2).await;
    let revisions: Vec<&Value> = assigned
        .iter()
        .map(|event| &event["data"]["revision"])
        .collect();
    assert_eq!(revisions, [&json!(1), &json!(2)]);
}

#[tokio::test]
async fn shuffle_spreads_open_tasks_and_leaves_done_ones_alone() {
    let system = System::start().await;
    let manager = system.popug("boss@popug.inc", "manager").await;
    let first = system.popug("a@popug.inc", "worker").await;
    let mut tasks = Vec::new();
    for index in 0..30 {
        tasks.push(
            system
                .tasks
                .task(&manager.token, &format!("Task {index}"))
                .await,
        );
    }
    // All went to the only worker; they finish one.
    let done_id = tasks[0].id.to_string();
    assert_eq!(
        system.tasks.complete(&first.token, &done_id).await.status(),
        StatusCode::OK
    );
    let second = system.popug("b@popug.inc", "worker").await;
    let third = system.popug("c@popug.inc", "worker").await;

    let result = system.tasks.shuffled(&manager.token).await;
    assert_eq!(result.reassigned, 29);
    let open = system
        .tasks
        .list(&manager.token, "status=open&per_page=100")
        .await;
    let mut holders: HashMap<String, usize> = HashMap::new();
    for task in open.items {
        *holders.entry(task.assignee_id.to_string()).or_default() += 1;
    }
    assert!(
        holders.len() >= 2,
        "29 tasks over 3 workers land on several: {holders:?}"
    );
    for id in holders.keys() {
        assert!([&first.id, &second.id, &third.id].contains(&id));
    }
    let done = system.tasks.fetch(&manager.token, &done_id).await;
    assert_eq!(done.status, TaskStatus::Done);
    assert_eq!(done.assignee_id.to_string(), first.id);

    let assigned = system.task_events("tasks.assigned", 30 + 29).await;
    let reassignments: Vec<&Value> = assigned
        .iter()
        .filter(|event| !event["data"]["previous_assignee_id"].is_null())
        .collect();
    assert_eq!(reassignments.len(), 29);
    assert!(
        reassignments
            .iter()
            .all(|event| event["data"]["previous_assignee_id"] == json!(first.id))
    );
}

#[tokio::test]
async fn only_the_assignee_completes_and_only_once() {
    let system = System::start().await;
    let assignee = system.popug("kesha@popug.inc", "worker").await;
    let manager = system.popug("boss@popug.inc", "manager").await;
    let task = system.tasks.task(&manager.token, "Fix the nest").await;
    let id = &task.id.to_string();
    problem(
        system.tasks.complete(&manager.token, id).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let done = system.tasks.completed(&assignee.token, id).await;
    assert_eq!(done.status, TaskStatus::Done);
    assert!(done.completed_at.is_some());
    problem(
        system.tasks.complete(&assignee.token, id).await,
        StatusCode::CONFLICT,
    )
    .await;
    problem(
        system
            .tasks
            .complete(&assignee.token, &uuid::Uuid::new_v4().to_string())
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        system.tasks.complete(&assignee.token, "nope").await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    // The marker: a task created after the refused completions. Its event
    // comes after anything they could have published (one outbox, in
    // order), so once it is in the stream the count is final.
    system.tasks.task(&manager.token, "The marker").await;
    system.task_events("tasks.created", 2).await;
    let completed = system.task_events("tasks.completed", 1).await;
    assert_eq!(
        completed.len(),
        1,
        "the refused completions published nothing"
    );
    assert_eq!(completed[0]["data"]["assignee_id"], json!(assignee.id));
}

#[tokio::test]
async fn listing_filters_and_paginates() {
    let system = System::start().await;
    let manager = system.popug("boss@popug.inc", "manager").await;
    let kesha = system.popug("kesha@popug.inc", "worker").await;
    for index in 0..5 {
        system
            .tasks
            .task(&manager.token, &format!("Kesha's {index}"))
            .await;
    }
    let rio = system.popug("rio@popug.inc", "worker").await;
    // Rio becomes the only eligible account: Kesha is made a manager.
    system.auth.set_role(&kesha.id, "manager").await;
    system.tasks.wait_for_role(&kesha.id, "manager").await;
    for index in 0..3 {
        system
            .tasks
            .task(&manager.token, &format!("Rio's {index}"))
            .await;
    }
    let one = system.tasks.mine(&rio.token, "").await;
    assert_eq!(one.items.len(), 3);
    assert_eq!(one.next_cursor, None, "no page after the last");
    let kesha_query = format!("assignee_id={}&per_page=2", kesha.id);
    let first_page = system.tasks.list(&rio.token, &kesha_query).await;
    let titles: Vec<&str> = first_page.items.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(titles, vec!["Kesha's 4", "Kesha's 3"], "newest first");
    let first_cursor = first_page.next_cursor.expect("a second page");
    let cursor = first_cursor.clone();
    let second_page = system
        .tasks
        .list(&rio.token, &format!("{kesha_query}&cursor={cursor}"))
        .await;
    let titles: Vec<&str> = second_page.items.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(titles, vec!["Kesha's 2", "Kesha's 1"]);
    let cursor = second_page.next_cursor.expect("a third page");
    let last_page = system
        .tasks
        .list(&rio.token, &format!("{kesha_query}&cursor={cursor}"))
        .await;
    let titles: Vec<&str> = last_page.items.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(titles, vec!["Kesha's 0"]);
    assert_eq!(last_page.next_cursor, None);

    let first = one.items[0].id.to_string();
    system.tasks.complete(&rio.token, &first).await;
    let open_mine = system.tasks.all_mine(&rio.token, "status=open").await;
    assert_eq!(open_mine.len(), 2);
    let done_all = system.tasks.all(&manager.token, "status=done").await;
    assert_eq!(done_all.len(), 1);

    // A cursor of another list, an altered one and the page numbers that
    // cursors replaced are each a 422 naming the parameter.
    let people_cursor = system
        .tasks
        .get("/v1/people?per_page=1", &rio.token)
        .await
        .json::<Value>()
        .await
        .unwrap()["next_cursor"]
        .as_str()
        .expect("more than one person")
        .to_owned();
    let altered = format!("{first_cursor}A");
    for (bad, named) in [
        ("/v1/tasks?per_page=101".to_owned(), Some("per_page")),
        ("/v1/tasks/mine?per_page=0".to_owned(), Some("per_page")),
        ("/v1/tasks?page=2".to_owned(), Some("`page`")),
        ("/v1/tasks?status=lost".to_owned(), None),
        ("/v1/tasks?assignee_id=nope".to_owned(), None),
        (format!("/v1/tasks?cursor={people_cursor}"), Some("cursor")),
        (format!("/v1/tasks/mine?cursor={altered}"), Some("cursor")),
        ("/v1/tasks?cursor=%00".to_owned(), Some("cursor")),
    ] {
        let body = problem(
            system.tasks.get(&bad, &rio.token).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        if let Some(named) = named {
            assert!(body["errors"].to_string().contains(named), "{bad}: {body}");
        }
    }
    problem(
        system
            .tasks
            .get(&format!("/v1/tasks/{}", uuid::Uuid::new_v4()), &rio.token)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn a_deactivated_account_is_refused_once_its_event_arrives() {
    let system = System::start().await;
    let kesha = system.popug("kesha@popug.inc", "worker").await;
    let rio = system.popug("rio@popug.inc", "worker").await;
    assert_eq!(
        system
            .tasks
            .get("/v1/tasks/mine", &kesha.token)
            .await
            .status(),
        StatusCode::OK
    );
    system.auth.deactivate(&kesha.id).await;
    system.tasks.wait_for_account(&kesha.id, false).await;
    let body = problem(
        system.tasks.get("/v1/tasks/mine", &kesha.token).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("deactivated"));
    // And is never assigned again.
    for index in 0..10 {
        let task = system
            .tasks
            .task(&rio.token, &format!("Task {index}"))
            .await;
        assert_eq!(task.assignee_id.to_string(), rio.id);
    }
}

#[tokio::test]
async fn a_role_change_takes_effect_for_assignment_at_once() {
    let system = System::start().await;
    let kesha = system.popug("kesha@popug.inc", "worker").await;
    let rio = system.popug("rio@popug.inc", "worker").await;
    system.auth.set_role(&kesha.id, "manager").await;
    system.tasks.wait_for_role(&kesha.id, "manager").await;
    for index in 0..10 {
        let task = system
            .tasks
            .task(&rio.token, &format!("Task {index}"))
            .await;
        assert_eq!(task.assignee_id.to_string(), rio.id);
    }
}

#[tokio::test]
async fn a_shuffle_racing_completions_never_undoes_a_completion() {
    let system = System::start().await;
    let manager = system.popug("boss@popug.inc", "manager").await;
    let kesha = system.popug("kesha@popug.inc", "worker").await;
    let mut ids = Vec::new();
    for index in 0..20 {
        ids.push(
            system
                .tasks
                .task(&manager.token, &format!("Task {index}"))
                .await
                .id
                .to_string(),
        );
    }
    let _rio = system.popug("rio@popug.inc", "worker").await;
    let shuffles = async {
        for _ in 0..5 {
            assert_eq!(
                system.tasks.shuffle(&manager.token).await.status(),
                StatusCode::OK
            );
        }
    };
    let completions = async {
        let mut completed = Vec::new();
        for id in &ids {
            let response = system.tasks.complete(&kesha.token, id).await;
            match response.status() {
                StatusCode::OK => completed.push(id.clone()),
                StatusCode::FORBIDDEN | StatusCode::CONFLICT => {}
                other => panic!("unexpected {other}"),
            }
        }
        completed
    };
    let ((), completed) = tokio::join!(shuffles, completions);
    assert!(!completed.is_empty());
    for id in completed {
        let task = system.tasks.fetch(&manager.token, &id).await;
        assert_eq!(task.status, TaskStatus::Done, "{id}");
        assert_eq!(
            task.assignee_id.to_string(),
            kesha.id,
            "a done task keeps its assignee"
        );
    }
}

/// Runs `tasks-api rebuild` as an operator would, with `settings`.
async fn rebuild(settings: &ServiceSettings) -> CommandRun {
    run_command(env!("CARGO_BIN_EXE_tasks-api"), settings, &["rebuild"]).await
}

#[tokio::test]
async fn rebuild_replays_the_account_replica_and_leaves_the_tasks_alone() {
    let system = System::start().await;
    let admin = system.admin().await;
    let kesha = system.popug("kesha@popug.inc", "worker").await;
    let boss = system.popug("boss@popug.inc", "manager").await;
    let rio = system.popug("rio@popug.inc", "accountant").await;
    system.auth.deactivate(&kesha.id).await;
    system.tasks.wait_for_account(&kesha.id, false).await;
    let chick = system.popug("chick@popug.inc", "worker").await;
    let eligible = [chick.id, rio.id];
    let first = system.tasks.task(&boss.token, "Before the rebuild").await;
    assert!(eligible.contains(&first.assignee_id.to_string()));
    let replica = tasks_api::testing::replica(&system.tasks.db).await;
    assert_eq!(replica.len(), 5);
    let tasks = system.tasks.all(&admin.token, "").await;
    let account_events = published_events(&system.bus, "accounts").await.len();

    // While the service consumes, the rebuild is refused and changes nothing.
    let refused = rebuild(&system.tasks.config).await;
    assert!(
        !refused.ok && refused.stderr.contains("is consuming the accounts stream"),
        "{refused:?}"
    );

    // auth-api and the broker stay up throughout.
    let System {
        auth: _auth,
        tasks: app,
        bus,
    } = system;
    let stopped = app.stop_and_open().await;
    let outbox = "SELECT COUNT(*) FROM outbox_events";
    let written = count(&stopped.db, outbox).await;
    let rebuilt = rebuild(&stopped.config).await;
    assert!(rebuilt.ok, "{rebuilt:?}");
    assert!(
        rebuilt
            .stdout
            .contains(&format!("accounts: replayed {account_events} event(s)")),
        "{rebuilt:?}"
    );
    assert_eq!(tasks_api::testing::replica(&stopped.db).await, replica);
    assert_eq!(count(&stopped.db, outbox).await, written, "nothing written");
    assert_eq!(
        published_events(&bus, "accounts").await.len(),
        account_events
    );

    // Started again, it knows who is active: the tasks are as they were,
    // and new ones go to active popugs who are not managers or admins.
    let app = stopped.restart().await;
    assert_eq!(app.all(&admin.token, "").await, tasks);
    for index in 0..5 {
        let task = app
            .task(&boss.token, &format!("After the rebuild {index}"))
            .await;
        assert!(eligible.contains(&task.assignee_id.to_string()), "{task:?}");
    }
}

#[test]
fn the_committed_openapi_document_matches_the_code() {
    ates_core::testing::assert_committed_document(
        "tasks-api.json",
        &ates_core::service::openapi::<tasks_api::TasksApi>(),
    );
}

/// Publishes an account event as auth-api's relay would.
use ates_core::testing::{far_future, publish_account_event};

#[tokio::test]
async fn an_event_dated_in_year_9999_does_not_freeze_an_account() {
    use event_schemas::accounts::{
        AccountCreatedV2, AccountRoleChangedV2, AccountUpdatedV1, AccountUpdatedV2, Role,
    };
    let system = System::start().await;
    let now = chrono::Utc::now();
    let id = uuid::Uuid::now_v7();
    publish_account_event(
        &system.bus,
        now,
        AccountCreatedV2 {
            account_id: id,
            email: "kesha@popug.inc".into(),
            full_name: "Kesha".into(),
            role: Role::Worker,
            active: true,
            created_at: now,
            revision: 1,
        },
    )
    .await;
    publish_account_event(
        &system.bus,
        far_future(),
        AccountUpdatedV2 {
            account_id: id,
            email: "kesha@popug.inc".into(),
            full_name: "Kesha from the future".into(),
            role: Role::Accountant,
            active: true,
            updated_at: far_future(),
            revision: 2,
        },
    )
    .await;
    publish_account_event(
        &system.bus,
        now,
        AccountRoleChangedV2 {
            account_id: id,
            previous_role: Role::Accountant,
            role: Role::Manager,
            changed_at: now,
            revision: 3,
        },
    )
    .await;
    system.tasks.wait_for_role(&id.to_string(), "manager").await;
    let row = ates_core::account_replica::find(&system.tasks.db, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.full_name, "Kesha from the future");
    assert_eq!(
        (row.details_revision, row.role_revision),
        (Some(2), Some(3))
    );

    // An account whose far-future event came before revisions (v1) is
    // not frozen either: the first revisioned change goes through.
    let old = uuid::Uuid::now_v7();
    publish_account_event(
        &system.bus,
        far_future(),
        AccountUpdatedV1 {
            account_id: old,
            email: "rio@popug.inc".into(),
            full_name: "Rio".into(),
            role: Role::Accountant,
            active: true,
            updated_at: far_future(),
        },
    )
    .await;
    publish_account_event(
        &system.bus,
        now,
        AccountRoleChangedV2 {
            account_id: old,
            previous_role: Role::Accountant,
            role: Role::Worker,
            changed_at: now,
            revision: 5,
        },
    )
    .await;
    system.tasks.wait_for_role(&old.to_string(), "worker").await;
}

#[tokio::test]
async fn out_of_order_and_duplicate_account_events_end_in_the_newest_state() {
    let system = System::start().await;
    ates_core::testing::assert_late_account_events_never_win(&system.bus, &system.tasks).await;
}

#[tokio::test]
async fn a_shuffle_with_no_eligible_account_is_409_and_reassigns_nothing() {
    let system = System::start().await;
    let manager = system.popug("boss@popug.inc", "manager").await;
    let kesha = system.popug("kesha@popug.inc", "worker").await;
    let task = system.tasks.task(&manager.token, "Fix the nest").await;
    system.auth.deactivate(&kesha.id).await;
    system.tasks.wait_for_account(&kesha.id, false).await;

    let refused = problem(
        system.tasks.shuffle(&manager.token).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("no one can take tasks"),
        "{refused}"
    );
    let kept = system
        .tasks
        .fetch(&manager.token, &task.id.to_string())
        .await;
    assert_eq!(
        kept.assignee_id.to_string(),
        kesha.id,
        "the task keeps its assignee"
    );

    // The marker: a task assigned after the refusal; its tasks.assigned
    // comes after any the shuffle could have published.
    let popug = system.popug("popug@popug.inc", "worker").await;
    let marker = system.tasks.task(&manager.token, "The marker").await;
    assert_eq!(marker.assignee_id.to_string(), popug.id);
    let assigned = system.task_events("tasks.assigned", 2).await;
    assert!(
        assigned
            .iter()
            .all(|event| event["data"]["previous_assignee_id"].is_null()),
        "the refused shuffle reassigned nothing: {assigned:?}"
    );
}

/// A token's header (algorithm and key id), still encoded.
fn header_of(token: &str) -> &str {
    token.split('.').next().unwrap()
}

#[tokio::test]
async fn a_running_service_accepts_the_tokens_of_a_rotated_key_from_its_first_one() {
    let system = System::start().await;
    let kesha = system.popug("kesha@popug.inc", "worker").await;
    let page = system.tasks.get("/v1/tasks/mine", &kesha.token).await;
    assert_eq!(
        page.status(),
        StatusCode::OK,
        "tasks-api knows the first key"
    );

    // What `auth-api rotate-keys` does with its default lead, moments after
    // tasks-api fetched the JWKS (it may not fetch again for 30 s).
    let auth_db = system.auth.database.connect().await;
    auth_api::domain::keys::rotate(&auth_db, Duration::from_secs(35))
        .await
        .unwrap();
    let first_new = eventually(Duration::from_secs(60), "the new key to sign", || async {
        let token = system.auth.access_token("kesha@popug.inc").await;
        (header_of(&token) != header_of(&kesha.token)).then_some(token)
    })
    .await;
    for (which, token) in [("new", &first_new), ("old, in grace", &kesha.token)] {
        let page = system.tasks.get("/v1/tasks/mine", token).await;
        assert_eq!(page.status(), StatusCode::OK, "the {which} key's token");
    }
}
