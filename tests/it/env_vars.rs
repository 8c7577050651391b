//! The Worker's `env` beyond workflows: `vars` of every type, local secrets from `.dev.vars`
//! (over `vars`, with `.env` not read beside it) reloaded when the file changes, and a start-up
//! line for each binding stepflare does not emulate.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn vars_and_dev_vars_make_env_and_unemulated_bindings_are_reported() {
    let project = copy_fixture("env-vars");
    let persist = tempfile::tempdir().unwrap();
    let server = Server::start_project(project.path(), persist.path(), &[]);
    server
        .wait_for_log(&[
            "Hyperdrive config is not emulated; env.POSTGRES is absent",
            "Vectorize index is not emulated; env.VECTORS is absent",
            "Browser Rendering is not emulated; env.BROWSER is absent",
            "Workers AI is not emulated; env.AI is absent",
        ])
        .await;

    let answer = server.get_ok("/").await;
    assert_eq!(
        answer["keys"],
        json!(["API_TOKEN", "ENABLED", "GREETING", "READS_ENV", "RETRIES", "SECRET", "SETTINGS"]),
        "{answer:#}"
    );
    assert_eq!(
        answer["values"],
        json!({
            "GREETING": "overridden",
            "RETRIES": 3,
            "ENABLED": true,
            "SETTINGS": { "region": "eu", "tiers": [1, 2] },
            "SECRET": "s3cret value",
            "API_TOKEN": "token-1",
        })
    );
    assert_eq!(answer["binding"], json!("function"));

    // Workflow code sees them too.
    let id = server.create("reads-env", json!({})).await;
    let d = server.wait_for_status("reads-env", &id, &["complete"]).await;
    assert_eq!(d["output"], json!({ "secret": "s3cret value", "region": "eu" }));

    // An edit of .dev.vars reloads the Worker with the new secret.
    std::fs::write(project.path().join(".dev.vars"), "SECRET=rotated\n").unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let answer = server.get_ok("/").await;
        if answer["values"]["SECRET"] == json!("rotated") {
            assert_eq!(answer["values"]["GREETING"], json!("hello"), "the var is no longer overridden");
            assert!(answer["values"].get("API_TOKEN").is_none(), "{answer:#}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the new .dev.vars never took effect: {answer:#}");
        tokio::time::sleep(POLL).await;
    }

    // Without .dev.vars, the .env file is read.
    std::fs::remove_file(project.path().join(".dev.vars")).unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let answer = server.get_ok("/").await;
        if answer["values"]["FROM_DOT_ENV"] == json!("ignored-because-dev-vars-exists") {
            assert!(answer["values"].get("SECRET").is_none(), "{answer:#}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, ".env was never read: {answer:#}");
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn an_environment_brings_its_own_vars_workflows_and_secrets() {
    let persist = tempfile::tempdir().unwrap();
    let server = Server::start_with("env-vars", persist.path(), &["--env", "staging"]);
    let answer = server.get_ok("/").await;
    assert_eq!(answer["keys"], json!(["GREETING", "READS_ENV", "SECRET"]), "{answer:#}");
    assert_eq!(answer["values"], json!({ "GREETING": "hello staging", "SECRET": "staging secret" }));
    let id = server.create("reads-env-staging", json!({})).await;
    let d = server.wait_for_status("reads-env-staging", &id, &["complete"]).await;
    assert_eq!(d["output"]["secret"], json!("staging secret"));
    let (status, _) = server.request(reqwest::Method::GET, &server.workflow_url("reads-env"), None).await;
    assert_eq!(status, 404, "the top level's workflow is not the environment's");
}
