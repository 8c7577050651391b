//! `stepflare workflows instances …`: the instance verbs (`list`, `describe`, `send-event`,
//! `pause`, `resume`, `terminate`, `restart`, `delete`) with wrangler's arguments, `tail`
//! (stepflare's: an instance's events as they happen), and the resolution of `latest` to the
//! newest instance's id.

use std::path::{Path, PathBuf};

use clap::{ArgAction, Args, Subcommand};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::WorkflowsError;
use super::client::ApiClient;
use super::output::{self, Format, Table, result_array, sort_by_created};

/// The id that stands for the newest instance of the workflow.
const LATEST: &str = "latest";
/// The most ids one batch delete may carry (spec §5).
const MAX_DELETE: usize = 100;

#[derive(Debug, Args)]
pub struct InstancesArgs {
    #[command(subcommand)]
    pub command: InstancesCommand,
}

#[derive(Debug, Subcommand)]
pub enum InstancesCommand {
    /// List the instances of a workflow, newest first.
    List(ListArgs),
    /// Describe an instance: its status, output, error and every step.
    Describe(DescribeArgs),
    /// Send an event to an instance.
    SendEvent(SendEventArgs),
    /// Pause an instance once its current step is done.
    Pause(TargetArgs),
    /// Resume a paused instance.
    Resume(TargetArgs),
    /// Terminate an instance.
    Terminate(TerminateArgs),
    /// Restart an instance, from the beginning or from a step.
    Restart(RestartArgs),
    /// Delete instances.
    Delete(DeleteArgs),
    /// Print an instance's events as they happen (its history first), until it ends.
    Tail(TailArgs),
}

/// The statuses `--status` accepts (wrangler's list).
const STATUSES: [&str; 8] =
    ["queued", "running", "paused", "errored", "terminated", "complete", "waiting", "waitingForPause"];

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Name of the workflow.
    pub name: String,
    /// Oldest first instead of newest first.
    #[arg(long)]
    pub reverse: bool,
    /// Only instances with this status.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(STATUSES))]
    pub status: Option<String>,
    /// Which page to show.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub page: u32,
    /// How many instances a page holds.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub per_page: Option<u32>,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// Name of the workflow.
    pub name: String,
    /// Id of the instance, or `latest` for the newest one.
    #[arg(default_value = LATEST)]
    pub id: String,
    /// Show the output of each step (`--step-output false` hides them).
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    pub step_output: bool,
    /// Cut outputs after this many characters.
    #[arg(long, default_value_t = 5000)]
    pub truncate_output_limit: usize,
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Name of the workflow.
    pub name: String,
    /// Id of the instance, or `latest` for the newest one.
    pub id: String,
}

#[derive(Debug, Args)]
pub struct SendEventArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The event type the instance waits for.
    #[arg(long = "type")]
    pub event_type: String,
    /// The event payload, as JSON.
    #[arg(long, default_value = "{}")]
    pub payload: String,
}

#[derive(Debug, Args)]
pub struct TerminateArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Run the workflow's rollback handlers.
    #[arg(long)]
    pub rollback: bool,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Restart from the step with this name (steps before it keep their results).
    #[arg(long)]
    pub from_step_name: Option<String>,
    /// Which occurrence of that step name (1 is the first).
    #[arg(long, requires = "from_step_name", value_parser = clap::value_parser!(u32).range(1..))]
    pub from_step_count: Option<u32>,
    /// The kind of that step.
    #[arg(long, requires = "from_step_name", value_parser = ["do", "sleep", "waitForEvent"])]
    pub from_step_type: Option<String>,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Start after the event with this id.
    #[arg(long)]
    pub cursor: Option<u64>,
    /// Only events of these types (comma-separated, e.g. `step_completed,workflow_errored`).
    #[arg(long, value_delimiter = ',')]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Name of the workflow.
    pub name: String,
    /// Ids of the instances (`latest` for the newest one).
    pub ids: Vec<String>,
    /// A file holding a JSON array of instance ids, deleted with the ones given as arguments.
    #[arg(long)]
    pub filename: Option<PathBuf>,
}

