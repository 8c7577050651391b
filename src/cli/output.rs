//! What `stepflare workflows` prints: aligned tables, labelled values, pretty JSON, the human
//! forms of timestamps, durations and step outputs, and the checks and order of the lists it
//! prints. Nothing here talks to the server.

use std::io::Write as _;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::WorkflowsError;

/// Whether a command prints for people or prints the API's `result` as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
}

/// Writes `text` to stdout. A closed stdout (`stepflare … | head`) is not worth a panic or an
/// error: whoever closed it has seen what they wanted.
pub fn emit(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = stdout.write_all(b"\n");
    }
    let _ = stdout.flush();
}

/// Prints `value` as pretty JSON.
pub fn emit_json(value: &Value) {
    emit(&serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

/// Columns separated by two spaces, each as wide as its widest cell; the last column is not
/// padded, so one long cell (a step output) widens only its own line.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table { headers: headers.iter().map(|h| (*h).to_owned()).collect(), rows: Vec::new() }
    }

    /// Adds a row; missing cells are empty, and line breaks inside a cell are shown as `\n` so a
    /// row stays one line.
    pub fn push(&mut self, cells: Vec<String>) {
        self.rows.push(cells.into_iter().map(|cell| cell.replace('\r', "\\r").replace('\n', "\\n")).collect());
    }

    pub fn render(&self, indent: usize) -> String {
        let columns = self.headers.len().max(self.rows.iter().map(Vec::len).max().unwrap_or(0));
        let cell = |row: &[String], column: usize| row.get(column).map(String::as_str).unwrap_or("").to_owned();
        let mut widths = vec![0; columns];
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            for (column, width) in widths.iter_mut().enumerate() {
                *width = (*width).max(cell(row, column).chars().count());
            }
        }
        let mut text = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = " ".repeat(indent);
            for (column, width) in widths.iter().enumerate() {
                let value = cell(row, column);
                if column + 1 < columns {
                    line.push_str(&value);
                    line.push_str(&" ".repeat(width - value.chars().count() + 2));
                } else {
                    line.push_str(&value);
                }
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }
}

/// `Label:  value` lines with the values aligned; continuation lines of a multi-line value are
/// indented to the value column.
pub fn labelled(pairs: &[(&str, String)], indent: usize) -> String {
    let width = pairs.iter().map(|(label, _)| label.chars().count() + 1).max().unwrap_or(0);
    let mut text = String::new();
    for (label, value) in pairs {
        let head = format!("{}{label}:", " ".repeat(indent));
        let pad = " ".repeat(width - label.chars().count() - 1 + 2);
        let continuation = format!("\n{}", " ".repeat(indent + width + 2));
        let line = format!("{head}{pad}{}", value.replace('\n', &continuation));
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// Milliseconds since the epoch of an RFC 3339 timestamp.
pub fn epoch_ms(value: &Value) -> Option<i64> {
    let parsed = OffsetDateTime::parse(value.as_str()?, &Rfc3339).ok()?;
    i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).ok()
}

/// A timestamp (RFC 3339 text, or milliseconds since the epoch) as `2026-08-06 07:30:00.123Z`
/// (UTC); `-` when absent; the value as sent when it is neither.
pub fn timestamp(value: &Value) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]Z");
    match value {
        Value::Null => "-".to_owned(),
        Value::String(text) => OffsetDateTime::parse(text, &Rfc3339)
            .ok()
            .and_then(|t| t.to_offset(time::UtcOffset::UTC).format(&format).ok())
            .unwrap_or_else(|| text.clone()),
        Value::Number(ms) => ms
            .as_i64()
            .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
            .and_then(|t| t.format(&format).ok())
            .unwrap_or_else(|| ms.to_string()),
        other => other.to_string(),
    }
}

/// How long from `start` to `end`; an open end counts up to now, marked `so far`.
pub fn elapsed(start: &Value, end: &Value) -> String {
    let Some(start) = epoch_ms(start) else { return "-".to_owned() };
    match epoch_ms(end) {
        Some(end) => duration(end - start),
        None if end.is_null() => {
            let now = i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(start);
            format!("{} so far", duration(now - start))
        }
        None => "-".to_owned(),
    }
}

/// `250ms`, `1.234s`, `2m 03s`, `1h 02m 03s`, `2d 03h 04m`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    let (seconds, minutes, hours, days) = (ms / 1000, ms / 60_000, ms / 3_600_000, ms / 86_400_000);
    if ms < 1000 {
        format!("{ms}ms")
    } else if minutes == 0 {
        format!("{}.{:03}s", seconds, ms % 1000)
    } else if hours == 0 {
        format!("{minutes}m {:02}s", seconds % 60)
    } else if days == 0 {
        format!("{hours}h {:02}m {:02}s", minutes % 60, seconds % 60)
    } else {
        format!("{days}d {:02}h {:02}m", hours % 24, minutes % 60)
    }
}

