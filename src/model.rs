//! The models every part speaks in: an instance's status, an error as Cloudflare reports it,
//! instances, steps and their attempts, workflows and their versions, and what a listing of
//! instances asks for. A leaf: it imports nothing of stepflare but the ids, so that the engine,
//! the store, the JS runtime and the API can all use it without depending on one another.

use std::fmt;

use crate::ids::StepKey;

/// The statuses of the binding API (spec §1.2). REST adds `rollingBack`, which is not a status of
/// its own here: an unfinished instance whose [`Rollback`] has no outcome yet shows it
/// ([`Instance::rolling_back`]).
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
    /// The default retention of its instances set over REST (`PUT` with `default_retention`);
    /// the config's, when it sets one, goes before it.
    pub default_retention: Retention,
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
    /// How long the instance is kept once it ends (the instance's own setting, else its
    /// workflow's default when it was created); `None`: until it is deleted.
    pub retention: Retention,
    /// When it goes, if it has ended and has a retention for how it ended.
    pub expires_on: Option<i64>,
    /// Its rollback, once one began (or was asked for by `terminate({rollback: true})`).
    pub rollback: Option<Rollback>,
}

/// An instance's rollback (workflows-2026 §2): what set it off, the handlers it runs (newest
/// start first, fixed when it begins) and, once it ended, how.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollback {
    /// The error that failed the instance, or the marker of a terminate with rollback; every
    /// handler gets it as `error`.
    pub trigger: ErrorInfo,
    /// Asked for by `terminate({rollback: true})`: the instance ends `terminated`, not `errored`.
    pub terminate: bool,
    /// The `(name, count)` of the `do` steps whose handlers run, in the order they run; `None`
    /// until a run of the instance has registered its handlers.
    pub steps: Option<Vec<(String, u32)>>,
    pub outcome: Option<RollbackOutcome>,
    /// The error of the handler that failed, when one did.
    pub error: Option<ErrorInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RollbackOutcome {
    Complete,
    Failed,
}

impl RollbackOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RollbackOutcome::Complete => "complete",
            RollbackOutcome::Failed => "failed",
        }
    }
}

/// Cloudflare's duration units in milliseconds; a month is 30 days and a year 365, as in the
/// local engine Cloudflare ships.
pub const DURATION_UNITS: [(&str, u64); 8] = [
    ("millisecond", 1),
    ("second", 1_000),
    ("minute", 60_000),
    ("hour", 3_600_000),
    ("day", 86_400_000),
    ("week", 604_800_000),
    ("month", 2_592_000_000),
    ("year", 31_536_000_000),
];

/// How long an instance is kept after it ends, in milliseconds: `success` for `complete` and
/// `terminated`, `error` for `errored` (production's `successRetention` / `errorRetention`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    pub success_ms: Option<i64>,
    pub error_ms: Option<i64>,
}

impl Retention {
    /// The longest retention production allows (a paid account's); longer settings are capped
    /// to it, as Cloudflare's API caps them.
    pub const MAX_MS: i64 = 30 * 86_400_000;

    /// From durations in milliseconds, capped at [`Retention::MAX_MS`].
    pub fn capped_from(success_ms: Option<u64>, error_ms: Option<u64>) -> Retention {
        let cap = |ms: Option<u64>| ms.map(|ms| ms.min(Self::MAX_MS as u64) as i64);
        Retention { success_ms: cap(success_ms), error_ms: cap(error_ms) }
    }

    /// Each field of `self`, else of `fallback`.
    pub fn or(self, fallback: Retention) -> Retention {
        Retention { success_ms: self.success_ms.or(fallback.success_ms), error_ms: self.error_ms.or(fallback.error_ms) }
    }

    pub fn is_set(&self) -> bool {
        self.success_ms.is_some() || self.error_ms.is_some()
    }

