//! Images the admin uploaded: the files of [`SiteOptions::uploads`](crate::SiteOptions), each
//! named for its content (`phone.0123456789abcdef.png`), published as they are under
//! [`UPLOADS`]. They are site assets like the theme's images (served by the gateway and nginx
//! from `dist/`, cached for good since the name holds the hash), but they live outside the
//! theme, so an upload never changes the theme's fingerprint and re-renders no page.

use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::Xxh3;

use crate::SitegenError;

/// Where uploads are published under `dist/` (and their URL, with a leading `/`).
pub const UPLOADS: &str = "static/img/uploads";

/// An uploaded file and the output it becomes.
pub(crate) struct Upload {
    /// `static/img/uploads/phone.0123456789abcdef.png`
    pub path: String,
    pub source: PathBuf,
    /// The name holds the content's hash: name and length stand for the bytes, so a file
    /// already published is skipped without being read.
    pub input: u64,
}

/// Every upload in `dir`; none when there is no directory (yet).
pub(crate) fn list(dir: Option<&Path>) -> Result<Vec<Upload>, SitegenError> {
    let Some(dir) = dir else {
        return Ok(Vec::new());
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(SitegenError::io("reading the uploads in", dir)(e)),
    };
    let mut uploads = Vec::new();
    for entry in entries {
        let entry = entry.map_err(SitegenError::io("reading the uploads in", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // Only names the admin makes: plain characters, no hidden or temporary files.
        let plain = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if name.starts_with('.') || !plain {
            continue;
        }
        let meta = entry
            .metadata()
            .map_err(SitegenError::io("reading", entry.path()))?;
        if !meta.is_file() {
            continue;
        }
        let mut input = Xxh3::new();
        input.update(name.as_bytes());
        input.update(&meta.len().to_le_bytes());
        uploads.push(Upload {
            path: format!("{UPLOADS}/{name}"),
            source: entry.path(),
            input: input.digest(),
        });
    }
    uploads.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(uploads)
}
