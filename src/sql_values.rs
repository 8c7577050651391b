//! Values crossing between a Worker's SQL (D1, a Durable Object's `ctx.storage.sql`) and
//! SQLite: what JavaScript binds arrives as JSON (bytes as `{"blob": base64}`), and what a row
//! holds goes back the same way.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rusqlite::types::{Value as Sql, ValueRef};
use serde_json::{Value, json};

/// Why a bound value cannot be bound.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Unbindable {
    #[error("a bound blob: {0}")]
    Blob(String),
    /// An object that is not `{"blob": …}`, or an array: each binding names its own message.
    #[error("an object or an array")]
    NotAValue,
}

/// A bound value as SQLite takes it: booleans as 1 and 0, integral numbers as integers.
pub fn to_sql(value: &Value) -> Result<Sql, Unbindable> {
    Ok(match value {
        Value::Null => Sql::Null,
        Value::Bool(flag) => Sql::Integer(i64::from(*flag)),
        Value::Number(number) => match number.as_i64() {
            Some(int) => Sql::Integer(int),
            None => Sql::Real(number.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(text) => Sql::Text(text.clone()),
        Value::Object(object) => match object.get("blob").and_then(Value::as_str) {
            Some(base64) => Sql::Blob(BASE64.decode(base64).map_err(|e| Unbindable::Blob(e.to_string()))?),
            None => return Err(Unbindable::NotAValue),
        },
        Value::Array(_) => return Err(Unbindable::NotAValue),
    })
}

/// A column's value as JavaScript gets it back.
pub fn to_json(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(int) => json!(int),
        ValueRef::Real(real) => json!(real),
        ValueRef::Text(text) => json!(String::from_utf8_lossy(text)),
        ValueRef::Blob(bytes) => json!({ "blob": BASE64.encode(bytes) }),
    }
}
