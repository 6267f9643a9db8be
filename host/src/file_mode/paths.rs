//! Which files a file run may write: none of its outputs may be a file it
//! reads (the input, the claims database) or another output. Checked before
//! anything is opened for writing, on what the paths lead to, not how they
//! are spelled: `./x` and `x`, `dir/../x`, symlinks (dangling ones too) and
//! hard links (same device and inode) all count as the same file. A path that
//! does not exist yet is resolved through its nearest existing ancestor. A
//! path naming an open descriptor (`-`, `/dev/stdout`, `/dev/fd/N`, see
//! [`fds`](super::fds)) counts as the file that descriptor leads to: stdin
//! redirected from an output is that output, `/dev/stdout` and `-` are one.
//! A terminal or socket that is read and written is no clash (writing does
//! not destroy what is read); two outputs on one of anything but `/dev/null`
//! are (their lines would cut into each other).

use std::fs::{self, FileType, Metadata};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use super::fds::{dup_fd, fd_label, fd_named};

/// Symlinks followed before a path is taken as it is (the kernel's limit).
const MAX_SYMLINKS: usize = 40;

/// One file of a run, with the flag that named it (for messages).
#[derive(Debug, Clone, Copy)]
pub struct NamedPath<'a> {
    pub flag: &'static str,
    pub path: &'a Path,
}

/// A run that would overwrite one of its own files.
#[derive(Debug, thiserror::Error)]
pub enum PathClash {
    #[error(
        "{output_flag} {output} is the same file as {other_flag} {other}: {why}; \
         nothing was opened or changed. Choose another {output_flag} path"
    )]
    SameFile {
        output_flag: &'static str,
        output: String,
        other_flag: &'static str,
        other: String,
        why: &'static str,
    },
    #[error("cannot check where {flag} {} leads: {source}", .path.display())]
    Inspect {
        flag: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("--input {} is a folder: give a file with one record per line (or - for stdin); \
             nothing was opened or changed", .0.display())]
    InputFolder(PathBuf),
}

/// Refuses an `--input` that is a folder (read as a file it fails only after
/// the outputs were replaced).
pub fn check_input(input: &Path) -> Result<(), PathClash> {
    if fd_named(input, 0).is_some() {
        return Ok(());
    }
    match fs::metadata(input) {
        Ok(metadata) if metadata.is_dir() => Err(PathClash::InputFolder(input.to_path_buf())),
        // A missing input is reported when it is opened.
        _ => Ok(()),
    }
}

