//! Cloudflare's cron dialect, which workflow `schedules` and Worker `triggers.crons` share: five
//! fields (minute, hour, day of month, month, day of week) in UTC, with names, ranges (wrapping
//! ones too, like `22-2`), steps, lists, `L` and `W` in the day of month (`L`, `LW`, `15W`), and
//! `L` and `#` in the day of week (`6L`, `friL`, `2#1`), where 1 is Sunday and 7 is Saturday.
//!
//! An expression is checked here against Cloudflare's grammar, field by field, so that an error
//! says what is wrong; then it is handed to `croner` (in its Quartz weekday mode) to find firing
//! times. Plain fields reach `croner` as explicit lists of values, so only `L`, `W` and `#` depend
//! on how `croner` reads them. Pure: no clock, no IO.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// Cloudflare's limit on the length of one cron expression.
pub const MAX_LENGTH: usize = 256;

/// Why a string is not a cron expression Cloudflare would accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CronError(String);

/// A valid cron expression, as written, ready to say when it fires.
#[derive(Clone)]
pub struct CronExpression {
    text: String,
    cron: Cron,
}

impl fmt::Debug for CronExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronExpression({:?})", self.text)
    }
}

impl fmt::Display for CronExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for CronExpression {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for CronExpression {}

/// An expression equals the text it was written as.
impl PartialEq<&str> for CronExpression {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl CronExpression {
    pub fn parse(text: &str) -> Result<Self, CronError> {
        let pattern = translate(text)?;
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .alternative_weekdays(true)
            .build();
        let cron = parser
            .parse(&pattern)
            .map_err(|e| CronError(format!("cannot evaluate it ({pattern:?} was refused: {e})")))?;
        let expression = CronExpression { text: text.to_owned(), cron };
        if expression.next_after(0).is_none() {
            return Err(CronError("it never fires: no month has the day it names".into()));
        }
        Ok(expression)
    }

    /// The expression as written; it is also what instance ids and `event.schedule.cron` carry.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first firing time strictly after `ms` (milliseconds since the epoch), if there is one
    /// before the year 5000.
    pub fn next_after(&self, ms: i64) -> Option<i64> {
        // Firings fall on whole minutes, so searching from the start of `ms`'s second, exclusive
        // of it, finds exactly the firings after `ms`.
        let start = DateTime::<Utc>::from_timestamp(ms.div_euclid(1000), 0)?;
        self.cron.find_next_occurrence(&start, false).ok().map(|t| t.timestamp_millis())
    }

    /// The last firing time at or before `ms`, if there is one after the year 1.
    pub fn latest_at_or_before(&self, ms: i64) -> Option<i64> {
        let start = DateTime::<Utc>::from_timestamp(ms.div_euclid(1000), 0)?;
        self.cron.find_previous_occurrence(&start, true).ok().map(|t| t.timestamp_millis())
    }
}

/// One field's range and names.
struct Field {
    name: &'static str,
    min: u8,
    max: u8,
    /// Names of the values from `min` on (`JAN`…, `SUN`…), matched without regard to case.
    names: &'static [&'static str],
}

const MINUTE: Field = Field { name: "minute", min: 0, max: 59, names: &[] };
const HOUR: Field = Field { name: "hour", min: 0, max: 23, names: &[] };
const DAY_OF_MONTH: Field = Field { name: "day-of-month", min: 1, max: 31, names: &[] };
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
};
const DAY_OF_WEEK: Field =
    Field { name: "day-of-week", min: 1, max: 7, names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] };

const SATURDAY: u8 = 7;

