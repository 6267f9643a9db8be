//! `enricher run --input ...`: one file job from the command line. Refuses
//! outputs that would overwrite the input (stdin included), the database,
//! the progress file or each other, and an input that is a folder, before
//! anything is opened for writing; finds where a resumed run starts (its
//! progress file, which a mismatching `--skip-lines` contradicts); opens the
//! files ([`file_outputs`](super::file_outputs)); runs the loop over a reader
//! thread; stops between two lines on SIGTERM/SIGINT/SIGHUP and prints how
//! far it got and the command that resumes. The summary goes to stderr (and
//! `--summary-json`), never stdout.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::Context;

use enricher::app::build_file_host;
use enricher::config::Config;
use enricher::file_mode::checkpoint;
use enricher::file_mode::fds::{STD, dup_fd, fd_named};
use enricher::file_mode::lines::LineFeed;
use enricher::file_mode::paths::{NamedPath, check_input, check_outputs};
use enricher::file_mode::{FileRunOptions, FileRunReport, run_lines};
use enricher::observe::PipelineState;

use super::file_outputs::{OutputFile, RunFiles};
use super::file_resume::{Progress, Resuming, progress_file, resume_point};
use super::interrupt::{Interrupted, Signals, resume_command, signal_name};
use super::named_io::Named;
use super::progress::{Progress as Meter, Shown, meter_counts};
use super::summary::{SummaryArgs, merged};

/// The files of one job and where in the input it starts.
pub struct FileJob<'a> {
    /// `-` reads stdin.
    pub input: &'a Path,
    /// `-` writes stdout (one of the outputs at most).
    pub enriched_out: &'a Path,
    pub failed_out: &'a Path,
    /// Input lines to pass over first (`--skip-lines`).
    pub skip_lines: u64,
    /// Append to the outputs instead of replacing them (`--append`).
    pub append: bool,
    /// Continue where the progress file says (`--resume`).
    pub resume: bool,
    /// Where `--summary-json` writes at the end (checked like an output).
    pub summary_json: Option<&'a Path>,
}

impl<'a> FileJob<'a> {
    /// The whole input, into fresh outputs.
    pub fn new(input: &'a Path, enriched_out: &'a Path, failed_out: &'a Path) -> Self {
        FileJob {
            input,
            enriched_out,
            failed_out,
            skip_lines: 0,
            append: false,
            resume: false,
            summary_json: None,
        }
    }
}

/// A job that ran to its end or was stopped.
pub struct FileJobDone {
    /// The printable summary.
    pub summary: String,
    /// Every counter of the summary (`--summary-json`).
    pub json: serde_json::Value,
    pub report: FileRunReport,
}

/// `enricher run` in file mode: the job, stoppable by SIGTERM/SIGINT/SIGHUP.
/// A stopped job prints its summary and returns [`Interrupted`].
pub fn run(config: &Config, job: &FileJob<'_>, summary: &SummaryArgs) -> anyhow::Result<()> {
    summary.check_stdout(stdout_output(job))?;
    let signals = Signals::install()?;
    let done = run_file_job(config, job, Some(signals.stop_flag()))?;
    let mut text = done.summary;
    if !done.report.interrupted {
        return summary.emit(&text, &done.json);
    }
    let interrupted = Interrupted {
        signal: signals.received(),
        line: done.report.lines_done(),
    };
    let resume = resume_command(std::env::args_os(), interrupted.line);
    text.push_str(&format!(
        "interrupted by {}: both outputs are complete up to input line {}, nothing after it was read\n\
         resume     {resume}\n",
        signal_name(interrupted.signal),
        interrupted.line
    ));
    let json = merged(
        done.json,
        serde_json::json!({
            "interrupted": {
                "signal": signal_name(interrupted.signal),
                "complete_up_to_line": interrupted.line,
                "resume": resume,
            }
        }),
    );
    summary.emit(&text, &json)?;
    Err(interrupted.into())
}

