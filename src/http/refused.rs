//! Callbacks refused before anyone is known: a bad or missing signature, a stale timestamp, another workspace or
//! application. They are counted in `/metrics` (`signoff_callbacks_refused_total{platform,reason}`) and logged at a
//! bounded rate, and never written to the database: whoever sends them is unauthenticated, and must not be able to
//! fill the disk or the log (DESIGN 7.2).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most this many refusal lines are logged per [`LOG_PERIOD`]; the rest are counted and summed up in the next
/// line that is logged.
const LOG_BURST: u32 = 10;

/// See [`LOG_BURST`].
const LOG_PERIOD: Duration = Duration::from_secs(60);

/// A fixed-window limiter for log lines. A crate (governor) would do it too, but this is a dozen lines with one
/// lock taken only when a callback is refused.
struct Limiter {
    window_start: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

static LIMITER: Mutex<Limiter> = Mutex::new(Limiter { window_start: None, logged: 0, suppressed: 0 });

/// Whether to log now, and how many lines were suppressed since the last one logged.
fn may_log(now: Instant) -> Option<u64> {
    let mut l = LIMITER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if l.window_start.is_none_or(|s| now.duration_since(s) >= LOG_PERIOD) {
        l.window_start = Some(now);
        l.logged = 0;
    }
    if l.logged < LOG_BURST {
        l.logged += 1;
        Some(std::mem::take(&mut l.suppressed))
    } else {
        l.suppressed += 1;
        None
    }
}

/// Counts and (rate-limited) logs a refused callback. `detail` must hold no secret and nothing the caller sent
/// beyond ids.
pub(crate) fn callback(platform: &'static str, reason: &'static str, detail: &str) {
    metrics::counter!("signoff_callbacks_refused_total", "platform" => platform, "reason" => reason).increment(1);
    if let Some(suppressed) = may_log(Instant::now()) {
        tracing::warn!(platform, reason, detail, suppressed, "refused a chat callback");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_allows_a_burst_per_period_and_reports_what_it_held_back() {
        let t0 = Instant::now() + Duration::from_secs(3600);
        // Other tests in this process may have used the limiter: start a fresh window.
        let start = t0 + LOG_PERIOD;
        assert!(may_log(start).is_some());
        for _ in 1..LOG_BURST {
            assert_eq!(may_log(start), Some(0));
        }
        assert_eq!(may_log(start), None);
        assert_eq!(may_log(start + Duration::from_secs(1)), None);
        assert_eq!(may_log(start + LOG_PERIOD), Some(2));
    }
}
