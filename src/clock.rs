//! Time for the TOTP step and token expiry, injectable for tests.
//!
//! The system clock is the default. `KRIPTOMAT_TEST_CLOCK_START=<unix
//! seconds>` makes the clock start at that time when the process starts and
//! advance in real time. The test suite uses it to run the binary at the
//! RFC 6238 test times. In-process tests use a manual clock whose sleeps
//! advance time at once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Environment variable that starts the clock at a given unix time.
pub const TEST_CLOCK_ENV: &str = "KRIPTOMAT_TEST_CLOCK_START";

/// A source of the current unix time that can also wait.
#[derive(Clone, Debug)]
pub struct Clock {
    /// Seconds added to the system time.
    offset: f64,
    /// Set for a manual clock: the current time, moved only by `sleep`.
    manual: Option<Arc<Mutex<f64>>>,
}

impl Clock {
    /// Returns the system clock, shifted when the test variable is set.
    pub fn from_env() -> Result<Clock, crate::error::Error> {
        let Some(start) = std::env::var(TEST_CLOCK_ENV).ok().filter(|v| !v.is_empty()) else {
            return Ok(Clock {
                offset: 0.0,
                manual: None,
            });
        };
        // Bounded to year 9999 so every date the tool formats stays valid.
        let start: u64 = start
            .trim()
            .parse()
            .ok()
            .filter(|s| *s < 253_402_300_799)
            .ok_or_else(|| {
                crate::error::Error::invalid(
                    TEST_CLOCK_ENV,
                    "not a unix time",
                    "whole seconds since 1970",
                )
            })?;
        Ok(Clock {
            offset: start as f64 - system_now(),
            manual: None,
        })
    }

    /// Returns a clock that stays at `unix` until `sleep` moves it.
    pub fn manual(unix: f64) -> Clock {
        Clock {
            offset: 0.0,
            manual: Some(Arc::new(Mutex::new(unix))),
        }
    }

    /// Returns the current unix time in seconds.
    pub fn now(&self) -> f64 {
        match &self.manual {
            Some(time) => *time.lock().expect("clock lock"),
            None => system_now() + self.offset,
        }
    }

    /// Returns the current unix time in whole seconds.
    pub fn now_secs(&self) -> u64 {
        self.now().max(0.0) as u64
    }

    /// Waits for `duration`; a manual clock advances instead.
    pub async fn sleep(&self, duration: Duration) {
        match &self.manual {
            Some(time) => *time.lock().expect("clock lock") += duration.as_secs_f64(),
            None => tokio::time::sleep(duration).await,
        }
    }
}

fn system_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}
