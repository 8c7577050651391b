//! Step results and instance outputs as the store keeps them, and the readable JSON that REST and
//! the journal show of them. Since structured clone came in, a value that JSON cannot hold is
//! stored as `v8:` and the tree that `src/js/clone.js` writes (the encoding of queue `v8`
//! bodies); anything else, and every row of earlier versions, is plain JSON. Replay decodes the
//! text in JavaScript; this module only renders it, so it never has to make a JavaScript value.
//!
//! The rendering follows `JSON.stringify` where JSON has a form for the value (a `Date` is its
//! ISO string, `NaN` and the infinities are `null`, `undefined` is left out of an object and is
//! `null` in an array) and is readable where `JSON.stringify` loses it: a `Map` is its
//! `[key, value]` pairs, a `Set` and a typed array their elements, an `ArrayBuffer` or a
//! `DataView` its bytes, a `BigInt` its digits as a string, a `RegExp` `"/source/flags"`, an
//! `Error` `{name, message}`. An object met again is rendered again, and one inside itself is
//! `"[Circular]"`. **Invariant:** a leaf (it imports nothing of stepflare) and total: any text
//! renders to some JSON, damaged text to `null`.

use std::collections::HashMap;

use base64::Engine as _;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// What starts a stored value that is a structured-clone tree rather than plain JSON. No JSON
/// text starts with it, so rows that earlier versions stored as JSON still read as JSON.
pub const CLONE_MARK: &str = "v8:";

/// What starts the stored bytes of a `ReadableStream` a step returned (their base64 follows).
pub const STREAM_MARK: &str = "stream:";

/// The most bytes a stream output may have (`MAX_STREAM_BYTES` of `src/js/clone.js`, which
/// enforces it), and so the longest stored text of one.
pub const MAX_STREAM_BYTES: usize = 32 << 20;
pub const MAX_STREAM_TEXT: usize = STREAM_MARK.len() + MAX_STREAM_BYTES.div_ceil(3) * 4;

/// REST shows at most this many characters of a stream output that is text.
const STREAM_PREVIEW_CHARS: usize = 1024;

/// An object met again is rendered again, up to this many nodes in all; past it, a repeat is
/// `"[Reference]"`, so that a small tree of many repeats cannot render into gigabytes.
const MAX_RENDERED_NODES: usize = 1 << 20;

/// The readable JSON of a stored value; `None` (the step returned `undefined`) is `null`. A
/// stream output is a preview, as the local engine's logs show one: its first 1,024 characters
/// when it is UTF-8 text, else `"[ReadableStream (binary): <N> bytes]"`.
pub fn readable(stored: Option<&str>) -> Value {
    let Some(text) = stored else { return Value::Null };
    if let Some(tree) = text.strip_prefix(CLONE_MARK) {
        return serde_json::from_str(tree).map(|tree| render_tree(&tree)).unwrap_or(Value::Null);
    }
    if let Some(bytes) = stream_bytes(text) {
        return match std::str::from_utf8(&bytes) {
            Ok(text) => Value::from(text.chars().take(STREAM_PREVIEW_CHARS).collect::<String>()),
            Err(_) => Value::from(format!("[ReadableStream (binary): {} bytes]", bytes.len())),
        };
    }
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// Whether `stored` is the bytes of a stream output.
pub fn is_stream(stored: &str) -> bool {
    stored.starts_with(STREAM_MARK)
}

/// The bytes of a stream output; `None` for any other value.
pub fn stream_bytes(stored: &str) -> Option<Vec<u8>> {
    decode_base64(stored.strip_prefix(STREAM_MARK)?)
}

/// [`readable`] as JSON text, for the journal; plain JSON is kept as it was stored. `None` when
/// the text is not a value a reader could parse.
pub fn readable_text(stored: &str) -> Option<Box<RawValue>> {
    if stored.starts_with(CLONE_MARK) || is_stream(stored) {
        serde_json::value::to_raw_value(&readable(Some(stored))).ok()
    } else {
        RawValue::from_string(stored.to_owned()).ok()
    }
}

fn render_tree(tree: &Value) -> Value {
    let mut objects = Vec::new();
    number_objects(tree, &mut objects);
    let index_of = objects.iter().enumerate().map(|(index, node)| (std::ptr::from_ref(*node), index)).collect();
    Renderer { objects, index_of, ancestors: Vec::new(), rendered: 0 }.render(tree)
}

/// The tags of nodes that are objects, which `["@", n]` can refer to.
fn is_object(tag: &str) -> bool {
    matches!(tag, "a" | "o" | "m" | "s" | "d" | "r" | "b" | "t" | "e" | "p")
}

fn tag_of(node: &Value) -> Option<(&str, &[Value])> {
    let items = node.as_array()?;
    Some((items.first()?.as_str()?, &items[1..]))
}

/// Collects the object nodes in the order the encoder numbered them: depth first, each before
/// its children, children in the order they were written.
fn number_objects<'t>(node: &'t Value, objects: &mut Vec<&'t Value>) {
    let Some((tag, fields)) = tag_of(node) else { return };
    if !is_object(tag) {
        return;
    }
    objects.push(node);
    let children: Vec<&Value> = match (tag, fields.first()) {
        ("a" | "s", Some(Value::Array(items))) => items.iter().collect(),
        ("o", Some(Value::Array(members))) => members.iter().filter_map(|m| m.get(1)).collect(),
        ("m", Some(Value::Array(entries))) => {
            entries.iter().filter_map(Value::as_array).flat_map(|entry| entry.iter().take(2)).collect()
        }
        ("e", _) => fields.get(3).into_iter().collect(),
        ("p", Some(inner)) => vec![inner],
        _ => Vec::new(),
    };
    for child in children {
        number_objects(child, objects);
    }
}

