//! The retention task: deletes each ended instance whose retention ran out, on the engine's
//! clock, and sleeps until the next one is due (or an instance ends, which may bring it nearer).
//! When an instance expires is decided by the store as it writes the end
//! (`expires_on = ended_on + retention`), so the task only reads that and deletes.

use std::sync::Arc;
use std::time::Duration;

use super::Inner;

/// The longest the task sleeps without looking: a retention set by hand in the state file, or
/// a clock moved under it, is noticed within this.
const LONGEST_NAP: Duration = Duration::from_secs(60);

pub(super) async fn expire_instances(inner: Arc<Inner>) {
    loop {
        let now = inner.clock.now_ms();
        let swept = inner.with_store(move |store| Ok((store.delete_expired(now)?, store.next_expiry()?))).await;
        let next = match swept {
            Ok((expired, next)) => {
                for key in expired {
                    tracing::debug!(workflow = %key.workflow, instance = %key.id, "retention ran out; instance deleted");
                }
                next
            }
            Err(error) => {
                tracing::error!("cannot delete expired instances: {error}");
                None
            }
        };
        let nap = match next {
            Some(due) => Duration::from_millis(due.saturating_sub(now).max(1) as u64).min(LONGEST_NAP),
            None => LONGEST_NAP,
        };
        tokio::select! {
            _ = tokio::time::sleep(nap) => {}
            _ = inner.instance_ended.notified() => {}
        }
    }
}
