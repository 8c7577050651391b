//! `setTimeout`, `clearTimeout`, `setInterval`, `clearInterval` and `queueMicrotask` on tokio
//! timers. Each timer is a future spawned on the context, so dropping the runtime drops every
//! pending timer with it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rquickjs::prelude::{Func, Opt, Rest};
use rquickjs::{Ctx, Function, Value};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Timers {
    next_id: u32,
    pending: HashMap<u32, CancellationToken>,
}

pub fn install<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<()> {
    let timers = Arc::new(Mutex::new(Timers::default()));
    let globals = ctx.globals();
    let schedule = |repeat: bool| {
        let timers = timers.clone();
        Func::from(move |ctx: Ctx<'js>, callback: Function<'js>, delay: Opt<f64>, args: Rest<Value<'js>>| {
            start_timer(&ctx, &timers, callback, delay.0.unwrap_or(0.0), args.0, repeat)
        })
    };
    globals.set("setTimeout", schedule(false))?;
    globals.set("setInterval", schedule(true))?;
    let clear = || {
        let timers = timers.clone();
        Func::from(move |id: Opt<Value<'js>>| {
            let id = id.0.and_then(|v| v.as_number()).unwrap_or(-1.0);
            if id >= 0.0 {
                let mut timers = timers.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(token) = timers.pending.remove(&(id as u32)) {
                    token.cancel();
                }
            }
        })
    };
    globals.set("clearTimeout", clear())?;
    globals.set("clearInterval", clear())?;
    globals.set("queueMicrotask", Func::from(|callback: Function<'js>| callback.defer::<()>(())))?;
    Ok(())
}

fn start_timer<'js>(
    ctx: &Ctx<'js>,
    timers: &Arc<Mutex<Timers>>,
    callback: Function<'js>,
    delay_ms: f64,
    args: Vec<Value<'js>>,
    repeat: bool,
) -> u32 {
    let delay = Duration::from_millis(if delay_ms.is_finite() && delay_ms > 0.0 { delay_ms as u64 } else { 0 });
    let token = CancellationToken::new();
    let id = {
        let mut timers = timers.lock().unwrap_or_else(|p| p.into_inner());
        timers.next_id += 1;
        let id = timers.next_id;
        timers.pending.insert(id, token.clone());
        id
    };
    let timers = timers.clone();
    ctx.spawn(async move {
        loop {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            if let Err(error) = callback.call::<_, ()>((rquickjs::function::Rest(args.clone()),)) {
                tracing::debug!("timer callback threw: {error}");
            }
            if !repeat {
                break;
            }
        }
        timers.lock().unwrap_or_else(|p| p.into_inner()).pending.remove(&id);
    });
    id
}