    /// A retention duration string in milliseconds: Cloudflare's pattern
    /// `^(\d+)\s+(second|minute|hour|day|week|month|year)s?$`, a month being 30 days and a year
    /// 365, as its engine counts them.
    pub fn parse_text(text: &str) -> Option<u64> {
        let (number, unit) = text.split_once(|c: char| c.is_whitespace())?;
        let unit = unit.trim_start();
        let unit = unit.strip_suffix('s').unwrap_or(unit);
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Retention durations have no milliseconds unit.
        let factor = DURATION_UNITS[1..].iter().find(|(name, _)| *name == unit)?.1;
        number.parse::<u64>().ok()?.checked_mul(factor)
    }
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
            retention: Retention::default(),
            expires_on: None,
            rollback: None,
        }
    }

    /// Whether its rollback runs now (or will when it gets a slot): REST shows `rollingBack`,
    /// the binding `running`.
    pub fn rolling_back(&self) -> bool {
        let unfinished = !self.status.is_finished() && self.status != InstanceStatus::Paused;
        unfinished && self.rollback.as_ref().is_some_and(|rollback| rollback.outcome.is_none())
    }

    /// The status REST shows: `rollingBack` while its rollback runs.
    pub fn shown_status(&self) -> &'static str {
        if self.rolling_back() { "rollingBack" } else { self.status.as_str() }
    }

    /// The rollback's result as `status()` and REST show it (`null` when none ended).
    pub fn rollback_result(&self) -> serde_json::Value {
        match &self.rollback {
            Some(Rollback { outcome: Some(outcome), error, .. }) => serde_json::json!({
                "outcome": outcome.as_str(),
                "error": error.as_ref().map(|e| serde_json::json!({ "name": e.name, "message": e.message })),
            }),
            _ => serde_json::Value::Null,
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

/// An event sent to an instance (`sendEvent`), buffered until a `waitForEvent` of its type
/// consumes it; `seq` orders events first in, first out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEvent {
    pub seq: i64,
    pub event_type: String,
    /// The payload as JSON text.
    pub payload: String,
    pub received_on: i64,
}

/// A JSON value kept as the text it was stored as: step outputs and params go into the journal
/// without being parsed and written again.
pub type JsonText = Box<serde_json::value::RawValue>;

/// The JSON text `text` as a [`JsonText`]; `None` when it is not JSON (the journal then leaves
/// the value out rather than store something a reader cannot parse).
/// The order of a step config's keys where code sees it (`ctx.config`): production's, which
/// spreads the user's config over `{retries: {limit, delay, backoff}, timeout}` (a JSON map here
/// keeps its keys sorted).
pub const STEP_CONFIG_KEY_ORDER: &[&str] = &["retries", "limit", "delay", "backoff", "timeout", "sensitive"];

/// `value` as JSON text with the keys of every object that are in `order` first, in that order
/// (the others after them, sorted).
pub fn json_text_in_order(value: &serde_json::Value, order: &[&str]) -> String {
    use serde_json::Value;
    match value {
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(|item| json_text_in_order(item, order)).collect();
            format!("[{}]", items.join(","))
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_key(|key| order.iter().position(|known| known == key).unwrap_or(order.len()));
            let fields: Vec<String> = keys
                .into_iter()
                .map(|key| format!("{}:{}", Value::String(key.clone()), json_text_in_order(&map[key], order)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        other => other.to_string(),
    }
}

pub fn json_text(text: &str) -> Option<JsonText> {
    serde_json::value::RawValue::from_string(text.to_owned()).ok()
}

/// Reads a [`JsonText`] field of a journal event. The events are an internally tagged enum,
/// which serde reads through a buffer that cannot hand out raw JSON text: the value is read
/// whole and written back as text (on reads only; writes keep the stored text as it is).
fn json_text_from_any<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<JsonText>, D::Error> {
    let value = <Option<serde_json::Value> as serde::Deserialize>::deserialize(deserializer)?;
    value.map(|value| serde_json::value::to_raw_value(&value).map_err(serde::de::Error::custom)).transpose()
}

/// One change to an instance, as production's `instance.subscribe()` reports it (its 29 event
/// types; `workflows-2026.md` §5). The decider appends one for every change it makes, in the same
/// commit as the change; the store numbers them (`eventId`, increasing per instance). Step names
/// carry their occurrence, as REST shows them (`"charge card-1"`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum InstanceEvent {
    WorkflowQueued,
    WorkflowStarted {
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "json_text_from_any")]
        params: Option<JsonText>,
    },
    WorkflowRunning,
    WorkflowPaused,
    WorkflowWaitingForPause,
    WorkflowWaiting,
    WorkflowCompleted {
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "json_text_from_any")]
        output: Option<JsonText>,
    },
    WorkflowErrored {
        error: ErrorInfo,
    },
    WorkflowTerminated,
    StepStarted {
        step_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "json_text_from_any")]
        config: Option<JsonText>,
    },
    StepCompleted {
        step_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "json_text_from_any")]
        output: Option<JsonText>,
    },
    StepErrored {
        step_name: String,
    },
    AttemptStarted {
        step_name: String,
        attempt: u32,
    },
    AttemptCompleted {
        step_name: String,
        attempt: u32,
    },
    AttemptErrored {
        step_name: String,
        attempt: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_delay_ms: Option<u64>,
        error: ErrorInfo,
    },
    SleepStarted {
        step_name: String,
        duration_ms: u64,
    },
    SleepCompleted {
        step_name: String,
    },
    WaitStarted {
        step_name: String,
        event_type: String,
    },
    WaitCompleted {
        step_name: String,
    },
    WaitTimedOut {
        step_name: String,
    },
    RollbackStarted,
    RollbackStepStarted {
        step_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "json_text_from_any")]
        config: Option<JsonText>,
    },
    RollbackStepCompleted {
        step_name: String,
    },
    RollbackStepErrored {
        step_name: String,
        error: ErrorInfo,
    },
    RollbackAttemptStarted {
        step_name: String,
        attempt: u32,
    },
    RollbackAttemptCompleted {
        step_name: String,
        attempt: u32,
    },
    RollbackAttemptErrored {
        step_name: String,
        attempt: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_delay_ms: Option<u64>,
        error: ErrorInfo,
    },
    RollbackCompleted,
    RollbackErrored,
}

