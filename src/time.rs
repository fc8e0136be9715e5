//! Time as signoff speaks it: instants (`jiff::Timestamp`) and human durations written `90s`, `30m`, `48h`,
//! `7d` (also combined, `1h30m`).
//!
//! The engine never reads a clock: every function that needs "now" takes it as an argument, which is what
//! lets tests replay an item's whole life in microseconds.
//!
//! **Why the duration parser is our own** (compared in BENCHMARKS.md, "Duration parsing", against jiff 1.0's friendly
//! parser, already a dependency, and humantime 2.4). Both crates accept far more than the language documents, so files
//! that mean something odd would pass `signoff check`: `1.5h`, `2 hours 30 minutes`, `1h 30m`, `48hours`, `10ms` (0
//! whole seconds, which here means "never time out"), and, for humantime, months and years of fractional days (`1M` is
//! 30.44 days). jiff turns `-5m` and `5m ago` into a negative span, rejects the bare `0` the staged-workflows seed uses
//! for "never", and needs a `Span` total with 24-hour days to reach seconds (its `SignedDuration` parser refuses `7d`).
//! Their errors name units signoff does not take ("expected `years` or `secs`", "supported units: ns, us, ms, ..."),
//! where ours say "use s, m, h, d or w". Ours was also the fastest on valid input: jiff's span parser took 4.6 to 6.7
//! times as long and humantime 1.2 to 1.8 times (`benches/compare/durations`, three runs). Switching would mean
//! pre-filtering their input to our grammar and rewriting their errors, which is more code than this parser.

use std::fmt;
use std::str::FromStr;

pub use jiff::Timestamp;

/// The current instant, rounded down to the millisecond: what the database stores, so a state read back
/// equals the state written and timestamps in views match those in the audit trail.
pub fn now() -> Timestamp {
    let ms = Timestamp::now().as_millisecond();
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A length of time with one-second resolution, written and read as `90s`, `30m`, `48h`, `7d`, `1h30m`.
///
/// `0` is accepted and means "no time at all"; where a timeout of zero makes no sense the caller reads it as
/// "never" (the staged-workflows seed: "setting it to 0 means it will never retire").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    secs: u64,
}

/// The longest duration we accept: about 100 years. Larger values are typos and would overflow
/// timestamp arithmetic.
const MAX_SECS: u64 = 100 * 366 * 86_400;

impl Duration {
    /// Zero seconds.
    pub const ZERO: Duration = Duration { secs: 0 };

    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Duration { secs }
    }

    /// A duration of `h` hours.
    pub const fn from_hours(h: u64) -> Self {
        Duration { secs: h * 3600 }
    }

    /// The length in seconds.
    pub const fn as_secs(self) -> u64 {
        self.secs
    }

    /// Whether this is zero.
    pub const fn is_zero(self) -> bool {
        self.secs == 0
    }

    /// The instant `self` after `t`, saturating at the largest representable instant.
    pub fn after(self, t: Timestamp) -> Timestamp {
        let secs = i64::try_from(self.secs).unwrap_or(i64::MAX);
        t.checked_add(jiff::SignedDuration::from_secs(secs)).unwrap_or(Timestamp::MAX)
    }

    /// Parses `90s`, `30m`, `48h`, `7d`, `2w`, combinations such as `1h30m`, and a bare `0`.
    pub fn parse(text: &str) -> Result<Duration, DurationError> {
        let s = text.trim();
        if s.is_empty() {
            return Err(DurationError::new(text, "empty duration"));
        }
        if s == "0" {
            return Ok(Duration::ZERO);
        }
        let mut total: u64 = 0;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(DurationError::new(
                    text,
                    "expected a number followed by a unit (s, m, h, d or w), like `30m` or `48h`",
                ));
            }
            let n: u64 = rest[..digits].parse().map_err(|_| DurationError::new(text, "number too large"))?;
            rest = &rest[digits..];
            let unit = rest.chars().next().ok_or_else(|| {
                DurationError::new(text, "missing unit after the number: add s, m, h, d or w, like `48h`")
            })?;
            let mult = match unit {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 7 * 86_400,
                other => {
                    return Err(DurationError::new(text, format!("unknown unit `{other}`: use s, m, h, d or w")));
                }
            };
            rest = &rest[unit.len_utf8()..];
            total = n
                .checked_mul(mult)
                .and_then(|v| total.checked_add(v))
                .filter(|v| *v <= MAX_SECS)
                .ok_or_else(|| DurationError::new(text, "duration too long (more than 100 years)"))?;
        }
        Ok(Duration { secs: total })
    }
}

impl fmt::Display for Duration {
    /// The shortest exact spelling: `48h`, `1h30m`, `7d`, `0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secs == 0 {
            return f.write_str("0");
        }
        let mut rest = self.secs;
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl FromStr for Duration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Duration::parse(s)
    }
}

impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as `90s`, `30m`, `48h` or `7d`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                if v == 0 {
                    Ok(Duration::ZERO)
                } else {
                    Err(E::custom(format!("`{v}` has no unit: write `{v}s`, `{v}m`, `{v}h` or `{v}d`")))
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                if v < 0 { Err(E::custom("a duration cannot be negative")) } else { self.visit_u64(v as u64) }
            }
        }
        d.deserialize_any(V)
    }
}

/// Why a duration could not be read. Names the text so the message stands alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration `{text}`: {reason}")]
pub struct DurationError {
    text: String,
    reason: String,
}

impl DurationError {
    fn new(text: &str, reason: impl Into<String>) -> Self {
        DurationError { text: text.to_owned(), reason: reason.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_and_combinations() {
        assert_eq!(Duration::parse("90s").unwrap().as_secs(), 90);
        assert_eq!(Duration::parse("30m").unwrap().as_secs(), 1800);
        assert_eq!(Duration::parse("48h").unwrap().as_secs(), 48 * 3600);
        assert_eq!(Duration::parse("7d").unwrap().as_secs(), 7 * 86_400);
        assert_eq!(Duration::parse("2w").unwrap().as_secs(), 14 * 86_400);
        assert_eq!(Duration::parse("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(Duration::parse("0").unwrap(), Duration::ZERO);
    }

    #[test]
    fn displays_the_shortest_exact_form() {
        for s in ["90s", "30m", "48h", "7d", "1h30m", "0", "1d1s"] {
            let d = Duration::parse(s).unwrap();
            assert_eq!(Duration::parse(&d.to_string()).unwrap(), d);
        }
        assert_eq!(Duration::parse("90s").unwrap().to_string(), "1m30s");
        assert_eq!(Duration::parse("48h").unwrap().to_string(), "2d");
    }

    #[test]
    fn rejects_bad_durations_with_a_reason() {
        for (bad, needle) in [
            ("", "empty"),
            ("48", "missing unit"),
            ("48x", "unknown unit `x`"),
            ("h", "expected a number"),
            ("-5m", "expected a number"),
            ("99999999999999999999d", "too large"),
            ("999999d", "too long"),
        ] {
            let err = Duration::parse(bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{bad:?} gave {err:?}");
        }
    }
}
