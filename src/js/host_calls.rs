//! The native half of `WorkflowStep`: the functions the prelude calls to reach the [`StepHost`],
//! and how their replies come back. A `do` step, the hot path, crosses as plain values (its name
//! and config, then the attempt's token and its result as stored text), and its replies are written
//! into the fields of the prelude's own object for the step, which saves making an object per
//! reply; the rarer requests cross as JSON text, so that their arguments mean exactly what
//! `JSON.stringify` makes of them, and get a reply object.
//!
//! A reply comes back from the call itself when the host answers without waiting (its future is
//! ready the first time it is polled: `do.begin` usually is), so such a step costs no spawned
//! future, no promise and no turn of the job queue. A later reply reaches a `do` step through a
//! call of its `answered` method, and anything else through a promise.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use rquickjs::object::Property;
use rquickjs::prelude::{Func, Opt, This};
use rquickjs::{
    Array, Atom, CatchResultExt, CaughtError, Ctx, Exception, Function, IntoAtom, IntoJs, Object, Promise, Value,
};
use serde_json::Value as Json;

use super::host::{AttemptOutcome, DelayOutcome, HostReply, HostRequest, StepHost, UserConfig};
use super::watchdog::Watchdog;
use crate::model::{ErrorInfo, STEP_CONFIG_KEY_ORDER};

/// Defines `__stepflare_host`, which the prelude captures and removes from the global scope:
///
/// - `doBegin(step, name, config, delayFunction, rollbackConfig, rollbackDelayFunction)`:
///   `config` is `null` or what the code passed, without `retries.delay` when that is a function
///   (`delayFunction`); `rollbackConfig` is `undefined` or the `rollbackConfig` of the step's
///   rollback options, in the same form;
/// - `attemptOk(step, token, attempt, output)`: `output` is the result's stored text, or
///   `undefined`;
/// - `attemptErr(step, token, attempt, name, message, nonRetryable)`;
/// - `attemptErrDelayed(step, token, attempt, name, message, delay)`: a failed attempt that
///   will be retried, after the step's delay function ran: `delay` is `{kind: "returned",
///   value}`, `{kind: "threw", value: message}` or `{kind: "timedOut"}`;
/// - `attemptSettled(token)`: the attempt's callback settled and its delay function runs now,
///   so the watchdog stops timing the attempt;
/// - `request(json)`: any other [`HostRequest`], as JSON text;
/// - `now()`: a monotonic clock in milliseconds, for the deadlines of step attempts.
///
/// The `do` calls write the fields of the reply ([`HostReply`]'s, in camelCase) into `step` and
/// return its kind (`"run"`, `"cached"`, …); when the host answers later they return `undefined`
/// and call `step.answered(kind)` then (or `step.reject(error)`), and never when the host will
/// not answer. `request` returns a reply object `{kind, …}`, or a promise of one (that never
/// settles when the host will not answer).
///
/// Every call passes the watchdog: its answer restarts the CPU count (the limit is per step), and
/// the attempts it starts and ends are the ones the watchdog times.
pub(super) fn install<'js, H: StepHost>(ctx: &Ctx<'js>, host: Arc<H>, watchdog: Watchdog) -> rquickjs::Result<()> {
    let calls = Object::new(ctx.clone())?;
    let caller = Caller { host, watchdog };

    let call = caller.clone();
    calls.set(
        "doBegin",
        Func::from(
            move |ctx: Ctx<'js>,
                  step: Object<'js>,
                  name: String,
                  config: Value<'js>,
                  delay_function: Opt<bool>,
                  rollback_config: Opt<Value<'js>>,
                  rollback_delay_function: Opt<bool>| {
                let config = json_of(&ctx, config, "config")?;
                let rollback_config = match rollback_config.0 {
                    Some(value) if !value.is_undefined() => Some(UserConfig {
                        config: json_of(&ctx, value, "rollbackConfig")?,
                        delay_function: rollback_delay_function.0.unwrap_or(false),
                    }),
                    _ => None,
                };
                let delay_function = delay_function.0.unwrap_or(false);
                let request = HostRequest::DoBegin { name, config, delay_function, rollback_config };
                call.answer(&ctx, request, Some(step))
            },
        ),
    )?;
    let call = caller.clone();
    calls.set(
        "attemptOk",
        Func::from(move |ctx: Ctx<'js>, step: Object<'js>, token: String, attempt: u32, output: Option<String>| {
            let outcome = AttemptOutcome::Ok { output };
            call.answer(&ctx, HostRequest::DoEnd { token, attempt, outcome }, Some(step))
        }),
    )?;
    let call = caller.clone();
    calls.set(
        "attemptErr",
        Func::from(
            move |ctx: Ctx<'js>,
                  step: Object<'js>,
                  token: String,
                  attempt: u32,
                  name: String,
                  message: String,
                  non_retryable: bool| {
                let outcome = AttemptOutcome::Err { error: ErrorInfo::new(name, message), non_retryable, delay: None };
                call.answer(&ctx, HostRequest::DoEnd { token, attempt, outcome }, Some(step))
            },
        ),
    )?;
    let call = caller.clone();
    calls.set(
        "attemptErrDelayed",
        Func::from(
            move |ctx: Ctx<'js>,
                  step: Object<'js>,
                  token: String,
                  attempt: u32,
                  name: String,
                  message: String,
                  delay: Object<'js>| {
                let delay = delay_outcome(&ctx, &delay)?;
                let outcome = AttemptOutcome::Err {
                    error: ErrorInfo::new(name, message),
                    non_retryable: false,
                    delay: Some(delay),
                };
                call.answer(&ctx, HostRequest::DoEnd { token, attempt, outcome }, Some(step))
            },
        ),
    )?;
    let call = caller.clone();
    calls.set("attemptSettled", Func::from(move |token: String| call.watchdog.attempt_ended(&token)))?;
    calls.set(
        "request",
        Func::from(move |ctx: Ctx<'js>, request: String| {
            let request: HostRequest = serde_json::from_str(&request)
                .map_err(|error| Exception::throw_type(&ctx, &format!("invalid step request: {error}")))?;
            caller.answer(&ctx, request, None)
        }),
    )?;
    calls.set("now", Func::from(monotonic_ms))?;
    ctx.globals().set("__stepflare_host", calls)
}

