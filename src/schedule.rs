//! The cron task: fires every workflow binding's `schedules` and every Worker's `triggers.crons`
//! on time, durably. A binding's firing creates one instance (`"<cron>-<ms>"`, with
//! `event.schedule`); a Worker's firing calls its `scheduled` handler.
//!
//! Each time it plans, the task reads the workflows and Workers loaded now, so a reload changes
//! what fires at once; a reload wakes it. The store keeps, per expression, the time through which
//! its firings are done:
//!
//! - an expression seen for the first time starts then (at stepflare's start for those in the
//!   config it started with): earlier times never fire;
//! - an expression that left the config is forgotten, so adding it back starts afresh;
//! - firings missed while stepflare was not running (or was late) fire once, for the latest
//!   missed time, and the skipped span is logged;
//! - a binding's instance and its firing are one commit, so a crash neither repeats nor loses it;
//! - a Worker's firing is recorded before its handler runs: a handler cut short by a crash is
//!   logged at the next start and not run again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::cron::CronExpression;
use crate::engine::Engine;
use crate::js;
use crate::store::{CronOwner, Store, StoreError};
use crate::workers::Workers;

/// The longest the task sleeps before planning again, so that a jump of the wall clock (a
/// suspended laptop, a corrected clock) is noticed within a minute.
const LONGEST_NAP: Duration = Duration::from_secs(60);

/// Runs the cron task until the runtime stops. Start it after [`Engine::start`]; `started` is
/// when stepflare started (by the engine's clock), from which the expressions of the config it
/// started with count, however long loading took.
pub async fn run(engine: Engine, store: Arc<Store>, workers: Workers, started: i64) {
    let reported = store.on_blocking_thread(|store| {
        report_cut_short(store);
        Ok(())
    });
    if let Err(error) = reported.await {
        tracing::error!("cannot look for cut short firings: {error}");
    }
    let mut starting = Some(started);
    let mut reloads = workers.subscribe();
    loop {
        let now = engine.now_ms();
        let first_seen = starting.take().map_or(now, |started| started.min(now));
        let next = plan(&engine, &store, &workers, first_seen, now).await;
        let nap = match next {
            Some(at) => Duration::from_millis(u64::try_from(at - engine.now_ms()).unwrap_or(0)).min(LONGEST_NAP),
            None => LONGEST_NAP,
        };
        tokio::select! {
            _ = tokio::time::sleep(nap) => {}
            _ = engine.workflows_changed() => {}
            _ = reloads.changed() => {}
        }
    }
}

/// What to do about one expression at `now`, given the time through which its firings are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// Fire for `at`, the latest firing time not done. `skipped` is the first and the last of the
    /// earlier ones that are not done either and will not fire.
    Fire { at: i64, skipped: Option<(i64, i64)> },
    /// Nothing is due.
    Wait,
}

fn decide(cron: &CronExpression, done_through: i64, now: i64) -> Decision {
    match cron.latest_at_or_before(now) {
        Some(latest) if latest > done_through => {
            let first = cron.next_after(done_through).filter(|&first| first < latest);
            let skipped = first.zip(cron.latest_at_or_before(latest - 1));
            Decision::Fire { at: latest, skipped }
        }
        _ => Decision::Wait,
    }
}

/// Fires whatever is due at `now` and returns when the next firing is. An expression not seen
/// before counts from `first_seen`.
async fn plan(engine: &Engine, store: &Arc<Store>, workers: &Workers, first_seen: i64, now: i64) -> Option<i64> {
    let mut configured: BTreeMap<(CronOwner, String), CronExpression> = BTreeMap::new();
    for def in engine.workflows() {
        for cron in &def.schedules {
            configured.insert((CronOwner::Workflow(def.name.to_string()), cron.to_string()), cron.clone());
        }
    }
    for worker in workers.all() {
        for cron in &worker.crons {
            configured.insert((CronOwner::Worker(worker.name.clone()), cron.to_string()), cron.clone());
        }
    }
    let stored = match store.on_blocking_thread(|store| store.cron_firings()).await {
        Ok(rows) => rows,
        Err(error) => {
            tracing::error!("cannot read the cron firings: {error}");
            return None;
        }
    };
    let mut done_through = BTreeMap::new();
    for row in stored {
        let key = (row.owner, row.cron);
        if configured.contains_key(&key) {
            done_through.insert(key, row.done_through);
            continue;
        }
        let (owner, cron) = key.clone();
        if let Err(error) = store.on_blocking_thread(move |store| store.forget_cron(&owner, &cron)).await {
            tracing::error!("cannot forget cron {:?} of {}: {error}", key.1, key.0);
        }
    }
    let mut next: Option<i64> = None;
    for ((owner, text), cron) in &configured {
        let done = match done_through.get(&(owner.clone(), text.clone())) {
            Some(&done) => done,
            None => match track(store, owner, text, first_seen).await {
                Ok(()) => first_seen,
                Err(error) => {
                    tracing::error!("cron {text:?} of {owner}: cannot keep track of it: {error}");
                    continue;
                }
            },
        };
        let outcome = match decide(cron, done, now) {
            Decision::Wait => Ok(()),
            Decision::Fire { at, skipped } => {
                if let Some((first, last)) = skipped {
                    let missed = if first == last {
                        format!("the firing at {} was", when(first))
                    } else {
                        format!("the firings from {} to {} were", when(first), when(last))
                    };
                    tracing::warn!(
                        "cron {text:?} of {owner}: {missed} missed (stepflare was not running, or was late); it fires once, for the latest due time, {}",
                        when(at)
                    );
                }
                fire(engine, store, workers, owner, cron, at).await
            }
        };
        if let Err(error) = outcome {
            tracing::error!("cron {text:?} of {owner}: {error}");
        }
        if let Some(upcoming) = cron.next_after(now) {
            next = Some(next.map_or(upcoming, |earliest| earliest.min(upcoming)));
        }
    }
    next
}