const NO_ITEMS: &[Value] = &[];

struct Renderer<'t> {
    objects: Vec<&'t Value>,
    index_of: HashMap<*const Value, usize>,
    /// The objects being rendered now, outermost first: a reference to one of them is a cycle.
    ancestors: Vec<usize>,
    rendered: usize,
}

impl<'t> Renderer<'t> {
    fn render(&mut self, node: &'t Value) -> Value {
        self.rendered += 1;
        let Some((tag, fields)) = tag_of(node) else { return node.clone() };
        let field = |n: usize| fields.get(n).unwrap_or(&Value::Null);
        match tag {
            "n" => match field(0).as_str() {
                Some("-0") => Value::from(0),
                _ => Value::Null,
            },
            "u" => Value::Null,
            "i" => field(0).clone(),
            "@" => self.render_reference(field(0)),
            _ if is_object(tag) => {
                let index = self.index_of.get(&std::ptr::from_ref(node)).copied();
                self.ancestors.extend(index);
                let rendered = self.render_object(tag, fields);
                if index.is_some() {
                    self.ancestors.pop();
                }
                rendered
            }
            _ => Value::Null,
        }
    }

    fn render_reference(&mut self, index: &Value) -> Value {
        let Some(index) = index.as_u64().and_then(|n| usize::try_from(n).ok()) else { return Value::Null };
        let Some(node) = self.objects.get(index).copied() else { return Value::Null };
        if self.ancestors.contains(&index) {
            return Value::from("[Circular]");
        }
        if self.rendered > MAX_RENDERED_NODES {
            return Value::from("[Reference]");
        }
        self.render(node)
    }