/// What every call needs: the host, and the watchdog that times the attempts.
struct Caller<H> {
    host: Arc<H>,
    watchdog: Watchdog,
}

impl<H> Clone for Caller<H> {
    fn clone(&self) -> Self {
        Caller { host: self.host.clone(), watchdog: self.watchdog.clone() }
    }
}

impl<H: StepHost> Caller<H> {
    /// The host's reply to `request`, at once when the host answers in its first poll. A `do`
    /// call's reply is written into its `step` and the kind returned; when the host answers later,
    /// `undefined` is returned and `step.answered(kind)` is called then. Any other reply is an
    /// object, or a promise of one.
    fn answer<'js>(
        &self,
        ctx: &Ctx<'js>,
        request: HostRequest,
        step: Option<Object<'js>>,
    ) -> rquickjs::Result<Value<'js>> {
        if let HostRequest::DoEnd { token, .. } = &request {
            self.watchdog.attempt_ended(token);
        }
        let host = self.host.clone();
        let mut handling = Box::pin(async move { host.handle(request).await });
        // A future may be polled with any waker: one that is pending here registers the real
        // waker when the spawned task polls it, which it does as soon as it is spawned.
        if let Poll::Ready(reply) = handling.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            return match (self.settle(ctx, reply, step.as_ref())?, step) {
                (Some(reply), _) => Ok(reply),
                (None, Some(_)) => Ok(Value::new_undefined(ctx.clone())),
                (None, None) => Ok(ctx.promise()?.0.into_value()),
            };
        }
        let caller = self.clone();
        let later = ctx.clone();
        match step {
            Some(step) => {
                ctx.spawn(async move {
                    let reply = handling.await;
                    caller.deliver_later(&later, reply, &step);
                });
                Ok(Value::new_undefined(ctx.clone()))
            }
            None => {
                let reply = async move {
                    match caller.settle(&later, handling.await, None) {
                        Ok(Some(reply)) => Ok(reply),
                        Ok(None) => std::future::pending().await,
                        Err(error) => Err::<Value<'js>, rquickjs::Error>(error),
                    }
                };
                Promise::wrap_future(ctx, reply).map(Promise::into_value)
            }
        }
    }

    /// Hands a `do` call's reply that came late to `step.answered(kind)`, or what went wrong to
    /// `step.reject(error)`. (A callback is cheaper than a promise and its reaction.)
    fn deliver_later<'js>(&self, ctx: &Ctx<'js>, reply: Option<HostReply>, step: &Object<'js>) {
        let delivered = self.settle(ctx, reply, Some(step)).and_then(|kind| match kind {
            Some(kind) => step.get::<_, Function>("answered")?.call((This(step.clone()), kind)),
            None => Ok(()),
        });
        let Err(caught) = delivered.catch(ctx) else { return };
        let rejected = match caught {
            CaughtError::Exception(exception) => Ok(exception.into_value()),
            CaughtError::Value(value) => Ok(value),
            CaughtError::Error(error) => {
                Exception::from_message(ctx.clone(), &error.to_string()).map(Exception::into_value)
            }
        }
        .and_then(|reason| step.get::<_, Function>("reject")?.call::<_, ()>((reason,)));
        if let Err(error) = rejected {
            tracing::debug!("a step's reply could not be delivered: {error}");
        }
    }

    /// The reply as JavaScript sees it, once the host has answered (`None`: it never will).
    fn settle<'js>(
        &self,
        ctx: &Ctx<'js>,
        reply: Option<HostReply>,
        step: Option<&Object<'js>>,
    ) -> rquickjs::Result<Option<Value<'js>>> {
        // Counted from the answer on, so that neither the step before nor the host's own work (a
        // commit) counts against the code that comes next.
        self.watchdog.step_boundary();
        let Some(reply) = reply else { return Ok(None) };
        if let HostReply::Run { token, attempt, timeout_ms, .. }
        | HostReply::RollbackRun { token, attempt, timeout_ms, .. } = &reply
        {
            self.watchdog.attempt_started(token.clone(), *attempt, *timeout_ms);
        }
        let kind = kind_of(&reply);
        match step {
            Some(step) => {
                write_fields(ctx, reply, |key, value| step.set(key, value))?;
                Ok(Some(Atom::from_str(ctx.clone(), kind)?.to_js_string()?.into_value()))
            }
            None => {
                let object = Object::new(ctx.clone())?;
                define(&object, "kind", kind.into_js(ctx)?)?;
                write_fields(ctx, reply, |key, value| define(&object, key, value))?;
                Ok(Some(object.into_value()))
            }
        }
    }
}

