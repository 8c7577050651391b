//! Request extractors that answer every mistake with Cloudflare's error envelope: a JSON body,
//! a query string and path parameters. axum's own extractors answer in plain text.
//!
//! A JSON body must say so: a body that is not empty needs a JSON content type, which a web
//! page cannot send to another site without the browser asking first (a "simple" cross-site
//! POST is `text/plain` or a form). And a body read into a struct must be a JSON object:
//! serde's derive would also read a struct from an array of its fields in order.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::body_timeout::stalled;
use super::envelope::{ApiError, codes, shown};

/// A JSON body. An empty body is an error unless the handler asks for `OptionalJson`.
pub struct ApiJson<T>(pub T);

/// A JSON body that may be empty (then `None`).
pub struct OptionalJson<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let OptionalJson(value) = OptionalJson::from_request(req, state).await?;
        value.map(ApiJson).ok_or_else(|| ApiError::bad_request("the request body is empty; JSON was expected"))
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = req.headers().get(header::CONTENT_TYPE).cloned();
        let bytes = Bytes::from_request(req, state).await.map_err(body_read_error)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        require_json_content_type(content_type.as_ref())?;
        from_json(&bytes)
            .map(|value| OptionalJson(Some(value)))
            .map_err(|error| ApiError::bad_request(format!("invalid request body: {error}")))
    }
}

/// A body that could not be read: too large (413), stalled (408), or cut off.
fn body_read_error(rejection: BytesRejection) -> ApiError {
    if let Some(stall) = stalled(&rejection) {
        return ApiError::new(StatusCode::REQUEST_TIMEOUT, codes::INVALID_BODY, stall.to_string());
    }
    ApiError::new(rejection.status(), codes::INVALID_BODY, rejection.body_text())
}

/// `application/json` or any `application/*+json`, with parameters (`; charset=utf-8`) or not.
fn is_json_content_type(value: &HeaderValue) -> bool {
    let Ok(text) = value.to_str() else { return false };
    let essence = text.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match essence.split_once('/') {
        Some(("application", subtype)) => subtype == "json" || subtype.ends_with("+json"),
        _ => false,
    }
}

fn require_json_content_type(content_type: Option<&HeaderValue>) -> Result<(), ApiError> {
    if content_type.is_some_and(is_json_content_type) {
        return Ok(());
    }
    let given = match content_type {
        Some(value) => format!("{:?}", shown(&String::from_utf8_lossy(value.as_bytes()))),
        None => "none".to_owned(),
    };
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        codes::INVALID_BODY,
        format!(
            "the request body must be JSON with Content-Type: application/json (the content type given is {given})"
        ),
    ))
}

/// Reads `bytes` as JSON into `T`, where every struct, however deep, reads only from an object.
/// The error names the field at fault (`from.count: invalid type…`).
fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|error| error.to_string())?;
    serde_path_to_error::deserialize(ObjectsOnly(value)).map_err(|error| error.to_string())
}

/// A JSON value to deserialize from, refusing anything but an object where a struct is read.
struct ObjectsOnly(Value);

impl<'de> de::Deserializer<'de> for ObjectsOnly {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, serde_json::Error> {
        match self.0 {
            Value::Array(items) => visitor.visit_seq(Items(items.into_iter())),
            Value::Object(fields) => visitor.visit_map(Fields { fields: fields.into_iter(), value: None }),
            scalar => scalar.deserialize_any(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        match &self.0 {
            Value::Object(_) => self.deserialize_any(visitor),
            other => Err(de::Error::invalid_type(unexpected(other), &"a JSON object")),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, serde_json::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

fn unexpected(value: &Value) -> de::Unexpected<'_> {
    match value {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(_) => de::Unexpected::Other("number"),
        Value::String(text) => de::Unexpected::Str(text),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

struct Items(std::vec::IntoIter<Value>);

impl<'de> SeqAccess<'de> for Items {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, serde_json::Error> {
        self.0.next().map(|item| seed.deserialize(ObjectsOnly(item))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Fields {
    fields: serde_json::map::IntoIter,
    value: Option<Value>,
}

impl<'de> MapAccess<'de> for Fields {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, serde_json::Error> {
        let Some((key, value)) = self.fields.next() else { return Ok(None) };
        self.value = Some(value);
        seed.deserialize(IntoDeserializer::<serde_json::Error>::into_deserializer(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, serde_json::Error> {
        let value = self.value.take().ok_or_else(|| de::Error::custom("a value was asked for before its key"))?;
        seed.deserialize(ObjectsOnly(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.fields.len())
    }
}

/// A query string.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
    }
}

/// Path parameters.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        name: String,
        inner: Option<Inner>,
        items: Option<Vec<Inner>>,
        any: Option<Value>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        count: u32,
    }

    fn read<T: DeserializeOwned>(value: Value) -> Result<T, String> {
        from_json(value.to_string().as_bytes()).map_err(|e| e.to_string())
    }

    #[test]
    fn structs_read_from_objects_at_every_depth() {
        let value = json!({ "name": "a", "inner": { "count": 1 }, "items": [{ "count": 2 }], "any": [1, {"x": null}] });
        let outer: Outer = read(value).expect("an object reads");
        assert_eq!(outer.items, Some(vec![Inner { count: 2 }]));
        assert_eq!(outer.any, Some(json!([1, { "x": null }])));
        assert_eq!(read::<Outer>(json!({ "name": "a", "inner": null })).map(|o| o.inner), Ok(None));
    }

    #[test]
    fn arrays_and_scalars_are_not_structs() {
        for bad in [
            json!(["a", null, null, null]),
            json!("a"),
            json!(5),
            json!({ "name": "a", "inner": [1] }),
            json!({ "name": "a", "items": [[3]] }),
        ] {
            let error = read::<Outer>(bad.clone()).expect_err("not an object");
            assert!(error.contains("expected a JSON object"), "{bad}: {error}");
        }
        assert!(read::<Outer>(json!({ "name": "a", "colour": 1 })).is_err(), "unknown fields stay refused");
        assert_eq!(read::<Vec<String>>(json!(["a", "b"])), Ok(vec!["a".to_owned(), "b".to_owned()]));
    }

    #[test]
    fn json_content_types_are_application_json_or_a_json_suffix() {
        for good in
            ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"]
        {
            assert!(is_json_content_type(&HeaderValue::from_static(good)), "{good}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/json",
            "json",
            "",
        ] {
            assert!(!is_json_content_type(&HeaderValue::from_static(bad)), "{bad}");
        }
    }
}
