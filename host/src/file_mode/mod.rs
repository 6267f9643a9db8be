//! `enricher run` on files: one raw record per input line (`-` for stdin),
//! JSON lines out, one file for enriched records and one for failed ones.
//!
//! Lines are read with a cap ([`lines`]): a line longer than
//! `max-record-bytes` is never held whole in memory; it goes to `failed` as
//! RECORD_TOO_LARGE with a prefix and its real size. Empty lines carry no
//! record and are skipped (and counted).
//!
//! A run can start past the first lines (`skip_lines`) and be stopped between
//! two lines (`stop`): it then runs the records it holds, flushes both outputs
//! and reports how far it got, so that a second run resumes exactly there.
//! Records of a slow input are not held for a full batch: once the oldest has
//! waited `max-batch-wait` they run and the outputs are flushed. After each
//! flush the outputs are told how far they are complete
//! ([`RunOutputs::flushed`], where [`checkpoint`]s are written). Which paths
//! a run may write is checked by [`paths`].
//!
//! With a partial cache, records are read a window ahead (a whole number of
//! batches, [`Pipeline::prefetch_window`]) and the window's claim ids handed to
//! the lookup's prefetch before the records read earlier are run; batches are
//! the same as without it.

use std::io::{self, BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::bindings::{InputRecord, Output};
use crate::pipeline::Pipeline;

pub mod checkpoint;
pub mod fds;
pub mod lines;
pub mod paths;

pub use lines::read_capped_line;
use lines::{LineSource, Next, Reading, STOP_POLL};

/// What a file run did, beside the pipeline's own metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileRunReport {
    /// Lines read after the skipped ones (records and blank lines).
    pub lines_read: u64,
    pub blank_lines: u64,
    /// Lines passed over unread at the start ([`FileRunOptions::skip_lines`]).
    pub skipped_lines: u64,
    /// The input ended before `skip_lines` lines (it had only `skipped_lines`).
    pub skipped_past_end: bool,
    pub batches: u64,
    /// The stop flag ended the run before the end of the input.
    pub interrupted: bool,
    pub elapsed: std::time::Duration,
}

impl FileRunReport {
    /// The input lines done with, skipped ones included: each of the first
    /// `lines_done` lines has its output written (blank lines have none),
    /// no later line has. `skip_lines` for a run that resumes this one.
    pub fn lines_done(&self) -> u64 {
        self.skipped_lines + self.lines_read
    }
}

/// How a file run goes.
#[derive(Debug, Clone, Copy)]
pub struct FileRunOptions<'a> {
    /// Records per plugin call.
    pub batch_size: usize,
    /// Input lines to pass over before the first record (to resume a run).
    pub skip_lines: u64,
    /// Read before each line: once true, the run processes the records it
    /// holds, flushes both outputs and returns, `interrupted`.
    pub stop: Option<&'a AtomicBool>,
}

/// Where a file run writes: the two outputs, told after each flush how far
/// they are complete.
pub trait RunOutputs {
    /// The enriched and the failed output.
    fn writers(&mut self) -> (&mut dyn Write, &mut dyn Write);
    /// Flush both outputs: they hold every answer of the first `lines_done`
    /// input lines and none of a later line.
    fn flushed(&mut self, lines_done: u64) -> io::Result<()>;
}

/// Two plain writers, flushed (no checkpoint).
struct Plain<'a> {
    enriched: &'a mut dyn Write,
    failed: &'a mut dyn Write,
}

impl RunOutputs for Plain<'_> {
    fn writers(&mut self) -> (&mut dyn Write, &mut dyn Write) {
        (&mut *self.enriched, &mut *self.failed)
    }

    fn flushed(&mut self, _lines_done: u64) -> io::Result<()> {
        self.enriched.flush()?;
        self.failed.flush()
    }
}

/// Read every record of `input`, run it through `pipeline` in batches of
/// `batch_size`, write each output line to `enriched` or `failed`. Lines are
/// capped at the pipeline's `max-record-bytes`, so the two limits are one.
pub fn run_files(
    pipeline: &mut Pipeline,
    input: &mut dyn BufRead,
    enriched: &mut dyn Write,
    failed: &mut dyn Write,
    batch_size: usize,
) -> io::Result<FileRunReport> {
    let options = FileRunOptions {
        batch_size,
        skip_lines: 0,
        stop: None,
    };
    run_files_with(pipeline, input, enriched, failed, &options)
}

/// [`run_files`], starting past `skip_lines` and stopping when `stop` is set.
pub fn run_files_with(
    pipeline: &mut Pipeline,
    input: &mut dyn BufRead,
    enriched: &mut dyn Write,
    failed: &mut dyn Write,
    options: &FileRunOptions<'_>,
) -> io::Result<FileRunReport> {
    let cap = pipeline.max_record_bytes().saturating_add(1);
    let mut source = Reading::new(input, cap);
    let mut outputs = Plain { enriched, failed };
    run_lines(pipeline, &mut source, &mut outputs, options, Duration::MAX)
}

/// Records read and not yet run, with their full lengths, the line count
/// before the first of them, and when that one was read.
#[derive(Default)]
struct Held {
    records: Vec<InputRecord>,
    sizes: Vec<usize>,
    lines_before: u64,
    since: Option<Instant>,
}

