//! The instance lifecycle as a pure state machine: `(status, command) -> (status, effects)`.
//! The engine applies the effects (cancel a run, enqueue, clear state); nothing here does IO,
//! so every transition is tested exhaustively below.

use crate::model::InstanceStatus;

/// Something that happens to an instance: a user's request or the run's own progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// A concurrency slot was granted to a queued, waiting or recovering instance.
    Start,
    /// The run stopped at a sleep, retry delay or event wait.
    Suspend,
    /// The run honoured a pause request at a step boundary.
    PauseReached,
    /// `run()` returned.
    Complete,
    /// `run()` threw, or the engine failed the instance (limits, unserializable result).
    Fail,
    Pause,
    Resume,
    Terminate,
    Restart,
}

/// Work the engine must do to carry out a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Stop the JS run now (its context is dropped; steps in flight are abandoned).
    CancelRun,
    /// Let the run finish its current step, then stop it (pause).
    RequestPause,
    /// Withdraw a pause request that has not been honoured yet.
    WithdrawPause,
    /// Put the instance in line for a concurrency slot.
    Enqueue,
    /// Forget pending timers (the run re-registers what it still needs when it replays).
    ClearTimers,
    /// Erase step state (all of it, or from the `from` step on) before running again.
    ClearSteps,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub to: InstanceStatus,
    pub effects: Vec<Effect>,
}

/// Why a command does not apply to the instance's current status. The codes are the ones
/// Cloudflare's engine puts in its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("(instance.cannot_terminate) Cannot terminate instance since its on a finite state")]
    CannotTerminate,
    #[error("(instance.cannot_pause) Cannot pause instance since its on a finite state")]
    CannotPause,
    #[error("the instance is {0}, which this command does not apply to")]
    NotApplicable(InstanceStatus),
}

fn to(status: InstanceStatus, effects: &[Effect]) -> Result<Transition, Refusal> {
    Ok(Transition { to: status, effects: effects.to_vec() })
}

