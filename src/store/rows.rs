//! The rows the store reads and writes, and how each is read from SQLite.

use rusqlite::Row;

use super::parse_kind;
use crate::engine::lifecycle::InstanceStatus;
use crate::ids::StepKey;

/// An error as Cloudflare reports it: the thrown error's `name` and `message`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorInfo {
    pub name: String,
    pub message: String,
}

impl ErrorInfo {
    pub fn new(name: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorInfo { name: name.into(), message: message.into() }
    }

    fn from_columns(name: Option<String>, message: Option<String>) -> Option<Self> {
        name.map(|name| ErrorInfo { name, message: message.unwrap_or_default() })
    }
}

#[derive(Debug, Clone)]
pub struct WorkflowRow {
    pub name: String,
    pub id: String,
    pub class_name: String,
    pub script_name: String,
    pub created_on: i64,
    pub modified_on: i64,
}

impl WorkflowRow {
    pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(WorkflowRow {
            name: row.get(0)?,
            id: row.get(1)?,
            class_name: row.get(2)?,
            script_name: row.get(3)?,
            created_on: row.get(4)?,
            modified_on: row.get(5)?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct VersionRow {
    pub id: String,
    pub workflow_name: String,
    pub source_hash: String,
    pub class_name: String,
    pub created_on: i64,
}

impl VersionRow {
    pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(VersionRow {
            id: row.get(0)?,
            workflow_name: row.get(1)?,
            source_hash: row.get(2)?,
            class_name: row.get(3)?,
            created_on: row.get(4)?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct InstanceRow {
    pub workflow_name: String,
    pub id: String,
    pub version_id: String,
    pub status: InstanceStatus,
    /// The event payload as JSON text.
    pub params: String,
    pub trigger_source: String,
    /// `{"cron", "scheduledTime"}` as JSON text, for cron-created instances.
    pub schedule: Option<String>,
    pub created_on: i64,
    pub modified_on: i64,
    pub started_on: Option<i64>,
    pub ended_on: Option<i64>,
    /// What `run()` returned, as JSON text.
    pub output: Option<String>,
    pub error: Option<ErrorInfo>,
    pub terminated_by: Option<String>,
}

impl InstanceRow {
    /// A new instance, `queued` and not yet started.
    pub fn queued(workflow_name: String, id: String, version_id: String, params: String, created_on: i64) -> Self {
        InstanceRow {
            workflow_name,
            id,
            version_id,
            status: InstanceStatus::Queued,
            params,
            trigger_source: "api".to_owned(),
            schedule: None,
            created_on,
            modified_on: created_on,
            started_on: None,
            ended_on: None,
            output: None,
            error: None,
            terminated_by: None,
        }
    }

    pub(super) const COLUMNS: &'static str = "workflow_name, id, version_id, status, params, trigger_source, schedule,
        created_on, modified_on, started_on, ended_on, output, error_name, error_message, terminated_by";

    pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let status: String = row.get(3)?;
        Ok(InstanceRow {
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
            error: ErrorInfo::from_columns(row.get(12)?, row.get(13)?),
            terminated_by: row.get(14)?,
        })
    }
}

/// Which instances a listing wants.
#[derive(Debug, Clone, Default)]
pub struct InstanceFilter {
    pub workflow: String,
    pub status: Option<InstanceStatus>,
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    /// Continue after this `(created_on, id)`.
    pub after: Option<(i64, String)>,
    pub ascending: bool,
    /// Rows to skip (page-numbered listing).
    pub offset: u32,
    pub limit: u32,
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    /// Has a result (a `do` that succeeded, a sleep that ended, a wait that got its event).
    Succeeded,
    /// Failed for good: the error is rethrown on replay.
    Failed,
    /// A `do` between attempts, waiting for its retry delay.
    Retrying,
    /// A sleep or event wait that has not ended.
    Waiting,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Succeeded => "succeeded",
            StepState::Failed => "failed",
            StepState::Retrying => "retrying",
            StepState::Waiting => "waiting",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [StepState::Succeeded, StepState::Failed, StepState::Retrying, StepState::Waiting]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

#[derive(Debug, Clone)]
pub struct StepRow {
    pub key: StepKey,
    /// Order of first start within the instance; describe lists steps by it and restart-from
    /// erases from it on.
    pub seq: u32,
    pub state: StepState,
    pub started_on: i64,
    pub ended_on: Option<i64>,
    /// The step's result as JSON text; for a wait, the delivered event.
    pub output: Option<String>,
    pub error: Option<ErrorInfo>,
    /// The resolved config of a `do` step, as JSON text.
    pub config: Option<String>,
    pub attempts_made: u32,
    /// When a sleep ends, a retry is due, or a wait times out.
    pub wake_at: Option<i64>,
    pub event_type: Option<String>,
}

impl StepRow {
    /// A step that has just started: waiting, with no result, attempt or timer yet.
    pub fn started(key: StepKey, seq: u32, started_on: i64) -> Self {
        StepRow {
            key,
            seq,
            state: StepState::Waiting,
            started_on,
            ended_on: None,
            output: None,
            error: None,
            config: None,
            attempts_made: 0,
            wake_at: None,
            event_type: None,
        }
    }

    pub(super) const COLUMNS: &'static str = "kind, name, count, seq, state, started_on, ended_on, output,
        error_name, error_message, config, attempts_made, wake_at, event_type";

    pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let state: String = row.get(4)?;
        Ok(StepRow {
            key: StepKey { kind: parse_kind(&row.get::<_, String>(0)?)?, name: row.get(1)?, count: row.get(2)? },
            seq: row.get(3)?,
            state: StepState::parse(&state).unwrap_or(StepState::Failed),
            started_on: row.get(5)?,
            ended_on: row.get(6)?,
            output: row.get(7)?,
            error: ErrorInfo::from_columns(row.get(8)?, row.get(9)?),
            config: row.get(10)?,
            attempts_made: row.get(11)?,
            wake_at: row.get(12)?,
            event_type: row.get(13)?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub key: StepKey,
    /// 1-based.
    pub attempt: u32,
    pub started_on: i64,
    pub ended_on: Option<i64>,
    pub success: Option<bool>,
    pub error: Option<ErrorInfo>,
}

impl AttemptRow {
    pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(AttemptRow {
            key: StepKey { kind: parse_kind(&row.get::<_, String>(0)?)?, name: row.get(1)?, count: row.get(2)? },
            attempt: row.get(3)?,
            started_on: row.get(4)?,
            ended_on: row.get(5)?,
            success: row.get(6)?,
            error: ErrorInfo::from_columns(row.get(7)?, row.get(8)?),
        })
    }
}

#[derive(Debug, Clone)]
pub struct EventRow {
    pub seq: i64,
    pub event_type: String,
    pub payload: String,
    pub received_on: i64,
}

impl EventRow {
    pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(EventRow { seq: row.get(0)?, event_type: row.get(1)?, payload: row.get(2)?, received_on: row.get(3)? })
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
