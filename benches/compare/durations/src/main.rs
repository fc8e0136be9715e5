//! Compares signoff's duration parser (src/time.rs, compiled as is) with jiff's friendly parser and humantime:
//! which inputs each accepts, with what value and message, and how fast each parses signoff's valid inputs.
#[path = "../../../../src/time.rs"]
#[allow(dead_code)]
mod time;

use std::hint::black_box;
use std::time::Instant;

use jiff::fmt::friendly::SpanParser;
use jiff::{SpanRelativeTo, Unit};

static JIFF: SpanParser = SpanParser::new();

fn ours(s: &str) -> Result<u64, String> {
    time::Duration::parse(s).map(|d| d.as_secs()).map_err(|e| e.to_string())
}
fn jiff_span(s: &str) -> Result<u64, String> {
    let span = JIFF.parse_span(s.trim()).map_err(|e| e.to_string())?;
    let secs = span.total((Unit::Second, SpanRelativeTo::days_are_24_hours())).map_err(|e| e.to_string())?;
    if secs < 0.0 || secs.fract() != 0.0 {
        return Err(format!("not whole non-negative seconds: {secs}"));
    }
    Ok(secs as u64)
}
fn jiff_unsigned(s: &str) -> Result<u64, String> {
    JIFF.parse_unsigned_duration(s.trim()).map(|d| d.as_secs()).map_err(|e| e.to_string())
}
fn humantime(s: &str) -> Result<u64, String> {
    humantime::parse_duration(s.trim()).map(|d| d.as_secs()).map_err(|e| e.to_string())
}

fn show(r: Result<u64, String>) -> String {
    match r {
        Ok(v) => format!("ok {v}"),
        Err(e) => format!("ERR {e}"),
    }
}

type Parser = fn(&str) -> Result<u64, String>;

/// Nanoseconds per parse of `inputs` by each parser: 9 rounds, each timing every parser in turn (so a busy moment on
/// the shared machine hits all of them alike); the median round per parser.
fn time_all(parsers: &[(&str, Parser)], inputs: &[&str], rounds: usize) -> Vec<f64> {
    let mut samples = vec![Vec::new(); parsers.len()];
    for _ in 0..9 {
        for (i, (_, f)) in parsers.iter().enumerate() {
            let start = Instant::now();
            let mut sum = 0u64;
            for _ in 0..rounds {
                for s in inputs {
                    sum = sum.wrapping_add(f(black_box(s)).unwrap_or(1));
                }
            }
            black_box(sum);
            samples[i].push(start.elapsed().as_nanos() as f64 / (rounds * inputs.len()) as f64);
        }
    }
    samples
        .into_iter()
        .map(|mut v| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        })
        .collect()
}

fn report(parsers: &[(&str, Parser)], inputs: &[&str], rounds: usize) {
    let t = time_all(parsers, inputs, rounds);
    for (i, (name, _)) in parsers.iter().enumerate() {
        println!("  {name:14} {:7.1} ns/parse  {:5.2}x signoff", t[i], t[i] / t[0]);
    }
}

fn main() {
    let parsers: [(&str, Parser); 4] =
        [("signoff", ours), ("jiff span", jiff_span), ("jiff unsigned", jiff_unsigned), ("humantime", humantime)];
    let inputs = [
        "90s",
        "30m",
        "48h",
        "7d",
        "2w",
        "1h30m",
        "1d1s",
        "0",
        " 48h ",
        "",
        "48",
        "48x",
        "h",
        "-5m",
        "99999999999999999999d",
        "999999d",
        "1.5h",
        "1 hour",
        "1h 30m",
        "2 hours 30 minutes",
        "PT1H",
        "5m ago",
        "1H",
        "48hours",
        "1y",
        "1mo",
        "10ms",
        "0s",
        "1M",
    ];
    for input in inputs {
        println!("{input:?}");
        for (name, f) in parsers {
            println!("    {name:14} {}", show(f(input)));
        }
    }
    let valid = ["90s", "30m", "48h", "7d", "2w", "1h30m", "1d1s", "72h"];
    let rounds = 100_000;
    println!("\nvalid inputs {valid:?} (jiff unsigned refuses d and w: its figure is mostly its error path):");
    report(&parsers, &valid, rounds);
    let hms = ["90s", "30m", "48h", "1h30m", "72h", "15m"];
    println!("\nvalid inputs every parser accepts {hms:?}:");
    report(&parsers, &hms, rounds);
    let invalid = ["48", "48x", "h", "-5m", ""];
    println!("\ninvalid inputs {invalid:?} (the error path, message built):");
    report(&parsers, &invalid, rounds);
}