/// The whole lifecycle. `Ok` with the same status and no effects means "accepted, no change".
pub fn transition(from: InstanceStatus, command: Command) -> Result<Transition, Refusal> {
    use Command as C;
    use Effect as E;
    use InstanceStatus as S;
    match (from, command) {
        (S::Queued | S::Waiting | S::Running, C::Start) => to(S::Running, &[]),
        // A pause requested while the instance waited for a slot or a timer wins over the start.
        (S::Paused, C::Start) => to(S::Paused, &[]),
        (S::WaitingForPause, C::Start) => to(S::Paused, &[]),

        (S::Running, C::Suspend) => to(S::Waiting, &[]),
        (S::WaitingForPause, C::Suspend | C::PauseReached) => to(S::Paused, &[]),
        (S::Running, C::PauseReached) => to(S::Running, &[]),

        (S::Running | S::WaitingForPause, C::Complete) => to(S::Complete, &[]),
        (S::Running | S::WaitingForPause | S::Queued | S::Waiting, C::Fail) => to(S::Errored, &[]),

        (S::Queued | S::Waiting, C::Pause) => to(S::Paused, &[]),
        (S::Running, C::Pause) => to(S::WaitingForPause, &[E::RequestPause]),
        (S::Paused | S::WaitingForPause, C::Pause) => to(from, &[]),
        (S::Errored | S::Terminated | S::Complete, C::Pause) => Err(Refusal::CannotPause),

        (S::Paused, C::Resume) => to(S::Queued, &[E::Enqueue]),
        (S::WaitingForPause, C::Resume) => to(S::Running, &[E::WithdrawPause]),
        // The docs: resuming an instance that is not paused has no effect.
        (_, C::Resume) => to(from, &[]),

        (S::Errored | S::Terminated | S::Complete, C::Terminate) => Err(Refusal::CannotTerminate),
        (_, C::Terminate) => to(S::Terminated, &[E::CancelRun, E::ClearTimers]),

        (_, C::Restart) => to(S::Queued, &[E::CancelRun, E::ClearTimers, E::ClearSteps, E::Enqueue]),

        (status, _) => Err(Refusal::NotApplicable(status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Command as C;
    use Effect as E;
    use InstanceStatus as S;

    const COMMANDS: [Command; 9] =
        [C::Start, C::Suspend, C::PauseReached, C::Complete, C::Fail, C::Pause, C::Resume, C::Terminate, C::Restart];

    #[test]
    fn status_names_round_trip() {
        for status in S::ALL {
            assert_eq!(S::parse(status.as_str()), Some(status));
        }
        assert_eq!(S::parse("rollingBack"), None);
    }

    /// What `transition` must answer: the status and effects it goes to, or its refusal.
    fn go(to: InstanceStatus, effects: &[Effect]) -> Result<Transition, Refusal> {
        Ok(Transition { to, effects: effects.to_vec() })
    }

    /// The whole lifecycle, written out: one row per status, one column per command in the
    /// order of [`COMMANDS`]. Changing any transition must change this table.
    fn expected() -> Vec<(InstanceStatus, [Result<Transition, Refusal>; 9])> {
        let same = |s: InstanceStatus| go(s, &[]);
        let no = |s: InstanceStatus| Err(Refusal::NotApplicable(s));
        let terminate = || go(S::Terminated, &[E::CancelRun, E::ClearTimers]);
        let restart = || go(S::Queued, &[E::CancelRun, E::ClearTimers, E::ClearSteps, E::Enqueue]);
        let finished = |s: InstanceStatus| {
            [
                no(s),
                no(s),
                no(s),
                no(s),
                no(s),
                Err(Refusal::CannotPause),
                same(s),
                Err(Refusal::CannotTerminate),
                restart(),
            ]
        };
        // Each row: Start, Suspend, PauseReached, Complete, Fail, Pause, Resume, Terminate, Restart.
        vec![
            (
                S::Queued,
                [
                    same(S::Running),
                    no(S::Queued),
                    no(S::Queued),
                    no(S::Queued),
                    same(S::Errored),
                    same(S::Paused),
                    same(S::Queued),
                    terminate(),
                    restart(),
                ],
            ),
            (
                S::Running,
                [
                    same(S::Running),
                    same(S::Waiting),
                    same(S::Running),
                    same(S::Complete),
                    same(S::Errored),
                    go(S::WaitingForPause, &[E::RequestPause]),
                    same(S::Running),
                    terminate(),
                    restart(),
                ],
            ),
            (
                S::Paused,
                [
                    same(S::Paused),
                    no(S::Paused),
                    no(S::Paused),
                    no(S::Paused),
                    no(S::Paused),
                    same(S::Paused),
                    go(S::Queued, &[E::Enqueue]),
                    terminate(),
                    restart(),
                ],
            ),
            (S::Errored, finished(S::Errored)),
            (S::Terminated, finished(S::Terminated)),
            (S::Complete, finished(S::Complete)),
            (
                S::Waiting,
                [
                    same(S::Running),
                    no(S::Waiting),
                    no(S::Waiting),
                    no(S::Waiting),
                    same(S::Errored),
                    same(S::Paused),
                    same(S::Waiting),
                    terminate(),
                    restart(),
                ],
            ),
            (
                S::WaitingForPause,
                [
                    same(S::Paused),
                    same(S::Paused),
                    same(S::Paused),
                    same(S::Complete),
                    same(S::Errored),
                    same(S::WaitingForPause),
                    go(S::Running, &[E::WithdrawPause]),
                    terminate(),
                    restart(),
                ],
            ),
            (
                S::Unknown,
                [
                    no(S::Unknown),
                    no(S::Unknown),
                    no(S::Unknown),
                    no(S::Unknown),
                    no(S::Unknown),
                    no(S::Unknown),
                    same(S::Unknown),
                    terminate(),
                    restart(),
                ],
            ),
        ]
    }

    #[test]
    fn every_pair_is_decided_as_the_table_says() {
        let table = expected();
        let rows: Vec<InstanceStatus> = table.iter().map(|(status, _)| *status).collect();
        assert_eq!(rows, S::ALL, "the table has one row per status, in order");
        let mut wrong = Vec::new();
        for (status, row) in table {
            for (command, want) in COMMANDS.into_iter().zip(row) {
                let got = transition(status, command);
                if got != want {
                    wrong.push(format!("({status}, {command:?}): got {got:?}, want {want:?}"));
                }
            }
        }
        assert!(wrong.is_empty(), "transitions differ from the table:\n{}", wrong.join("\n"));
    }

    #[test]
    fn finished_states_only_leave_by_restart() {
        for status in S::ALL.into_iter().filter(|s| s.is_finished()) {
            for command in COMMANDS {
                match (command, transition(status, command)) {
                    (C::Restart, Ok(t)) => assert_eq!(t.to, S::Queued),
                    (C::Restart, Err(refusal)) => panic!("{status} cannot restart: {refusal}"),
                    (_, Ok(t)) => {
                        assert_eq!(t, Transition { to: status, effects: vec![] }, "{status} left by {command:?}")
                    }
                    (_, Err(_)) => {}
                }
            }
        }
    }

    #[test]
    fn a_normal_run() {
        assert_eq!(transition(S::Queued, C::Start).unwrap().to, S::Running);
        assert_eq!(transition(S::Running, C::Suspend).unwrap().to, S::Waiting);
        assert_eq!(transition(S::Waiting, C::Start).unwrap().to, S::Running);
        assert_eq!(transition(S::Running, C::Complete).unwrap().to, S::Complete);
        assert_eq!(transition(S::Running, C::Fail).unwrap().to, S::Errored);
    }

    #[test]
    fn pausing_a_running_instance_waits_for_the_step() {
        let t = transition(S::Running, C::Pause).unwrap();
        assert_eq!(t, Transition { to: S::WaitingForPause, effects: vec![E::RequestPause] });
        assert_eq!(transition(S::WaitingForPause, C::PauseReached).unwrap().to, S::Paused);
        assert_eq!(transition(S::WaitingForPause, C::Suspend).unwrap().to, S::Paused);
        let back = transition(S::WaitingForPause, C::Resume).unwrap();
        assert_eq!(back, Transition { to: S::Running, effects: vec![E::WithdrawPause] });
    }

    #[test]
    fn pausing_a_waiting_or_queued_instance_is_immediate() {
        assert_eq!(transition(S::Waiting, C::Pause).unwrap().to, S::Paused);
        assert_eq!(transition(S::Queued, C::Pause).unwrap().to, S::Paused);
        assert_eq!(transition(S::Paused, C::Start).unwrap().to, S::Paused);
    }

    #[test]
    fn resume_enqueues_a_paused_instance_and_ignores_others() {
        assert_eq!(transition(S::Paused, C::Resume).unwrap(), Transition { to: S::Queued, effects: vec![E::Enqueue] });
        for status in [S::Running, S::Queued, S::Waiting, S::Complete] {
            assert_eq!(transition(status, C::Resume).unwrap(), Transition { to: status, effects: vec![] });
        }
    }

    #[test]
    fn terminate_refuses_finished_instances() {
        for status in [S::Complete, S::Errored, S::Terminated] {
            assert_eq!(transition(status, C::Terminate), Err(Refusal::CannotTerminate));
            assert_eq!(transition(status, C::Pause), Err(Refusal::CannotPause));
        }
        for status in [S::Queued, S::Running, S::Paused, S::Waiting, S::WaitingForPause] {
            let t = transition(status, C::Terminate).unwrap();
            assert_eq!(t.to, S::Terminated);
            assert!(t.effects.contains(&E::CancelRun));
        }
    }

    #[test]
    fn restart_works_from_every_status() {
        for status in S::ALL {
            let t = transition(status, C::Restart).unwrap();
            assert_eq!(t.to, S::Queued);
            assert_eq!(t.effects, [E::CancelRun, E::ClearTimers, E::ClearSteps, E::Enqueue]);
        }
    }

    #[test]
    fn a_finished_run_cannot_complete_again() {
        assert!(transition(S::Complete, C::Complete).is_err());
        assert!(transition(S::Terminated, C::Suspend).is_err());
        assert!(transition(S::Paused, C::Complete).is_err());
    }
}
