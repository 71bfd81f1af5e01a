//! One clock for every timer (docs/operations.md, Clocks). Production clocks follow the system time; a test
//! clock can be moved forward so 24-hour and 90-day rules are tested without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

#[derive(Clone, Debug)]
pub struct Clock {
    /// Milliseconds added to the system time; only a test clock ever changes it.
    offset_ms: Arc<AtomicI64>,
    adjustable: bool,
}

impl Clock {
    pub fn system() -> Self {
        Clock { offset_ms: Arc::new(AtomicI64::new(0)), adjustable: false }
    }

    /// A clock the harness may advance (`--test-clock`, never the default).
    pub fn test() -> Self {
        Clock { offset_ms: Arc::new(AtomicI64::new(0)), adjustable: true }
    }

    pub fn is_adjustable(&self) -> bool {
        self.adjustable
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    pub fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }

    /// Moves a test clock forward. Returns false (and does nothing) on a production clock.
    pub fn advance(&self, by: Duration) -> bool {
        if !self.adjustable || by < Duration::zero() {
            return false;
        }
        self.offset_ms.fetch_add(by.num_milliseconds(), Ordering::Relaxed);
        true
    }
}

/// RFC 3339 with a `Z` suffix and whole seconds, the form Microsoft's APIs use.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Milliseconds since the epoch to RFC 3339.
pub fn ms_to_rfc3339(ms: i64) -> String {
    rfc3339(DateTime::from_timestamp_millis(ms).unwrap_or_default())
}

pub fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// How far ahead of this service's clock a time reported by another machine may be:
/// five minutes, the skew Kerberos tolerates. Beyond it the other clock is wrong.
pub const MAX_FUTURE_SKEW_MS: i64 = 5 * 60 * 1000;

/// Judges a time another machine reported against this service's clock: a time ahead
/// within [`MAX_FUTURE_SKEW_MS`] is taken as `now` (nothing can have happened later than
/// it was received), a time further ahead is `Err(how far ahead, in ms)`.
pub fn reported_time(reported_ms: i64, now_ms: i64) -> Result<i64, i64> {
    match reported_ms - now_ms {
        ahead if ahead > MAX_FUTURE_SKEW_MS => Err(ahead),
        _ => Ok(reported_ms.min(now_ms)),
    }
}

/// `36 h`, `7 min`, `12 s`: a duration in the largest unit that fits, rounded, for
/// messages.
pub fn describe_ms(ms: i64) -> String {
    let s = (ms.abs() + 500) / 1000;
    let rounded = |unit: i64| (s + unit / 2) / unit;
    match s {
        s if s >= 2 * 86_400 => format!("{} days", rounded(86_400)),
        s if s >= 3600 => format!("{} h", rounded(3600)),
        s if s >= 60 => format!("{} min", rounded(60)),
        s => format!("{s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_test_clock_moves() {
        let prod = Clock::system();
        assert!(!prod.advance(Duration::hours(24)));
        let test = Clock::test();
        let before = test.now();
        assert!(test.advance(Duration::days(90)));
        assert!(test.now() - before >= Duration::days(90));
        assert!(!test.advance(Duration::seconds(-1)));
    }

    #[test]
    fn reported_times_ahead_of_the_clock_are_clamped_or_refused() {
        let now = 1_000_000_000;
        assert_eq!(reported_time(now - 5, now), Ok(now - 5));
        assert_eq!(reported_time(now + 1000, now), Ok(now), "within the skew: taken as received");
        assert_eq!(reported_time(now + 36 * 3_600_000, now), Err(36 * 3_600_000));
        assert_eq!(describe_ms(36 * 3_600_000), "36 h");
        assert_eq!(describe_ms(36 * 3_600_000 - 1_500), "36 h", "a request's latency does not change the message");
        assert_eq!(describe_ms(5 * 86_400_000), "5 days");
    }
}
