//! Production's account limits on making instances, enforced in `--strict` mode only (locally
//! they are off by default, so that a test script may create instances as fast as it likes):
//! the creation rate (100 a second per workflow, 300 per account, where a `create`, a whole
//! `createBatch` call and a `restart` each count once), the number of queued instances per
//! workflow, and the account's default retention for instances that set none. Pure: the
//! caller gives the time.

use std::collections::{HashMap, VecDeque};

use crate::model::Retention;

/// Creations a second one workflow may make (Workers Paid, since 2026-04-15).
pub const WORKFLOW_RATE: usize = 100;
/// Creations a second the whole account may make.
pub const ACCOUNT_RATE: usize = 300;
/// Instances of one workflow that may wait in `queued` (Workers Paid).
pub const QUEUED_LIMIT: usize = 2_000_000;
/// What a paid account keeps an instance for when neither it nor its workflow says (7 days,
/// for workflows created since 2026-09-10).
pub const ACCOUNT_RETENTION: Retention = Retention { success_ms: Some(7 * 86_400_000), error_ms: Some(7 * 86_400_000) };

const WINDOW_MS: i64 = 1_000;

/// A creation refused for the rate: which limit, and how long until one is free again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateExceeded {
    pub limit: usize,
    /// `"workflow"` or `"account"`.
    pub scope: &'static str,
    pub retry_after_ms: i64,
}

/// The creations of the last second, per workflow and for the account.
#[derive(Debug, Default)]
pub struct CreationRate {
    account: VecDeque<i64>,
    workflows: HashMap<String, VecDeque<i64>>,
}

impl CreationRate {
    /// Counts one creation for `workflow` at `now`, unless a limit would be passed.
    pub fn admit(&mut self, workflow: &str, now: i64) -> Result<(), RateExceeded> {
        let since = now - WINDOW_MS;
        let forget = |times: &mut VecDeque<i64>| {
            while times.front().is_some_and(|&at| at <= since) {
                times.pop_front();
            }
        };
        forget(&mut self.account);
        let times = self.workflows.entry(workflow.to_owned()).or_default();
        forget(times);
        let full = |times: &VecDeque<i64>, limit: usize, scope| {
            (times.len() >= limit).then(|| RateExceeded {
                limit,
                scope,
                retry_after_ms: times.front().map_or(0, |&oldest| oldest + WINDOW_MS - now).max(1),
            })
        };
        if let Some(exceeded) =
            full(times, WORKFLOW_RATE, "workflow").or_else(|| full(&self.account, ACCOUNT_RATE, "account"))
        {
            return Err(exceeded);
        }
        times.push_back(now);
        self.account.push_back(now);
        // Workflows that made nothing for a second are forgotten, so the map stays small.
        self.workflows.retain(|_, times| times.back().is_some_and(|&at| at > since));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workflow_makes_a_hundred_a_second_and_the_account_three_hundred() {
        let mut rate = CreationRate::default();
        for n in 0..100 {
            rate.admit("a", 1_000 + n).unwrap();
        }
        let refused = rate.admit("a", 1_500).unwrap_err();
        assert_eq!(refused, RateExceeded { limit: 100, scope: "workflow", retry_after_ms: 500 });
        // A second after the first, its slot is free again; the next is not yet.
        rate.admit("a", 2_000).unwrap();
        assert!(rate.admit("a", 2_000).is_err());

        let mut rate = CreationRate::default();
        for workflow in ["a", "b", "c"] {
            for n in 0..100 {
                rate.admit(workflow, n).unwrap();
            }
        }
        let refused = rate.admit("d", 500).unwrap_err();
        assert_eq!((refused.scope, refused.limit), ("account", 300));
        assert!(rate.admit("d", 1_100).is_ok(), "the account's window moved on");
    }
}
