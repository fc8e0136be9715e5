//! The clock the benchmarks read.
//!
//! By default criterion's wall clock. With `BENCH_CLOCK=cpu`, the CPU time of the measuring thread, from
//! `/proc/thread-self/schedstat` (Linux): on a shared machine, time spent waiting for a CPU is then left
//! out, so the figures say what one event or one load costs rather than how busy the neighbours were.
//!
//! The kernel updates that counter at scheduler ticks and context switches, so one reading can be a few
//! milliseconds stale (4 ms at `CONFIG_HZ=250`). The error is the same at both ends of a sample and averages
//! out; to keep each sample well above it, CPU mode uses flat sampling and longer measurements (see
//! [`tune`]). Work done on other threads (e.g. the directory loader freeing the parsed documents in the
//! background) is not counted.

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BenchmarkGroup, SamplingMode};

/// Whether `BENCH_CLOCK=cpu` asks for the thread CPU-time clock.
pub fn cpu_requested() -> bool {
    std::env::var("BENCH_CLOCK").is_ok_and(|v| v.eq_ignore_ascii_case("cpu"))
}

/// The measuring thread's CPU time, in nanoseconds.
fn thread_cpu_nanos() -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("BENCH_CLOCK=cpu needs /proc/thread-self/schedstat (Linux)");
    text.split_whitespace().next().and_then(|n| n.parse().ok()).expect("schedstat starts with nanoseconds on CPU")
}

/// Criterion measurement: CPU time of the current thread.
pub struct ThreadCpuTime;

static WALL: WallTime = WallTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = Duration;

    fn start(&self) -> u64 {
        thread_cpu_nanos()
    }

    fn end(&self, start: u64) -> Duration {
        Duration::from_nanos(thread_cpu_nanos().saturating_sub(start))
    }

    fn add(&self, v1: &Duration, v2: &Duration) -> Duration {
        *v1 + *v2
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        // Nanoseconds, like wall time: the same units and throughput figures.
        WALL.formatter()
    }
}

/// In CPU mode, every sample runs the same number of iterations and the measurement lasts `cpu_secs`, so
/// that each sample is long next to the counter's granularity. Wall mode keeps criterion's defaults.
pub fn tune<M: Measurement>(group: &mut BenchmarkGroup<'_, M>, cpu_secs: u64) {
    if cpu_requested() {
        group.sampling_mode(SamplingMode::Flat);
        group.measurement_time(Duration::from_secs(cpu_secs));
    }
}

/// Runs `benches` with the clock `BENCH_CLOCK` asks for; stands in for `criterion_main!`.
pub fn main_with(
    benches: fn(&mut criterion::Criterion<WallTime>),
    cpu_benches: fn(&mut criterion::Criterion<ThreadCpuTime>),
) {
    if cpu_requested() {
        eprintln!("clock: CPU time of the measuring thread (BENCH_CLOCK=cpu)");
        let mut c = criterion::Criterion::default().with_measurement(ThreadCpuTime).configure_from_args();
        cpu_benches(&mut c);
        c.final_summary();
    } else {
        eprintln!("clock: wall time (set BENCH_CLOCK=cpu for the thread's CPU time)");
        let mut c = criterion::Criterion::default().configure_from_args();
        benches(&mut c);
        c.final_summary();
    }
}
