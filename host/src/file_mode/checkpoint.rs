//! The resume point of a file run, kept safe by construction: a small JSON
//! file beside the outputs (`<enriched-out>.progress`) saying how many input
//! lines are done and how long each output was then. It is written only after
//! both outputs are flushed and synced to disk, atomically (a temporary file,
//! synced, renamed over the old one), so whatever kills the run (SIGKILL, a
//! power cut), the file describes outputs that are on disk. A resume cuts each
//! output back to its recorded length before it appends, so what was written
//! after the last checkpoint is written again, once: nothing lost, nothing
//! doubled. The file is removed when the run ends complete.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What a checkpoint holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Every answer of the first `lines_done` input lines is in the outputs
    /// (up to the lengths below), and none of a later line.
    pub lines_done: u64,
    /// The input, as it was given (for messages).
    pub input: String,
    pub enriched_out: OutputMark,
    pub failed_out: OutputMark,
}

/// One output at a checkpoint: its path as given and its length in bytes
/// (`None` for a stream such as stdout or `/dev/null`, never cut back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputMark {
    pub path: String,
    pub bytes: Option<u64>,
}

/// Where the checkpoint of a run writing `output` lives.
pub fn progress_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".progress");
    PathBuf::from(name)
}

/// The checkpoint at `path`, if there is one.
pub fn read(path: &Path) -> Result<Option<Progress>, CheckpointError> {
    let text = match fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CheckpointError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| CheckpointError::Unreadable {
            path: path.to_path_buf(),
            why: e.to_string(),
        })
}

/// Write `progress` to `path` atomically: whole and synced, or not at all.
pub fn write(path: &Path, progress: &Progress) -> io::Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    let mut file = File::create(&temp)?;
    let mut text = serde_json::to_vec_pretty(progress).map_err(io::Error::other)?;
    text.push(b'\n');
    file.write_all(&text)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temp, path)?;
    sync_parent(path)
}

/// Remove the checkpoint (the run it describes has ended complete).
pub fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_parent(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// A rename or removal survives a crash once its folder is synced.
fn sync_parent(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}

/// A checkpoint that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read the progress file {}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("the progress file {} is not one this version wrote ({why}): remove it and run again \
             without --append", .path.display())]
    Unreadable { path: PathBuf, why: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_reads_back_as_written_and_is_replaced_whole() {
        let dir = std::env::temp_dir().join(format!("checkpoint-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        let path = progress_path(&dir.join("e.jsonl"));
        assert!(path.ends_with("e.jsonl.progress"));
        assert_eq!(read(&path).expect("absent"), None);
        let mut progress = Progress {
            lines_done: 12,
            input: "-".into(),
            enriched_out: OutputMark {
                path: "e.jsonl".into(),
                bytes: Some(300),
            },
            failed_out: OutputMark {
                path: "-".into(),
                bytes: None,
            },
        };
        write(&path, &progress).expect("write");
        progress.lines_done = 20;
        write(&path, &progress).expect("replace");
        assert_eq!(read(&path).expect("read"), Some(progress));
        let leftovers = fs::read_dir(&dir).expect("list").count();
        assert_eq!(leftovers, 1, "no temporary file left");
        fs::write(&path, "{").expect("cut");
        let error = read(&path).expect_err("cut file").to_string();
        assert!(error.contains("is not one this version wrote"), "{error}");
        remove(&path).expect("remove");
        remove(&path).expect("twice");
        remove(&dir.join("no-folder/e.jsonl.progress")).expect("in a folder not made yet");
        fs::remove_dir_all(&dir).expect("clean");
    }
}
