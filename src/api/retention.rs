//! The retention a request may set (`default_retention` of a workflow or of the account
//! settings, `instance_retention` of a new instance): Cloudflare's `Duration`, a whole number
//! of milliseconds or a string like `"30 days"`, capped at 30 days. A workflow's and an
//! instance's take effect (the engine deletes instances whose retention ran out); the account
//! settings' are checked and echoed only.

use serde::Deserialize;
use serde_json::Value;

use super::envelope::{ApiError, shown};
use crate::model;

/// What Cloudflare keeps by default, for errored and for successful instances alike: 30 days.
pub const DEFAULT_RETENTION_MS: u64 = 30 * 86_400_000;

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
    /// The durations given, capped at production's maximum as Cloudflare's API caps them;
    /// `field` names the body's field in errors.
    pub(super) fn parse(&self, field: &str) -> Result<model::Retention, ApiError> {
        let read = |name: &str, value: &Option<Value>| match value {
            None => Ok(None),
            Some(value) => duration_ms(value).map(Some).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{field}.{name} must be a whole number of milliseconds or a string like \"30 days\", not {}",
                    shown(&value.to_string())
                ))
            }),
        };
        Ok(model::Retention::capped_from(
            read("success_retention", &self.success_retention)?,
            read("error_retention", &self.error_retention)?,
        ))
    }

    /// Both durations in milliseconds, 30 days when left out.
    pub(super) fn to_ms(&self, field: &str) -> Result<Retention, ApiError> {
        let given = self.parse(field)?;
        let or_default = |ms: Option<i64>| ms.map_or(DEFAULT_RETENTION_MS, |ms| ms as u64);
        Ok(Retention { error_ms: or_default(given.error_ms), success_ms: or_default(given.success_ms) })
    }
}

fn duration_ms(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(text) => model::Retention::parse_text(text),
        _ => None,
    }
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