/// Checks `text` against Cloudflare's grammar and writes the same schedule in `croner`'s syntax
/// (Quartz weekdays: 1 is Sunday).
fn translate(text: &str) -> Result<String, CronError> {
    if text.chars().count() > MAX_LENGTH {
        return Err(CronError(format!("it is longer than {MAX_LENGTH} characters")));
    }
    if text.starts_with('@') {
        return Err(CronError("nicknames like @daily are not part of Cloudflare's cron syntax".into()));
    }
    if text.chars().any(|c| c.is_whitespace() && c != ' ') {
        return Err(CronError("fields must be separated by spaces (no tabs or line breaks)".into()));
    }
    if text.starts_with(' ') || text.ends_with(' ') {
        return Err(CronError("it must not start or end with a space".into()));
    }
    let fields: Vec<&str> = text.split(' ').filter(|f| !f.is_empty()).collect();
    let [minute, hour, day_of_month, month, day_of_week] = fields[..] else {
        return Err(CronError(format!(
            "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
            fields.len()
        )));
    };
    if let Some(field) = fields.iter().find(|f| f.contains('?')) {
        return Err(CronError(format!("{field:?}: `?` is not part of Cloudflare's cron syntax; use `*`")));
    }
    Ok([
        plain(minute, &MINUTE)?,
        plain(hour, &HOUR)?,
        translate_day_of_month(day_of_month)?,
        plain(month, &MONTH)?,
        translate_day_of_week(day_of_week)?,
    ]
    .join(" "))
}

fn translate_day_of_month(field: &str) -> Result<String, CronError> {
    let upper = field.to_ascii_uppercase();
    if upper == "L" || upper == "LW" {
        return Ok(upper);
    }
    if upper.starts_with("L-") {
        return Err(CronError(format!(
            "day-of-month {field:?}: offsets from the last day (L-n) are not supported by stepflare"
        )));
    }
    if let Some(day) = upper.strip_suffix('W') {
        let day = value(day, &DAY_OF_MONTH)?;
        return Ok(format!("{day}W"));
    }
    plain(field, &DAY_OF_MONTH)
}

fn translate_day_of_week(field: &str) -> Result<String, CronError> {
    let upper = field.to_ascii_uppercase();
    // A lone `L` is the last day of the week, as in Quartz.
    if upper == "L" {
        return Ok(SATURDAY.to_string());
    }
    if let Some(day) = upper.strip_suffix('L') {
        return Ok(format!("{}L", value(day, &DAY_OF_WEEK)?));
    }
    if let Some((day, nth)) = upper.split_once('#') {
        let day = value(day, &DAY_OF_WEEK)?;
        let nth = match nth.parse::<u8>() {
            Ok(n @ 1..=5) => n,
            _ => return Err(CronError(format!("day-of-week {field:?}: the week after # must be 1 to 5"))),
        };
        return Ok(format!("{day}#{nth}"));
    }
    plain(field, &DAY_OF_WEEK)
}

/// A field of values, ranges, steps and lists: `*` stays `*`, anything else becomes the explicit
/// list of the values it selects.
fn plain(text: &str, field: &Field) -> Result<String, CronError> {
    if text == "*" {
        return Ok("*".into());
    }
    let mut selected = BTreeSet::new();
    for item in text.split(',') {
        selected.extend(item_values(item, field).map_err(|problem| match problem {
            ItemError::Value(error) => error,
            ItemError::Shape(why) => CronError(format!("{} {text:?}: {why}", field.name)),
        })?);
    }
    Ok(selected.iter().map(u8::to_string).collect::<Vec<_>>().join(","))
}

/// Why a list item was refused: a bad value (the error names it), or a bad shape.
enum ItemError {
    Value(CronError),
    Shape(String),
}

impl From<CronError> for ItemError {
    fn from(error: CronError) -> Self {
        ItemError::Value(error)
    }
}

/// The values of one list item: `v`, `a-b`, `*/s`, `v/s` or `a-b/s`. A range whose end comes
/// before its start wraps around (`22-2` is 22, 23, 0, 1, 2), as Cloudflare's parser allows.
fn item_values(item: &str, field: &Field) -> Result<Vec<u8>, ItemError> {
    let (base, step) = match item.split_once('/') {
        Some((base, step)) => (base, Some(step)),
        None => (item, None),
    };
    let (start, end) = match base.split_once('-') {
        _ if base == "*" && step.is_some() => (field.min, field.max),
        _ if base == "*" => return Err(ItemError::Shape("`*` cannot be one item of a list".into())),
        Some((start, end)) => (value(start, field)?, value(end, field)?),
        None => {
            let single = value(base, field)?;
            (single, if step.is_some() { field.max } else { single })
        }
    };
    let step = match step {
        None => 1,
        Some(step) => {
            let most = field.max - field.min;
            match step.parse::<u8>() {
                Ok(n) if (1..=most).contains(&n) => n,
                _ => return Err(ItemError::Shape(format!("the step after / must be 1 to {most} (got {step:?})"))),
            }
        }
    };
    let span: Vec<u8> =
        if start <= end { (start..=end).collect() } else { (start..=field.max).chain(field.min..=end).collect() };
    Ok(span.into_iter().step_by(usize::from(step)).collect())
}

