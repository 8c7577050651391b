//! The engine's notion of now, as a value: production code uses the system clock, and anything
//! that needs to move time can pass another: `stepflare dev --clock-start` runs on a shifted one,
//! so that a test reaches a cron firing without waiting for the wall clock.

use std::time::{SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
}

/// The system clock moved by a fixed offset: it reads `start_ms` at the moment it is made and
/// runs at the system clock's pace from there.
#[derive(Debug, Clone, Copy)]
pub struct ShiftedClock {
    offset_ms: i64,
}

impl ShiftedClock {
    pub fn starting_at(start_ms: i64) -> Self {
        ShiftedClock { offset_ms: start_ms - SystemClock.now_ms() }
    }
}

impl Clock for ShiftedClock {
    fn now_ms(&self) -> i64 {
        SystemClock.now_ms() + self.offset_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shifted_clock_starts_where_it_is_told_and_runs_on() {
        let start = 1_893_456_000_000;
        let clock = ShiftedClock::starting_at(start);
        let first = clock.now_ms();
        assert!((start..start + 60_000).contains(&first), "{first}");
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(clock.now_ms() > first);
    }
}
