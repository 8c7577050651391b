//! The Node.js built-ins stepflare emulates under `nodejs_compat`: each is a CommonJS body in
//! this folder (run by `modules.js` with `exports`, `require` and `module`), built on LLRT's
//! native modules where they cover the API (`require("stepflare:llrt/<name>")`) and written here
//! where they do not. A built-in that is not in this table fails at import, naming itself.

/// The source of the built-in `name` (`"node:events"`), when stepflare emulates it.
pub fn source(name: &str) -> Option<&'static str> {
    let name = name.strip_prefix("node:").unwrap_or(name);
    Some(match name {
        "async_hooks" => include_str!("async_hooks.js"),
        "assert" => include_str!("assert.js"),
        "assert/strict" => include_str!("assert_strict.js"),
        "buffer" => include_str!("buffer.js"),
        "crypto" => include_str!("crypto.js"),
        "diagnostics_channel" => include_str!("diagnostics_channel.js"),
        "events" => include_str!("events.js"),
        // Shared by assert and util; not one of Node's names, so users cannot import it.
        "internal/deep_equal" => include_str!("internal_deep_equal.js"),
        "internal/errors" => include_str!("internal_errors.js"),
        "module" => include_str!("module.js"),
        "path" | "path/posix" => include_str!("path.js"),
        "process" => include_str!("process.js"),
        "querystring" => include_str!("querystring.js"),
        "stream" => include_str!("stream.js"),
        "stream/consumers" => include_str!("stream_consumers.js"),
        "stream/promises" => include_str!("stream_promises.js"),
        "stream/web" => include_str!("stream_web.js"),
        "string_decoder" => include_str!("string_decoder.js"),
        "timers" => include_str!("timers.js"),
        "timers/promises" => include_str!("timers_promises.js"),
        "url" => include_str!("url.js"),
        "util" | "sys" => include_str!("util.js"),
        "util/types" => include_str!("types.js"),
        _ => return None,
    })
}

/// Whether stepflare emulates the built-in `name` (`"node:events"`).
pub fn is_emulated(name: &str) -> bool {
    source(name).is_some()
}

/// Why importing the built-in `name` fails.
pub fn not_emulated(name: &str) -> String {
    let name = name.strip_prefix("node:").unwrap_or(name);
    format!(
        "node:{name} is not emulated by stepflare (Cloudflare's Node.js compatibility may offer it in production, or only as a stub); see docs/compatibility.md for the built-ins that are"
    )
}
