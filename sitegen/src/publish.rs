//! Files into `dist/`: each swapped in whole, and pages of vanished products taken out.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::SitegenError;

/// Whether [`write_atomic`] replaced the file or found it already holding these bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    Replaced,
    Unchanged,
}

/// Tells apart the temp files of concurrent renders within one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` so that a reader sees the old file or the new one, never a mix:
/// the bytes go to a temp file in the same directory (same file system) which is then renamed
/// over the target. A file that already holds these bytes is left alone, so its modification
/// time, and any cache validator built on it, survives a republish that changed nothing.
///
/// No fsync: the rename is what readers need, and after a crash `dist/` is rendered again
/// from the database anyway.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<Written, SitegenError> {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(Written::Unchanged);
    }
    let temp = temp_path(path);
    let result = write_new(&temp, bytes).and_then(|()| {
        fs::rename(&temp, path).map_err(SitegenError::io("renaming temp file over", path))
    });
    if result.is_err() {
        // Best effort: the error being returned matters more than a stray temp file.
        let _ = fs::remove_file(&temp);
    }
    result.map(|()| Written::Replaced)
}

/// `dir/.name.<pid>-<n>.tmp`: hidden, unique per process and call, never a page name.
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

/// Creates `dir` and its parents if missing.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), SitegenError> {
    fs::create_dir_all(dir).map_err(SitegenError::io("creating directory", dir))
}

/// Removes the pages `{id}.html` in `dir` whose id is not in `keep`; returns their names.
/// Only names this crate writes are touched: anything else in the directory is left alone.
pub(crate) fn remove_stale_pages(
    dir: &Path,
    keep: &HashSet<i64>,
) -> Result<Vec<String>, SitegenError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(SitegenError::io("listing", dir)(e)),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(SitegenError::io("listing", dir))?;
        let Some(id) = page_id(&entry.file_name().to_string_lossy()) else {
            continue;
        };
        if keep.contains(&id) || entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = entry.path();
        match fs::remove_file(&path) {
            Ok(()) => {
                tracing::debug!(page = %path.display(), "removed page of a product no longer listed");
                removed.push(entry.file_name().to_string_lossy().into_owned());
            }
            // Another render removed it first; it is gone either way.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(SitegenError::io("removing stale page", path)(e)),
        }
    }
    Ok(removed)
}

/// The id of a page name exactly as this crate writes it (`42.html`, not `042.html`).
fn page_id(file_name: &str) -> Option<i64> {
    let stem = file_name.strip_suffix(".html")?;
    let id: i64 = stem.parse().ok()?;
    (id.to_string() == stem).then_some(id)
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
        assert_eq!(
            write_atomic(&path, b"one").expect("write"),
            Written::Replaced
        );
        assert_eq!(
            write_atomic(&path, b"two").expect("write"),
            Written::Replaced
        );
        assert_eq!(fs::read(&path).expect("read"), b"two");
        assert_eq!(names(dir.path()), vec!["a.html"]);
    }

    #[test]
    fn identical_bytes_leave_the_file_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.html");
        write_atomic(&path, b"same").expect("write");
        assert_eq!(
            write_atomic(&path, b"same").expect("write"),
            Written::Unchanged
        );
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
    fn only_pages_of_unlisted_products_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in [
            "1.html",
            "2.html",
            "3.html",
            "042.html",
            "notes.txt",
            "x.html",
        ] {
            fs::write(dir.path().join(name), b"x").expect("write");
        }
        let keep = HashSet::from([1, 3]);
        assert_eq!(
            remove_stale_pages(dir.path(), &keep).expect("remove"),
            vec!["2.html"]
        );
        assert_eq!(
            names(dir.path()),
            vec!["042.html", "1.html", "3.html", "notes.txt", "x.html"]
        );
    }

    #[test]
    fn a_missing_directory_has_nothing_to_remove() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("product");
        assert_eq!(
            remove_stale_pages(&missing, &HashSet::new()).expect("ok"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn page_names_parse_only_in_canonical_form() {
        assert_eq!(page_id("42.html"), Some(42));
        assert_eq!(page_id("-3.html"), Some(-3));
        assert_eq!(page_id("042.html"), None);
        assert_eq!(page_id("+42.html"), None);
        assert_eq!(page_id("42.htm"), None);
        assert_eq!(page_id(".42.html.1-0.tmp"), None);
    }
}
