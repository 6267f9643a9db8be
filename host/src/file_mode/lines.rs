//! Where a file run's lines come from. [`read_capped_line`] reads one line
//! with a cap (a longer line is measured, never held whole). A [`LineSource`]
//! hands the run loop one line at a time: [`Reading`] straight from a
//! `BufRead` (a file, which never keeps the loop waiting), [`LineFeed`] from
//! a reader thread over a channel, so that the loop can wait for a line with
//! a time limit and still see its stop flag while the input (a pipe, stdin)
//! stays silent.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

/// Lines handed over the channel at once, at most (and bytes, about).
const GROUP_LINES: usize = 1024;
const GROUP_BYTES: usize = 1 << 20;
/// Groups the reader thread may read ahead of the loop.
const GROUPS_AHEAD: usize = 4;

/// One input line: its bytes (at most the cap) and its full length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub bytes: Vec<u8>,
    /// The line's length without its line end; more than `bytes.len()`
    /// when it was longer than the cap.
    pub len: usize,
}

/// What the next line is, after waiting at most the time given.
#[derive(Debug)]
pub enum Next {
    Line(Line),
    /// No line came in time; the input is still open.
    Idle,
    /// The input has ended.
    End,
}

/// The lines of one input, the first ones passed over.
pub trait LineSource {
    /// Pass over the first `lines` lines; how many there were (fewer at the
    /// end of the input), or `None` when `stop()` ended the wait first.
    fn skip(&mut self, lines: u64, stop: &dyn Fn() -> bool) -> io::Result<Option<u64>>;
    /// The next line, waiting at most `wait` for it.
    fn next_line(&mut self, wait: Duration) -> io::Result<Next>;
}

/// Lines read in the caller's thread (never [`Next::Idle`]).
pub struct Reading<'a> {
    input: &'a mut dyn BufRead,
    cap: usize,
}

impl<'a> Reading<'a> {
    /// Lines of `input`, each kept to `cap` bytes.
    pub fn new(input: &'a mut dyn BufRead, cap: usize) -> Self {
        Reading { input, cap }
    }
}

impl LineSource for Reading<'_> {
    fn skip(&mut self, lines: u64, stop: &dyn Fn() -> bool) -> io::Result<Option<u64>> {
        let mut line = Vec::new();
        let mut skipped = 0;
        while skipped < lines {
            if stop() {
                return Ok(None);
            }
            if read_capped_line(self.input, &mut line, 0)?.is_none() {
                break;
            }
            skipped += 1;
        }
        Ok(Some(skipped))
    }

    fn next_line(&mut self, _wait: Duration) -> io::Result<Next> {
        let mut bytes = Vec::new();
        Ok(match read_capped_line(self.input, &mut bytes, self.cap)? {
            Some(len) => Next::Line(Line { bytes, len }),
            None => Next::End,
        })
    }
}

enum Msg {
    Skipped(u64),
    Lines(Vec<Line>),
    End,
    Failed(io::Error),
}

/// Lines read ahead by a thread of their own (`input-reader`): the loop
/// waits for them with a time limit. The thread ends at the end of the input
/// or once the feed is dropped (at its next line; a read that blocks keeps
/// it until the process ends).
pub struct LineFeed {
    rx: Receiver<Msg>,
    queue: VecDeque<Line>,
    ended: bool,
}

impl LineFeed {
    /// Start reading `input`: the first `skip` lines passed over, the others
    /// kept to `cap` bytes.
    pub fn start(input: Box<dyn Read + Send>, cap: usize, skip: u64) -> io::Result<LineFeed> {
        let (tx, rx) = sync_channel(GROUPS_AHEAD);
        std::thread::Builder::new()
            .name("input-reader".into())
            .spawn(move || read_ahead(input, cap, skip, &tx))?;
        Ok(LineFeed {
            rx,
            queue: VecDeque::new(),
            ended: false,
        })
    }
}

impl LineSource for LineFeed {
    fn skip(&mut self, _lines: u64, stop: &dyn Fn() -> bool) -> io::Result<Option<u64>> {
        // The thread passes over the lines given to `start`, then says how many.
        loop {
            if stop() {
                return Ok(None);
            }
            match self.rx.recv_timeout(STOP_POLL) {
                Ok(Msg::Skipped(n)) => return Ok(Some(n)),
                Ok(Msg::Failed(e)) => return Err(e),
                Ok(_) => return Err(reader_gone()),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Err(reader_gone()),
            }
        }
    }

