//! How the models the store keeps are read from SQLite, and the rows only the store knows
//! (events, cron firings).

use rusqlite::Row;

use super::parse_kind;
use crate::ids::StepKey;
use crate::model::{
    Attempt, ErrorInfo, Instance, InstanceStatus, Retention, SentEvent, Step, StepState, Version, WorkflowRecord,
};

/// An error from its two columns; no name means no error.
fn error_from_columns(name: Option<String>, message: Option<String>) -> Option<ErrorInfo> {
    name.map(|name| ErrorInfo { name, message: message.unwrap_or_default() })
}

impl WorkflowRecord {
    pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(WorkflowRecord {
            name: row.get(0)?,
            id: row.get(1)?,
            class_name: row.get(2)?,
            script_name: row.get(3)?,
            created_on: row.get(4)?,
            modified_on: row.get(5)?,
            default_retention: Retention { success_ms: row.get(6)?, error_ms: row.get(7)? },
        })
    }
}

impl Version {
    pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Version {
            id: row.get(0)?,
            workflow_name: row.get(1)?,
            source_hash: row.get(2)?,
            class_name: row.get(3)?,
            created_on: row.get(4)?,
        })
    }
}

impl Instance {
    pub(super) const COLUMNS: &'static str = "workflow_name, id, version_id, status, params, trigger_source, schedule,
        created_on, modified_on, started_on, ended_on, output, error_name, error_message, terminated_by,
        success_retention_ms, error_retention_ms, expires_on, rollback";

    pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let status: String = row.get(3)?;
        Ok(Instance {
            workflow_name: row.get(0)?,
            id: row.get(1)?,
            version_id: row.get(2)?,
            status: InstanceStatus::parse(&status).unwrap_or(InstanceStatus::Unknown),
            params: row.get(4)?,
            trigger_source: row.get(5)?,
            schedule: row.get(6)?,
            created_on: row.get(7)?,
            modified_on: row.get(8)?,
            started_on: row.get(9)?,
            ended_on: row.get(10)?,
            output: row.get(11)?,
            error: error_from_columns(row.get(12)?, row.get(13)?),
            terminated_by: row.get(14)?,
            retention: Retention { success_ms: row.get(15)?, error_ms: row.get(16)? },
            expires_on: row.get(17)?,
            rollback: row.get::<_, Option<String>>(18)?.and_then(|text| serde_json::from_str(&text).ok()),
        })
    }
}

impl Step {
    /// Read from `steps`, whose config is an id in `step_configs`.
    pub(super) const COLUMNS: &'static str = "kind, name, count, seq, state, started_on, ended_on, output,
        error_name, error_message, (SELECT config FROM step_configs c WHERE c.id = steps.config_id), attempts_made,
        wake_at, event_type";

    pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let state: String = row.get(4)?;
        Ok(Step {
            key: StepKey { kind: parse_kind(&row.get::<_, String>(0)?)?, name: row.get(1)?, count: row.get(2)? },
            seq: row.get(3)?,
            state: StepState::parse(&state).unwrap_or(StepState::Failed),
            started_on: row.get(5)?,
            ended_on: row.get(6)?,
            output: row.get(7)?,
            error: error_from_columns(row.get(8)?, row.get(9)?),
            config: row.get(10)?,
            attempts_made: row.get(11)?,
            wake_at: row.get(12)?,
            event_type: row.get(13)?,
        })
    }
}

impl Attempt {
    pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Attempt {
            key: StepKey { kind: parse_kind(&row.get::<_, String>(0)?)?, name: row.get(1)?, count: row.get(2)? },
            attempt: row.get(3)?,
            started_on: row.get(4)?,
            ended_on: row.get(5)?,
            success: row.get(6)?,
            error: error_from_columns(row.get(7)?, row.get(8)?),
        })
    }
}

impl SentEvent {
    pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(SentEvent { seq: row.get(0)?, event_type: row.get(1)?, payload: row.get(2)?, received_on: row.get(3)? })
    }
}

/// Who a cron expression belongs to: a workflow binding's `schedules` or a Worker's
/// `triggers.crons`. A Worker and a workflow may share a name, so the kind is part of the key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CronOwner {
    Workflow(String),
    Worker(String),
}

impl CronOwner {
    pub(super) fn kind(&self) -> &'static str {
        match self {
            CronOwner::Workflow(_) => "workflow",
            CronOwner::Worker(_) => "worker",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            CronOwner::Workflow(name) | CronOwner::Worker(name) => name,
        }
    }
}

impl std::fmt::Display for CronOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CronOwner::Workflow(name) => write!(f, "workflow {name}"),
            CronOwner::Worker(name) => write!(f, "Worker {name}"),
        }
    }
}

/// Where one cron expression of one owner stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronFiringRow {
    pub owner: CronOwner,
    pub cron: String,
    /// Every firing at or before this time (ms) is done: fired, or before the expression was
    /// first seen.
    pub done_through: i64,
    /// The scheduled time of a Worker firing whose `scheduled` handler started and has not ended.
    pub running: Option<i64>,
}

impl CronFiringRow {
    pub(super) const COLUMNS: &'static str = "owner_kind, owner, cron, done_through, running";

    pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let kind: String = row.get(0)?;
        let name: String = row.get(1)?;
        let owner = match kind.as_str() {
            "worker" => CronOwner::Worker(name),
            _ => CronOwner::Workflow(name),
        };
        Ok(CronFiringRow { owner, cron: row.get(2)?, done_through: row.get(3)?, running: row.get(4)? })
    }
}