/// The `kind` a reply has in JSON.
fn kind_of(reply: &HostReply) -> &'static str {
    match reply {
        HostReply::Cached { .. } => "cached",
        HostReply::Failed { .. } => "failed",
        HostReply::Run { .. } => "run",
        HostReply::Resolved => "resolved",
        HostReply::Done => "done",
        HostReply::Event { .. } => "event",
        HostReply::RollbackPlan { .. } => "rollbackPlan",
        HostReply::RollbackRun { .. } => "rollbackRun",
    }
}

/// Puts the reply's fields (all but `kind`), as `JSON.parse` would make them of the reply
/// serialized.
fn write_fields<'js>(
    ctx: &Ctx<'js>,
    reply: HostReply,
    put: impl Fn(&str, Value<'js>) -> rquickjs::Result<()>,
) -> rquickjs::Result<()> {
    match reply {
        HostReply::Cached { output } => put("output", output.into_js(ctx)?),
        HostReply::Failed { error } => put("error", error_object(ctx, &error)?),
        HostReply::Run { token, count, attempt, timeout_ms, config } => {
            put("token", token.into_js(ctx)?)?;
            put("count", count.into_js(ctx)?)?;
            put("attempt", attempt.into_js(ctx)?)?;
            put("timeoutMs", (timeout_ms as f64).into_js(ctx)?)?;
            put("configText", config.as_ref().into_js(ctx)?)
        }
        HostReply::Resolved | HostReply::Done => Ok(()),
        HostReply::Event { event } => put("event", json_to_js(ctx, &event)?),
        HostReply::RollbackPlan { steps, error } => {
            put("steps", json_to_js(ctx, &serde_json::json!(steps))?)?;
            match error {
                Some(error) => put("error", error_object(ctx, &error)?),
                None => Ok(()),
            }
        }
        HostReply::RollbackRun { token, attempt, timeout_ms, config, context, output } => {
            put("token", token.into_js(ctx)?)?;
            put("attempt", attempt.into_js(ctx)?)?;
            put("timeoutMs", (timeout_ms as f64).into_js(ctx)?)?;
            put("config", json_to_js_in_order(ctx, &config, STEP_CONFIG_KEY_ORDER)?)?;
            put("context", json_to_js_in_order(ctx, &context, CONTEXT_KEY_ORDER)?)?;
            put("output", output.into_js(ctx)?)
        }
    }
}

