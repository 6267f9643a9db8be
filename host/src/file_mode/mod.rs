//! `enricher run` on files: one raw record per input line (`-` for stdin),
//! JSON lines out, one file for enriched records and one for failed ones.
//!
//! Lines are read with a cap: a line longer than `max-record-bytes` is never
//! held whole in memory; it goes to `failed` as RECORD_TOO_LARGE with a prefix.
//! Empty lines carry no record and are skipped (and counted).
//!
//! A run can start past the first lines (`skip_lines`) and be stopped between
//! two lines (`stop`): it then runs the records it holds, flushes both outputs
//! and reports how far it got, so that a second run resumes exactly there.
//! Which paths a run may write is checked by [`paths`].
//!
//! With a partial cache, records are read a window ahead (a whole number of
//! batches, [`Pipeline::prefetch_window`]) and the window's claim ids handed to
//! the lookup's prefetch before the records read earlier are run; batches are
//! the same as without it.

use std::io::{self, BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::bindings::{InputRecord, Output};
use crate::pipeline::Pipeline;

pub mod paths;

/// What a file run did, beside the pipeline's own metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileRunReport {
    /// Lines read after the skipped ones (records and blank lines).
    pub lines_read: u64,
    pub blank_lines: u64,
    /// Lines passed over unread at the start ([`FileRunOptions::skip_lines`]).
    pub skipped_lines: u64,
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
    let max_record_bytes = pipeline.max_record_bytes();
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
    let mut batch: Vec<InputRecord> = Vec::with_capacity(chunk);
    let mut ready: Vec<InputRecord> = Vec::new();
    let mut line = Vec::new();
    while report.skipped_lines < options.skip_lines && !stopped() {
        if read_capped_line(input, &mut line, 0)?.is_none() {
            break;
        }
        report.skipped_lines += 1;
    }
    loop {
        if stopped() {
            report.interrupted = true;
            break;
        }
        // Keep one byte past the limit, so the pipeline sees the record as too large.
        if read_capped_line(input, &mut line, max_record_bytes.saturating_add(1))?.is_none() {
            break;
        }
        report.lines_read += 1;
        if line.is_empty() {
            report.blank_lines += 1;
            continue;
        }
        batch.push(InputRecord {
            key: None,
            value: std::mem::take(&mut line),
            headers: Vec::new(),
            timestamp_ms: None,
        });
        if batch.len() >= chunk {
            if window > 0 {
                pipeline.prefetch(&batch);
                std::mem::swap(&mut batch, &mut ready);
            }
            report.batches += flush(pipeline, &mut batch, batch_size, enriched, failed)?;
        }
    }
    if window > 0 && !batch.is_empty() {
        pipeline.prefetch(&batch);
    }
    report.batches += flush(pipeline, &mut ready, batch_size, enriched, failed)?;
    report.batches += flush(pipeline, &mut batch, batch_size, enriched, failed)?;
    enriched.flush()?;
    failed.flush()?;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Run `records` in batches of `batch_size`, write their outputs, empty
/// `records`. Returns the number of batches.
fn flush(
    pipeline: &mut Pipeline,
    records: &mut Vec<InputRecord>,
    batch_size: usize,
    enriched: &mut dyn Write,
    failed: &mut dyn Write,
) -> io::Result<u64> {
    let mut batches = 0;
    for batch in records.chunks(batch_size.max(1)) {
        for r in pipeline.process(batch) {
            let out: &mut dyn Write = if r.output == Output::Enriched {
                &mut *enriched
            } else {
                &mut *failed
            };
            write_line(out, &r.value)?;
        }
        batches += 1;
    }
    records.clear();
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

/// Read the next line into `line` (without its `\n` or `\r\n`), keeping at most
/// `cap` bytes of it. Returns the line's full length, or `None` at the end.
pub fn read_capped_line(
    input: &mut dyn BufRead,
    line: &mut Vec<u8>,
    cap: usize,
) -> io::Result<Option<usize>> {
    line.clear();
    let mut total = 0usize;
    let mut saw_any = false;
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            break;
        }
        saw_any = true;
        let (part, consumed, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(at) => (&chunk[..at], at + 1, true),
            None => (chunk, chunk.len(), false),
        };
        let room = cap.saturating_sub(line.len());
        line.extend_from_slice(&part[..part.len().min(room)]);
        total += part.len();
        input.consume(consumed);
        if done {
            break;
        }
    }
    if !saw_any {
        return Ok(None);
    }
    if line.last() == Some(&b'\r') && total <= cap {
        line.pop();
        total -= 1;
    }
    Ok(Some(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], cap: usize) -> Vec<(Vec<u8>, usize)> {
        let mut reader = io::BufReader::with_capacity(4, input);
        let mut out = Vec::new();
        let mut line = Vec::new();
        while let Some(n) = read_capped_line(&mut reader, &mut line, cap).expect("read") {
            out.push((line.clone(), n));
        }
        out
    }

    #[test]
    fn splits_lines_and_strips_crlf() {
        let got = lines(b"ab\r\ncd\n\nlast", 100);
        let texts: Vec<&[u8]> = got.iter().map(|(l, _)| l.as_slice()).collect();
        assert_eq!(texts, vec![&b"ab"[..], b"cd", b"", b"last"]);
    }

    #[test]
    fn long_lines_are_capped_but_measured() {
        let got = lines(b"0123456789\nok\n", 4);
        assert_eq!(got[0], (b"0123".to_vec(), 10));
        assert_eq!(got[1], (b"ok".to_vec(), 2));
    }

    #[test]
    fn values_with_line_breaks_stay_on_one_line() {
        let mut out = Vec::new();
        write_line(&mut out, b"{\"a\":\n1}").expect("write");
        assert_eq!(out, b"{\"a\": 1}\n");
    }
}
