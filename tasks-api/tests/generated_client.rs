//! A client generated from the committed OpenAPI documents works: the test
//! generates Python clients for auth-api and tasks-api with
//! openapi-python-client (PyPI) and drives sign-up -> login -> create task
//! -> complete through them against the running services.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use auth_api::testing::TestApp as AuthApp;
use serde_json::Value;
use tasks_api::testing::TasksApp;

fn generate(document: &str, output: &Path, config: &Path) {
    let openapi = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../openapi")
        .join(document);
    let result = Command::new("python3")
        .args([
            "-m",
            "openapi_python_client",
            "generate",
            "--meta",
            "none",
            "--overwrite",
            "--path",
        ])
        .arg(&openapi)
        .arg("--output-path")
        .arg(output)
        .arg("--config")
        .arg(config)
        .output()
        .expect("python3 runs");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        !stderr.contains("No module named openapi_python_client"),
        "openapi-python-client is missing: run `make deps` (pip install openapi-python-client)"
    );
    assert!(
        result.status.success(),
        "generating from {document} failed: {stderr}"
    );
}

#[tokio::test]
async fn a_generated_python_client_signs_up_creates_and_completes_a_task() {
    let auth = AuthApp::spawn().await;
    let tasks = TasksApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let temporary = tempfile::tempdir().unwrap();
    let work = temporary.path().to_path_buf();
    let config = work.join("generator.yaml");
    std::fs::write(&config, "post_hooks: []\n").unwrap();
    generate("auth-api.json", &work.join("auth_client"), &config);
    generate("tasks-api.json", &work.join("tasks_client"), &config);

    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/drive_generated_clients.py");
    let (auth_url, tasks_url) = (auth.url(""), tasks.url(""));
    let work_dir = work.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .arg(&work_dir)
            .args([&auth_url, &tasks_url, "generated@popug.inc"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "the generated clients failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let task: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(task["status"], "done");
    assert_eq!(task["jira_id"], "POPUG-7");
}