/// One value of `field`: a number in its range or one of its names.
fn value(text: &str, field: &Field) -> Result<u8, CronError> {
    if let Some(index) = field.names.iter().position(|name| name.eq_ignore_ascii_case(text)) {
        return Ok(field.min + index as u8);
    }
    let range = format!("{} to {}", field.min, field.max);
    let hint = if field.names.is_empty() { String::new() } else { format!(" or a name ({}…)", field.names[0]) };
    let weekdays =
        if field.min == DAY_OF_WEEK.min && field.max == DAY_OF_WEEK.max { " (1 is Sunday, 7 is Saturday)" } else { "" };
    let invalid = || CronError(format!("{} value {text:?} must be {range}{weekdays}{hint}", field.name));
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    match text.parse::<u8>() {
        Ok(n) if (field.min..=field.max).contains(&n) => Ok(n),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use chrono::{Datelike, Timelike};

    /// Milliseconds of a UTC date and time written `YYYY-MM-DD HH:MM`.
    fn at(text: &str) -> i64 {
        let number = |range: std::ops::Range<usize>| text[range].parse::<u32>().expect("a test date");
        let date = chrono::NaiveDate::from_ymd_opt(number(0..4) as i32, number(5..7), number(8..10)).unwrap();
        date.and_hms_opt(number(11..13), number(14..16), 0).unwrap().and_utc().timestamp_millis()
    }

    /// `YYYY-MM-DD HH:MM Day`, the form of the table.
    fn show(ms: i64) -> String {
        let t = DateTime::<Utc>::from_timestamp_millis(ms).unwrap();
        let (date, weekday) = (t.date_naive(), t.weekday());
        format!("{date} {:02}:{:02} {weekday}", t.hour(), t.minute())
    }

    /// `expression | after | the next firings, in order`; Cloudflare's documented examples come
    /// first. January 2026 starts on a Thursday.
    const NEXT_TIMES: &[&str] = &[
        // Cloudflare's examples (Workers docs, "Cron Triggers").
        "* * * * * | 2026-01-01 00:00 | 2026-01-01 00:01 Thu, 2026-01-01 00:02 Thu",
        "*/30 * * * * | 2026-01-01 00:00 | 2026-01-01 00:30 Thu, 2026-01-01 01:00 Thu",
        "45 * * * * | 2026-01-01 00:00 | 2026-01-01 00:45 Thu, 2026-01-01 01:45 Thu",
        "0 17 * * sun | 2026-01-01 00:00 | 2026-01-04 17:00 Sun, 2026-01-11 17:00 Sun",
        "0 17 * * 1 | 2026-01-01 00:00 | 2026-01-04 17:00 Sun, 2026-01-11 17:00 Sun",
        "10 7 * * mon-fri | 2026-01-02 08:00 | 2026-01-05 07:10 Mon, 2026-01-06 07:10 Tue",
        "10 7 * * 2-6 | 2026-01-02 08:00 | 2026-01-05 07:10 Mon, 2026-01-06 07:10 Tue",
        "0 15 1 * * | 2026-01-01 16:00 | 2026-02-01 15:00 Sun, 2026-03-01 15:00 Sun",
        "0 18 * * 6L | 2026-01-01 00:00 | 2026-01-30 18:00 Fri, 2026-02-27 18:00 Fri",
        "0 18 * * friL | 2026-01-01 00:00 | 2026-01-30 18:00 Fri, 2026-02-27 18:00 Fri",
        // Jan 31 is a Saturday, Feb 28 a Saturday, May 31 a Sunday, Mar 31 a Tuesday.
        "59 23 LW * * | 2026-01-01 00:00 | 2026-01-30 23:59 Fri, 2026-02-27 23:59 Fri, 2026-03-31 23:59 Tue",
        "59 23 LW 5 * | 2026-01-01 00:00 | 2026-05-29 23:59 Fri",
        // Day of week: 1 is Sunday, 7 is Saturday.
        "0 0 * * 7 | 2026-01-01 00:00 | 2026-01-03 00:00 Sat, 2026-01-10 00:00 Sat",
        "0 0 * * SAT | 2026-01-01 00:00 | 2026-01-03 00:00 Sat",
        "0 0 * * L | 2026-01-01 00:00 | 2026-01-03 00:00 Sat",
        "0 0 * * 7L | 2026-01-01 00:00 | 2026-01-31 00:00 Sat, 2026-02-28 00:00 Sat",
        "0 0 * * 1L | 2026-01-01 00:00 | 2026-01-25 00:00 Sun",
        // `#`: the n-th such day of the month.
        "0 0 * * 2#1 | 2026-01-01 00:00 | 2026-01-05 00:00 Mon, 2026-02-02 00:00 Mon, 2026-03-02 00:00 Mon",
        "0 12 * * SUN#2 | 2026-01-01 00:00 | 2026-01-11 12:00 Sun, 2026-02-08 12:00 Sun",
        "0 0 * * 6#5 | 2026-01-01 00:00 | 2026-01-30 00:00 Fri, 2026-05-29 00:00 Fri",
        // `W`: the weekday nearest the day, within its month. Feb 15 is a Sunday, Aug 15 a
        // Saturday, Aug 1 a Saturday (so 1W is Monday the 3rd, not July 31).
        "0 0 15W 2 * | 2026-01-01 00:00 | 2026-02-16 00:00 Mon",
        "0 0 15W 8 * | 2026-01-01 00:00 | 2026-08-14 00:00 Fri",
        "0 0 1W 8 * | 2026-01-01 00:00 | 2026-08-03 00:00 Mon",
        // `L`: the last day of the month, leap years included.
        "0 0 L 2 * | 2026-01-01 00:00 | 2026-02-28 00:00 Sat, 2027-02-28 00:00 Sun, 2028-02-29 00:00 Tue",
        // Steps, ranges that wrap, lists and names.
        "0 9-17/4 * * * | 2026-01-01 10:00 | 2026-01-01 13:00 Thu, 2026-01-01 17:00 Thu, 2026-01-02 09:00 Fri",
        "0 22-1 * * * | 2026-01-01 21:00 | 2026-01-01 22:00 Thu, 2026-01-01 23:00 Thu, 2026-01-02 00:00 Fri, 2026-01-02 01:00 Fri, 2026-01-02 22:00 Fri",
        "5/20 0 * * * | 2026-01-01 00:00 | 2026-01-01 00:05 Thu, 2026-01-01 00:25 Thu, 2026-01-01 00:45 Thu, 2026-01-02 00:05 Fri",
        "0 0 1 jan,JUL * | 2026-01-01 00:00 | 2026-07-01 00:00 Wed, 2027-01-01 00:00 Fri",
        // A day of month and a day of week: either one matches, as in Vixie cron.
        "0 0 13 * 6 | 2026-01-01 00:00 | 2026-01-02 00:00 Fri, 2026-01-09 00:00 Fri, 2026-01-13 00:00 Tue",
    ];

    #[test]
    fn next_firing_times_match_the_table() {
        for case in NEXT_TIMES {
            let [expression, after, expected] = case.split(" | ").collect::<Vec<_>>()[..] else {
                panic!("malformed case {case}");
            };
            let cron = CronExpression::parse(expression).unwrap_or_else(|e| panic!("{expression:?}: {e}"));
            let mut now = at(after);
            let mut got = Vec::new();
            for _ in expected.split(", ") {
                now = cron.next_after(now).unwrap_or_else(|| panic!("{expression:?} stopped firing"));
                got.push(show(now));
            }
            assert_eq!(got.join(", "), expected, "{expression:?} after {after}");
        }
    }

    #[test]
    fn next_is_strictly_after_and_latest_is_at_or_before() {
        let cron = CronExpression::parse("*/15 * * * *").unwrap();
        let quarter = at("2026-01-01 00:15");
        assert_eq!(cron.next_after(quarter), Some(at("2026-01-01 00:30")));
        assert_eq!(cron.next_after(quarter - 1), Some(quarter));
        assert_eq!(cron.next_after(quarter - 500), Some(quarter));
        assert_eq!(cron.latest_at_or_before(quarter), Some(quarter));
        assert_eq!(cron.latest_at_or_before(quarter + 59_999), Some(quarter));
        assert_eq!(cron.latest_at_or_before(quarter - 1), Some(at("2026-01-01 00:00")));
        let last_weekday = CronExpression::parse("59 23 LW * *").unwrap();
        assert_eq!(last_weekday.latest_at_or_before(at("2026-03-15 00:00")), Some(at("2026-02-27 23:59")));
    }

    #[test]
    fn invalid_expressions_say_why() {
        let cases = [
            ("", "expected 5 fields (minute hour day-of-month month day-of-week), found 0"),
            ("* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 4"),
            ("0 * * * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 6"),
            ("@daily", "nicknames like @daily are not part of Cloudflare's cron syntax"),
            (" * * * * *", "it must not start or end with a space"),
            ("*\t* * * *", "fields must be separated by spaces (no tabs or line breaks)"),
            ("0 0 ? * 1", "\"?\": `?` is not part of Cloudflare's cron syntax; use `*`"),
            ("60 * * * *", "minute value \"60\" must be 0 to 59"),
            ("* 24 * * *", "hour value \"24\" must be 0 to 23"),
            ("* * 0 * *", "day-of-month value \"0\" must be 1 to 31"),
            ("* * * 13 *", "month value \"13\" must be 1 to 12 or a name (JAN…)"),
            ("* * * * 0", "day-of-week value \"0\" must be 1 to 7 (1 is Sunday, 7 is Saturday) or a name (SUN…)"),
            ("* * * * 8", "day-of-week value \"8\" must be 1 to 7 (1 is Sunday, 7 is Saturday) or a name (SUN…)"),
            ("* * * * 5-9", "day-of-week value \"9\" must be 1 to 7 (1 is Sunday, 7 is Saturday) or a name (SUN…)"),
            ("*/0 * * * *", "minute \"*/0\": the step after / must be 1 to 59 (got \"0\")"),
            ("*/60 * * * *", "minute \"*/60\": the step after / must be 1 to 59 (got \"60\")"),
            ("1,* * * * *", "minute \"1,*\": `*` cannot be one item of a list"),
            ("* * L-3 * *", "day-of-month \"L-3\": offsets from the last day (L-n) are not supported by stepflare"),
            ("* * 32W * *", "day-of-month value \"32\" must be 1 to 31"),
            ("* * * * 2#6", "day-of-week \"2#6\": the week after # must be 1 to 5"),
            ("* * * * 9L", "day-of-week value \"9\" must be 1 to 7 (1 is Sunday, 7 is Saturday) or a name (SUN…)"),
            ("* * * * FUN", "day-of-week value \"FUN\" must be 1 to 7 (1 is Sunday, 7 is Saturday) or a name (SUN…)"),
            ("0 0 31 2 *", "it never fires: no month has the day it names"),
        ];
        for (expression, message) in cases {
            let error = CronExpression::parse(expression).expect_err(expression);
            assert_eq!(error.to_string(), message, "{expression:?}");
        }
        let long = format!("0 0 * * {}", vec!["1"; 130].join(","));
        assert_eq!(CronExpression::parse(&long).unwrap_err().to_string(), "it is longer than 256 characters");
    }

    #[test]
    fn an_expression_keeps_its_text() {
        let cron = CronExpression::parse("0  18 * * friL").unwrap();
        assert_eq!(cron.as_str(), "0  18 * * friL");
        assert_eq!(cron, CronExpression::parse("0  18 * * friL").unwrap());
    }
}
