//! `enricher run` on files: one raw record per input line (`-` for stdin),
//! JSON lines out, one file for enriched records and one for failed ones.
//!
//! Lines are read with a cap: a line longer than `max-record-bytes` is never
//! held whole in memory; it goes to `failed` as RECORD_TOO_LARGE with a prefix.
//! Empty lines carry no record and are skipped (and counted).

use std::io::{self, BufRead, Write};
use std::time::Instant;

use crate::bindings::{InputRecord, Output};
use crate::pipeline::Pipeline;

/// What a file run did, beside the pipeline's own metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileRunReport {
    pub lines_read: u64,
    pub blank_lines: u64,
    pub batches: u64,
    pub elapsed: std::time::Duration,
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
    let max_record_bytes = pipeline.max_record_bytes();
    let started = Instant::now();
    let mut report = FileRunReport::default();
    let mut batch: Vec<InputRecord> = Vec::with_capacity(batch_size);
    let mut line = Vec::new();
    // Keep one byte past the limit, so the pipeline sees the record as too large.
    while let Some(_len) = read_capped_line(input, &mut line, max_record_bytes.saturating_add(1))? {
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
        if batch.len() >= batch_size {
            flush(pipeline, &mut batch, enriched, failed)?;
            report.batches += 1;
        }
    }
    if !batch.is_empty() {
        flush(pipeline, &mut batch, enriched, failed)?;
        report.batches += 1;
    }
    enriched.flush()?;
    failed.flush()?;
    report.elapsed = started.elapsed();
    Ok(report)
}

fn flush(
    pipeline: &mut Pipeline,
    batch: &mut Vec<InputRecord>,
    enriched: &mut dyn Write,
    failed: &mut dyn Write,
) -> io::Result<()> {
    for r in pipeline.process(batch) {
        let out: &mut dyn Write = if r.output == Output::Enriched {
            &mut *enriched
        } else {
            &mut *failed
        };
        write_line(out, &r.value)?;
    }
    batch.clear();
    Ok(())
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
