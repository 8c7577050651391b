//! Step configuration and the retry decision: Cloudflare's defaults, validation of what the
//! workflow passed to `step.do` (or as a step's `rollbackConfig`), the config a step shows (in
//! its row, its journal entry and its callback's `ctx`), and the backoff arithmetic, for a fixed
//! base delay and for one a delay function computed. Pure: no IO, no clock.

use serde_json::{Map, Value, json};

use super::duration::parse_duration_value;
use crate::model::{STEP_CONFIG_KEY_ORDER, json_text_in_order};

/// Documented production defaults (spec §2.2): 5 retries, 10 s, exponential, 10 minutes.
pub const DEFAULT_RETRY_LIMIT: u32 = 5;
pub const DEFAULT_RETRY_DELAY_MS: u64 = 10_000;
pub const DEFAULT_TIMEOUT: &str = "10 minutes";
pub const MAX_RETRY_LIMIT: u32 = 10_000;
/// What a step's stored and reported config shows for a `retries.delay` that is a function.
pub const DYNAMIC_DELAY: &str = "[dynamic]";

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

/// Where the base of a step's retry delays comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDelay {
    /// The `retries.delay` duration the step gave, or the default.
    Fixed(u64),
    /// `retries.delay` is a function, which JavaScript calls after each failed attempt that
    /// will be retried.
    Dynamic,
}

/// A step's configuration after defaults were merged in and every value was checked.
#[derive(Debug, Clone)]
pub struct StepConfig {
    pub retry_limit: u32,
    pub retry_delay: RetryDelay,
    pub backoff: Backoff,
    pub timeout_ms: u64,
    pub sensitive_output: bool,
    /// The merged configuration as the user wrote it, a delay function shown as
    /// [`DYNAMIC_DELAY`]: what the step's row, REST and the journal show.
    pub display: Value,
    /// What the callback's `ctx.config` is: `display`, without `retries.delay` when it is a
    /// function (a function cannot be handed back, and production leaves the key out).
    pub context: Value,
    /// `display` as JSON text, made once: every new step's row and journal entry show it.
    pub display_text: Box<serde_json::value::RawValue>,
    /// `context` as JSON text in production's key order, made once: every attempt's callback
    /// gets it, and JavaScript parses it only when the callback reads `ctx.config`.
    pub context_text: std::sync::Arc<str>,
}

impl StepConfig {
    /// Merges `user` (the object passed to `step.do`, or null) over the defaults, field by field
    /// inside `retries`, and validates the result. `delay_function` says that `retries.delay`
    /// was a function, which JavaScript keeps and left out of `user`.
    pub fn resolve(user: &Value, delay_function: bool) -> Result<Self, String> {
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
        let retry_delay = if delay_function {
            retries["delay"] = json!(DYNAMIC_DELAY);
            RetryDelay::Dynamic
        } else {
            RetryDelay::Fixed(parse_duration_value(&retries["delay"]).ok_or(
                "retries.delay must be a non-negative number of milliseconds, a duration such as \"5 seconds\" or a function",
            )?)
        };
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
        let mut context = display.clone();
        if delay_function && let Some(retries) = context["retries"].as_object_mut() {
            retries.remove("delay");
        }
        let display_text = serde_json::value::to_raw_value(&display).map_err(|error| error.to_string())?;
        Ok(StepConfig {
            retry_limit,
            retry_delay,
            backoff,
            timeout_ms,
            sensitive_output,
            display,
            context_text: json_text_in_order(&context, STEP_CONFIG_KEY_ORDER).into(),
            context,
            display_text,
        })
    }

    /// A step's `rollbackConfig`: the step config's `retries` and `timeout`, nothing else
    /// (production's documents leave `sensitive` out of it).
    pub fn resolve_rollback(user: &Value, delay_function: bool) -> Result<Self, String> {
        if let Value::Object(map) = user
            && let Some(other) = map.keys().find(|key| !matches!(key.as_str(), "retries" | "timeout"))
        {
            return Err(format!("unknown key {other:?}"));
        }
        StepConfig::resolve(user, delay_function)
    }

    /// The config a step's row stored (its `display`), read back: a delay shown as
    /// [`DYNAMIC_DELAY`] was a function.
    pub fn from_stored(stored: &Value) -> Result<Self, String> {
        let mut user = stored.clone();
        let dynamic = user["retries"]["delay"] == DYNAMIC_DELAY;
        if dynamic && let Some(retries) = user["retries"].as_object_mut() {
            retries.remove("delay");
        }
        StepConfig::resolve(&user, dynamic)
    }

    /// Whether another attempt follows `attempts_made` (≥ 1) failed ones: `limit` retries
    /// follow the first attempt.
    pub fn will_retry(&self, attempts_made: u32) -> bool {
        attempts_made <= self.retry_limit
    }

    /// The delay before the next attempt after `attempts_made` failed ones, or `None` when the
    /// retries are used up. A dynamic delay whose function could not run (the attempt was
    /// stopped with its runtime) has the default base, as production's local engine falls back
    /// to when it cannot call the function.
    pub fn delay_after_attempt(&self, attempts_made: u32) -> Option<u64> {
        let base = match self.retry_delay {
            RetryDelay::Fixed(base) => base,
            RetryDelay::Dynamic => DEFAULT_RETRY_DELAY_MS,
        };
        self.will_retry(attempts_made).then(|| self.backoff_from(base, attempts_made))
    }