/// The output flag that writes to stdout (`-`), if one does.
fn stdout_output(job: &FileJob<'_>) -> Option<&'static str> {
    if job.enriched_out == Path::new(STD) {
        Some("--enriched-out -")
    } else if job.failed_out == Path::new(STD) {
        Some("--failed-out -")
    } else {
        None
    }
}

/// How an output is named in the summary.
fn shown(path: &Path) -> String {
    if path == Path::new(STD) {
        "stdout".to_owned()
    } else {
        path.display().to_string()
    }
}

/// Run one file job (stopping once `stop` is set) and return its summary.
pub fn run_file_job(
    config: &Config,
    job: &FileJob<'_>,
    stop: Option<&AtomicBool>,
) -> anyhow::Result<FileJobDone> {
    let progress_file = progress_file(job.enriched_out, job.failed_out);
    refuse_self_overwrite(config, job, progress_file.as_deref())?;
    let asked = Resuming {
        enriched_out: job.enriched_out,
        failed_out: job.failed_out,
        skip_lines: job.skip_lines,
        append: job.append,
        resume: job.resume,
    };
    let start = resume_point(&asked, progress_file.as_deref())?;
    let mut host = build_file_host(config)?;
    if let Some(addr) = host.admin_addr() {
        let claims = if host.takes_claims() {
            ", claims: POST /v1/claims"
        } else {
            ""
        };
        eprintln!("admin API on http://{addr} (metrics: /metrics, status page: /{claims})");
    }
    let pipeline = &mut host.pipeline;
    let input = open_input(job.input)?;
    let append = job.append || job.resume;
    if !append && let Some(path) = &progress_file {
        // A stale resume point must not outlive the outputs it describes.
        checkpoint::remove(path).with_context(|| format!("removing {}", path.display()))?;
    }
    let cut = |pick: fn(&Progress) -> Option<u64>| start.progress.as_ref().and_then(pick);
    let enriched = OutputFile::open(job.enriched_out, append, cut(|p| p.enriched_out.bytes))?;
    let failed = OutputFile::open(job.failed_out, append, cut(|p| p.failed_out.bytes))?;
    let mut outputs = RunFiles::new(enriched, failed, progress_file, job.input);
    outputs
        .checkpoint(start.skip_lines)
        .context("writing the first checkpoint")?;
    let options = FileRunOptions {
        batch_size: config.pipeline.batch_size,
        skip_lines: start.skip_lines,
        stop,
    };
    let cap = pipeline.max_record_bytes().saturating_add(1);
    let mut feed =
        LineFeed::start(input, cap, start.skip_lines).context("starting the input reader")?;
    pipeline.meter().set_state(PipelineState::Running);
    let progress = Meter::start(
        Shown {
            what: "run",
            unit: "records",
            total: None,
            failures: true,
        },
        config.observe.progress_interval,
        meter_counts(pipeline.meter()),
    );
    let report = run_lines(
        pipeline,
        &mut feed,
        &mut outputs,
        &options,
        config.pipeline.max_batch_wait,
    );
    pipeline.meter().set_state(PipelineState::Stopped);
    progress.finish();
    let report = report.context("enriching")?;
    if report.interrupted {
        outputs.checkpoint(report.lines_done())
    } else {
        outputs.complete()
    }
    .context("syncing the outputs")?;
    let summary = pipeline.summary(report.elapsed);
    let mut text = summary.to_string();
    if report.skipped_lines > 0 {
        text.push_str(&format!(
            "skipped    the first {} input line(s) ({})\n",
            report.skipped_lines,
            if job.resume {
                "--resume"
            } else {
                "--skip-lines"
            }
        ));
    }
    if report.skipped_past_end {
        tracing::warn!(
            skip_lines = start.skip_lines,
            input_lines = report.skipped_lines,
            "--skip-lines is past the end of the input: nothing was read"
        );
        text.push_str(&format!(
            "warning    --skip-lines {} is past the end of the input, which has {} line(s): \
             nothing was read\n",
            start.skip_lines, report.skipped_lines
        ));
    }
    if report.blank_lines > 0 {
        text.push_str(&format!(
            "skipped    {} blank line(s)\n",
            report.blank_lines
        ));
    }
    text.push_str(&format!(
        "output     {} and {}{}\n",
        shown(job.enriched_out),
        shown(job.failed_out),
        if append { " (appended)" } else { "" }
    ));
    let json = merged(
        summary.to_json(),
        serde_json::json!({
            "command": "run",
            "mode": "file",
            "input": shown_input(job.input),
            "enriched_out": shown(job.enriched_out),
            "failed_out": shown(job.failed_out),
            "append": append,
            "skipped_lines": report.skipped_lines,
            "skipped_past_end": report.skipped_past_end,
            "blank_lines": report.blank_lines,
            "lines_done": report.lines_done(),
            "interrupted": null,
        }),
    );
    Ok(FileJobDone {
        summary: text,
        json,
        report,
    })
}

fn shown_input(path: &Path) -> String {
    if path == Path::new(STD) {
        "stdin".to_owned()
    } else {
        path.display().to_string()
    }
}

/// The input, to be read on the reader thread (`-` and `/dev/stdin` through
/// a copy of the descriptor).
fn open_input(input: &Path) -> anyhow::Result<Box<dyn Read + Send>> {
    let (file, name) = match fd_named(input, 0) {
        Some(fd) => (
            dup_fd(fd).with_context(|| format!("opening input {}", input.display()))?,
            PathBuf::from(shown_input(input)),
        ),
        None => (
            File::open(input).with_context(|| format!("opening input {}", input.display()))?,
            input.to_path_buf(),
        ),
    };
    Ok(Box::new(Named::new(file, &name)))
}

/// No output may be the input (stdin's file too), the claims database (or
/// its write-ahead log), the progress file or another output; the input may
/// not be a folder.
fn refuse_self_overwrite(
    config: &Config,
    job: &FileJob<'_>,
    progress_file: Option<&Path>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !(job.enriched_out == Path::new(STD) && job.failed_out == Path::new(STD)),
        "--enriched-out - and --failed-out - would both write to stdout, mixing the two \
         outputs: give one of them a file"
    );
    check_input(job.input)?;
    let db = config.duckdb_file()?;
    let wal = db.as_ref().map(|db| {
        let mut wal = db.clone().into_os_string();
        wal.push(".wal");
        PathBuf::from(wal)
    });
    let mut reads = vec![NamedPath {
        flag: "--input",
        path: job.input,
    }];
    if let (Some(db), Some(wal)) = (&db, &wal) {
        reads.push(NamedPath {
            flag: "--db",
            path: db,
        });
        reads.push(NamedPath {
            flag: "--db's write-ahead log",
            path: wal,
        });
    }
    let outputs: Vec<NamedPath<'_>> = [
        NamedPath {
            flag: "--enriched-out",
            path: job.enriched_out,
        },
        NamedPath {
            flag: "--failed-out",
            path: job.failed_out,
        },
    ]
    .into_iter()
    .chain(progress_file.map(|path| NamedPath {
        flag: "the progress file",
        path,
    }))
    .chain(job.summary_json.map(|path| NamedPath {
        flag: "--summary-json",
        path,
    }))
    .collect();
    Ok(check_outputs(&reads, &outputs)?)
}
