//! The raw stage: JSONC and TOML text parsed into one small tree in which every
//! value and key remembers its position, so validation can point at it.

use jsonc_parser::ast;
use jsonc_parser::common::Ranged;
use serde_json::{Number, Value as JsonValue};
use toml::de::{DeTable, DeValue};

use super::location::{LineIndex, Position};

#[derive(Debug, Clone)]
pub(crate) struct RawValue {
    pub position: Position,
    pub kind: RawKind,
}

#[derive(Debug, Clone)]
pub(crate) enum RawKind {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    /// TOML date-times, kept in their TOML spelling.
    Datetime(String),
    Array(Vec<RawValue>),
    /// Entries in document order.
    Table(Vec<RawEntry>),
}

#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    pub key: String,
    pub key_position: Position,
    pub value: RawValue,
}

#[derive(Debug, Clone)]
pub(crate) struct SyntaxError {
    pub position: Position,
    pub message: String,
}

impl RawValue {
    /// The last entry wins for repeated JSON keys, as with `JSON.parse`.
    pub fn entry(&self, key: &str) -> Option<&RawEntry> {
        match &self.kind {
            RawKind::Table(entries) => entries.iter().rev().find(|e| e.key == key),
            _ => None,
        }
    }

    /// What the value is, for "must be X (got Y)" messages.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            RawKind::String(s) if s.is_empty() => "an empty string",
            RawKind::Array(items) if items.is_empty() => "an empty array",
            RawKind::Null => "null",
            RawKind::Bool(_) => "a boolean",
            RawKind::Number(_) => "a number",
            RawKind::String(_) => "a string",
            RawKind::Datetime(_) => "a date-time",
            RawKind::Array(_) => "an array",
            RawKind::Table(_) => "an object",
        }
    }

    pub fn to_json(&self) -> JsonValue {
        match &self.kind {
            RawKind::Null => JsonValue::Null,
            RawKind::Bool(b) => JsonValue::Bool(*b),
            RawKind::Number(n) => JsonValue::Number(n.clone()),
            RawKind::String(s) | RawKind::Datetime(s) => JsonValue::String(s.clone()),
            RawKind::Array(items) => items.iter().map(RawValue::to_json).collect(),
            RawKind::Table(entries) => {
                JsonValue::Object(entries.iter().map(|e| (e.key.clone(), e.value.to_json())).collect())
            }
        }
    }
}

/// Parses JSON or JSONC: comments and trailing commas are allowed (as wrangler
/// allows them in both), other JSON5 looseness is not.
pub(crate) fn parse_jsonc(text: &str, lines: &LineIndex) -> Result<RawValue, SyntaxError> {
    let options = jsonc_parser::ParseOptions {
        allow_comments: true,
        allow_trailing_commas: true,
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    };
    let parsed = jsonc_parser::parse_to_ast(text, &Default::default(), &options)
        .map_err(|e| SyntaxError { position: lines.position(e.range().start), message: e.kind().to_string() })?;
    let Some(root) = parsed.value else {
        return Err(SyntaxError {
            position: Position::START,
            message: "expected a JSON object, found an empty file".into(),
        });
    };
    Ok(from_json_ast(&root, lines))
}

fn from_json_ast(value: &ast::Value, lines: &LineIndex) -> RawValue {
    let kind = match value {
        ast::Value::NullKeyword(_) => RawKind::Null,
        ast::Value::BooleanLit(b) => RawKind::Bool(b.value),
        ast::Value::StringLit(s) => RawKind::String(s.value.to_string()),
        // Numbers beyond f64 are Infinity in JavaScript, which JSON can only show as null.
        ast::Value::NumberLit(n) => serde_json::from_str(n.value).map_or(RawKind::Null, RawKind::Number),
        ast::Value::Array(array) => RawKind::Array(array.elements.iter().map(|e| from_json_ast(e, lines)).collect()),
        ast::Value::Object(object) => RawKind::Table(
            (object.properties.iter())
                .map(|p| RawEntry {
                    key: p.name.as_str().to_string(),
                    key_position: lines.position(p.name.start()),
                    value: from_json_ast(&p.value, lines),
                })
                .collect(),
        ),
    };
    RawValue { position: lines.position(value.start()), kind }
}

pub(crate) fn parse_toml(text: &str, lines: &LineIndex) -> Result<RawValue, SyntaxError> {
    let document = DeTable::parse(text).map_err(|e| SyntaxError {
        position: e.span().map_or(Position::START, |s| lines.position(s.start)),
        message: e.message().to_string(),
    })?;
    let span = document.span();
    from_toml_table(document.get_ref(), lines.position(span.start), lines)
}

fn from_toml_table(table: &DeTable, position: Position, lines: &LineIndex) -> Result<RawValue, SyntaxError> {
    let mut entries = Vec::with_capacity(table.len());
    for (key, value) in table.iter() {
        let span = value.span();
        entries.push((
            key.span().start,
            RawEntry {
                key: key.get_ref().to_string(),
                key_position: lines.position(key.span().start),
                value: from_toml_value(value.get_ref(), lines.position(span.start), lines)?,
            },
        ));
    }
    // The table map may be sorted by key; document order keeps diagnostics predictable.
    entries.sort_by_key(|(offset, _)| *offset);
    let kind = RawKind::Table(entries.into_iter().map(|(_, e)| e).collect());
    Ok(RawValue { position, kind })
}

fn from_toml_value(value: &DeValue, position: Position, lines: &LineIndex) -> Result<RawValue, SyntaxError> {
    let kind = match value {
        DeValue::String(s) => RawKind::String(s.to_string()),
        DeValue::Boolean(b) => RawKind::Bool(*b),
        DeValue::Datetime(d) => RawKind::Datetime(d.to_string()),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => RawKind::Number(n.into()),
            Err(_) => {
                return Err(SyntaxError { position, message: format!("integer {i} does not fit in 64 bits") });
            }
        },
        // JSON has no NaN or infinity; `JSON.stringify` turns them into null too.
        DeValue::Float(f) => {
            f.as_str().parse::<f64>().ok().and_then(Number::from_f64).map_or(RawKind::Null, RawKind::Number)
        }
        DeValue::Array(items) => RawKind::Array(
            items
                .iter()
                .map(|item| from_toml_value(item.get_ref(), lines.position(item.span().start), lines))
                .collect::<Result<_, _>>()?,
        ),
        DeValue::Table(table) => return from_toml_table(table, position, lines),
    };
    Ok(RawValue { position, kind })
}
