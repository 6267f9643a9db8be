//! Where a resumed file run starts. Its progress file (beside the first
//! output that is a file) says how many input lines are done and how long
//! each output was then: `--resume` starts there, and an `--append` run must
//! start there too (a `--skip-lines` that does not match it is refused, as
//! are outputs other than the ones it was written for).

use std::path::{Path, PathBuf};

pub use enricher::file_mode::checkpoint::Progress;
use enricher::file_mode::checkpoint::{self, progress_path};
use enricher::file_mode::fds::fd_named;

/// What a job asks for: its outputs and how it starts.
pub struct Resuming<'a> {
    pub enriched_out: &'a Path,
    pub failed_out: &'a Path,
    pub skip_lines: u64,
    pub append: bool,
    pub resume: bool,
}

/// Where a resumed job starts: the lines to pass over, and the progress file
/// whose lengths the outputs are cut back to.
pub struct Start {
    pub skip_lines: u64,
    pub progress: Option<Progress>,
}

/// Where this job keeps its resume point: beside the first output that is
/// a file (`None` when both are streams: stdout, a pipe, `/dev/null`).
pub fn progress_file(enriched_out: &Path, failed_out: &Path) -> Option<PathBuf> {
    [enriched_out, failed_out]
        .into_iter()
        .find(|path| {
            fd_named(path, 1).is_none() && std::fs::metadata(path).map_or(true, |m| m.is_file())
        })
        .map(progress_path)
}

/// Where the job starts. `--resume` takes the progress file's line; an
/// `--append` run must start where the progress file (if any) says.
pub fn resume_point(job: &Resuming<'_>, progress_file: Option<&Path>) -> anyhow::Result<Start> {
    let recorded = match progress_file {
        Some(path) if job.append || job.resume => checkpoint::read(path)?,
        _ => None,
    };
    let shown_file = || progress_file.map_or(String::new(), |p| p.display().to_string());
    if let Some(progress) = &recorded {
        for (flag, given, mark) in [
            ("--enriched-out", job.enriched_out, &progress.enriched_out),
            ("--failed-out", job.failed_out, &progress.failed_out),
        ] {
            anyhow::ensure!(
                given == Path::new(&mark.path),
                "{flag} {} is not the output the progress file {} was written for ({}): resume \
                 with the same outputs as the run it continues",
                given.display(),
                shown_file(),
                mark.path
            );
        }
    }
    if job.resume {
        let Some(progress) = recorded else {
            anyhow::bail!(match progress_file {
                Some(path) => format!(
                    "--resume: nothing to resume, there is no progress file {} (the last run into \
                     these outputs ended complete, or never started): run without --resume",
                    path.display()
                ),
                None => "--resume needs an output that is a file (its progress file lives beside \
                         it): with both outputs on streams, resume with --skip-lines N --append"
                    .to_string(),
            });
        };
        return Ok(Start {
            skip_lines: progress.lines_done,
            progress: Some(progress),
        });
    }
    if let Some(progress) = &recorded {
        anyhow::ensure!(
            progress.lines_done == job.skip_lines,
            "--append --skip-lines {} does not match the progress file {}: the outputs are complete \
             up to input line {}. Resume with --resume (or --skip-lines {} --append); to append a \
             new input to these outputs anyway, remove {} first",
            job.skip_lines,
            shown_file(),
            progress.lines_done,
            progress.lines_done,
            shown_file()
        );
    }
    Ok(Start {
        skip_lines: job.skip_lines,
        progress: recorded,
    })
}