fn error_object<'js>(ctx: &Ctx<'js>, error: &ErrorInfo) -> rquickjs::Result<Value<'js>> {
    let object = Object::new(ctx.clone())?;
    define(&object, "name", error.name.as_str().into_js(ctx)?)?;
    define(&object, "message", error.message.as_str().into_js(ctx)?)?;
    Ok(object.into_value())
}

/// The order of a step's `ctx` keys, as the callback gets them, with its config's.
const CONTEXT_KEY_ORDER: &[&str] =
    &["step", "name", "count", "attempt", "config", "retries", "limit", "delay", "backoff", "timeout", "sensitive"];

/// A JSON value as `JSON.parse` makes it: numbers that are int32 as such, own data properties.
fn json_to_js<'js>(ctx: &Ctx<'js>, value: &Json) -> rquickjs::Result<Value<'js>> {
    json_to_js_in_order(ctx, value, &[])
}

/// [`json_to_js`], with the keys of every object that are in `order` first, in that order.
fn json_to_js_in_order<'js>(ctx: &Ctx<'js>, value: &Json, order: &[&str]) -> rquickjs::Result<Value<'js>> {
    Ok(match value {
        Json::Null => Value::new_null(ctx.clone()),
        Json::Bool(flag) => Value::new_bool(ctx.clone(), *flag),
        Json::Number(number) => match number.as_i64().and_then(|n| i32::try_from(n).ok()) {
            Some(int) => Value::new_int(ctx.clone(), int),
            None => Value::new_float(ctx.clone(), number.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(text) => text.as_str().into_js(ctx)?,
        Json::Array(items) => {
            let array = Array::new(ctx.clone())?;
            for (index, item) in items.iter().enumerate() {
                array.set(index, json_to_js_in_order(ctx, item, order)?)?;
            }
            array.into_value()
        }
        Json::Object(map) => {
            let object = Object::new(ctx.clone())?;
            let mut keys: Vec<&String> = map.keys().collect();
            if !order.is_empty() {
                keys.sort_by_key(|key| order.iter().position(|known| known == key).unwrap_or(order.len()));
            }
            for key in keys {
                define(&object, key.as_str(), json_to_js_in_order(ctx, &map[key], order)?)?;
            }
            object.into_value()
        }
    })
}

/// Adds a data property as `JSON.parse` does: defined, not set, so that no setter on the
/// prototype chain (nor `__proto__`) sees it.
fn define<'js>(object: &Object<'js>, key: impl IntoAtom<'js>, value: Value<'js>) -> rquickjs::Result<()> {
    object.prop(key, Property::from(value).writable().enumerable().configurable())
}

/// A JavaScript value as the JSON the host reads: `null` as is, anything else through
/// `JSON.stringify`, as when the whole request was sent as JSON text (where a value that has no
/// JSON form left its field out).
fn json_of<'js>(ctx: &Ctx<'js>, value: Value<'js>, field: &str) -> rquickjs::Result<Json> {
    if value.is_null() {
        return Ok(Json::Null);
    }
    let Some(text) = ctx.json_stringify(value)? else {
        return Err(Exception::throw_type(ctx, &format!("invalid step request: missing field `{field}`")));
    };
    serde_json::from_str(&text.to_string()?)
        .map_err(|error| Exception::throw_type(ctx, &format!("invalid step request: {error}")))
}

/// What a step's delay function did, as `{kind, value}` says. A returned value that is not a
/// finite number or a string comes across as `null`, which no duration is.
fn delay_outcome<'js>(ctx: &Ctx<'js>, delay: &Object<'js>) -> rquickjs::Result<DelayOutcome> {
    let kind: String = delay.get("kind")?;
    let value: Value<'js> = delay.get("value")?;
    Ok(match kind.as_str() {
        "returned" => DelayOutcome::Returned(if let Some(text) = value.as_string() {
            Json::String(text.to_string()?)
        } else {
            value.as_number().and_then(serde_json::Number::from_f64).map_or(Json::Null, Json::Number)
        }),
        "threw" => DelayOutcome::Threw(value.as_string().map(|text| text.to_string()).transpose()?.unwrap_or_default()),
        "timedOut" => DelayOutcome::TimedOut,
        other => return Err(Exception::throw_type(ctx, &format!("invalid delay outcome {other:?}"))),
    })
}

/// Milliseconds since the first call, from a clock that never goes back.
fn monotonic_ms() -> f64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0
}
