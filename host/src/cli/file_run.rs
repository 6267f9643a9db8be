//! `enricher run --input ...`: one file job from the command line. Refuses
//! outputs that would overwrite the input, the database or each other before
//! anything is opened for writing; opens the files (replacing the outputs, or
//! appending to them to resume; `-` is stdout); runs the loop; stops between
//! two lines on SIGTERM/SIGINT and prints how far it got and the command that
//! resumes. The summary goes to stderr (and `--summary-json`), never stdout.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::Context;

use enricher::app::build_file_host;
use enricher::config::Config;
use enricher::file_mode::paths::{NamedPath, check_outputs};
use enricher::file_mode::{FileRunOptions, FileRunReport, run_files_with};
use enricher::observe::PipelineState;

use super::interrupt::{Interrupted, Signals, resume_command, signal_name};
use super::named_io::Named;
use super::progress::{Progress, Shown, meter_counts};
use super::summary::{SummaryArgs, merged};

/// The path that means stdin (`--input`) or stdout (the outputs).
const STD: &str = "-";

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

/// `enricher run` in file mode: the job, stoppable by SIGTERM/SIGINT. A
/// stopped job prints its summary and returns [`Interrupted`].
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
    refuse_self_overwrite(config, job)?;
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
    let input = job.input;
    let mut reader: Box<dyn BufRead> = if input == Path::new(STD) {
        Box::new(BufReader::with_capacity(1 << 16, io::stdin().lock()))
    } else {
        let file =
            File::open(input).with_context(|| format!("opening input {}", input.display()))?;
        Box::new(BufReader::with_capacity(1 << 16, Named::new(file, input)))
    };
    let mut enriched = open_output(job.enriched_out, job.append)?;
    let mut failed = open_output(job.failed_out, job.append)?;
    let options = FileRunOptions {
        batch_size: config.pipeline.batch_size,
        skip_lines: job.skip_lines,
        stop,
    };
    pipeline.meter().set_state(PipelineState::Running);
    let progress = Progress::start(
        Shown {
            what: "run",
            unit: "records",
            total: None,
            failures: true,
        },
        config.observe.progress_interval,
        meter_counts(pipeline.meter()),
    );
    let report = run_files_with(pipeline, &mut reader, &mut enriched, &mut failed, &options);
    pipeline.meter().set_state(PipelineState::Stopped);
    progress.finish();
    let report = report.context("enriching")?;
    let summary = pipeline.summary(report.elapsed);
    let mut text = summary.to_string();
    if report.skipped_lines > 0 {
        text.push_str(&format!(
            "skipped    the first {} input line(s) (--skip-lines)\n",
            report.skipped_lines
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
        if job.append { " (appended)" } else { "" }
    ));
    let json = merged(
        summary.to_json(),
        serde_json::json!({
            "command": "run",
            "mode": "file",
            "input": shown_input(job.input),
            "enriched_out": shown(job.enriched_out),
            "failed_out": shown(job.failed_out),
            "append": job.append,
            "skipped_lines": report.skipped_lines,
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

/// No output may be the input, the claims database (or its write-ahead
/// log) or the other output; stdout (`-`) takes one output at most.
fn refuse_self_overwrite(config: &Config, job: &FileJob<'_>) -> anyhow::Result<()> {
    anyhow::ensure!(
        !(job.enriched_out == Path::new(STD) && job.failed_out == Path::new(STD)),
        "--enriched-out - and --failed-out - would both write to stdout, mixing the two \
         outputs: give one of them a file"
    );
    let db = config.duckdb_file()?;
    let wal = db.as_ref().map(|db| {
        let mut wal = db.clone().into_os_string();
        wal.push(".wal");
        PathBuf::from(wal)
    });
    let mut reads = Vec::new();
    if job.input != Path::new(STD) {
        reads.push(NamedPath {
            flag: "--input",
            path: job.input,
        });
    }
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
    .chain(job.summary_json.map(|path| NamedPath {
        flag: "--summary-json",
        path,
    }))
    .filter(|output| output.path != Path::new(STD))
    .collect();
    Ok(check_outputs(&reads, &outputs)?)
}

/// Create (or with `append`, extend) an output file and its folders. An
/// output to append to must end with a whole line. `-` is stdout.
fn open_output(path: &Path, append: bool) -> anyhow::Result<Box<dyn Write>> {
    if path == Path::new(STD) {
        let stdout = Named::new(io::stdout().lock(), Path::new("stdout"));
        return Ok(Box::new(BufWriter::with_capacity(1 << 16, stdout)));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let file = if append {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .with_context(|| format!("opening {} to append", path.display()))?;
        anyhow::ensure!(
            ends_with_whole_line(&mut file)?,
            "{} does not end with a whole line (its last line was cut): appending would \
             join two records. Remove the cut line, then resume from the line after the \
             last record it holds",
            path.display()
        );
        file
    } else {
        File::create(path).with_context(|| format!("creating {}", path.display()))?
    };
    Ok(Box::new(BufWriter::with_capacity(
        1 << 16,
        Named::new(file, path),
    )))
}

/// Empty, or its last byte is a line end.
fn ends_with_whole_line(file: &mut File) -> io::Result<bool> {
    if file.metadata()?.len() == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}
