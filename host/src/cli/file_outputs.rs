//! The two outputs of `enricher run` on files, and their checkpoint. An output
//! is a path (created, or appended to, first cut back to the length a
//! checkpoint recorded) or an open descriptor (`-` is stdout, also
//! `/dev/stdout`, `/dev/fd/N`), written through a copy of it. After a flush,
//! every [`CHECKPOINT_EVERY`] (and when the run stops), both outputs are
//! synced to disk and then the progress file written
//! ([`enricher::file_mode::checkpoint`]); a run that ends complete removes it.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use enricher::file_mode::RunOutputs;
use enricher::file_mode::checkpoint::{self, OutputMark, Progress};
use enricher::file_mode::fds::{dup_fd, fd_label, fd_named};

use super::named_io::Named;

/// How often a checkpoint is written, at most (and when a run stops): often
/// enough that a run killed again and again still gets on, rarely enough
/// that syncing costs little next to the work between two.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// One output being written.
pub struct OutputFile {
    writer: BufWriter<Named<File>>,
    /// The regular file behind a path: synced and measured at checkpoints
    /// (`None` for a descriptor or a device, never cut back).
    measured: Option<File>,
    /// As given on the command line.
    given: String,
}

impl OutputFile {
    /// Create `path` (with `append`, extend it, first cut to `cut_to` bytes).
    /// An output to append to must end with a whole line.
    pub fn open(path: &Path, append: bool, cut_to: Option<u64>) -> anyhow::Result<OutputFile> {
        let given = path.display().to_string();
        if let Some(fd) = fd_named(path, 1) {
            let file = dup_fd(fd).with_context(|| format!("opening {given}"))?;
            let named = Named::new(file, Path::new(&fd_label(fd)));
            return Ok(OutputFile {
                writer: BufWriter::with_capacity(1 << 16, named),
                measured: None,
                given,
            });
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
                .with_context(|| format!("opening {given} to append"))?;
            if let Some(length) = cut_to {
                cut_back(&mut file, length, &given)?;
            }
            anyhow::ensure!(
                ends_with_whole_line(&mut file)?,
                "{given} does not end with a whole line (its last line was cut): appending would \
                 join two records. Resume with --resume (it cuts each output back to its last \
                 checkpoint), or remove the cut line and resume from the line after the last \
                 record it holds"
            );
            file
        } else {
            File::create(path).with_context(|| format!("creating {given}"))?
        };
        let measured = if file.metadata()?.is_file() {
            Some(file.try_clone()?)
        } else {
            None
        };
        Ok(OutputFile {
            writer: BufWriter::with_capacity(1 << 16, Named::new(file, path)),
            measured,
            given,
        })
    }

    /// Flush, sync to disk, and the output as a checkpoint records it.
    fn mark(&mut self) -> io::Result<OutputMark> {
        self.writer.flush()?;
        let bytes = match &self.measured {
            Some(file) => {
                file.sync_data()?;
                Some(file.metadata()?.len())
            }
            None => None,
        };
        Ok(OutputMark {
            path: self.given.clone(),
            bytes,
        })
    }
}

/// Cut `file` back to `length` bytes: what was written after a checkpoint.
fn cut_back(file: &mut File, length: u64, given: &str) -> anyhow::Result<()> {
    let now = file.metadata()?.len();
    anyhow::ensure!(
        now >= length,
        "{given} holds {now} bytes, fewer than the {length} its progress file recorded: it was \
         changed since, so the run cannot be resumed safely. Run again without --append/--resume"
    );
    if now > length {
        file.set_len(length)
            .with_context(|| format!("cutting {given} back to its last checkpoint"))?;
        file.sync_data()?;
    }
    Ok(())
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

/// Both outputs of a run and, when one of them is a file, its progress file.
pub struct RunFiles {
    pub enriched: OutputFile,
    pub failed: OutputFile,
    progress: Option<PathBuf>,
    input: String,
    last: Instant,
}

impl RunFiles {
    pub fn new(
        enriched: OutputFile,
        failed: OutputFile,
        progress: Option<PathBuf>,
        input: &Path,
    ) -> Self {
        RunFiles {
            enriched,
            failed,
            progress,
            input: input.display().to_string(),
            last: Instant::now(),
        }
    }

    /// Sync both outputs, then record that they are complete up to `lines_done`.
    pub fn checkpoint(&mut self, lines_done: u64) -> io::Result<()> {
        let enriched_out = self.enriched.mark()?;
        let failed_out = self.failed.mark()?;
        self.last = Instant::now();
        let Some(path) = &self.progress else {
            return Ok(());
        };
        let progress = Progress {
            lines_done,
            input: self.input.clone(),
            enriched_out,
            failed_out,
        };
        checkpoint::write(path, &progress)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))
    }

    /// The run ended complete: sync both outputs; no resume point is left.
    pub fn complete(mut self) -> io::Result<()> {
        self.enriched.mark()?;
        self.failed.mark()?;
        match &self.progress {
            Some(path) => checkpoint::remove(path),
            None => Ok(()),
        }
    }
}

impl RunOutputs for RunFiles {
    fn writers(&mut self) -> (&mut dyn Write, &mut dyn Write) {
        (&mut self.enriched.writer, &mut self.failed.writer)
    }

    fn flushed(&mut self, lines_done: u64) -> io::Result<()> {
        if self.last.elapsed() >= CHECKPOINT_EVERY {
            return self.checkpoint(lines_done);
        }
        self.enriched.writer.flush()?;
        self.failed.writer.flush()
    }
}
