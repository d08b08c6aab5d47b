//! What can go wrong while rendering, each error naming the page or path it concerns.

use std::path::PathBuf;

/// A failed render. Nothing is half-written when one of these is returned: pages already
/// swapped in stay whole, the failing page keeps its previous version.
#[derive(Debug, thiserror::Error)]
pub enum SitegenError {
    /// A built-in template does not compile: a bug in `site-templates/`, caught by the tests.
    #[error("built-in template {name} does not compile")]
    Template {
        name: &'static str,
        #[source]
        source: tera::Error,
    },

    /// A template failed while rendering one page.
    #[error("rendering page {page} failed")]
    Render {
        page: String,
        #[source]
        source: tera::Error,
    },

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
