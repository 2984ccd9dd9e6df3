//! How much room the store has: the size of its file with the WAL, and the free space of its
//! filesystem. The store guard (see [`crate::ledger`]) refuses owners' writes when either
//! passes its mark, early enough that mode changes, lockdowns and admin actions still find
//! free pages for their commits.

use std::path::Path;

/// Marks past which owners' writes are refused. Zero turns a mark off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreGuard {
    /// The most bytes the store file and its WAL may take together.
    pub max_store_bytes: u64,
    /// The least free space (for unprivileged users) its filesystem must keep.
    pub min_free_bytes: u64,
}

impl StoreGuard {
    /// Why the store at `path` is short of room, or `None` when owners may still write. A
    /// size or free space that cannot be read counts as short: the guard fails closed.
    pub fn shortage(&self, path: &Path) -> Option<String> {
        if self.max_store_bytes > 0 {
            match store_bytes(path) {
                Ok(bytes) if bytes < self.max_store_bytes => {}
                Ok(bytes) => {
                    return Some(format!(
                        "the store holds {bytes} bytes, past its limit of {} \
                         (limits.store_max_bytes); owners' changes are refused until an admin \
                         makes room",
                        self.max_store_bytes
                    ));
                }
                Err(err) => return Some(format!("the store's size cannot be read ({err})")),
            }
        }
        if self.min_free_bytes > 0 {
            let dir = path.parent().unwrap_or(Path::new("/"));
            match free_bytes(dir) {
                Ok(free) if free >= self.min_free_bytes => {}
                Ok(free) => {
                    return Some(format!(
                        "the store's filesystem has {free} bytes free, below its reserve of {} \
                         (limits.store_min_free_bytes); owners' changes are refused until an \
                         admin makes room",
                        self.min_free_bytes
                    ));
                }
                Err(err) => {
                    return Some(format!("the store's free space cannot be read ({err})"));
                }
            }
        }
        None
    }
}

/// The store file's size plus its WAL's (and the shared-memory index, which is tiny).
pub fn store_bytes(path: &Path) -> std::io::Result<u64> {
    let mut total = std::fs::metadata(path)?.len();
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        match std::fs::metadata(&side) {
            Ok(meta) => total += meta.len(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok(total)
}

/// Free space on the filesystem holding `dir`, as an unprivileged user could use it.
// The counts are 32 bits wide on some targets, so the widening is not useless everywhere.
#[allow(clippy::useless_conversion)]
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let stats = nix::sys::statvfs::statvfs(dir).map_err(std::io::Error::from)?;
    Ok(u64::from(stats.blocks_available()).saturating_mul(u64::from(stats.fragment_size())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_past_its_size_mark_is_short_of_room() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        std::fs::write(&path, vec![0u8; 4096]).unwrap();
        let roomy = StoreGuard {
            max_store_bytes: 1 << 20,
            min_free_bytes: 1,
        };
        assert_eq!(roomy.shortage(&path), None);
        let small = StoreGuard {
            max_store_bytes: 4096,
            ..StoreGuard::default()
        };
        assert!(small.shortage(&path).unwrap().contains("store_max_bytes"));
    }

    #[test]
    fn a_filesystem_below_its_free_mark_is_short_of_room() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        std::fs::write(&path, b"x").unwrap();
        let greedy = StoreGuard {
            max_store_bytes: 0,
            min_free_bytes: u64::MAX,
        };
        assert!(
            greedy
                .shortage(&path)
                .unwrap()
                .contains("store_min_free_bytes")
        );
    }

    #[test]
    fn a_missing_store_counts_as_short_of_room() {
        let dir = tempfile::tempdir().unwrap();
        let guard = StoreGuard {
            max_store_bytes: 1 << 30,
            min_free_bytes: 0,
        };
        assert!(guard.shortage(&dir.path().join("absent.db")).is_some());
    }
}