pub async fn run(api: &ApiClient, format: Format, args: InstancesArgs) -> Result<(), WorkflowsError> {
    match args.command {
        InstancesCommand::List(list_args) => list(api, format, &list_args).await,
        InstancesCommand::Describe(describe_args) => describe(api, format, &describe_args).await,
        InstancesCommand::SendEvent(event_args) => send_event(api, format, event_args).await,
        InstancesCommand::Pause(target) => change_status(api, format, &target, json!({ "status": "pause" })).await,
        InstancesCommand::Resume(target) => change_status(api, format, &target, json!({ "status": "resume" })).await,
        InstancesCommand::Terminate(TerminateArgs { target, rollback }) => {
            let mut body = json!({ "status": "terminate" });
            if rollback {
                body["rollback"] = json!(true);
            }
            change_status(api, format, &target, body).await
        }
        InstancesCommand::Restart(restart_args) => {
            let mut body = json!({ "status": "restart" });
            if let Some(name) = restart_args.from_step_name {
                let mut from = Map::new();
                from.insert("name".to_owned(), json!(name));
                if let Some(count) = restart_args.from_step_count {
                    from.insert("count".to_owned(), json!(count));
                }
                if let Some(kind) = restart_args.from_step_type {
                    from.insert("type".to_owned(), json!(kind));
                }
                body["from"] = Value::Object(from);
            }
            change_status(api, format, &restart_args.target, body).await
        }
        InstancesCommand::Delete(delete_args) => delete(api, format, delete_args).await,
        InstancesCommand::Tail(tail_args) => tail(api, format, tail_args).await,
    }
}

/// Follows `…/instances/{id}/subscribe`: one line per event, or one JSON object per line.
async fn tail(api: &ApiClient, format: Format, args: TailArgs) -> Result<(), WorkflowsError> {
    let TargetArgs { name, id } = args.target;
    let id = resolve_id(api, &name, &id).await?;
    let mut query = Vec::new();
    if let Some(cursor) = args.cursor {
        query.push(("cursor", cursor.to_string()));
    }
    if !args.filter.is_empty() {
        query.push(("filter", args.filter.join(",")));
    }
    let resource = ["workflows", name.as_str(), "instances", id.as_str(), "subscribe"];
    api.stream_events(&resource, &query, |data| match serde_json::from_str::<Value>(data) {
        Ok(event) if format == Format::Json => output::emit(&event.to_string()),
        Ok(event) => output::emit(&event_line(&event)),
        Err(_) => output::emit(data),
    })
    .await?;
    Ok(())
}

/// `#<eventId> <time> <type> <step>` and what else the event says, as `key=value`.
fn event_line(event: &Value) -> String {
    let time = output::timestamp(&event["timestamp"]);
    let mut line = format!("#{} {time} {}", event["eventId"], event["type"].as_str().unwrap_or("?"));
    if let Some(step) = event["stepName"].as_str() {
        line.push_str(&format!(" {step:?}"));
    }
    const SHOWN: [&str; 5] = ["stepName", "type", "eventId", "timestamp", "instanceId"];
    if let Some(fields) = event.as_object() {
        for (key, value) in fields.iter().filter(|(key, _)| !SHOWN.contains(&key.as_str())) {
            line.push_str(&format!(" {key}={value}"));
        }
    }
    line
}

/// `id`, or for `latest` the id of the workflow's newest instance. Like wrangler, this reads only
/// the first page of `GET …/instances/` (with its trailing slash) and picks the newest
/// `created_on` there.
async fn resolve_id(api: &ApiClient, workflow: &str, id: &str) -> Result<String, WorkflowsError> {
    if id != LATEST {
        return Ok(id.to_owned());
    }
    let response = api.get(&["workflows", workflow, "instances", ""], &[]).await?;
    let mut instances = result_array(response.result, "the instance list")?;
    sort_by_created(&mut instances, true);
    let newest = instances.first().ok_or_else(|| WorkflowsError::NoLatestInstance { workflow: workflow.to_owned() })?;
    newest["id"].as_str().map(str::to_owned).ok_or_else(|| {
        WorkflowsError::UnexpectedResult(format!("an instance without an id: {}", output::compact(newest)))
    })
}