impl InstanceEvent {
    /// The `type` of every event, as `subscribe` filters name them.
    pub const TYPES: [&'static str; 29] = [
        "workflow_queued",
        "workflow_started",
        "workflow_running",
        "workflow_paused",
        "workflow_waiting_for_pause",
        "workflow_waiting",
        "workflow_completed",
        "workflow_errored",
        "workflow_terminated",
        "step_started",
        "step_completed",
        "step_errored",
        "attempt_started",
        "attempt_completed",
        "attempt_errored",
        "sleep_started",
        "sleep_completed",
        "wait_started",
        "wait_completed",
        "wait_timed_out",
        "rollback_started",
        "rollback_step_started",
        "rollback_step_completed",
        "rollback_step_errored",
        "rollback_attempt_started",
        "rollback_attempt_completed",
        "rollback_attempt_errored",
        "rollback_completed",
        "rollback_errored",
    ];

    /// The event's `type`, one of [`InstanceEvent::TYPES`].
    pub fn type_name(&self) -> &'static str {
        use InstanceEvent::*;
        let index = match self {
            WorkflowQueued => 0,
            WorkflowStarted { .. } => 1,
            WorkflowRunning => 2,
            WorkflowPaused => 3,
            WorkflowWaitingForPause => 4,
            WorkflowWaiting => 5,
            WorkflowCompleted { .. } => 6,
            WorkflowErrored { .. } => 7,
            WorkflowTerminated => 8,
            StepStarted { .. } => 9,
            StepCompleted { .. } => 10,
            StepErrored { .. } => 11,
            AttemptStarted { .. } => 12,
            AttemptCompleted { .. } => 13,
            AttemptErrored { .. } => 14,
            SleepStarted { .. } => 15,
            SleepCompleted { .. } => 16,
            WaitStarted { .. } => 17,
            WaitCompleted { .. } => 18,
            WaitTimedOut { .. } => 19,
            RollbackStarted => 20,
            RollbackStepStarted { .. } => 21,
            RollbackStepCompleted { .. } => 22,
            RollbackStepErrored { .. } => 23,
            RollbackAttemptStarted { .. } => 24,
            RollbackAttemptCompleted { .. } => 25,
            RollbackAttemptErrored { .. } => 26,
            RollbackCompleted => 27,
            RollbackErrored => 28,
        };
        Self::TYPES[index]
    }

    /// The event a status change reports, if it reports one: entering `queued`, `running`,
    /// `paused`, `waitingForPause` or `waiting` (the end statuses have events with a payload).
    pub fn of_status(status: InstanceStatus) -> Option<Self> {
        match status {
            InstanceStatus::Queued => Some(InstanceEvent::WorkflowQueued),
            InstanceStatus::Running => Some(InstanceEvent::WorkflowRunning),
            InstanceStatus::Paused => Some(InstanceEvent::WorkflowPaused),
            InstanceStatus::WaitingForPause => Some(InstanceEvent::WorkflowWaitingForPause),
            InstanceStatus::Waiting => Some(InstanceEvent::WorkflowWaiting),
            InstanceStatus::Terminated => Some(InstanceEvent::WorkflowTerminated),
            InstanceStatus::Complete | InstanceStatus::Errored | InstanceStatus::Unknown => None,
        }
    }

    /// Whether a subscription ends after this event.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            InstanceEvent::WorkflowCompleted { .. }
                | InstanceEvent::WorkflowErrored { .. }
                | InstanceEvent::WorkflowTerminated
        )
    }
}

/// An [`InstanceEvent`] and when it happened (ms since the epoch, on the engine's clock).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct JournalEntry {
    pub timestamp: i64,
    #[serde(flatten)]
    pub event: InstanceEvent,
}

/// A journal entry as stored: numbered within its instance.
#[derive(Debug, Clone)]
pub struct NumberedEvent {
    pub event_id: u64,
    pub entry: JournalEntry,
}
