//! A file that names itself in its I/O errors. A read of a directory or a
//! write to a full disk fails deep inside a run, where only `Is a directory`
//! or `No space left on device` is known; wrapped in [`Named`], the error
//! says which file (`cannot write enriched.jsonl: No space left on device`).

use std::io::{self, Read, Write};
use std::path::Path;

/// `inner`, whose I/O errors carry `cannot read <path>` / `cannot write <path>`.
pub struct Named<T> {
    inner: T,
    path: String,
}

impl<T> Named<T> {
    pub fn new(inner: T, path: &Path) -> Self {
        Self {
            inner,
            path: path.display().to_string(),
        }
    }

    fn error(&self, verb: &str, e: io::Error) -> io::Error {
        io::Error::new(e.kind(), format!("cannot {verb} {}: {e}", self.path))
    }
}

impl<T: Read> Read for Named<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| self.error("read", e))
    }
}

impl<T: Write> Write for Named<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).map_err(|e| self.error("write", e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().map_err(|e| self.error("write", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_and_keep_their_kind() {
        let dir = std::env::temp_dir();
        let file = std::fs::File::open(&dir).expect("open a directory");
        let mut named = Named::new(file, &dir);
        let err = named
            .read(&mut [0; 8])
            .expect_err("a directory cannot be read");
        assert_eq!(err.kind(), io::ErrorKind::IsADirectory);
        assert!(
            err.to_string()
                .starts_with(&format!("cannot read {}: ", dir.display())),
            "{err}"
        );
    }
}
