//! Test clock shared by the simulators and by the tests that drive them.
//!
//! TOTP codes depend on the unix time, so a test that expects a fixed code
//! (such as `005924` at 1234567890 for the RFC 6238 seed) needs the simulator
//! and the CLI under test to agree on a fixed start. Real seconds still pass
//! after the start, so waits and step boundaries behave as in production.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Environment variable that the CLI under test reads as the unix second at
/// which its own clock starts. Its clock then advances with real time, as
/// [`TestClock::StartingAt`] does.
pub const CLOCK_ENV: &str = "KRIPTOMAT_TEST_CLOCK_START";

/// Source of the current unix time for a simulator or a test.
#[derive(Clone, Copy, Debug)]
pub enum TestClock {
    /// The system clock.
    System,
    /// A clock that reads `start_unix` at the instant `started` and advances
    /// with real (monotonic) time from there.
    StartingAt { start_unix: u64, started: Instant },
}

impl TestClock {
    /// Creates a clock that follows the system clock.
    pub fn system() -> Self {
        TestClock::System
    }

    /// Creates a clock that reads `unix_secs` now and advances with real time.
    pub fn starting_at(unix_secs: u64) -> Self {
        TestClock::StartingAt {
            start_unix: unix_secs,
            started: Instant::now(),
        }
    }

    /// Returns the current time in whole unix seconds, rounded down.
    pub fn now_unix(&self) -> u64 {
        match self {
            TestClock::System => system_unix().as_secs(),
            TestClock::StartingAt {
                start_unix,
                started,
            } => start_unix + started.elapsed().as_secs(),
        }
    }

    /// Returns the current time in unix seconds with the fraction.
    pub fn now_unix_f64(&self) -> f64 {
        match self {
            TestClock::System => system_unix().as_secs_f64(),
            TestClock::StartingAt {
                start_unix,
                started,
            } => *start_unix as f64 + started.elapsed().as_secs_f64(),
        }
    }

    /// Formats the current second as a value for [`CLOCK_ENV`], so that a
    /// child process started now begins at this clock's time. Returns `None`
    /// for the system clock, where the child needs no variable.
    ///
    /// The fraction of the second is dropped, so the child's clock may run up
    /// to one second behind this one.
    pub fn env_value(&self) -> Option<String> {
        match self {
            TestClock::System => None,
            TestClock::StartingAt { .. } => Some(self.now_unix().to_string()),
        }
    }
}

fn system_unix() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("system clock is set before 1970")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starting_at_reads_start_then_advances() {
        let clock = TestClock::starting_at(1_234_567_890);

        let now = clock.now_unix();
        assert!((1_234_567_890..1_234_567_892).contains(&now), "now = {now}");

        let fractional = clock.now_unix_f64();
        assert!(fractional >= 1_234_567_890.0, "now = {fractional}");
        assert!(fractional < 1_234_567_892.0, "now = {fractional}");

        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert!(clock.now_unix() >= 1_234_567_891);
    }

    #[test]
    fn env_value_only_for_fixed_start() {
        assert_eq!(TestClock::system().env_value(), None);

        let value = TestClock::starting_at(1_234_567_888).env_value();
        assert!(
            matches!(value.as_deref(), Some("1234567888") | Some("1234567889")),
            "value = {value:?}"
        );
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(TestClock::system().now_unix() > 1_577_836_800);
    }
}
