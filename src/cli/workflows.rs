//! `stepflare workflows …`: the workflow verbs (`list`, `describe`, `trigger`, `delete`) with
//! wrangler's arguments, the `instances` group (in `instances.rs`), the `schedules` group (in
//! `schedules.rs`). The errors of the whole group are in `mod.rs`. Every verb is a client of a running
//! `stepflare dev`, as wrangler is of Cloudflare.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::WorkflowsError;
use super::client::{ApiClient, ConnectionArgs};
use super::instances::InstancesArgs;
use super::output::{self, Format, Table, result_array, sort_by_created};
use super::schedules::SchedulesArgs;

#[derive(Debug, Args)]
pub struct WorkflowsArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Print the API's `result` as JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: WorkflowsCommand,
}

#[derive(Debug, Subcommand)]
pub enum WorkflowsCommand {
    /// List the workflows, newest first.
    List(ListArgs),
    /// Describe a workflow and its latest version.
    Describe(NameArgs),
    /// Start a new instance of a workflow.
    Trigger(TriggerArgs),
    /// Delete a workflow and all its instances.
    Delete(NameArgs),
    /// Manage the instances of a workflow.
    Instances(InstancesArgs),
    /// See a workflow's cron schedules, or fire them now.
    Schedules(SchedulesArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Which page to show.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub page: u32,
    /// How many workflows a page holds.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub per_page: Option<u32>,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    /// Name of the workflow.
    pub name: String,
}

#[derive(Debug, Args)]
pub struct TriggerArgs {
    /// Name of the workflow.
    pub name: String,
    /// Params for the instance, as a JSON string (the `event.payload` of `run`).
    pub params: Option<String>,
    /// Id for the new instance (default: one the server makes up).
    #[arg(long)]
    pub id: Option<String>,
}

pub async fn run(args: WorkflowsArgs) -> Result<(), WorkflowsError> {
    let format = if args.json { Format::Json } else { Format::Human };
    let api = ApiClient::new(&args.connection)?;
    match args.command {
        WorkflowsCommand::List(list_args) => list(&api, format, &list_args).await,
        WorkflowsCommand::Describe(NameArgs { name }) => describe(&api, format, &name).await,
        WorkflowsCommand::Trigger(trigger_args) => trigger(&api, format, trigger_args).await,
        WorkflowsCommand::Delete(NameArgs { name }) => delete(&api, format, &name).await,
        WorkflowsCommand::Instances(instances_args) => super::instances::run(&api, format, instances_args).await,
        WorkflowsCommand::Schedules(schedules_args) => super::schedules::run(&api, format, schedules_args).await,
    }
}

async fn list(api: &ApiClient, format: Format, args: &ListArgs) -> Result<(), WorkflowsError> {
    let mut query = vec![("page", args.page.to_string())];
    if let Some(per_page) = args.per_page {
        query.push(("per_page", per_page.to_string()));
    }
    let response = api.get(&["workflows"], &query).await?;
    let mut workflows = result_array(response.result, "the workflow list")?;
    sort_by_created(&mut workflows, true);
    if format == Format::Json {
        output::emit_json(&Value::Array(workflows));
        return Ok(());
    }
    if workflows.is_empty() {
        output::emit(&if args.page > 1 {
            format!("No workflows on page {}.", args.page)
        } else {
            "No workflows: the project configures none.".to_owned()
        });
        return Ok(());
    }
    let plural = if workflows.len() == 1 { "" } else { "s" };
    let mut table = Table::new(&["Name", "Class", "Script", "Created", "Modified", "Instances"]);
    for workflow in &workflows {
        table.push(vec![
            output::plain(&workflow["name"]),
            output::plain(&workflow["class_name"]),
            output::plain(&workflow["script_name"]),
            output::timestamp(&workflow["created_on"]),
            output::timestamp(&workflow["modified_on"]),
            output::counts(&workflow["instances"]),
        ]);
    }
    output::emit(&format!(
        "Showing {} workflow{plural} from page {}:\n{}",
        workflows.len(),
        args.page,
        table.render(0)
    ));
    Ok(())
}

async fn describe(api: &ApiClient, format: Format, name: &str) -> Result<(), WorkflowsError> {
    let workflow = api.get(&["workflows", name], &[]).await?.result;
    let versions = result_array(api.get(&["workflows", name, "versions"], &[]).await?.result, "the version list")?;
    // Wrangler takes the first version as the latest.
    let latest = versions.into_iter().next().unwrap_or(Value::Null);
    if format == Format::Json {
        output::emit_json(&json!({ "workflow": workflow, "latest_version": latest }));
        return Ok(());
    }
    let triggered = match &workflow["triggered_on"] {
        Value::Null => "never".to_owned(),
        other => output::timestamp(other),
    };
    let mut pairs = vec![
        ("Name", output::plain(&workflow["name"])),
        ("Id", output::plain(&workflow["id"])),
        ("Class", output::plain(&workflow["class_name"])),
        ("Script", output::plain(&workflow["script_name"])),
        ("Created", output::timestamp(&workflow["created_on"])),
        ("Modified", output::timestamp(&workflow["modified_on"])),
        ("Triggered", triggered),
        ("Instances", output::counts(&workflow["instances"])),
    ];
    if let Some(schedules) = workflow["schedules"].as_array().filter(|schedules| !schedules.is_empty()) {
        let each =
            |s: &Value| format!("{} (next {})", output::plain(&s["cron"]), output::timestamp(&s["next_instance"]));
        pairs.push(("Schedules", schedules.iter().map(each).collect::<Vec<_>>().join(", ")));
    }
    if latest.is_null() {
        pairs.push(("Latest version", "none".to_owned()));
    } else {
        pairs.push(("Latest version", output::plain(&latest["id"])));
        pairs.push(("Version class", output::plain(&latest["class_name"])));
        pairs.push(("Version created", output::timestamp(&latest["created_on"])));
        if let Some(steps) = latest.get("limits").and_then(|limits| limits.get("steps")) {
            pairs.push(("Step limit", output::plain(steps)));
        }
    }
    output::emit(&output::labelled(&pairs, 0));
    Ok(())
}

async fn trigger(api: &ApiClient, format: Format, args: TriggerArgs) -> Result<(), WorkflowsError> {
    // Wrangler checks params with `JSON.parse` and leaves them out when empty; both happen
    // before anything is sent.
    let params = match args.params.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(serde_json::from_str::<Value>(text).map_err(WorkflowsError::ParamsNotJson)?),
    };
    let mut body = Map::new();
    if let Some(id) = args.id {
        body.insert("instance_id".to_owned(), Value::String(id));
    }
    if let Some(params) = params {
        body.insert("params".to_owned(), params);
    }
    let created =
        api.send_json(Method::POST, &["workflows", &args.name, "instances"], &Value::Object(body)).await?.result;
    if format == Format::Json {
        output::emit_json(&created);
        return Ok(());
    }
    output::emit(&format!(
        "Instance {} of workflow {:?} created (status: {}).",
        output::plain(&created["id"]),
        args.name,
        output::plain(&created["status"])
    ));
    Ok(())
}

async fn delete(api: &ApiClient, format: Format, name: &str) -> Result<(), WorkflowsError> {
    let result = api.delete(&["workflows", name]).await?.result;
    if format == Format::Json {
        output::emit_json(&result);
        return Ok(());
    }
    output::emit(&format!("Deleted workflow {name:?} and its instances."));
    Ok(())
}
