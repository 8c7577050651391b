//! Cloudflare's duration values: a number of milliseconds, or `"<n> <unit>[s]"` with unit one
//! of second, minute, hour, day, week, month, year (spec §2.4). Used by sleeps, step timeouts,
//! retry delays and waitForEvent timeouts.

use serde_json::Value;

use crate::model::DURATION_UNITS as UNITS;

/// Parses `"10 seconds"`, `"1 minute"`, `"250"`; returns milliseconds.
pub fn parse_duration_text(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| c.is_whitespace()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let amount: f64 = number.parse().ok()?;
    if !amount.is_finite() || amount < 0.0 {
        return None;
    }
    let unit = unit.trim().to_ascii_lowercase();
    let factor = if unit.is_empty() {
        1
    } else {
        let singular = unit.strip_suffix('s').unwrap_or(&unit);
        UNITS.iter().find(|(name, _)| *name == singular)?.1
    };
    Some((amount * factor as f64).round() as u64)
}

/// A JSON duration: a non-negative number of milliseconds or a duration string.
pub fn parse_duration_value(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => {
            let ms = n.as_f64()?;
            (ms.is_finite() && ms >= 0.0).then(|| ms.round() as u64)
        }
        Value::String(text) => parse_duration_text(text),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_documented_unit() {
        assert_eq!(parse_duration_text("1 second"), Some(1_000));
        assert_eq!(parse_duration_text("10 seconds"), Some(10_000));
        assert_eq!(parse_duration_text("10 minutes"), Some(600_000));
        assert_eq!(parse_duration_text("2 hours"), Some(7_200_000));
        assert_eq!(parse_duration_text("1 day"), Some(86_400_000));
        assert_eq!(parse_duration_text("1 week"), Some(604_800_000));
        assert_eq!(parse_duration_text("1 month"), Some(2_592_000_000));
        assert_eq!(parse_duration_text("1 year"), Some(31_536_000_000));
    }

    #[test]
    fn bare_numbers_are_milliseconds() {
        assert_eq!(parse_duration_text("250"), Some(250));
        assert_eq!(parse_duration_value(&json!(0)), Some(0));
        assert_eq!(parse_duration_value(&json!(1500)), Some(1500));
    }

    #[test]
    fn rejects_nonsense() {
        assert_eq!(parse_duration_text("soon"), None);
        assert_eq!(parse_duration_text("5 fortnights"), None);
        assert_eq!(parse_duration_text("-1 second"), None);
        assert_eq!(parse_duration_value(&json!(-5)), None);
        assert_eq!(parse_duration_value(&json!(true)), None);
    }
}