/// Fetches page `args.page` by following `result_info.cursor` from the first page, as wrangler's
/// `fetchCursorPage` does; a page past the end is empty.
async fn list(api: &ApiClient, format: Format, args: &ListArgs) -> Result<(), WorkflowsError> {
    let mut query = Vec::new();
    if let Some(status) = &args.status {
        query.push(("status", status.clone()));
    }
    if let Some(per_page) = args.per_page {
        query.push(("per_page", per_page.to_string()));
    }
    if args.reverse {
        query.push(("direction", "asc".to_owned()));
    }
    let mut cursor: Option<String> = None;
    let mut instances = Vec::new();
    for page in 1..=args.page {
        let mut page_query = query.clone();
        if let Some(cursor) = &cursor {
            page_query.push(("cursor", cursor.clone()));
        }
        let response = api.get(&["workflows", &args.name, "instances"], &page_query).await?;
        if page == args.page {
            instances = result_array(response.result, "the instance list")?;
            break;
        }
        match response.next_cursor() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    sort_by_created(&mut instances, !args.reverse);
    if format == Format::Json {
        output::emit_json(&Value::Array(instances));
        return Ok(());
    }
    if instances.is_empty() {
        output::emit(&if args.page > 1 {
            format!("No instances on page {}; try a smaller page number.", args.page)
        } else if let Some(status) = &args.status {
            format!("No {status} instances in workflow {:?}.", args.name)
        } else {
            format!(
                "There are no instances in workflow {:?}. Start one with `stepflare workflows trigger {}`.",
                args.name, args.name
            )
        });
        return Ok(());
    }
    let mut table = Table::new(&["Id", "Status", "Created", "Modified", "Version"]);
    for instance in &instances {
        table.push(vec![
            output::plain(&instance["id"]),
            output::plain(&instance["status"]),
            output::timestamp(&instance["created_on"]),
            output::timestamp(&instance["modified_on"]),
            output::plain(&instance["version_id"]),
        ]);
    }
    let plural = if instances.len() == 1 { "" } else { "s" };
    output::emit(&format!(
        "Showing {} instance{plural} from page {}:\n{}",
        instances.len(),
        args.page,
        table.render(0)
    ));
    Ok(())
}

async fn describe(api: &ApiClient, format: Format, args: &DescribeArgs) -> Result<(), WorkflowsError> {
    let id = resolve_id(api, &args.name, &args.id).await?;
    let instance = api.get(&["workflows", &args.name, "instances", &id], &[]).await?.result;
    if format == Format::Json {
        output::emit_json(&instance);
        return Ok(());
    }
    output::emit(&render_instance(&args.name, &id, &instance, args));
    Ok(())
}

/// The human description: the instance's facts, then one row per step (and per attempt of a
/// step that needed more than one, or failed).
fn render_instance(workflow: &str, id: &str, instance: &Value, args: &DescribeArgs) -> String {
    let limit = args.truncate_output_limit;
    let mut pairs = vec![
        ("Workflow", workflow.to_owned()),
        ("Instance", id.to_owned()),
        ("Version", output::plain(&instance["versionId"])),
        ("Status", output::plain(&instance["status"])),
        ("Trigger", output::plain(&instance["trigger"]["source"])),
        ("Queued", output::timestamp(&instance["queued"])),
    ];
    if !instance["start"].is_null() {
        pairs.push(("Started", output::timestamp(&instance["start"])));
    }
    if !instance["end"].is_null() {
        pairs.push(("Ended", output::timestamp(&instance["end"])));
    }
    if !instance["start"].is_null() {
        pairs.push(("Duration", output::elapsed(&instance["start"], &instance["end"])));
    }
    if let Some(success) = instance["success"].as_bool() {
        pairs.push(("Success", if success { "yes" } else { "no" }.to_owned()));
    }
    if !instance["error"].is_null() {
        pairs.push(("Error", output::error_text(&instance["error"])));
    }
    if !instance["params"].is_null() {
        pairs.push(("Params", output::truncate(&output::compact(&instance["params"]), limit)));
    }
    if !instance["output"].is_null() {
        pairs.push(("Output", output::truncate(&output::compact(&instance["output"]), limit)));
    }
    let mut text = output::labelled(&pairs, 0);
    let steps = instance["steps"].as_array().map(Vec::as_slice).unwrap_or_default();
    if steps.is_empty() {
        text.push_str("Steps:     none yet\n");
        return text;
    }
    let mut table = Table::new(&["Type", "Name", "Start", "Duration", "Status", "Detail"]);
    for step in steps {
        push_step(&mut table, step, args);
    }
    text.push_str("\nSteps:\n");
    text.push_str(&table.render(2));
    text
}

fn push_step(table: &mut Table, step: &Value, args: &DescribeArgs) {
    let kind = output::plain(&step["type"]);
    let output_cell = |value: &Value| {
        if !args.step_output || value.is_null() {
            String::new()
        } else {
            output::truncate(&output::compact(value), args.truncate_output_limit)
        }
    };
    let timing = |step: &Value| (output::timestamp(&step["start"]), output::elapsed(&step["start"], &step["end"]));
    match kind.as_str() {
        "step" => {
            let attempts = step["attempts"].as_array().map(Vec::as_slice).unwrap_or_default();
            let status = match step["success"].as_bool() {
                Some(true) => "succeeded",
                Some(false) => "failed",
                None if attempts.last().is_some_and(|a| a["success"] == json!(false)) => "retrying",
                None => "running",
            };
            let (start, took) = timing(step);
            table.push(vec![
                kind,
                output::plain(&step["name"]),
                start,
                took,
                status.to_owned(),
                output_cell(&step["output"]),
            ]);
            let worth_showing = attempts.len() > 1 || attempts.iter().any(|a| !a["error"].is_null());
            for (n, attempt) in attempts.iter().enumerate().filter(|_| worth_showing) {
                let status = match attempt["success"].as_bool() {
                    Some(true) => "succeeded",
                    Some(false) => "failed",
                    None => "running",
                };
                let error =
                    if attempt["error"].is_null() { String::new() } else { output::error_text(&attempt["error"]) };
                let (start, took) = timing(attempt);
                table.push(vec![String::new(), format!("  attempt {}", n + 1), start, took, status.to_owned(), error]);
            }
        }
        "sleep" | "waitForEvent" => {
            let finished = step["finished"].as_bool() == Some(true);
            let status = match (kind.as_str(), finished, step["error"].is_null()) {
                (_, _, false) => "failed",
                ("sleep", true, _) => "done",
                ("sleep", false, _) => "sleeping",
                (_, true, _) => "received",
                (_, false, _) => "waiting",
            };
            let detail = if !step["error"].is_null() {
                output::error_text(&step["error"])
            } else if kind == "waitForEvent" {
                let event = format!("event {}", output::plain(&step["event_type"]));
                match output_cell(&step["output"]) {
                    payload if payload.is_empty() => event,
                    payload => format!("{event}: {payload}"),
                }
            } else {
                String::new()
            };
            let (start, took) = timing(step);
            table.push(vec![kind, output::plain(&step["name"]), start, took, status.to_owned(), detail]);
        }
        "termination" => {
            let by = format!("by {}", output::plain(&step["trigger"]["source"]));
            table.push(vec![kind, String::new(), String::new(), String::new(), "terminated".to_owned(), by]);
        }
        _ => {
            let (start, took) = timing(step);
            let status = match step["success"].as_bool() {
                Some(true) => "succeeded",
                Some(false) => "failed",
                None => "",
            };
            let name = step.get("name").map(output::plain).unwrap_or_default();
            table.push(vec![kind, name, start, took, status.to_owned(), output_cell(&step["output"])]);
        }
    }
}

async fn send_event(api: &ApiClient, format: Format, args: SendEventArgs) -> Result<(), WorkflowsError> {
    // Checked here so a typo never reaches the instance; sent as typed, like wrangler.
    serde_json::from_str::<Value>(&args.payload).map_err(WorkflowsError::PayloadNotJson)?;
    let TargetArgs { name, id } = args.target;
    let id = resolve_id(api, &name, &id).await?;
    let resource = ["workflows", name.as_str(), "instances", id.as_str(), "events", args.event_type.as_str()];
    let result = api.send_text(Method::POST, &resource, args.payload).await?.result;
    if format == Format::Json {
        output::emit_json(&result);
        return Ok(());
    }
    output::emit(&format!("Sent event {:?} to instance {id} of workflow {name:?}.", args.event_type));
    Ok(())
}

/// `PATCH …/status` with `body` (`{"status": "pause" | "resume" | "terminate" | "restart", …}`).
async fn change_status(
    api: &ApiClient,
    format: Format,
    target: &TargetArgs,
    body: Value,
) -> Result<(), WorkflowsError> {
    let id = resolve_id(api, &target.name, &target.id).await?;
    let resource = ["workflows", target.name.as_str(), "instances", id.as_str(), "status"];
    let result = api.send_json(Method::PATCH, &resource, &body).await?.result;
    if format == Format::Json {
        output::emit_json(&result);
        return Ok(());
    }
    let done = match body["status"].as_str() {
        Some("pause") => "Pause requested for",
        Some("resume") => "Resumed",
        Some("terminate") => "Terminated",
        _ => "Restarted",
    };
    output::emit(&format!(
        "{done} instance {id} of workflow {:?} (status: {}).",
        target.name,
        output::plain(&result["status"])
    ));
    Ok(())
}

/// Reads the ids in `--filename`: a JSON array of strings.
fn ids_from_file(path: &Path) -> Result<Vec<String>, WorkflowsError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| WorkflowsError::ReadIdsFile { path: path.to_owned(), source })?;
    serde_json::from_str(&text).map_err(|source| WorkflowsError::IdsFileNotIds { path: path.to_owned(), source })
}

