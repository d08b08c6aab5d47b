//! What can go wrong while rendering, each error naming the page or path it concerns.

use std::path::PathBuf;

/// A failed render. Nothing is half-written when one of these is returned: pages already
/// swapped in stay whole, the failing page keeps its previous version.
#[derive(Debug, thiserror::Error)]
pub enum SitegenError {
    /// A template does not compile, or the theme lacks one every site needs.
    #[error("template {name}: {message}")]
    Template { name: String, message: String },

    /// The manifest in `dist/.flashsale/` is damaged; `--full` renders everything afresh.
    #[error("the manifest {path} is damaged ({reason}); rerun with a full render")]
    Manifest { path: PathBuf, reason: String },

    /// A template failed while rendering one page.
    #[error("rendering page {page} failed: {message}")]
    Render { page: String, message: String },

    /// `publish_changes` before any whole catalogue was published through this `Site`.
    #[error("publish the whole catalogue once before publishing changes to it")]
    NoCatalogue,

    /// Two products share an id, so they would share a page.
    #[error("product id {id} appears twice in the catalogue (page product/{id}.html)")]
    DuplicateProduct { id: i64 },

    /// A sale time cannot be shown as a date (outside the years 0 to 9999).
    #[error("page {page}: sale time {unix_secs} (unix seconds) is out of range")]
    SaleTime { page: String, unix_secs: i64 },

    /// A file or directory of the site could not be read, written, renamed or removed.
    #[error("{action} {path} failed")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl SitegenError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| SitegenError::Io {
            action,
            path,
            source,
        }
    }
}