/// Starts keeping track of an expression first seen at `first_seen`.
async fn track(store: &Arc<Store>, owner: &CronOwner, cron: &str, first_seen: i64) -> Result<(), StoreError> {
    let (owner, cron) = (owner.clone(), cron.to_owned());
    store.on_blocking_thread(move |store| store.track_cron(&owner, &cron, first_seen)).await
}

/// Makes the firing of `cron` of `owner` for `at`.
async fn fire(
    engine: &Engine,
    store: &Arc<Store>,
    workers: &Workers,
    owner: &CronOwner,
    cron: &CronExpression,
    at: i64,
) -> Result<(), String> {
    match owner {
        CronOwner::Workflow(workflow) => match engine.fire_schedule(workflow, cron.as_str(), at).await {
            Ok(Some(row)) => {
                tracing::info!(
                    "cron {:?} of workflow {workflow} fired for {}: instance {}",
                    cron.as_str(),
                    when(at),
                    row.id
                );
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(error) => Err(format!("cannot fire for {}: {error}", when(at))),
        },
        CronOwner::Worker(name) => {
            let Some(worker) = workers.named(name) else {
                return Ok(());
            };
            let (firing, expression) = (owner.clone(), cron.to_string());
            store
                .on_blocking_thread(move |store| store.start_worker_firing(&firing, &expression, at))
                .await
                .map_err(|e| store_error(at, &e))?;
            tracing::info!(
                "cron {:?} of Worker {name} fired for {}: calling its scheduled handler",
                cron.as_str(),
                when(at)
            );
            let (engine, store, owner, cron) = (engine.clone(), store.clone(), owner.clone(), cron.to_string());
            tokio::spawn(async move {
                let bindings = Arc::new(engine.clone());
                if let Err(error) = js::handle_scheduled(&worker, &cron, at, bindings).await {
                    tracing::error!(target: "worker", "the scheduled handler threw {}: {} (cron {cron:?}, {})", error.name, error.message, when(at));
                }
                let (firing, expression) = (owner.clone(), cron.clone());
                let ended =
                    store.on_blocking_thread(move |store| store.end_worker_firing(&firing, &expression, at)).await;
                if let Err(error) = ended {
                    tracing::error!("cron {cron:?} of {owner}: {}", store_error(at, &error));
                }
            });
            Ok(())
        }
    }
}

/// Logs the Worker firings whose handler a previous process started and never finished; they
/// are not run again.
fn report_cut_short(store: &Store) {
    let firings = match store.cron_firings() {
        Ok(firings) => firings,
        Err(error) => return tracing::error!("cannot read the cron firings: {error}"),
    };
    for firing in firings {
        let Some(at) = firing.running else { continue };
        tracing::warn!(
            "the scheduled handler of {} for cron {:?} at {} was cut short when stepflare stopped; it is not run again",
            firing.owner,
            firing.cron,
            when(at)
        );
        if let Err(error) = store.end_worker_firing(&firing.owner, &firing.cron, at) {
            tracing::error!("cron {:?} of {}: {}", firing.cron, firing.owner, store_error(at, &error));
        }
    }
}

fn store_error(at: i64, error: &StoreError) -> String {
    format!("cannot record the firing for {}: {error}", when(at))
}

/// A firing time for the log, in UTC.
fn when(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;
    /// 2030-01-01T00:00:00Z, a Tuesday.
    const T0: i64 = 1_893_456_000_000;

    fn every_minute() -> CronExpression {
        CronExpression::parse("* * * * *").unwrap()
    }

    #[test]
    fn an_expression_first_seen_does_not_fire_for_the_past() {
        assert_eq!(decide(&every_minute(), T0 + 30_000, T0 + 30_500), Decision::Wait);
    }

    #[test]
    fn a_due_firing_fires_once_and_then_waits() {
        let cron = every_minute();
        assert_eq!(decide(&cron, T0 + 59_500, T0 + 59_999), Decision::Wait);
        assert_eq!(decide(&cron, T0 + 59_500, T0 + MINUTE), Decision::Fire { at: T0 + MINUTE, skipped: None });
        assert_eq!(decide(&cron, T0 + MINUTE, T0 + MINUTE + 10), Decision::Wait, "a fired time is done");
    }

    #[test]
    fn missed_firings_fire_once_for_the_latest() {
        let cron = every_minute();
        let decision = decide(&cron, T0 + MINUTE, T0 + 5 * MINUTE + 200);
        let skipped = Some((T0 + 2 * MINUTE, T0 + 4 * MINUTE));
        assert_eq!(decision, Decision::Fire { at: T0 + 5 * MINUTE, skipped });
        let every_two = CronExpression::parse("*/2 * * * *").unwrap();
        let decision = decide(&every_two, T0, T0 + 5 * MINUTE);
        let skipped = Some((T0 + 2 * MINUTE, T0 + 2 * MINUTE));
        assert_eq!(decision, Decision::Fire { at: T0 + 4 * MINUTE, skipped });
    }

    #[test]
    fn a_clock_behind_the_record_fires_nothing_until_it_passes_it() {
        let cron = every_minute();
        assert_eq!(decide(&cron, T0 + 2 * MINUTE, T0 + 30_000), Decision::Wait);
        let hourly = CronExpression::parse("0 * * * *").unwrap();
        assert_eq!(decide(&hourly, T0 + MINUTE, T0 + 59 * MINUTE), Decision::Wait);
        assert_eq!(
            decide(&hourly, T0 + MINUTE, T0 + 60 * MINUTE),
            Decision::Fire { at: T0 + 60 * MINUTE, skipped: None }
        );
    }
}