async fn delete(api: &ApiClient, format: Format, args: DeleteArgs) -> Result<(), WorkflowsError> {
    let mut requested = args.ids;
    if let Some(path) = &args.filename {
        requested.extend(ids_from_file(path)?);
    }
    if requested.is_empty() {
        return Err(WorkflowsError::NoIds);
    }
    if requested.len() > MAX_DELETE {
        return Err(WorkflowsError::TooManyIds { count: requested.len(), max: MAX_DELETE });
    }
    // `latest` is looked up once, however often it is given.
    let mut latest: Option<String> = None;
    let mut ids = Vec::with_capacity(requested.len());
    for id in requested {
        if id == LATEST {
            if latest.is_none() {
                latest = Some(resolve_id(api, &args.name, LATEST).await?);
            }
            ids.extend(latest.clone());
        } else {
            ids.push(id);
        }
    }
    let resource = ["workflows", args.name.as_str(), "instances", "batch", "delete"];
    let result = api.send_json(Method::POST, &resource, &json!({ "instances": ids })).await?.result;
    let list = |key: &str| result.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    let (deleted, errors) = (list("deleted"), list("errors"));
    if format == Format::Json {
        output::emit_json(&result);
    } else if !deleted.is_empty() {
        let names: Vec<String> = deleted.iter().map(|d| output::plain(&d["id"])).collect();
        output::emit(&format!("Deleted {} instance(s) of workflow {:?}: {}", names.len(), args.name, names.join(", ")));
    } else if errors.is_empty() {
        output::emit("Deleted no instances.");
    }
    if errors.is_empty() {
        return Ok(());
    }
    let failures = errors
        .iter()
        .map(|e| {
            format!(
                "  - {}: error {}: {}",
                output::plain(&e["id"]),
                output::plain(&e["code"]),
                output::plain(&e["message"])
            )
        })
        .collect();
    Err(WorkflowsError::DeleteFailed { workflow: args.name, failures })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::workflows::WorkflowsCommand;
    use crate::cli::{Cli, Command};

    fn instances_command(args: &[&str]) -> InstancesCommand {
        let cli = Cli::try_parse_from(["stepflare", "workflows", "instances"].iter().chain(args)).unwrap();
        let Command::Workflows(workflows) = cli.command else { panic!("not a workflows command") };
        let WorkflowsCommand::Instances(instances) = workflows.command else { panic!("not an instances command") };
        instances.command
    }

    #[test]
    fn describe_defaults_to_the_latest_instance_with_step_outputs() {
        let InstancesCommand::Describe(args) = instances_command(&["describe", "wf"]) else { panic!() };
        assert_eq!((args.id.as_str(), args.step_output, args.truncate_output_limit), ("latest", true, 5000));
        let InstancesCommand::Describe(args) = instances_command(&["describe", "wf", "x", "--step-output", "false"])
        else {
            panic!()
        };
        assert!(!args.step_output);
    }

    #[test]
    fn restart_from_step_count_needs_a_step_name() {
        let cli = Cli::try_parse_from([
            "stepflare",
            "workflows",
            "instances",
            "restart",
            "wf",
            "id",
            "--from-step-count",
            "2",
        ]);
        assert!(cli.is_err());
    }

    #[test]
    fn described_steps_show_attempt_errors_and_truncated_outputs() {
        let instance = json!({
            "status": "errored", "versionId": "v1", "trigger": { "source": "api" },
            "queued": "2026-08-06T07:30:00.000Z", "start": "2026-08-06T07:30:00.010Z", "end": "2026-08-06T07:30:01.010Z",
            "success": false, "error": { "name": "Error", "message": "boom" }, "params": {}, "output": null,
            "steps": [
                { "type": "step", "name": "fine-1", "start": "2026-08-06T07:30:00.010Z", "end": "2026-08-06T07:30:00.020Z",
                  "success": true, "output": "x".repeat(20), "attempts": [
                    { "start": "2026-08-06T07:30:00.010Z", "end": "2026-08-06T07:30:00.015Z", "success": false,
                      "error": { "name": "Error", "message": "flaky" } },
                    { "start": "2026-08-06T07:30:00.016Z", "end": "2026-08-06T07:30:00.020Z", "success": true, "error": null } ] },
                { "type": "termination", "trigger": { "source": "api" } }
            ]
        });
        let args = DescribeArgs { name: "wf".into(), id: "i".into(), step_output: true, truncate_output_limit: 5 };
        let text = render_instance("wf", "i", &instance, &args);
        assert!(text.contains("Error:     Error: boom"), "{text}");
        assert!(text.contains("\"xxxx[...output truncated]"), "{text}");
        assert!(text.contains("attempt 1") && text.contains("Error: flaky"), "{text}");
        assert!(text.contains("by api"), "{text}");
        assert!(text.contains("Duration:  1.000s"), "{text}");
    }
}