/// A JSON value on one line, as `JSON.stringify` writes it (strings keep their quotes).
pub fn compact(value: &Value) -> String {
    value.to_string()
}

/// A string as it is, `-` for null, anything else as compact JSON.
pub fn plain(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(text) => text.clone(),
        other => compact(other),
    }
}

/// The first `limit` characters of `text`, marked when something was cut (wrangler's
/// `--truncate-output-limit`).
pub fn truncate(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((end, _)) => format!("{}[...output truncated]", &text[..end]),
        None => text.to_owned(),
    }
}

/// `Name: message` of an API error object (`{name, message}`).
pub fn error_text(error: &Value) -> String {
    let name = error.get("name").and_then(Value::as_str).unwrap_or("");
    let message = error.get("message").map(plain).unwrap_or_default();
    match (name.is_empty(), message.is_empty()) {
        (true, true) => compact(error),
        (true, false) => message,
        (false, true) => name.to_owned(),
        (false, false) => format!("{name}: {message}"),
    }
}

/// Instance counts by status (`{"complete": 2, "running": 1}`) as `complete 2, running 1`.
pub fn counts(value: &Value) -> String {
    let text = value
        .as_object()
        .map(|counts| {
            counts
                .iter()
                .filter(|(_, count)| count.as_u64() != Some(0))
                .map(|(status, count)| format!("{status} {}", plain(count)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    if text.is_empty() { "none".to_owned() } else { text }
}

/// The `result` as an array, or a malformed-response error naming `what` was asked.
pub fn result_array(result: Value, what: &str) -> Result<Vec<Value>, WorkflowsError> {
    match result {
        Value::Array(items) => Ok(items),
        other => Err(WorkflowsError::UnexpectedResult(format!("{what}: expected an array, got {}", compact(&other)))),
    }
}

/// Sorts API items by `created_on`, newest first (or oldest first); ties keep the server's order.
pub fn sort_by_created(items: &mut [Value], newest_first: bool) {
    items.sort_by(|a, b| {
        let key = |item: &Value| (epoch_ms(&item["created_on"]), item["created_on"].as_str().map(str::to_owned));
        let order = key(a).cmp(&key(b));
        if newest_first { order.reverse() } else { order }
    });
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tables_align_columns_and_leave_the_last_unpadded() {
        let mut table = Table::new(&["Id", "Status", "Output"]);
        table.push(vec!["a".into(), "complete".into(), "{\"x\":1}".into()]);
        table.push(vec!["long-id".into(), "ok".into()]);
        table.push(vec!["b".into(), "x".into(), "line\nbreak".into()]);
        assert_eq!(
            table.render(2),
            "  Id       Status    Output\n  a        complete  {\"x\":1}\n  long-id  ok\n  b        x         line\\nbreak\n"
        );
    }

    #[test]
    fn labelled_values_align_and_indent_continuations() {
        let text = labelled(&[("Status", "complete".into()), ("Error", "one\ntwo".into())], 0);
        assert_eq!(text, "Status:  complete\nError:   one\n         two\n");
    }

    #[test]
    fn timestamps_and_durations_read_well() {
        assert_eq!(timestamp(&json!("2026-08-06T07:30:00.123Z")), "2026-08-06 07:30:00.123Z");
        assert_eq!(timestamp(&Value::Null), "-");
        assert_eq!(timestamp(&json!("yesterday")), "yesterday");
        assert_eq!(elapsed(&json!("2026-08-06T07:30:00.000Z"), &json!("2026-08-06T07:30:01.234Z")), "1.234s");
        assert!(elapsed(&json!("2026-08-06T07:30:00.000Z"), &Value::Null).ends_with(" so far"));
        assert_eq!(elapsed(&Value::Null, &Value::Null), "-");
        assert_eq!(duration(250), "250ms");
        assert_eq!(duration(123_000), "2m 03s");
        assert_eq!(duration(3_723_000), "1h 02m 03s");
        assert_eq!(duration(2 * 86_400_000 + 3 * 3_600_000 + 4 * 60_000), "2d 03h 04m");
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate("héllo", 2), "hé[...output truncated]");
        assert_eq!(truncate("short", 5), "short");
    }

    #[test]
    fn errors_and_counts_print_compactly() {
        assert_eq!(error_text(&json!({ "name": "Error", "message": "boom" })), "Error: boom");
        assert_eq!(error_text(&json!({ "name": "", "message": "bare" })), "bare");
        assert_eq!(counts(&json!({ "complete": 2, "running": 0, "queued": 1 })), "complete 2, queued 1");
        assert_eq!(counts(&json!({})), "none");
    }
}
