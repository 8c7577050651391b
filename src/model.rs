//! The models every part speaks in: an instance's status, an error as Cloudflare reports it,
//! instances, steps and their attempts, workflows and their versions, and what a listing of
//! instances asks for. A leaf: it imports nothing of stepflare but the ids, so that the engine,
//! the store, the JS runtime and the API can all use it without depending on one another.

use std::fmt;

use crate::ids::StepKey;

/// The statuses of the binding API (spec §1.2). REST adds `rollingBack`, which stepflare never
/// enters because rollback handlers are not run yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstanceStatus {
    Queued,
    Running,
    Paused,
    Errored,
    Terminated,
    Complete,
    Waiting,
    WaitingForPause,
    Unknown,
}

impl InstanceStatus {
    pub const ALL: [InstanceStatus; 9] = [
        InstanceStatus::Queued,
        InstanceStatus::Running,
        InstanceStatus::Paused,
        InstanceStatus::Errored,
        InstanceStatus::Terminated,
        InstanceStatus::Complete,
        InstanceStatus::Waiting,
        InstanceStatus::WaitingForPause,
        InstanceStatus::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Queued => "queued",
            InstanceStatus::Running => "running",
            InstanceStatus::Paused => "paused",
            InstanceStatus::Errored => "errored",
            InstanceStatus::Terminated => "terminated",
            InstanceStatus::Complete => "complete",
            InstanceStatus::Waiting => "waiting",
            InstanceStatus::WaitingForPause => "waitingForPause",
            InstanceStatus::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// Finite states: nothing runs and nothing will, short of a restart.
    pub fn is_finished(self) -> bool {
        matches!(self, InstanceStatus::Errored | InstanceStatus::Terminated | InstanceStatus::Complete)
    }
}

impl fmt::Display for InstanceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
}

#[derive(Debug, Clone)]
pub struct WorkflowRecord {
    pub name: String,
    pub id: String,
    pub class_name: String,
    pub script_name: String,
    pub created_on: i64,
    pub modified_on: i64,
}

#[derive(Debug, Clone)]
pub struct Version {
    pub id: String,
    pub workflow_name: String,
    pub source_hash: String,
    pub class_name: String,
    pub created_on: i64,
}

#[derive(Debug, Clone)]
pub struct Instance {
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

impl Instance {
    /// A new instance, `queued` and not yet started.
    pub fn queued(workflow_name: String, id: String, version_id: String, params: String, created_on: i64) -> Self {
        Instance {
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

    pub fn parse(text: &str) -> Option<Self> {
        [StepState::Succeeded, StepState::Failed, StepState::Retrying, StepState::Waiting]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

#[derive(Debug, Clone)]
pub struct Step {
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

impl Step {
    /// A step that has just started: waiting, with no result, attempt or timer yet.
    pub fn started(key: StepKey, seq: u32, started_on: i64) -> Self {
        Step {
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
}

#[derive(Debug, Clone)]
pub struct Attempt {
    pub key: StepKey,
    /// 1-based.
    pub attempt: u32,
    pub started_on: i64,
    pub ended_on: Option<i64>,
    pub success: Option<bool>,
    pub error: Option<ErrorInfo>,
}