    /// The configured backoff applied to `base`, after `attempts_made` (≥ 1) failed attempts:
    /// what a fixed delay and a delay function's result both go through.
    pub fn backoff_from(&self, base: u64, attempts_made: u32) -> u64 {
        match self.backoff {
            Backoff::Constant => base,
            Backoff::Linear => base.saturating_mul(u64::from(attempts_made)),
            Backoff::Exponential => base.saturating_mul(1u64 << (attempts_made.saturating_sub(1)).min(62)),
        }
    }
}

impl PartialEq for StepConfig {
    /// `display_text` is `display` written out, so it is left out.
    fn eq(&self, other: &Self) -> bool {
        (self.retry_limit, self.retry_delay, self.backoff, self.timeout_ms, self.sensitive_output)
            == (other.retry_limit, other.retry_delay, other.backoff, other.timeout_ms, other.sensitive_output)
            && self.display == other.display
            && self.context == other.context
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
        let config = StepConfig::resolve(&Value::Null, false).unwrap();
        assert_eq!(config.retry_limit, 5);
        assert_eq!(config.retry_delay, RetryDelay::Fixed(10_000));
        assert_eq!(config.backoff, Backoff::Exponential);
        assert_eq!(config.timeout_ms, 600_000);
        assert_eq!(
            config.display,
            json!({"retries": {"limit": 5, "delay": 10000, "backoff": "exponential"}, "timeout": "10 minutes"})
        );
    }

    #[test]
    fn retries_merge_field_by_field() {
        let config = StepConfig::resolve(&json!({"retries": {"limit": 2}}), false).unwrap();
        assert_eq!(config.retry_limit, 2);
        assert_eq!(config.retry_delay, RetryDelay::Fixed(10_000));
        assert_eq!(config.backoff, Backoff::Exponential);
    }

    #[test]
    fn zero_delay_is_valid() {
        let config = StepConfig::resolve(&json!({"retries": {"limit": 2, "delay": 0}}), false).unwrap();
        assert_eq!(config.delay_after_attempt(1), Some(0));
    }

    #[test]
    fn backoff_arithmetic() {
        let with = |backoff: &str| {
            StepConfig::resolve(&json!({"retries": {"limit": 3, "delay": "1 second", "backoff": backoff}}), false)
                .unwrap()
        };
        let delays = |c: StepConfig| (1..=4).map(|n| c.delay_after_attempt(n)).collect::<Vec<_>>();
        assert_eq!(delays(with("constant")), [Some(1000), Some(1000), Some(1000), None]);
        assert_eq!(delays(with("linear")), [Some(1000), Some(2000), Some(3000), None]);
        assert_eq!(delays(with("exponential")), [Some(1000), Some(2000), Some(4000), None]);
    }

    #[test]
    fn limit_zero_means_one_attempt() {
        let config = StepConfig::resolve(&json!({"retries": {"limit": 0}}), false).unwrap();
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
            json!({"retries": {"delay": -1}}),
            json!({"retries": {"delay": "[dynamic]"}}),
            json!({"retries": 3}),
            json!({"timeout": "0 seconds"}),
            json!({"sensitive": "input"}),
            json!(5),
        ] {
            assert!(StepConfig::resolve(&bad, false).is_err(), "{bad} was accepted");
        }
    }

    fn dynamic(backoff: &str) -> StepConfig {
        StepConfig::resolve(&json!({"retries": {"limit": 3, "backoff": backoff}}), true).unwrap()
    }

    #[test]
    fn a_delay_function_shows_as_dynamic_and_is_left_out_of_the_callbacks_config() {
        let config = dynamic("linear");
        assert_eq!(config.retry_delay, RetryDelay::Dynamic);
        assert_eq!(
            config.display,
            json!({"retries": {"limit": 3, "delay": "[dynamic]", "backoff": "linear"}, "timeout": "10 minutes"})
        );
        assert_eq!(config.context, json!({"retries": {"limit": 3, "backoff": "linear"}, "timeout": "10 minutes"}));
        assert_eq!(StepConfig::from_stored(&config.display).unwrap(), config);
        let fixed =
            StepConfig::resolve(&json!({"retries": {"delay": "2 seconds"}, "sensitive": "output"}), false).unwrap();
        assert_eq!(fixed.context, fixed.display);
        assert_eq!(StepConfig::from_stored(&fixed.display).unwrap(), fixed);
    }

    #[test]
    fn a_dynamic_base_goes_through_the_configured_backoff() {
        let after = |c: StepConfig, base: u64| (1..=3).map(|n| c.backoff_from(base, n)).collect::<Vec<_>>();
        assert_eq!(after(dynamic("constant"), 1500), [1500, 1500, 1500]);
        assert_eq!(after(dynamic("linear"), 1500), [1500, 3000, 4500]);
        assert_eq!(after(dynamic("exponential"), 1500), [1500, 3000, 6000]);
        assert_eq!(dynamic("exponential").backoff_from(0, 3), 0);
        assert!(dynamic("constant").will_retry(3));
        assert!(!dynamic("constant").will_retry(4));
        // A function that could not run (the attempt was stopped with its runtime): the default base.
        assert_eq!(dynamic("linear").delay_after_attempt(2), Some(2 * DEFAULT_RETRY_DELAY_MS));
        assert_eq!(dynamic("linear").delay_after_attempt(4), None);
    }

    #[test]
    fn a_rollback_config_takes_retries_and_timeout_only() {
        assert!(StepConfig::resolve_rollback(&json!({"retries": {"limit": 1}, "timeout": "1 minute"}), false).is_ok());
        assert!(StepConfig::resolve_rollback(&json!({"retries": {"limit": 1}}), true).is_ok());
        assert!(StepConfig::resolve_rollback(&json!({"sensitive": "output"}), false).is_err());
        assert!(StepConfig::resolve_rollback(&json!({"retries": {"limit": -1}}), false).is_err());
    }
}
