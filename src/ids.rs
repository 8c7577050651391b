//! Validated identifiers shared by every part: workflow names, instance ids, event types and
//! step keys. An unchecked string never reaches the engine or the store; it becomes one of these
//! first, and the rules are Cloudflare's (spec §1.3).

use std::fmt;

/// Why a string was refused as an identifier; the message names the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is invalid: {rule}")]
pub struct InvalidId {
    pub what: &'static str,
    pub value: String,
    pub rule: &'static str,
}

const NAME_RULE: &str = "it must match ^[a-zA-Z0-9_][a-zA-Z0-9-_]*$";

/// `^[a-zA-Z0-9_][a-zA-Z0-9-_]*$`: the one pattern Cloudflare uses for workflow names, user
/// instance ids and event types.
fn matches_name_pattern(value: &str) -> bool {
    let mut chars = value.chars();
    match chars.next() {
        Some(first) if first.is_ascii_alphanumeric() || first == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn check_name(what: &'static str, value: &str, max_len: usize) -> Result<(), InvalidId> {
    let invalid = |rule| InvalidId { what, value: value.to_owned(), rule };
    if value.is_empty() {
        return Err(invalid("it must not be empty"));
    }
    if value.len() > max_len {
        return Err(invalid(match max_len {
            64 => "it must be at most 64 characters",
            100 => "it must be at most 100 characters",
            _ => "it is too long",
        }));
    }
    if !matches_name_pattern(value) {
        return Err(invalid(NAME_RULE));
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// A workflow's `name` from the config: 1–64 characters of the name pattern.
    WorkflowName
);
string_id!(
    /// An instance id: user-chosen (1–100 characters of the name pattern), a generated UUID v4,
    /// or a cron id (`"<cron>-<ms>"`, up to 271 characters of `[a-zA-Z0-9, */#_-]`).
    InstanceId
);
string_id!(
    /// The `type` of an event sent to an instance: 1–100 characters of the name pattern.
    EventType
);

impl WorkflowName {
    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        check_name("workflow name", value, 64)?;
        Ok(Self(value.to_owned()))
    }
}

impl InstanceId {
    /// An id supplied by a user through `create`. `cf_` and 64 lowercase hex digits is the form
    /// of the ids Cloudflare makes itself, so a user may not choose one.
    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        check_name("instance id", value, 100)?;
        let reserved = value.strip_prefix("cf_").is_some_and(|hex| {
            hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if reserved {
            return Err(InvalidId {
                what: "instance id",
                value: value.to_owned(),
                rule: "ids of the form cf_ and 64 lowercase hex digits are reserved for ids Cloudflare generates",
            });
        }
        Ok(Self(value.to_owned()))
    }

    /// Any id an existing instance can have, cron ids included: what `get`, describe and the
    /// other per-instance routes accept.
    pub fn parse_addressable(value: &str) -> Result<Self, InvalidId> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || " ,*/#_-".contains(c);
        if value.is_empty() || value.len() > 271 || !value.chars().all(allowed) {
            return Err(InvalidId {
                what: "instance id",
                value: value.to_owned(),
                rule: "it must be 1-271 characters of [a-zA-Z0-9, */#_-]",
            });
        }
        Ok(Self(value.to_owned()))
    }

    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// The id of the instance a cron firing creates: `"<cron>-<scheduled ms>"`. Only the engine
    /// makes these; the expression was checked by the config (at most 256 characters of the
    /// addressable alphabet), so the id is addressable.
    pub(crate) fn for_firing(cron: &str, scheduled_ms: i64) -> Self {
        Self(format!("{cron}-{scheduled_ms}"))
    }
}

impl EventType {
    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        check_name("event type", value, 100)?;
        Ok(Self(value.to_owned()))
    }
}

/// One instance: the workflow it belongs to and its id. The engine's runs, lines and locks are
/// keyed by it, and so are the store's reads and writes of one instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceKey {
    pub workflow: WorkflowName,
    pub id: InstanceId,
}

impl InstanceKey {
    pub fn new(workflow: WorkflowName, id: InstanceId) -> Self {
        InstanceKey { workflow, id }
    }

    /// A key read back from the store, which holds only names and ids that were checked before
    /// they were written.
    pub(crate) fn stored(workflow: String, id: String) -> Self {
        InstanceKey { workflow: WorkflowName(workflow), id: InstanceId(id) }
    }
}

impl fmt::Display for InstanceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.workflow, self.id)
    }
}

/// The three kinds of step, each with its own occurrence counter (spec §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StepKind {
    Do,
    Sleep,
    WaitForEvent,
    /// The rollback handler of the `do` step with the same name and count.
    Rollback,
}

