//! Step configuration and the retry decision: Cloudflare's defaults, validation of what the
//! workflow passed to `step.do`, and the backoff arithmetic. Pure: no IO, no clock.

use serde_json::{Map, Value, json};

use super::duration::parse_duration_value;

/// Documented production defaults (spec §2.2): 5 retries, 10 s, exponential, 10 minutes.
pub const DEFAULT_RETRY_LIMIT: u32 = 5;
pub const DEFAULT_RETRY_DELAY_MS: u64 = 10_000;
pub const DEFAULT_TIMEOUT: &str = "10 minutes";
pub const MAX_RETRY_LIMIT: u32 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    Constant,
    Linear,
    Exponential,
}

impl Backoff {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "constant" => Some(Backoff::Constant),
            "linear" => Some(Backoff::Linear),
            "exponential" => Some(Backoff::Exponential),
            _ => None,
        }
    }
}

/// A step's configuration after defaults were merged in and every value was checked.
#[derive(Debug, Clone, PartialEq)]
pub struct StepConfig {
    pub retry_limit: u32,
    pub retry_delay_ms: u64,
    pub backoff: Backoff,
    pub timeout_ms: u64,
    pub sensitive_output: bool,
    /// The merged configuration as the user wrote it, for REST output.
    pub display: Value,
}

impl StepConfig {
    /// Merges `user` (the object passed to `step.do`, or null) over the defaults, field by field
    /// inside `retries`, and validates the result.
    pub fn resolve(user: &Value) -> Result<Self, String> {
        let user = match user {
            Value::Null => Map::new(),
            Value::Object(map) => map.clone(),
            _ => return Err("the step config must be an object".into()),
        };
        let mut retries = json!({
            "limit": DEFAULT_RETRY_LIMIT,
            "delay": DEFAULT_RETRY_DELAY_MS,
            "backoff": "exponential",
        });
        let mut timeout = json!(DEFAULT_TIMEOUT);
        let mut sensitive_output = false;
        for (key, value) in &user {
            match key.as_str() {
                "retries" => merge_retries(&mut retries, value)?,
                "timeout" => timeout = value.clone(),
                "sensitive" => {
                    if value != "output" {
                        return Err("sensitive must be \"output\"".into());
                    }
                    sensitive_output = true;
                }
                other => return Err(format!("unknown key {other:?}")),
            }
        }
        let retry_limit = retries["limit"]
            .as_u64()
            .filter(|limit| *limit <= u64::from(MAX_RETRY_LIMIT))
            .ok_or("retries.limit must be an integer from 0 to 10000")? as u32;
        let retry_delay_ms = parse_duration_value(&retries["delay"])
            .ok_or("retries.delay must be a non-negative number of milliseconds or a duration such as \"5 seconds\"")?;
        let backoff = retries["backoff"]
            .as_str()
            .and_then(Backoff::parse)
            .ok_or("retries.backoff must be \"constant\", \"linear\" or \"exponential\"")?;
        let timeout_ms = parse_duration_value(&timeout)
            .filter(|ms| *ms > 0)
            .ok_or("timeout must be a positive number of milliseconds or a duration such as \"30 seconds\"")?;
        let mut display = json!({ "retries": retries, "timeout": timeout });
        if sensitive_output {
            display["sensitive"] = json!("output");
        }
        Ok(StepConfig { retry_limit, retry_delay_ms, backoff, timeout_ms, sensitive_output, display })
    }

    /// The delay before the next attempt, given how many attempts were made so far (≥ 1), or
    /// `None` when the retries are used up: `limit` retries follow the first attempt.
    pub fn delay_after_attempt(&self, attempts_made: u32) -> Option<u64> {
        if attempts_made > self.retry_limit {
            return None;
        }
        let d = self.retry_delay_ms;
        Some(match self.backoff {
            Backoff::Constant => d,
            Backoff::Linear => d.saturating_mul(u64::from(attempts_made)),
            Backoff::Exponential => d.saturating_mul(1u64 << (attempts_made.saturating_sub(1)).min(62)),
        })
    }
}

fn merge_retries(retries: &mut Value, user: &Value) -> Result<(), String> {
    let Value::Object(user) = user else {
        return Err("retries must be an object".into());
    };
    for (key, value) in user {
        match key.as_str() {
            "limit" | "delay" | "backoff" => retries[key] = value.clone(),
            other => return Err(format!("unknown key \"retries.{other}\"")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = StepConfig::resolve(&Value::Null).unwrap();
        assert_eq!(config.retry_limit, 5);
        assert_eq!(config.retry_delay_ms, 10_000);
        assert_eq!(config.backoff, Backoff::Exponential);
        assert_eq!(config.timeout_ms, 600_000);
        assert_eq!(
            config.display,
            json!({"retries": {"limit": 5, "delay": 10000, "backoff": "exponential"}, "timeout": "10 minutes"})
        );
    }

    #[test]
    fn retries_merge_field_by_field() {
        let config = StepConfig::resolve(&json!({"retries": {"limit": 2}})).unwrap();
        assert_eq!(config.retry_limit, 2);
        assert_eq!(config.retry_delay_ms, 10_000);
        assert_eq!(config.backoff, Backoff::Exponential);
    }

    #[test]
    fn zero_delay_is_valid() {
        let config = StepConfig::resolve(&json!({"retries": {"limit": 2, "delay": 0}})).unwrap();
        assert_eq!(config.delay_after_attempt(1), Some(0));
    }

    #[test]
    fn backoff_arithmetic() {
        let with = |backoff: &str| {
            StepConfig::resolve(&json!({"retries": {"limit": 3, "delay": "1 second", "backoff": backoff}})).unwrap()
        };
        let delays = |c: StepConfig| (1..=4).map(|n| c.delay_after_attempt(n)).collect::<Vec<_>>();
        assert_eq!(delays(with("constant")), [Some(1000), Some(1000), Some(1000), None]);
        assert_eq!(delays(with("linear")), [Some(1000), Some(2000), Some(3000), None]);
        assert_eq!(delays(with("exponential")), [Some(1000), Some(2000), Some(4000), None]);
    }

    #[test]
    fn limit_zero_means_one_attempt() {
        let config = StepConfig::resolve(&json!({"retries": {"limit": 0}})).unwrap();
        assert_eq!(config.delay_after_attempt(1), None);
    }

    #[test]
    fn invalid_configs_are_refused_with_a_reason() {
        for bad in [
            json!({"retries": {"limit": -1}}),
            json!({"retries": {"delay": "soon"}}),
            json!({"retries": {"backoff": "random"}}),
            json!({"retries": {"tries": 3}}),
            json!({"timeout": 0}),
            json!({"colour": "red"}),
            json!(5),
        ] {
            assert!(StepConfig::resolve(&bad).is_err(), "{bad} was accepted");
        }
    }
}
