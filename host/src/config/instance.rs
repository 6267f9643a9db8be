//! The default instance id (`kafka.instance-id` unset): the hostname for the
//! first instance of a consumer group on this machine, `<hostname>-<n>` for the
//! n-th one running at once. Each instance holds a lock on a slot file
//! (`$TMPDIR/enricher-instances/<group>.<n>.lock`) for its lifetime; the lowest
//! free slot wins, so a restarted instance takes its predecessor's slot (and
//! transactional id, fencing any zombie of it) while two live instances never
//! share one. The OS drops a dead process's lock, so nothing needs cleaning up.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

/// Slots tried before giving up on uniqueness (and using the process id).
const MAX_SLOTS: usize = 64;

/// Group -> (its instance id, the slot lock that holds it).
type Taken = HashMap<String, (String, Option<File>)>;

/// Ids taken by this process, per group, with the lock that holds each.
static TAKEN: Mutex<Option<Taken>> = Mutex::new(None);

/// The machine's hostname (`enricher` when it cannot be read).
pub(crate) fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|h| h.trim().to_owned())
        .find(|h| !h.is_empty())
        .unwrap_or_else(|| "enricher".into())
}

/// This process's default instance id in `group` (the same on every call).
pub(crate) fn default_instance_id(group: &str) -> String {
    let mut taken = TAKEN.lock().unwrap_or_else(PoisonError::into_inner);
    let taken = taken.get_or_insert_with(HashMap::new);
    if let Some((id, _)) = taken.get(group) {
        return id.clone();
    }
    let host = hostname();
    let (id, lock) = match take_slot(group) {
        Some((0, lock)) => (host, Some(lock)),
        Some((n, lock)) => (format!("{host}-{n}"), Some(lock)),
        None => (format!("{host}-{}", std::process::id()), None),
    };
    taken.insert(group.to_owned(), (id.clone(), lock));
    id
}

/// Lock the lowest free slot of `group` on this machine.
fn take_slot(group: &str) -> Option<(usize, File)> {
    let dir = std::env::temp_dir().join("enricher-instances");
    std::fs::create_dir_all(&dir).ok()?;
    (0..MAX_SLOTS).find_map(|n| {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(slot_path(&dir, group, n))
            .ok()?;
        file.try_lock().ok().map(|()| (n, file))
    })
}

fn slot_path(dir: &std::path::Path, group: &str, n: usize) -> PathBuf {
    let safe: String = group
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{safe}.{n}.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_live_instance_on_the_machine_gets_another_slot() {
        let group = format!("instance-test-{}", std::process::id());
        let first = default_instance_id(&group);
        assert_eq!(first, hostname());
        assert_eq!(default_instance_id(&group), first, "stable in a process");
        // Another process holding slot 0 is a lock we do not own: take slot 1.
        let (n, held) = take_slot(&group).expect("a free slot");
        assert_eq!(n, 1, "slot 0 is held by this process's instance");
        drop(held);
        let (again, _held) = take_slot(&group).expect("a free slot");
        assert_eq!(again, 1, "a released slot is free again");
    }
}
