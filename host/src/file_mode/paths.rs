//! Which files a file run may write: none of its outputs may be a file it
//! reads (the input, the claims database) or the other output. Checked before
//! anything is opened for writing, on what the paths lead to, not how they
//! are spelled: `./x` and `x`, `dir/../x`, symlinks (dangling ones too) and
//! hard links (same device and inode) all count as the same file. A path that
//! does not exist yet is resolved through its nearest existing ancestor.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

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
        "{output_flag} {} is the same file as {other_flag} {}: writing it would destroy it; \
         nothing was opened or changed. Choose another {output_flag} path",
        .output.display(),
        .other.display()
    )]
    SameFile {
        output_flag: &'static str,
        output: PathBuf,
        other_flag: &'static str,
        other: PathBuf,
    },
    #[error("cannot check where {flag} {} leads: {source}", .path.display())]
    Inspect {
        flag: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// Refuses any output that is one of `reads` or an earlier output
/// (`/dev/null` excepted: everything may be thrown away there).
pub fn check_outputs(reads: &[NamedPath<'_>], outputs: &[NamedPath<'_>]) -> Result<(), PathClash> {
    let identify = |named: &NamedPath<'_>| {
        FileIdentity::of(named.path).map_err(|source| PathClash::Inspect {
            flag: named.flag,
            path: named.path.to_path_buf(),
            source,
        })
    };
    let reads: Vec<(NamedPath<'_>, FileIdentity)> = reads
        .iter()
        .map(|named| identify(named).map(|identity| (*named, identity)))
        .collect::<Result<_, _>>()?;
    let mut earlier: Vec<(NamedPath<'_>, FileIdentity)> = Vec::new();
    for output in outputs {
        let identity = identify(output)?;
        if identity.resolved == Path::new("/dev/null") {
            continue;
        }
        if let Some((other, _)) = reads
            .iter()
            .chain(&earlier)
            .find(|(_, known)| known.is_same(&identity))
        {
            return Err(PathClash::SameFile {
                output_flag: output.flag,
                output: output.path.to_path_buf(),
                other_flag: other.flag,
                other: other.path.to_path_buf(),
            });
        }
        earlier.push((*output, identity));
    }
    Ok(())
}

/// What a path leads to: its resolved absolute path and, if the file
/// exists, its device and inode.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileIdentity {
    resolved: PathBuf,
    device_inode: Option<(u64, u64)>,
}

impl FileIdentity {
    fn of(path: &Path) -> io::Result<FileIdentity> {
        match fs::metadata(path) {
            Ok(metadata) => Ok(FileIdentity {
                resolved: fs::canonicalize(path)?,
                device_inode: Some((metadata.dev(), metadata.ino())),
            }),
            Err(error) if is_absent(&error) => Ok(FileIdentity {
                resolved: resolve_absent(path)?,
                device_inode: None,
            }),
            Err(error) => Err(error),
        }
    }

    fn is_same(&self, other: &FileIdentity) -> bool {
        let same_inode = matches!(
            (self.device_inode, other.device_inode),
            (Some(a), Some(b)) if a == b
        );
        same_inode || self.resolved == other.resolved
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
}