/// Refuses any output that is one of `reads` or an earlier output
/// (`/dev/null` excepted: everything may be thrown away there). In `reads`
/// `-` is stdin, in `outputs` stdout.
pub fn check_outputs(reads: &[NamedPath<'_>], outputs: &[NamedPath<'_>]) -> Result<(), PathClash> {
    let identify = |named: &NamedPath<'_>, dash: i32| {
        FileIdentity::of(named.path, dash).map_err(|source| PathClash::Inspect {
            flag: named.flag,
            path: named.path.to_path_buf(),
            source,
        })
    };
    let reads: Vec<(NamedPath<'_>, FileIdentity)> = reads
        .iter()
        .map(|named| identify(named, 0).map(|identity| (*named, identity)))
        .collect::<Result<_, _>>()?;
    let null = FileIdentity::of(Path::new("/dev/null"), 1).ok();
    let mut earlier: Vec<(NamedPath<'_>, FileIdentity)> = Vec::new();
    for output in outputs {
        let identity = identify(output, 1)?;
        if identity.resolved == Path::new("/dev/null")
            || null.as_ref().is_some_and(|null| null.is_same(&identity))
        {
            continue;
        }
        let clash = |(other, known): &(NamedPath<'_>, FileIdentity), why| PathClash::SameFile {
            output_flag: output.flag,
            output: identity.shown(output.path),
            other_flag: other.flag,
            other: known.shown(other.path),
            why,
        };
        if let Some(read) = reads
            .iter()
            .find(|(_, known)| known.is_same(&identity) && known.is_destroyed_by_writes())
        {
            return Err(clash(read, "writing it would destroy it"));
        }
        if let Some(other) = earlier.iter().find(|(_, known)| known.is_same(&identity)) {
            return Err(clash(other, "the two outputs would write over each other"));
        }
        earlier.push((*output, identity));
    }
    Ok(())
}

/// What a path leads to: its resolved absolute path (or the descriptor it
/// names) and, if the file exists, its device, inode and type.
#[derive(Debug, Clone)]
struct FileIdentity {
    resolved: PathBuf,
    device_inode: Option<(u64, u64)>,
    file_type: Option<FileType>,
    /// The descriptor the path names, if it names one.
    fd: Option<i32>,
}

impl FileIdentity {
    /// `dash`: the descriptor `-` names here.
    fn of(path: &Path, dash: i32) -> io::Result<FileIdentity> {
        if let Some(fd) = fd_named(path, dash) {
            let metadata = dup_fd(fd)?.metadata()?;
            return Ok(FileIdentity {
                resolved: PathBuf::from(format!("/dev/fd/{fd}")),
                ..Self::existing(&metadata, Some(fd))
            });
        }
        match fs::metadata(path) {
            Ok(metadata) => Ok(FileIdentity {
                resolved: fs::canonicalize(path)?,
                ..Self::existing(&metadata, None)
            }),
            Err(error) if is_absent(&error) => Ok(FileIdentity {
                resolved: resolve_absent(path)?,
                device_inode: None,
                file_type: None,
                fd: None,
            }),
            Err(error) => Err(error),
        }
    }

    fn existing(metadata: &Metadata, fd: Option<i32>) -> FileIdentity {
        FileIdentity {
            resolved: PathBuf::new(),
            device_inode: Some((metadata.dev(), metadata.ino())),
            file_type: Some(metadata.file_type()),
            fd,
        }
    }

    fn is_same(&self, other: &FileIdentity) -> bool {
        let same_inode = matches!(
            (self.device_inode, other.device_inode),
            (Some(a), Some(b)) if a == b
        );
        same_inode || self.resolved == other.resolved
    }

    /// Writing to a terminal or a socket one reads does not change what is
    /// read; writing to a file (or a pipe, which would loop) does.
    fn is_destroyed_by_writes(&self) -> bool {
        !self
            .file_type
            .is_some_and(|t| t.is_char_device() || t.is_socket())
    }

    /// `path` as given, with the descriptor it names (`- (stdin)`).
    fn shown(&self, path: &Path) -> String {
        match self.fd {
            Some(fd) => format!("{} ({})", path.display(), fd_label(fd)),
            None => path.display().to_string(),
        }
    }
}

fn is_absent(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Where a file that does not exist would be created: dangling symlinks
/// followed, the longest existing prefix canonicalized, the rest applied
/// as written (`..` drops the last part, as it will once the folders exist).
fn resolve_absent(path: &Path) -> io::Result<PathBuf> {
    let mut path = std::path::absolute(path)?;
    for _ in 0..MAX_SYMLINKS {
        match fs::symlink_metadata(&path) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                let target = fs::read_link(&path)?;
                path = match path.parent() {
                    Some(parent) => parent.join(target),
                    None => target,
                };
            }
            _ => break,
        }
    }
    let components: Vec<Component<'_>> = path.components().collect();
    for split in (1..=components.len()).rev() {
        let prefix: PathBuf = components[..split].iter().collect();
        match fs::canonicalize(&prefix) {
            Ok(mut resolved) => {
                for component in &components[split..] {
                    match component {
                        Component::Normal(part) => resolved.push(part),
                        Component::ParentDir => {
                            resolved.pop();
                        }
                        _ => {}
                    }
                }
                return Ok(resolved);
            }
            Err(error) if is_absent(&error) => continue,
            Err(error) => return Err(error),
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory named after one test; removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(test: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("paths-{}-{test}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("scratch dir");
            Scratch(dir)
        }
        fn file(&self, name: &str) -> PathBuf {
            let path = self.0.join(name);
            fs::write(&path, "x\n").expect("write");
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn named<'a>(flag: &'static str, path: &'a Path) -> NamedPath<'a> {
        NamedPath { flag, path }
    }

    /// The flags of the clash `output` makes with `input` and another output.
    fn clash(input: &Path, first: &Path, second: &Path) -> Option<(&'static str, &'static str)> {
        let reads = [named("--input", input)];
        let outputs = [
            named("--enriched-out", first),
            named("--failed-out", second),
        ];
        match check_outputs(&reads, &outputs) {
            Ok(()) => None,
            Err(PathClash::SameFile {
                output_flag,
                other_flag,
                ..
            }) => Some((output_flag, other_flag)),
            Err(other) => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn spellings_of_one_path_are_the_same_file() {
        let dir = Scratch::new("spellings");
        let input = dir.file("in.jsonl");
        let (e, f) = (dir.0.join("e.jsonl"), dir.0.join("f.jsonl"));
        assert_eq!(clash(&input, &e, &f), None);
        let dotted = dir.0.join(".").join("in.jsonl");
        assert_eq!(
            clash(&input, &dotted, &f),
            Some(("--enriched-out", "--input"))
        );
        let up = dir.0.join("nowhere/../in.jsonl");
        fs::create_dir_all(dir.0.join("nowhere")).expect("dir");
        assert_eq!(clash(&input, &e, &up), Some(("--failed-out", "--input")));
    }

    #[test]
    fn links_are_the_same_file() {
        let dir = Scratch::new("links");
        let input = dir.file("in.jsonl");
        let f = dir.0.join("f.jsonl");
        let soft = dir.0.join("soft.jsonl");
        std::os::unix::fs::symlink(&input, &soft).expect("symlink");
        assert_eq!(
            clash(&input, &soft, &f),
            Some(("--enriched-out", "--input"))
        );
        let hard = dir.0.join("hard.jsonl");
        fs::hard_link(&input, &hard).expect("hard link");
        assert_eq!(
            clash(&input, &hard, &f),
            Some(("--enriched-out", "--input"))
        );
    }

    #[test]
    fn files_not_yet_created_are_compared_where_they_would_be() {
        let dir = Scratch::new("absent");
        let input = dir.file("in.jsonl");
        let deep = dir.0.join("new/sub/out.jsonl");
        let same = dir.0.join("new/other/../sub/./out.jsonl");
        assert_eq!(
            clash(&input, &deep, &same),
            Some(("--failed-out", "--enriched-out"))
        );
        let dangling = dir.0.join("dangling.jsonl");
        std::os::unix::fs::symlink("target.jsonl", &dangling).expect("symlink");
        let target = dir.0.join("target.jsonl");
        assert_eq!(
            clash(&input, &target, &dangling),
            Some(("--failed-out", "--enriched-out"))
        );
        assert!(!dir.0.join("new").exists(), "nothing created");
        assert!(!target.exists(), "nothing created");
    }

    #[test]
    fn the_message_names_both_paths() {
        let dir = Scratch::new("message");
        let input = dir.file("in.jsonl");
        let reads = [named("--input", &input)];
        let outputs = [named("--enriched-out", &input)];
        let message = check_outputs(&reads, &outputs)
            .expect_err("clash")
            .to_string();
        let shown = input.display().to_string();
        assert!(
            message.starts_with(&format!(
                "--enriched-out {shown} is the same file as --input {shown}"
            )),
            "{message}"
        );
    }

    #[test]
    fn a_descriptor_counts_as_the_file_behind_it() {
        use std::os::fd::AsRawFd;
        let dir = Scratch::new("descriptor");
        let input = dir.file("in.jsonl");
        let open = fs::File::open(&input).expect("open");
        let by_fd = PathBuf::from(format!("/dev/fd/{}", open.as_raw_fd()));
        let f = dir.0.join("f.jsonl");
        // Read through the descriptor, written by path: the same file.
        let reads = [named("--input", &by_fd)];
        let outputs = [named("--enriched-out", &input), named("--failed-out", &f)];
        let message = check_outputs(&reads, &outputs)
            .expect_err("clash")
            .to_string();
        let fd = open.as_raw_fd();
        assert!(
            message.contains(&format!(
                "is the same file as --input /dev/fd/{fd} (fd {fd}): writing it would destroy it"
            )),
            "{message}"
        );
        // Two outputs, one by path and one by descriptor: refused too.
        let proc_path = PathBuf::from(format!("/proc/self/fd/{fd}"));
        assert_eq!(
            clash(&f, &input, &proc_path),
            Some(("--failed-out", "--enriched-out"))
        );
        // A descriptor that is not open cannot be checked: an error, no pass.
        let closed = PathBuf::from("/dev/fd/987654");
        assert!(matches!(
            check_outputs(&[], &[named("--enriched-out", &closed)]),
            Err(PathClash::Inspect { .. })
        ));
    }
}