impl Held {
    fn push(&mut self, record: InputRecord, size: usize, lines_before: u64) {
        if self.records.is_empty() {
            self.lines_before = lines_before;
            self.since = Some(Instant::now());
        }
        self.records.push(record);
        self.sizes.push(size);
    }

    fn clear(&mut self) {
        self.records.clear();
        self.sizes.clear();
        self.since = None;
    }
}

/// The run loop over any [`LineSource`] (the lines of `source` must be
/// capped at `max-record-bytes` + 1): records run in batches, or as soon as
/// the oldest held one has waited `max_batch_wait`.
pub fn run_lines(
    pipeline: &mut Pipeline,
    source: &mut dyn LineSource,
    outputs: &mut dyn RunOutputs,
    options: &FileRunOptions<'_>,
    max_batch_wait: Duration,
) -> io::Result<FileRunReport> {
    let batch_size = options.batch_size;
    let stopped = || {
        options
            .stop
            .is_some_and(|stop| stop.load(Ordering::Relaxed))
    };
    let started = Instant::now();
    let mut report = FileRunReport::default();
    let window = pipeline.prefetch_window(batch_size);
    let chunk = if window > 0 {
        window
    } else {
        batch_size.max(1)
    };
    // Records read; with prefetch, `ready` holds the window read before them.
    let mut batch = Held::default();
    let mut ready = Held::default();
    match source.skip(options.skip_lines, &stopped)? {
        Some(skipped) => {
            report.skipped_lines = skipped;
            report.skipped_past_end = skipped < options.skip_lines;
        }
        None => {
            // Stopped while passing over lines done before: still done.
            report.skipped_lines = options.skip_lines;
            report.interrupted = true;
        }
    }
    while !report.interrupted {
        if stopped() {
            report.interrupted = true;
            break;
        }
        let oldest = ready.since.or(batch.since);
        let wait = oldest.map_or(STOP_POLL, |since| {
            max_batch_wait
                .saturating_sub(since.elapsed())
                .min(STOP_POLL)
        });
        match source.next_line(wait)? {
            Next::End => break,
            Next::Idle => {}
            Next::Line(line) => {
                let lines_before = report.lines_done();
                report.lines_read += 1;
                if line.len == 0 {
                    report.blank_lines += 1;
                } else {
                    let record = InputRecord {
                        key: None,
                        value: line.bytes,
                        headers: Vec::new(),
                        timestamp_ms: None,
                    };
                    batch.push(record, line.len, lines_before);
                }
                if batch.records.len() >= chunk {
                    if window > 0 {
                        pipeline.prefetch(&batch.records);
                        std::mem::swap(&mut batch, &mut ready);
                    }
                    report.batches += flush(pipeline, &mut batch, batch_size, outputs)?;
                    let done = ready
                        .records
                        .first()
                        .map_or(report.lines_done(), |_| ready.lines_before);
                    outputs.flushed(done)?;
                }
            }
        }
        if ready
            .since
            .or(batch.since)
            .is_some_and(|since| since.elapsed() >= max_batch_wait)
        {
            report.batches += run_held(
                pipeline, &mut ready, &mut batch, window, batch_size, outputs,
            )?;
            outputs.flushed(report.lines_done())?;
        }
    }
    report.batches += run_held(
        pipeline, &mut ready, &mut batch, window, batch_size, outputs,
    )?;
    outputs.flushed(report.lines_done())?;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Run every held record: `ready` (prefetched before), then `batch`.
fn run_held(
    pipeline: &mut Pipeline,
    ready: &mut Held,
    batch: &mut Held,
    window: usize,
    batch_size: usize,
    outputs: &mut dyn RunOutputs,
) -> io::Result<u64> {
    if window > 0 && !batch.records.is_empty() {
        pipeline.prefetch(&batch.records);
    }
    Ok(flush(pipeline, ready, batch_size, outputs)? + flush(pipeline, batch, batch_size, outputs)?)
}

/// Run `held` in batches of `batch_size`, write their outputs, empty
/// `held`. Returns the number of batches.
fn flush(
    pipeline: &mut Pipeline,
    held: &mut Held,
    batch_size: usize,
    outputs: &mut dyn RunOutputs,
) -> io::Result<u64> {
    let mut batches = 0;
    let (enriched, failed) = outputs.writers();
    let size = batch_size.max(1);
    for (batch, sizes) in held.records.chunks(size).zip(held.sizes.chunks(size)) {
        for r in pipeline.process_measured(batch, sizes) {
            let out: &mut dyn Write = if r.output == Output::Enriched {
                &mut *enriched
            } else {
                &mut *failed
            };
            write_line(out, &r.value)?;
        }
        batches += 1;
    }
    held.clear();
    Ok(batches)
}

/// One value per line: a line break inside a value (legal JSON whitespace
/// between tokens) becomes a space, so the file stays one record per line.
fn write_line(out: &mut dyn Write, value: &[u8]) -> io::Result<()> {
    if value.contains(&b'\n') || value.contains(&b'\r') {
        let flat: Vec<u8> = value
            .iter()
            .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
            .collect();
        out.write_all(&flat)?;
    } else {
        out.write_all(value)?;
    }
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_with_line_breaks_stay_on_one_line() {
        let mut out = Vec::new();
        write_line(&mut out, b"{\"a\":\n1}").expect("write");
        assert_eq!(out, b"{\"a\": 1}\n");
    }
}
