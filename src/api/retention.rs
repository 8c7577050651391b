//! The retention a request may set (`default_retention` of a workflow or of the account
//! settings, `instance_retention` of a new instance): Cloudflare's `Duration`, a whole number
//! of milliseconds or a string like `"30 days"`. Retention is not enforced locally; it is
//! checked so that a body Cloudflare would refuse is refused here too.

use serde::Deserialize;
use serde_json::Value;

use super::envelope::{ApiError, shown};
use crate::engine::duration::parse_duration_text;

/// What Cloudflare keeps by default, for errored and for successful instances alike: 30 days.
pub const DEFAULT_RETENTION_MS: u64 = 30 * 86_400_000;

/// The units of `^(\d+)\s+(second|minute|hour|day|week|month|year)s?$`, Cloudflare's pattern.
const UNITS: [&str; 7] = ["second", "minute", "hour", "day", "week", "month", "year"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RetentionBody {
    error_retention: Option<Value>,
    success_retention: Option<Value>,
}

/// Retention in milliseconds.
pub(super) struct Retention {
    pub error_ms: u64,
    pub success_ms: u64,
}

impl RetentionBody {
    /// Both durations in milliseconds, 30 days when left out; `field` names the body's field in
    /// errors.
    pub(super) fn to_ms(&self, field: &str) -> Result<Retention, ApiError> {
        let read = |name: &str, value: &Option<Value>| match value {
            None => Ok(DEFAULT_RETENTION_MS),
            Some(value) => duration_ms(value).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{field}.{name} must be a whole number of milliseconds or a string like \"30 days\", not {}",
                    shown(&value.to_string())
                ))
            }),
        };
        Ok(Retention {
            error_ms: read("error_retention", &self.error_retention)?,
            success_ms: read("success_retention", &self.success_retention)?,
        })
    }
}

fn duration_ms(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(text) if matches_duration_pattern(text) => parse_duration_text(text),
        _ => None,
    }
}

fn matches_duration_pattern(text: &str) -> bool {
    let Some((number, unit)) = text.split_once(|c: char| c.is_whitespace()) else { return false };
    let unit = unit.trim_start();
    let unit = unit.strip_suffix('s').unwrap_or(unit);
    !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) && UNITS.contains(&unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_are_whole_milliseconds_or_cloudflares_strings() {
        assert_eq!(duration_ms(&json!(1000)), Some(1000));
        assert_eq!(duration_ms(&json!("30 days")), Some(DEFAULT_RETENTION_MS));
        assert_eq!(duration_ms(&json!("1 week")), Some(604_800_000));
        assert_eq!(duration_ms(&json!("2  hours")), Some(7_200_000));
        for bad in [
            json!(-1),
            json!(1.5),
            json!("30days"),
            json!("1.5 days"),
            json!("3 fortnights"),
            json!("days"),
            json!([1]),
            json!(null),
        ] {
            assert_eq!(duration_ms(&bad), None, "{bad}");
        }
    }
}