    fn next_line(&mut self, wait: Duration) -> io::Result<Next> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(line) = self.queue.pop_front() {
                return Ok(Next::Line(line));
            }
            if self.ended {
                return Ok(Next::End);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(Msg::Lines(lines)) => self.queue.extend(lines),
                Ok(Msg::End) => self.ended = true,
                Ok(Msg::Failed(e)) => return Err(e),
                Ok(Msg::Skipped(_)) => {}
                Err(RecvTimeoutError::Timeout) => return Ok(Next::Idle),
                Err(RecvTimeoutError::Disconnected) => return Err(reader_gone()),
            }
        }
    }
}

/// How often a wait looks at the stop flag.
pub const STOP_POLL: Duration = Duration::from_millis(20);

fn reader_gone() -> io::Error {
    io::Error::other("the input reader thread stopped unexpectedly")
}

/// The reader thread: skip, then send lines in groups; a group goes as soon
/// as the next line is not already in memory (the next read may wait).
fn read_ahead(input: Box<dyn Read + Send>, cap: usize, skip: u64, tx: &SyncSender<Msg>) {
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let mut line = Vec::new();
    let mut skipped = 0;
    while skipped < skip {
        match read_capped_line(&mut reader, &mut line, 0) {
            Ok(Some(_)) => skipped += 1,
            Ok(None) => break,
            Err(e) => {
                let _ = tx.send(Msg::Failed(e));
                return;
            }
        }
    }
    if tx.send(Msg::Skipped(skipped)).is_err() {
        return;
    }
    let mut group = Vec::new();
    let mut bytes = 0;
    loop {
        let read = read_capped_line(&mut reader, &mut line, cap);
        if let Ok(Some(len)) = read {
            bytes += line.len();
            group.push(Line {
                bytes: std::mem::take(&mut line),
                len,
            });
            let more_ready = reader.buffer().contains(&b'\n');
            if more_ready && group.len() < GROUP_LINES && bytes < GROUP_BYTES {
                continue;
            }
        }
        if !group.is_empty() && tx.send(Msg::Lines(std::mem::take(&mut group))).is_err() {
            return;
        }
        bytes = 0;
        let last = match read {
            Ok(Some(_)) => continue,
            Ok(None) => Msg::End,
            Err(e) => Msg::Failed(e),
        };
        let _ = tx.send(last);
        return;
    }
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

    /// A pipe whose writer this test holds: reads block until it writes.
    fn pipe() -> (io::PipeReader, io::PipeWriter) {
        io::pipe().expect("pipe")
    }

    #[test]
    fn a_feed_skips_then_hands_lines_and_waits_with_a_limit() {
        use std::io::Write;
        let (read, mut write) = pipe();
        let mut feed = LineFeed::start(Box::new(read), 3, 1).expect("feed");
        write.write_all(b"skipped\nabcdef\n\nxy").expect("write");
        assert_eq!(feed.skip(1, &|| false).expect("skip"), Some(1));
        let line = |next: Next| match next {
            Next::Line(line) => (line.bytes, line.len),
            other => panic!("{other:?}"),
        };
        let wait = Duration::from_secs(5);
        assert_eq!(
            line(feed.next_line(wait).expect("read")),
            (b"abc".to_vec(), 6)
        );
        assert_eq!(line(feed.next_line(wait).expect("read")), (Vec::new(), 0));
        // `xy` has no line end yet: the feed stays open and says so in time.
        let started = Instant::now();
        let limit = Duration::from_millis(50);
        assert!(matches!(feed.next_line(limit).expect("wait"), Next::Idle));
        assert!(started.elapsed() < limit + Duration::from_secs(2));
        drop(write);
        assert_eq!(
            line(feed.next_line(wait).expect("read")),
            (b"xy".to_vec(), 2)
        );
        assert!(matches!(feed.next_line(wait).expect("end"), Next::End));
    }

    #[test]
    fn a_stop_ends_the_wait_for_skipped_lines() {
        let (read, _write) = pipe();
        let mut feed = LineFeed::start(Box::new(read), 3, 5).expect("feed");
        assert_eq!(feed.skip(5, &|| true).expect("skip"), None);
    }
}
