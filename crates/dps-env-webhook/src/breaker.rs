//! The circuit breaker of one target: after enough failed calls in a row, calls fail at once
//! for a while instead of waiting on a platform that is down.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
enum State {
    /// Calls go through; `failures` in a row so far.
    Closed { failures: u32 },
    /// Calls fail at once until `until`.
    Open { until: Instant },
    /// One call tries the platform again (since `since`); the others fail at once.
    Trial { since: Instant },
}

#[derive(Debug)]
pub(crate) struct Breaker {
    threshold: u32,
    cool_down: Duration,
    state: Mutex<State>,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cool_down: Duration) -> Self {
        Self {
            threshold,
            cool_down,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain value, valid whatever a panicking holder did.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a call may go to the platform now; `Err` holds how long it stays open.
    pub(crate) fn admit(&self) -> Result<(), Duration> {
        let now = Instant::now();
        let mut state = self.state();
        match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until } if now < until => Err(until - now),
            State::Trial { since } if now < since + self.cool_down.max(Duration::from_secs(1)) => {
                Err(self.cool_down)
            }
            State::Open { .. } | State::Trial { .. } => {
                *state = State::Trial { since: now };
                Ok(())
            }
        }
    }

    /// The platform answered (whatever it said).
    pub(crate) fn succeeded(&self) {
        *self.state() = State::Closed { failures: 0 };
    }

    /// A call failed for want of the platform.
    pub(crate) fn failed(&self) {
        let now = Instant::now();
        let mut state = self.state();
        let next = match *state {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            _ => State::Open {
                until: now + self.cool_down,
            },
        };
        *state = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_opens_after_the_threshold_and_lets_one_trial_through_after_the_cool_down() {
        let breaker = Breaker::new(2, Duration::ZERO);
        breaker.failed();
        assert!(
            breaker.admit().is_ok(),
            "one failure is below the threshold"
        );
        breaker.failed();
        // Open, with no cool-down: the next call is the trial, and the one beside it waits.
        assert!(breaker.admit().is_ok());
        assert!(breaker.admit().is_err(), "one trial at a time");
        breaker.succeeded();
        assert!(breaker.admit().is_ok() && breaker.admit().is_ok());

        let long = Breaker::new(1, Duration::from_secs(3600));
        long.failed();
        let wait = long.admit().unwrap_err();
        assert!(wait > Duration::from_secs(3500), "{wait:?}");
    }
}