impl StepKind {
    /// The spelling used by `restart({from: {type}})` and stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Do => "do",
            StepKind::Sleep => "sleep",
            StepKind::WaitForEvent => "waitForEvent",
            StepKind::Rollback => "rollback",
        }
    }

    /// A kind a user may name (`restart({from: {type}})`): a rollback handler is none.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "do" | "step" => Some(StepKind::Do),
            "sleep" => Some(StepKind::Sleep),
            "waitForEvent" => Some(StepKind::WaitForEvent),
            _ => None,
        }
    }

    /// A kind as stored, rollback handlers included.
    pub fn from_stored(value: &str) -> Option<Self> {
        match value {
            "rollback" => Some(StepKind::Rollback),
            other => Self::parse(other),
        }
    }
}

/// The replay key of a step: its kind, its name, and which occurrence of that name (1-based) it
/// is within one run of the workflow.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StepKey {
    pub kind: StepKind,
    pub name: String,
    pub count: u32,
}

impl StepKey {
    /// The name Cloudflare shows in REST output: `"<name>-<count>"`.
    pub fn display_name(&self) -> String {
        format!("{}-{}", self.name, self.count)
    }
}

/// A step name is at most 256 characters with no control characters.
pub fn check_step_name(name: &str) -> Result<(), InvalidId> {
    let invalid = |rule| InvalidId { what: "step name", value: name.to_owned(), rule };
    if name.is_empty() {
        return Err(invalid("it must not be empty"));
    }
    if name.len() > 256 {
        return Err(invalid("it must be at most 256 characters"));
    }
    if name.chars().any(|c| (c as u32) < 0x20) {
        return Err(invalid("it must not contain control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudflare_generated_ids_are_reserved() {
        let generated = format!("cf_{}", "0123456789abcdef".repeat(4));
        let error = InstanceId::parse(&generated).unwrap_err().to_string();
        assert!(error.contains("reserved"), "{error}");
        assert!(InstanceId::parse_addressable(&generated).is_ok(), "such an instance can still be addressed");
        for allowed in
            [format!("cf_{}", "0123456789ABCDEF".repeat(4)), format!("cf_{}", "ab".repeat(31)), "cf_order".into()]
        {
            assert!(InstanceId::parse(&allowed).is_ok(), "{allowed}");
        }
    }

    #[test]
    fn names_follow_cloudflare_pattern() {
        assert!(WorkflowName::parse("my-workflow_1").is_ok());
        assert!(WorkflowName::parse("_x").is_ok());
        assert!(WorkflowName::parse("-x").is_err());
        assert!(WorkflowName::parse("a.b").is_err());
        assert!(WorkflowName::parse("").is_err());
        assert!(WorkflowName::parse(&"a".repeat(64)).is_ok());
        assert!(WorkflowName::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn instance_ids_are_limited_to_100_characters() {
        assert!(InstanceId::parse(&"a".repeat(100)).is_ok());
        let err = InstanceId::parse(&"a".repeat(101)).unwrap_err();
        assert!(err.to_string().contains("100"));
        assert!(InstanceId::parse("has space").is_err());
    }

    #[test]
    fn cron_ids_are_addressable_but_not_creatable() {
        let cron_id = "*/30 * * * *-1786001400000";
        assert!(InstanceId::parse(cron_id).is_err());
        assert!(InstanceId::parse_addressable(cron_id).is_ok());
        assert!(InstanceId::parse_addressable("a;b").is_err());
    }

    #[test]
    fn firing_ids_are_cron_and_time() {
        let id = InstanceId::for_firing("*/30 * * * *", 1_786_001_400_000);
        assert_eq!(id.as_str(), "*/30 * * * *-1786001400000");
        assert!(InstanceId::parse_addressable(id.as_str()).is_ok());
        let longest = InstanceId::for_firing(&"1,".repeat(128)[..256], 1_786_001_400_000);
        assert_eq!(InstanceId::parse_addressable(longest.as_str()), Ok(longest));
    }

    #[test]
    fn generated_ids_are_uuid_v4() {
        let id = InstanceId::generate();
        let parsed = uuid::Uuid::parse_str(id.as_str()).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert!(InstanceId::parse(id.as_str()).is_ok());
    }

    #[test]
    fn event_types_reject_dots() {
        assert!(EventType::parse("approval").is_ok());
        assert!(EventType::parse("user.approved").is_err());
    }

    #[test]
    fn step_names_reject_control_characters() {
        assert!(check_step_name("fetch data").is_ok());
        assert!(check_step_name("bad\nname").is_err());
        assert!(check_step_name(&"x".repeat(257)).is_err());
    }
}