    fn render_object(&mut self, tag: &str, fields: &'t [Value]) -> Value {
        let list = |n: usize| fields.get(n).and_then(Value::as_array).map_or(NO_ITEMS, Vec::as_slice);
        let text = |n: usize| fields.get(n).and_then(Value::as_str).unwrap_or_default();
        match tag {
            "a" | "s" => Value::Array(list(0).iter().map(|item| self.render(item)).collect()),
            "o" => {
                let mut object = Map::new();
                for member in list(0) {
                    let (Some(key), Some(value)) = (member.get(0).and_then(Value::as_str), member.get(1)) else {
                        continue;
                    };
                    // `JSON.stringify` leaves out a member whose value is undefined.
                    if tag_of(value).is_some_and(|(tag, _)| tag == "u") {
                        continue;
                    }
                    object.insert(key.to_owned(), self.render(value));
                }
                Value::Object(object)
            }
            "m" => {
                let entries = list(0).iter().filter_map(Value::as_array);
                let pairs = entries.map(|entry| {
                    let key = entry.first().map_or(Value::Null, |key| self.render(key));
                    let value = entry.get(1).map_or(Value::Null, |value| self.render(value));
                    Value::Array(vec![key, value])
                });
                Value::Array(pairs.collect())
            }
            "d" => fields.first().and_then(Value::as_f64).and_then(iso_date).map_or(Value::Null, Value::from),
            "r" => Value::from(format!("/{}/{}", text(0), text(1))),
            "b" => decode_base64(text(0)).map_or(Value::Null, Value::from),
            "t" => decode_base64(text(1)).map_or(Value::Null, |bytes| elements(text(0), &bytes)),
            "e" => {
                let mut error = Map::new();
                error.insert("name".into(), Value::from(text(0)));
                error.insert("message".into(), Value::from(text(1)));
                if let Some(cause) = fields.get(3) {
                    error.insert("cause".into(), self.render(cause));
                }
                Value::Object(error)
            }
            "p" => fields.first().map_or(Value::Null, |inner| self.render(inner)),
            _ => Value::Null,
        }
    }
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// The elements of a typed array named `view` over `bytes` (little-endian, as JavaScript engines
/// on every platform stepflare runs on store them); 64-bit integers as strings, like `BigInt`s.
fn elements(view: &str, bytes: &[u8]) -> Value {
    fn each<const N: usize>(bytes: &[u8], element: impl Fn([u8; N]) -> Value) -> Value {
        let chunks = bytes.chunks_exact(N).filter_map(|chunk| chunk.try_into().ok());
        Value::Array(chunks.map(element).collect())
    }
    let float = |value: f64| serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
    match view {
        "Int8Array" => each(bytes, |b: [u8; 1]| Value::from(i8::from_le_bytes(b))),
        "Int16Array" => each(bytes, |b| Value::from(i16::from_le_bytes(b))),
        "Uint16Array" => each(bytes, |b| Value::from(u16::from_le_bytes(b))),
        "Int32Array" => each(bytes, |b| Value::from(i32::from_le_bytes(b))),
        "Uint32Array" => each(bytes, |b| Value::from(u32::from_le_bytes(b))),
        "Float16Array" => each(bytes, |b| float(half_to_f64(u16::from_le_bytes(b)))),
        "Float32Array" => each(bytes, |b| float(f64::from(f32::from_le_bytes(b)))),
        "Float64Array" => each(bytes, |b| float(f64::from_le_bytes(b))),
        "BigInt64Array" => each(bytes, |b| Value::from(i64::from_le_bytes(b).to_string())),
        "BigUint64Array" => each(bytes, |b| Value::from(u64::from_le_bytes(b).to_string())),
        // Uint8Array, Uint8ClampedArray, DataView and any view of an older version's naming.
        _ => Value::from(bytes.to_vec()),
    }
}

/// An IEEE 754 half-precision number.
fn half_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 == 0 { 1.0 } else { -1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let fraction = f64::from(bits & 0x3ff);
    sign * match exponent {
        0 => fraction * 2f64.powi(-24),
        0x1f if fraction == 0.0 => f64::INFINITY,
        0x1f => f64::NAN,
        _ => (1.0 + fraction / 1024.0) * 2f64.powi(exponent - 15),
    }
}

/// `Date.prototype.toISOString` of `ms` since the epoch; `None` for an invalid date (more than
/// 8.64e15 ms away, as in JavaScript).
fn iso_date(ms: f64) -> Option<String> {
    if !ms.is_finite() || ms.abs() > 8.64e15 {
        return None;
    }
    let ms = ms as i64;
    let (days, in_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let year = if (0..=9999).contains(&year) { format!("{year:04}") } else { format!("{year:+07}") };
    let (hours, minutes, seconds, millis) =
        (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000);
    Some(format!("{year}-{month:02}-{day:02}T{hours:02}:{minutes:02}:{seconds:02}.{millis:03}Z"))
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn shown(tree: Value) -> Value {
        readable(Some(&format!("{CLONE_MARK}{tree}")))
    }

    #[test]
    fn plain_json_of_earlier_versions_reads_as_it_was_stored() {
        assert_eq!(readable(Some(r#"{"a":[1,"x",null]}"#)), json!({ "a": [1, "x", null] }));
        // An array that looks like a tree is data when it is not marked.
        assert_eq!(readable(Some(r#"["d",0]"#)), json!(["d", 0]));
        assert_eq!(readable(Some("\"v8:not a tree\"")), json!("v8:not a tree"));
        assert_eq!(readable(None), Value::Null);
    }

    #[test]
    fn each_kind_of_value_renders_readably() {
        let base64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let table = [
            (json!(["d", 1_786_001_400_123_i64]), json!("2026-08-06T07:30:00.123Z")),
            (json!(["d", null]), Value::Null),
            (json!(["d", -1]), json!("1969-12-31T23:59:59.999Z")),
            (json!(["d", 8.64e15]), json!("+275760-09-13T00:00:00.000Z")),
            (json!(["d", -62_198_755_200_000_i64]), json!("-000001-01-01T00:00:00.000Z")),
            (json!(["m", [["a", 1], [["i", "2"], ["s", []]]]]), json!([["a", 1], ["2", []]])),
            (json!(["s", [1, "two"]]), json!([1, "two"])),
            (json!(["i", "123456789012345678901234567890"]), json!("123456789012345678901234567890")),
            (json!(["r", "a+b", "gi"]), json!("/a+b/gi")),
            (json!(["n", "NaN"]), Value::Null),
            (json!(["n", "-Infinity"]), Value::Null),
            (json!(["n", "-0"]), json!(0)),
            (json!(["u"]), Value::Null),
            (json!(["a", [["u"], 1]]), json!([null, 1])),
            (json!(["o", [["gone", ["u"]], ["kept", null]]]), json!({ "kept": null })),
            (
                json!(["e", "TypeError", "bad", "TypeError: bad\n    at x"]),
                json!({ "name": "TypeError", "message": "bad" }),
            ),
            (json!(["p", ["i", "5"]]), json!("5")),
            (json!(["b", base64(&[1, 2, 255])]), json!([1, 2, 255])),
            (json!(["t", "Uint8Array", base64(&[7, 8])]), json!([7, 8])),
            (json!(["t", "DataView", base64(&[7, 8])]), json!([7, 8])),
            (json!(["t", "Int16Array", base64(&(-2i16).to_le_bytes())]), json!([-2])),
            (json!(["t", "Float32Array", base64(&1.5f32.to_le_bytes())]), json!([1.5])),
            (json!(["t", "Float64Array", base64(&f64::NAN.to_le_bytes())]), json!([null])),
            (json!(["t", "Float16Array", base64(&0x3e00u16.to_le_bytes())]), json!([1.5])),
            (json!(["t", "BigInt64Array", base64(&(-3i64).to_le_bytes())]), json!(["-3"])),
            (json!(["t", "BigUint64Array", base64(&u64::MAX.to_le_bytes())]), json!([u64::MAX.to_string()])),
        ];
        for (tree, expected) in table {
            assert_eq!(shown(tree.clone()), expected, "{tree}");
        }
    }

    #[test]
    fn repeated_objects_render_again_and_cycles_say_so() {
        // const shared = [1]; const o = { x: shared, y: shared }; o.self = o;
        let tree = json!(["o", [["x", ["a", [1]]], ["y", ["@", 1]], ["self", ["@", 0]]]]);
        assert_eq!(shown(tree), json!({ "x": [1], "y": [1], "self": "[Circular]" }));
        // A map that holds itself as a key, inside an array.
        let tree = json!(["a", [["m", [[["@", 1], "v"]]]]]);
        assert_eq!(shown(tree), json!([[["[Circular]", "v"]]]));
    }

    #[test]
    fn a_tree_of_many_repeats_renders_in_bounded_size() {
        // Each level holds the one below twice: 2^40 nodes if every repeat were rendered.
        let mut tree = json!(["a", []]);
        for level in (0..40).rev() {
            tree = json!(["a", [tree, ["@", level + 1]]]);
        }
        let rendered = shown(tree).to_string();
        assert!(rendered.contains("[Reference]") && rendered.len() < 64 << 20, "{}", rendered.len());
    }

    #[test]
    fn a_stream_output_shows_a_preview_and_keeps_its_bytes() {
        let stored = |bytes: &[u8]| format!("{STREAM_MARK}{}", base64::engine::general_purpose::STANDARD.encode(bytes));
        assert_eq!(readable(Some(&stored(b"hello"))), json!("hello"));
        let long = "é".repeat(2000);
        assert_eq!(readable(Some(&stored(long.as_bytes()))), json!("é".repeat(1024)));
        assert_eq!(readable(Some(&stored(&[0xff, 0, 1]))), json!("[ReadableStream (binary): 3 bytes]"));
        assert_eq!(stream_bytes(&stored(&[0xff, 0, 1])), Some(vec![0xff, 0, 1]));
        assert_eq!(stream_bytes("\"stream:AAAA\""), None, "a string that looks like one is a string");
        assert_eq!(readable_text(&stored(b"hi")).unwrap().get(), "\"hi\"");
    }

    #[test]
    fn damaged_text_renders_as_null() {
        assert_eq!(readable(Some("v8:[\"a\"")), Value::Null);
        assert_eq!(shown(json!(["zz", 1])), Value::Null);
        assert_eq!(shown(json!(["@", 9])), Value::Null);
        assert_eq!(shown(json!(["b", "%%%"])), Value::Null);
        assert_eq!(readable(Some("{")), Value::Null);
    }

    #[test]
    fn the_journal_gets_plain_json_untouched_and_trees_rendered() {
        assert_eq!(readable_text("{\"b\":1,\"a\":2}").unwrap().get(), "{\"b\":1,\"a\":2}");
        assert_eq!(readable_text("v8:[\"s\",[1,2]]").unwrap().get(), "[1,2]");
        assert!(readable_text("not json").is_none());
    }
}
