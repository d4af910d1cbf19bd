//! Claiming an output file for one writer at a time, and cleaning up after a crashed one.
//!
//! [`write_atomic`](crate::io::write_atomic) never leaves a torn file, but a process killed in
//! the middle of a write leaves its temporary file (`.<name>.<random>.tmp`) behind, and two
//! processes writing the same file in turns (two `cnn train --out m.cnn`) would interleave
//! their checkpoints. [`OutputLock`] prevents the second; [`OutputLock::remove_stale_temps`]
//! removes the first's leftovers once the lock is held.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::io::temp_prefix;
use crate::{Result, TensorError};

/// An exclusive advisory lock on an output file, held until dropped. The lock lives on a hidden
/// file beside the output (`.<name>.lock`), removed when the lock is dropped; the operating
/// system releases the lock when the process ends, however it ends (a killed process leaves the
/// empty file, which the next claim reuses). Removing a lock file races with a process that
/// opened it just before: so a claim is only kept if, once locked, the path still names the
/// file that was locked, and is retried otherwise.
#[derive(Debug)]
pub struct OutputLock {
    file: File,
    lock_path: PathBuf,
    path: PathBuf,
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Unlink while still holding the lock; a waiter that opened this file sees that its
        // path now names another file (or none) and starts over.
        let _ = std::fs::remove_file(&self.lock_path);
        let _ = self.file.unlock();
    }
}

/// Whether `path` still names the open file `file` (always true where this cannot be told).
fn still_named(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}

impl OutputLock {
    /// Claims `path` for this process without waiting. Fails with
    /// [`TensorError::Busy`] when another process holds it, and with [`TensorError::Io`] when
    /// the directory cannot be written (read-only, missing, full), before any work is done.
    pub fn try_acquire(path: &Path) -> Result<OutputLock> {
        let lock_path = lock_path(path);
        let io = |source| TensorError::Io {
            path: lock_path.clone(),
            source,
        };
        loop {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(io)?;
            match file.try_lock() {
                Ok(()) if still_named(&file, &lock_path) => {
                    return Ok(OutputLock {
                        file,
                        lock_path,
                        path: path.to_path_buf(),
                    });
                }
                // The holder removed this file between our open and our lock: try again.
                Ok(()) => continue,
                Err(TryLockError::WouldBlock) => {
                    return Err(TensorError::Busy {
                        path: path.to_path_buf(),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        }
    }

    /// The output file this lock guards.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes temporary files that [`write_atomic`](crate::io::write_atomic) left beside the
    /// output when a process was killed mid-write; returns how many. Safe only while holding
    /// the lock (no other writer of this output is running), hence a method.
    pub fn remove_stale_temps(&self) -> Result<usize> {
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let prefix = temp_prefix(&name);
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(source) => {
                return Err(TensorError::Io {
                    path: dir.to_path_buf(),
                    source,
                });
            }
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let f = entry.file_name().to_string_lossy().into_owned();
            if f.starts_with(&prefix) && f.ends_with(".tmp") && f.len() > prefix.len() + 4 {
                std::fs::remove_file(entry.path()).map_err(|source| TensorError::Io {
                    path: entry.path(),
                    source,
                })?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::write_atomic;

    #[test]
    fn second_claim_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("m.cnn");
        let a = OutputLock::try_acquire(&out).unwrap();
        assert_eq!(a.path(), out);
        let err = OutputLock::try_acquire(&out).unwrap_err();
        assert!(matches!(err, TensorError::Busy { .. }), "{err}");
        assert!(err.to_string().contains("m.cnn"), "{err}");
        // Another output in the same directory is independent.
        OutputLock::try_acquire(&dir.path().join("other.cnn")).unwrap();
        drop(a);
        assert!(
            !dir.path().join(".m.cnn.lock").exists(),
            "removed with the lock"
        );
        OutputLock::try_acquire(&out).unwrap();
    }

    #[test]
    fn stale_temporaries_of_this_output_only_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("m.cnn");
        write_atomic(&out, b"good").unwrap();
        for f in [
            ".m.cnn.abc123.tmp",
            ".m.cnn.x.tmp",
            ".other.cnn.abc.tmp",
            "m.cnn.tmp",
        ] {
            std::fs::write(dir.path().join(f), b"torn").unwrap();
        }
        let lock = OutputLock::try_acquire(&out).unwrap();
        assert_eq!(lock.remove_stale_temps().unwrap(), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [".m.cnn.lock", ".other.cnn.abc.tmp", "m.cnn", "m.cnn.tmp"]
        );
        assert_eq!(std::fs::read(&out).unwrap(), b"good");
    }

    #[test]
    fn unwritable_directory_fails_before_any_work() {
        let err = OutputLock::try_acquire(Path::new("/nonexistent-dir/m.cnn")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent-dir/.m.cnn.lock"),
            "{err}"
        );
    }
}
