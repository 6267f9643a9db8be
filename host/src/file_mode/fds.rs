//! Paths that name one of this process's open file descriptors rather than a
//! file: `-` (stdin for the input, stdout for an output), `/dev/stdin`,
//! `/dev/stdout`, `/dev/stderr`, `/dev/fd/N` and `/proc/self/fd/N`. Such a
//! path is compared by what the descriptor leads to (`fstat`, not the path,
//! which for a pipe leads nowhere) and written through a copy of the
//! descriptor, never reopened: reopening would truncate a file the shell
//! opened to append, and fails for a socket.

use std::fs::File;
use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;

/// The path that means stdin (`--input`) or stdout (the outputs).
pub const STD: &str = "-";

/// The descriptor `path` names, `dash` for `-` (0 for an input, 1 for an output).
pub fn fd_named(path: &Path, dash: i32) -> Option<i32> {
    let text = path.to_str()?;
    match text {
        STD => return Some(dash),
        "/dev/stdin" => return Some(0),
        "/dev/stdout" => return Some(1),
        "/dev/stderr" => return Some(2),
        _ => {}
    }
    let number = text
        .strip_prefix("/dev/fd/")
        .or_else(|| text.strip_prefix("/proc/self/fd/"))?;
    number.parse().ok()
}

/// How a descriptor is named in messages: `stdin`, `stdout`, `stderr`, `fd N`.
pub fn fd_label(fd: i32) -> String {
    match fd {
        0 => "stdin".into(),
        1 => "stdout".into(),
        2 => "stderr".into(),
        n => format!("fd {n}"),
    }
}

/// A new descriptor for the open file behind `fd` (same file, same offset,
/// same flags), or the error of a descriptor that is not open.
pub fn dup_fd(fd: i32) -> io::Result<File> {
    // SAFETY: F_GETFD only reads the descriptor table.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        let error = io::Error::last_os_error();
        return Err(io::Error::new(
            error.kind(),
            format!("{} is not open: {error}", fd_label(fd)),
        ));
    }
    // SAFETY: the descriptor is open (checked just above) and only borrowed
    // long enough to duplicate it.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    Ok(File::from(borrowed.try_clone_to_owned()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_of_open_descriptors() {
        let named = |p: &str, dash| fd_named(Path::new(p), dash);
        assert_eq!(named("-", 0), Some(0));
        assert_eq!(named("-", 1), Some(1));
        assert_eq!(named("/dev/stdout", 0), Some(1));
        assert_eq!(named("/dev/stderr", 0), Some(2));
        assert_eq!(named("/dev/fd/1", 0), Some(1));
        assert_eq!(named("/proc/self/fd/7", 0), Some(7));
        assert_eq!(named("/dev/fd/x", 0), None);
        assert_eq!(named("./-", 1), None);
        assert_eq!(named("out.jsonl", 1), None);
    }

    #[test]
    fn a_closed_descriptor_is_an_error_naming_it() {
        let error = dup_fd(987_654).expect_err("not open").to_string();
        assert!(error.starts_with("fd 987654 is not open"), "{error}");
        assert!(dup_fd(2).is_ok());
    }
}
