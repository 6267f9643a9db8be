//! `enricher run --input ...`: one file job from the command line. Refuses
//! outputs that would overwrite the input, the database or each other before
//! anything is opened for writing; opens the files (replacing the outputs, or
//! appending to them to resume); runs the loop; stops between two lines on
//! SIGTERM/SIGINT and prints how far it got and the command that resumes.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom};
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

/// The files of one job and where in the input it starts.
pub struct FileJob<'a> {
    /// `-` reads stdin.
    pub input: &'a Path,
    pub enriched_out: &'a Path,
    pub failed_out: &'a Path,
    /// Input lines to pass over first (`--skip-lines`).
    pub skip_lines: u64,
    /// Append to the outputs instead of replacing them (`--append`).
    pub append: bool,
    /// Run the enrichment compiled into the host instead of the plugin (`--native-step`).
    pub native_step: bool,
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
            native_step: false,
        }
    }
}

/// A job that ran to its end or was stopped.
pub struct FileJobDone {
    /// The printable summary.
    pub summary: String,
    pub report: FileRunReport,
}

/// `enricher run` in file mode: the job, stoppable by SIGTERM/SIGINT. A
/// stopped job prints its summary and returns [`Interrupted`].
pub fn run(config: &Config, job: &FileJob<'_>) -> anyhow::Result<()> {
    let signals = Signals::install()?;
    let done = run_file_job(config, job, Some(signals.stop_flag()))?;
    print!("{}", done.summary);
    if !done.report.interrupted {
        return Ok(());
    }
    let interrupted = Interrupted {
        signal: signals.received(),
        line: done.report.lines_done(),
    };
    println!(
        "interrupted by {}: both outputs are complete up to input line {}, nothing after it was read",
        signal_name(interrupted.signal),
        interrupted.line
    );
    println!(
        "resume     {}",
        resume_command(std::env::args_os(), interrupted.line)
    );
    Err(interrupted.into())
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
    if job.native_step {
        host.pipeline.set_native_step(super::native_step::step()?);
    }
    let pipeline = &mut host.pipeline;
    let input = job.input;
    let mut reader: Box<dyn BufRead> = if input == Path::new("-") {
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
    let report = run_files_with(
        pipeline,
        &mut reader,
        &mut enriched,
        &mut failed,
        &options,
    );
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
        job.enriched_out.display(),
        job.failed_out.display(),
        if job.append { " (appended)" } else { "" }
    ));
    Ok(FileJobDone {
        summary: text,
        report,
    })
}

/// No output may be the input, the claims database (or its write-ahead
/// log) or the other output.
fn refuse_self_overwrite(config: &Config, job: &FileJob<'_>) -> anyhow::Result<()> {
    let db = config.duckdb.path()?;
    let wal = db.as_ref().map(|db| {
        let mut wal = db.clone().into_os_string();
        wal.push(".wal");
        PathBuf::from(wal)
    });
    let mut reads = Vec::new();
    if job.input != Path::new("-") {
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
    let outputs = [
        NamedPath {
            flag: "--enriched-out",
            path: job.enriched_out,
        },
        NamedPath {
            flag: "--failed-out",
            path: job.failed_out,
        },
    ];
    Ok(check_outputs(&reads, &outputs)?)
}

/// Create (or with `append`, extend) an output file and its folders. An
/// output to append to must end with a whole line.
fn open_output(path: &Path, append: bool) -> anyhow::Result<BufWriter<Named<File>>> {
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
    Ok(BufWriter::with_capacity(1 << 16, Named::new(file, path)))
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
