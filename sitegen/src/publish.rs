//! Files into `dist/`: each swapped in whole, one publish at a time.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::SitegenError;

/// Tells apart the temp files of concurrent writes within one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` so that a reader sees the old file or the new one, never a mix:
/// the bytes go to a temp file in the same directory (same file system) which is then renamed
/// over the target. Parent directories are created as needed.
///
/// No fsync: the rename is what readers need, and after a crash `dist/` is rendered again
/// from the database anyway (a manifest that no longer matches the files is noticed by the
/// gateway, which keeps serving what it has until a render repairs it).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SitegenError> {
    if let Some(parent) = path.parent() {
        if !parent.is_dir() {
            fs::create_dir_all(parent).map_err(SitegenError::io("creating directory", parent))?;
        }
    }
    let temp = temp_path(path);
    let result = write_new(&temp, bytes).and_then(|()| {
        fs::rename(&temp, path).map_err(SitegenError::io("renaming temp file over", path))
    });
    if result.is_err() {
        // Best effort: the error being returned matters more than a stray temp file.
        let _ = fs::remove_file(&temp);
    }
    result
}

/// `dir/.name.<pid>-<n>.tmp`: hidden (never served), unique per process and call.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{}-{n}.tmp", std::process::id()))
}

fn write_new(temp: &Path, bytes: &[u8]) -> Result<(), SitegenError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)
        .map_err(SitegenError::io("creating temp file", temp))?;
    file.write_all(bytes)
        .map_err(SitegenError::io("writing temp file", temp))
}

/// Removes a file this crate wrote; one already gone is fine.
pub(crate) fn remove(path: &Path) -> Result<(), SitegenError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SitegenError::io("removing", path)(e)),
    }
}

/// Held for the whole of a publish: two renders into one `dist/` (the admin's republish and a
/// `flashsale sitegen` run, say) take turns instead of interleaving their files.
pub(crate) struct PublishLock {
    _file: fs::File,
}

impl PublishLock {
    pub(crate) fn acquire(path: &Path) -> Result<PublishLock, SitegenError> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(SitegenError::io("creating directory", parent))?;
        }
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(SitegenError::io("opening lock file", path))?;
        file.lock().map_err(SitegenError::io(
            "locking (another render is running?)",
            path,
        ))?;
        Ok(PublishLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("readable")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn write_replaces_the_file_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.html");
        write_atomic(&path, b"one").expect("write");
        write_atomic(&path, b"two").expect("write");
        assert_eq!(fs::read(&path).expect("read"), b"two");
        assert_eq!(names(dir.path()), vec!["a.html"]);
    }

    #[test]
    fn write_creates_missing_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("page/2.html");
        write_atomic(&path, b"two").expect("write");
        assert_eq!(fs::read(&path).expect("read"), b"two");
    }

    #[test]
    fn a_failed_write_names_the_path_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        // The target is a non-empty directory, so the rename over it must fail.
        let path = dir.path().join("taken.html");
        fs::create_dir(&path).expect("mkdir");
        fs::write(path.join("inside"), b"x").expect("write");
        let err = write_atomic(&path, b"page").expect_err("cannot replace a directory");
        assert!(err.to_string().contains("taken.html"), "{err}");
        assert_eq!(names(dir.path()), vec!["taken.html"]);
    }

    #[test]
    fn the_lock_is_exclusive_and_released_on_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(".flashsale/lock");
        let held = PublishLock::acquire(&path).expect("first");
        let other = fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open");
        assert!(other.try_lock().is_err(), "a second publish must wait");
        drop(held);
        assert!(other.try_lock().is_ok());
    }
}
