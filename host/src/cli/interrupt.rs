//! SIGTERM, SIGINT and SIGHUP during `enricher run` on files. The first one
//! only sets a flag: the loop stops between two lines (also while the input
//! is silent) with both outputs complete, the summary says how far it got, and
//! the exit code is 128 + the signal's number (143 for SIGTERM, 130 for
//! SIGINT, 129 for SIGHUP). A second one ends the process at once (the
//! outputs may then be cut mid-line; `--resume` continues from the last
//! checkpoint). Also: the command that resumes.

use std::ffi::OsString;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::Context;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// What a second signal prints before the process ends at once.
const SECOND_SIGNAL: &[u8] =
    b"\nstopped at once by a second signal: an output may end in a cut line. \
Continue with the same command and --resume (it starts at the last checkpoint \
and cuts the outputs back to it)\n";

/// The signal flags of one run.
pub struct Signals {
    stop: Arc<AtomicBool>,
    which: Arc<AtomicUsize>,
}

impl Signals {
    /// Catch SIGTERM, SIGINT and SIGHUP from now on.
    pub fn install() -> anyhow::Result<Signals> {
        let signals = Signals {
            stop: Arc::new(AtomicBool::new(false)),
            which: Arc::new(AtomicUsize::new(0)),
        };
        for signal in [SIGTERM, SIGINT, SIGHUP] {
            // In this order: a second signal finds the flag set, says what to
            // do next and exits at once.
            let stop = Arc::clone(&signals.stop);
            let tell = move || {
                if stop.load(Ordering::SeqCst) {
                    // SAFETY: write(2) is async-signal-safe; the buffer is static.
                    unsafe {
                        libc::write(
                            libc::STDERR_FILENO,
                            SECOND_SIGNAL.as_ptr().cast(),
                            SECOND_SIGNAL.len(),
                        );
                    }
                }
            };
            // SAFETY: the action only loads an atomic and calls write(2).
            unsafe { signal_hook::low_level::register(signal, tell) }
                .context("installing the signal handler")?;
            signal_hook::flag::register_conditional_shutdown(
                signal,
                128 + signal,
                Arc::clone(&signals.stop),
            )
            .context("installing the signal handler")?;
            let number = usize::try_from(signal).unwrap_or_default();
            signal_hook::flag::register_usize(signal, Arc::clone(&signals.which), number)
                .context("installing the signal handler")?;
            signal_hook::flag::register(signal, Arc::clone(&signals.stop))
                .context("installing the signal handler")?;
        }
        Ok(signals)
    }

    /// Set by the first signal.
    pub fn stop_flag(&self) -> &AtomicBool {
        &self.stop
    }

    /// The last signal received (SIGTERM if none was: the flag was set otherwise).
    pub fn received(&self) -> i32 {
        match self.which.load(Ordering::SeqCst) {
            0 => SIGTERM,
            n => i32::try_from(n).unwrap_or(SIGTERM),
        }
    }
}

/// A file run stopped by a signal, after it printed its summary.
#[derive(Debug, thiserror::Error)]
#[error(
    "interrupted by {}: both outputs are complete up to input line {line}; \
     resume with --skip-lines {line} --append (the summary shows the whole command)",
    signal_name(*.signal)
)]
pub struct Interrupted {
    pub signal: i32,
    /// Every input line up to this one is answered, none after it.
    pub line: u64,
}

impl Interrupted {
    /// 128 + the signal's number, as a shell reports a process a signal ended.
    pub fn exit_code(&self) -> u8 {
        u8::try_from(128 + self.signal).unwrap_or(1)
    }
}

pub fn signal_name(signal: i32) -> String {
    match signal {
        SIGTERM => "SIGTERM".into(),
        SIGINT => "SIGINT".into(),
        SIGHUP => "SIGHUP".into(),
        n => format!("signal {n}"),
    }
}

/// This process's command line, made to resume after `line`: any
/// `--skip-lines`/`--append`/`--resume` dropped, `--skip-lines <line> --append` added,
/// each argument quoted for a POSIX shell where needed.
pub fn resume_command(args: impl IntoIterator<Item = OsString>, line: u64) -> String {
    let mut kept = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy().into_owned();
        if text == "--skip-lines" {
            args.next();
        } else if !["--append", "--resume"].contains(&text.as_str())
            && !text.starts_with("--skip-lines=")
        {
            kept.push(shell_quoted(&text));
        }
    }
    kept.push(format!("--skip-lines {line} --append"));
    kept.join(" ")
}

fn shell_quoted(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_resume_command_replaces_skip_and_append_and_quotes() {
        let command = resume_command(
            args(&[
                "enricher",
                "run",
                "--input",
                "my events.jsonl",
                "--skip-lines",
                "10",
                "--append",
                "--resume",
                "--skip-lines=20",
                "--enriched-out",
                "it's.jsonl",
                "--failed-out",
                "f.jsonl",
            ]),
            1500,
        );
        assert_eq!(
            command,
            "enricher run --input 'my events.jsonl' --enriched-out 'it'\\''s.jsonl' \
             --failed-out f.jsonl --skip-lines 1500 --append"
        );
    }

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        let code = |signal| Interrupted { signal, line: 0 }.exit_code();
        assert_eq!((code(SIGTERM), code(SIGINT), code(SIGHUP)), (143, 130, 129));
        let message = Interrupted {
            signal: SIGINT,
            line: 7,
        }
        .to_string();
        assert!(message.starts_with("interrupted by SIGINT"), "{message}");
    }
}
