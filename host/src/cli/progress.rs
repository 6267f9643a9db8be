//! Progress of long commands (`generate`, `claims load`, `claims publish`,
//! `run` on a file, `bench`), always on stderr, never on stdout (where data
//! may go): a bar (`indicatif`) when stderr is a terminal, otherwise a plain
//! line every `observe.progress-interval` and one when the command ends:
//!
//! ```text
//! progress: run 1200345 records, 410k/s, 3 failed
//! ```
//!
//! The work only adds to counters it already keeps (atomics, per batch or
//! per record); a reporter thread of its own reads them and draws, so the
//! stream path never waits on the terminal.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use enricher::observe::StreamMeter;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the bar is brought up to date on a terminal.
const BAR_REFRESH: Duration = Duration::from_millis(200);

/// What a command has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub records: u64,
    /// Records routed to `failed` (or rejected rows); shown when there are any
    /// or the command can have some.
    pub failed: u64,
}

/// A counter the work adds to, and progress reads.
#[derive(Debug, Default, Clone)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// The shared atomic itself (for library calls that take one).
    pub fn atomic(&self) -> &AtomicU64 {
        &self.0
    }

    /// Counts of this counter alone (no failures).
    pub fn reader(&self) -> impl Fn() -> Counts + Send + 'static {
        let counter = self.clone();
        move || Counts {
            records: counter.get(),
            failed: 0,
        }
    }
}

/// What is shown: the command, its unit, and whether failures are counted.
#[derive(Debug, Clone, Copy)]
pub struct Shown {
    /// `run`, `generate`, ...
    pub what: &'static str,
    /// `records`, `rows`, `claims`.
    pub unit: &'static str,
    /// The total, when known in advance (the bar then has a length).
    pub total: Option<u64>,
    /// Show the failed count (commands that route failures).
    pub failures: bool,
}

/// A running progress display; [`Progress::finish`] (or drop) ends it.
pub struct Progress {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Show the progress of `read`: a bar if stderr is a terminal, else a
    /// line every `every` and one at the end.
    pub fn start(
        shown: Shown,
        every: Duration,
        read: impl Fn() -> Counts + Send + 'static,
    ) -> Self {
        let (stop, stopped) = mpsc::channel();
        let terminal = std::io::stderr().is_terminal();
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                if terminal {
                    draw_bar(shown, &read, &stopped);
                } else {
                    print_lines(shown, every, &read, &stopped);
                }
            })
            .ok();
        Self {
            stop: Some(stop),
            thread,
        }
    }

    /// Stop: the last line (or the finished bar) shows the final counts.
    pub fn finish(mut self) {
        self.end();
    }

    fn end(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.end();
    }
}

/// A terminal: an `indicatif` bar (a spinner when the total is unknown),
/// redrawn by indicatif's own ticker and brought up to date here.
fn draw_bar(shown: Shown, read: &dyn Fn() -> Counts, stopped: &mpsc::Receiver<()>) {
    let bar = match shown.total {
        Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    let template = match shown.total {
        Some(_) => format!(
            "{{prefix}} [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{{human_len}} {} {{per_sec:0}} {{msg}}",
            shown.unit
        ),
        None => format!(
            "{{spinner}} {{prefix}} [{{elapsed_precise}}] {{human_pos}} {} {{per_sec:0}} {{msg}}",
            shown.unit
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar.set_prefix(shown.what);
    bar.enable_steady_tick(Duration::from_millis(100));
    let update = |counts: Counts| {
        bar.set_position(counts.records);
        if shown.failures {
            bar.set_message(format!("{} failed", counts.failed));
        }
    };
    loop {
        update(read());
        match stopped.recv_timeout(BAR_REFRESH) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => break,
        }
    }
    update(read());
    bar.finish();
}

/// Not a terminal: a plain line every `every`, and one at the end.
fn print_lines(
    shown: Shown,
    every: Duration,
    read: &dyn Fn() -> Counts,
    stopped: &mpsc::Receiver<()>,
) {
    let started = Instant::now();
    let (mut last_at, mut last) = (started, Counts::default());
    loop {
        let done = !matches!(stopped.recv_timeout(every), Err(RecvTimeoutError::Timeout));
        let now = Instant::now();
        let counts = read();
        let line = if done {
            let rate = per_sec(counts.records, now - started);
            format!(
                "progress: {} done, {} {} in {:.1} s, {}/s{}",
                shown.what,
                counts.records,
                shown.unit,
                (now - started).as_secs_f64(),
                human(rate),
                failed_part(shown, counts)
            )
        } else {
            let rate = per_sec(counts.records.saturating_sub(last.records), now - last_at);
            format!(
                "progress: {} {} {}, {}/s{}",
                shown.what,
                counts.records,
                shown.unit,
                human(rate),
                failed_part(shown, counts)
            )
        };
        // One write per line, so lines from other threads do not cut it.
        let _ = writeln!(std::io::stderr().lock(), "{line}");
        if done {
            return;
        }
        (last_at, last) = (now, counts);
    }
}

fn failed_part(shown: Shown, counts: Counts) -> String {
    if shown.failures {
        format!(", {} failed", counts.failed)
    } else {
        String::new()
    }
}

fn per_sec(n: u64, over: Duration) -> f64 {
    n as f64 / over.as_secs_f64().max(1e-9)
}

/// `410k`, `1.2M`: a rate in a few characters.
pub fn human(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if x >= 1e4 {
        format!("{:.0}k", x / 1e3)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// Records in and records routed to `failed`, as a pipeline's meter counts them.
pub fn meter_counts(meter: &Arc<StreamMeter>) -> impl Fn() -> Counts + Send + 'static {
    let meter = Arc::clone(meter);
    move || Counts {
        records: meter.records_in.load(Ordering::Relaxed),
        failed: (meter.records_out().iter())
            .filter(|(output, _, _)| *output == "failed")
            .map(|(_, _, n)| n)
            .sum(),
    }
}

/// A writer (or reader) that counts the lines written (or read) through it
/// (`generate`, `claims load`).
pub struct LineCounting<W> {
    inner: W,
    lines: Counter,
}

impl<W> LineCounting<W> {
    pub fn new(inner: W, lines: Counter) -> Self {
        Self { inner, lines }
    }

    pub fn inner(&self) -> &W {
        &self.inner
    }
}

impl<W: Write> Write for LineCounting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        let lines = buf[..n].iter().filter(|&&b| b == b'\n').count();
        if lines > 0 {
            self.lines.add(lines as u64);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Reading through it counts the lines read (`claims load`).
impl<R: std::io::Read> std::io::Read for LineCounting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let lines = buf[..n].iter().filter(|&&b| b == b'\n').count();
        if lines > 0 {
            self.lines.add(lines as u64);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_short() {
        assert_eq!(human(12.0), "12");
        assert_eq!(human(4_100.0), "4.1k");
        assert_eq!(human(410_000.0), "410k");
        assert_eq!(human(1_200_000.0), "1.2M");
    }

    #[test]
    fn lines_written_through_are_counted() {
        let counter = Counter::default();
        let mut out = LineCounting::new(Vec::new(), counter.clone());
        out.write_all(b"a\nb\n").expect("write");
        out.write_all(b"c").expect("write");
        out.write_all(b"\n").expect("write");
        assert_eq!(counter.get(), 3);
    }
}
