//! A rate limit for log lines that a bad stream could otherwise repeat
//! without end (records routed to `failed`, a plugin's own log lines): a
//! token bucket of `burst` lines refilled at `per_second`, which reports how
//! many lines it held back so the next line that passes can say so.
//!
//! Time is passed in, so tests need no sleeping.

use std::time::Instant;

/// Admits at most `burst` lines at once and `per_second` on average.
#[derive(Debug, Clone)]
pub struct LogLimit {
    per_second: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimit {
    pub fn new(per_second: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            per_second: per_second.max(0.0),
            burst,
            tokens: burst,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(held back)` when a line may be logged at `now` (with the number
    /// of lines held back since the last one that passed), `None` when not.
    pub fn admit(&mut self, now: Instant) -> Option<u64> {
        if let Some(last) = self.last {
            let refill = now.saturating_duration_since(last).as_secs_f64() * self.per_second;
            self.tokens = (self.tokens + refill).min(self.burst);
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_passes_then_the_rate_holds_and_the_held_back_lines_are_counted() {
        let t0 = Instant::now();
        let mut limit = LogLimit::new(2.0, 3);
        let passed: Vec<_> = (0..10).map(|_| limit.admit(t0)).collect();
        assert_eq!(passed[..3], [Some(0), Some(0), Some(0)]);
        assert!(passed[3..].iter().all(Option::is_none));
        // Half a second later one token is back: it says 7 were held back.
        assert_eq!(limit.admit(t0 + Duration::from_millis(500)), Some(7));
        assert_eq!(limit.admit(t0 + Duration::from_millis(500)), None);
        // Long idle: at most the burst again.
        let later = t0 + Duration::from_secs(60);
        let n = (0..10).filter(|_| limit.admit(later).is_some()).count();
        assert_eq!(n, 3);
    }
}
