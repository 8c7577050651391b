//! `stepflare workflows schedules …`: a workflow's cron schedules. `list` shows each with its
//! next firing (from the workflow's REST description); `trigger` fires them now through
//! stepflare's own route, so a developer or a test need not wait for the clock. Wrangler has no
//! such verbs: Cloudflare fires schedules only on time.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::WorkflowsError;
use super::client::ApiClient;
use super::output::{self, Format, Table, result_array};

#[derive(Debug, Args)]
pub struct SchedulesArgs {
    #[command(subcommand)]
    pub command: SchedulesCommand,
}

#[derive(Debug, Subcommand)]
pub enum SchedulesCommand {
    /// List a workflow's cron schedules and when each fires next.
    List(ListArgs),
    /// Fire a workflow's schedules now: each creates an instance, as a firing on time would.
    Trigger(TriggerArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Name of the workflow.
    pub name: String,
}

#[derive(Debug, Args)]
pub struct TriggerArgs {
    /// Name of the workflow.
    pub name: String,
    /// The schedule to fire, as written in the config (default: every schedule of the workflow).
    pub cron: Option<String>,
}

pub async fn run(api: &ApiClient, format: Format, args: SchedulesArgs) -> Result<(), WorkflowsError> {
    match args.command {
        SchedulesCommand::List(list_args) => list(api, format, &list_args.name).await,
        SchedulesCommand::Trigger(trigger_args) => trigger(api, format, trigger_args).await,
    }
}

async fn list(api: &ApiClient, format: Format, name: &str) -> Result<(), WorkflowsError> {
    let workflow = api.get(&["workflows", name], &[]).await?.result;
    let schedules = result_array(workflow["schedules"].clone(), "the workflow's schedules")?;
    if format == Format::Json {
        output::emit_json(&Value::Array(schedules));
        return Ok(());
    }
    if schedules.is_empty() {
        output::emit(&format!("Workflow {name:?} has no schedules."));
        return Ok(());
    }
    let mut table = Table::new(&["Cron", "Next instance"]);
    for schedule in &schedules {
        table.push(vec![output::plain(&schedule["cron"]), output::timestamp(&schedule["next_instance"])]);
    }
    output::emit(&table.render(0));
    Ok(())
}

async fn trigger(api: &ApiClient, format: Format, args: TriggerArgs) -> Result<(), WorkflowsError> {
    let body = match &args.cron {
        Some(cron) => json!({ "cron": cron }),
        None => json!({}),
    };
    let path = ["cdn-cgi", "stepflare", "workflows", args.name.as_str(), "schedules", "trigger"];
    let created = result_array(api.post_to_server(&path, &body).await?.result, "the created instances")?;
    if format == Format::Json {
        output::emit_json(&Value::Array(created));
        return Ok(());
    }
    for instance in &created {
        output::emit(&format!(
            "Instance {} of workflow {:?} created by schedule {} (status: {}).",
            output::plain(&instance["id"]),
            args.name,
            output::plain(&instance["schedule"]["cron"]),
            output::plain(&instance["status"])
        ));
    }
    Ok(())
}
