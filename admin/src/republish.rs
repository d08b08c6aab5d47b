//! Republishing from the admin: a `Site` kept open between republishes, so one edited
//! product renders its page and the catalogue page listing it, not a walk over every page.
//!
//! The catalogue is not read whole either: every product write (the admin's, the worker's
//! stock taken by orders, any other process's) is logged in the database
//! (`Db::product_changes_since`), and a Republish reads only the products written since the
//! last one, compares them with what this admin published, and hands the ones that differ,
//! and those gone, to the site.
//!
//! A full comparison (the whole catalogue read and every page's inputs checked, as a first
//! Republish does) is what happens when this admin cannot trust what it knows: another
//! process published `dist/` since (`flashsale sitegen`, another admin), the log was pruned
//! past where this admin read it (another admin), or a publish failed.

use crate::AppError;
use flashsale_core::domain::Product;
use flashsale_core::Db;
use flashsale_sitegen::{RenderSummary, Site, SiteOptions};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The site this admin publishes, the catalogue it last published to it, and how far it has
/// read the log of product writes.
pub struct OpenSite {
    site: Site,
    published: HashMap<i64, Product>,
    cursor: Cursor,
}

/// The site kept open between republishes, shared with the render task.
pub type SharedSite = Arc<Mutex<Option<OpenSite>>>;

/// Publishes what changed in the catalogue since the last Republish through `open`, opening
/// the site (and comparing every page) when there is none yet or it cannot be trusted.
pub async fn republish(
    db: &Db,
    open: &SharedSite,
    options: &SiteOptions,
) -> Result<RenderSummary, AppError> {
    let cursor = lock(open)
        .as_ref()
        .filter(|o| o.site.is_current())
        .map(|o| o.cursor.clone());
    if let Some(cursor) = cursor {
        if let Some(edits) = read_edits(db, cursor).await? {
            let shared = open.clone();
            let published = render(move || publish_edits(&mut lock(&shared), edits)).await?;
            if let Some(summary) = published {
                prune(db, open).await;
                return Ok(summary);
            }
        }
    }
    let summary = publish_everything(db, open, options).await?;
    prune(db, open).await;
    Ok(summary)
}

/// The products written since `cursor`; `None` when the log no longer reaches back there.
async fn read_edits(db: &Db, mut cursor: Cursor) -> Result<Option<Edits>, AppError> {
    let (oldest, newest) = db.product_changes_range().await?;
    // Pruned past where this admin read (another admin), or emptied (a restored database).
    if oldest > cursor.floor + 1 || newest < cursor.floor {
        return Ok(None);
    }
    let changes = db.product_changes_since(cursor.floor).await?;
    let ids: BTreeSet<i64> = changes
        .iter()
        .filter(|c| !cursor.seen.contains(&c.seq))
        .map(|c| c.product_id)
        .collect();
    cursor.advance(changes.iter().map(|c| c.seq), Instant::now());
    let ids: Vec<i64> = ids.into_iter().collect();
    let products = db.products_by_ids(&ids).await?;
    Ok(Some(Edits {
        ids,
        products,
        cursor,
    }))
}

/// Products written since the last Republish, as the database has them now.
struct Edits {
    /// Every product written; those not in `products` are gone.
    ids: Vec<i64>,
    products: Vec<Product>,
    /// The cursor once these are published.
    cursor: Cursor,
}

/// Publishes `edits` to the open site; `None` when it is gone or stale (then everything is
/// compared instead).
fn publish_edits(
    open: &mut Option<OpenSite>,
    edits: Edits,
) -> Result<Option<RenderSummary>, AppError> {
    let Some(current) = open.as_mut().filter(|o| o.site.is_current()) else {
        return Ok(None);
    };
    let found: BTreeSet<i64> = edits.products.iter().map(|p| p.id).collect();
    let removed: Vec<i64> = edits
        .ids
        .iter()
        .filter(|id| !found.contains(id) && current.published.contains_key(id))
        .copied()
        .collect();
    let changed: Vec<Product> = edits
        .products
        .into_iter()
        .filter(|p| current.published.get(&p.id) != Some(p))
        .collect();
    match current.site.publish_changes(&changed, &removed) {
        Ok(summary) => {
            for id in &removed {
                current.published.remove(id);
            }
            current
                .published
                .extend(changed.into_iter().map(|p| (p.id, p)));
            current.cursor = edits.cursor;
            Ok(Some(summary))
        }
        Err(e) => {
            // What the site holds is unknown now: the next Republish starts over.
            *open = None;
            Err(e.into())
        }
    }
}

/// Opens the site again and publishes the whole catalogue: every page's inputs compared.
async fn publish_everything(
    db: &Db,
    open: &SharedSite,
    options: &SiteOptions,
) -> Result<RenderSummary, AppError> {
    // The log first: a write after this read is read again next time (harmless), never lost.
    let (oldest, _) = db.product_changes_range().await?;
    let floor = (oldest - 1).max(0);
    let mut cursor = Cursor::new(floor);
    let changes = db.product_changes_since(floor).await?;
    cursor.advance(changes.iter().map(|c| c.seq), Instant::now());
    let products = db.list_products().await?;
    let options = options.clone();
    let shared = open.clone();
    render(move || {
        let mut open = lock(&shared);
        *open = None;
        let mut site = Site::open(options)?;
        let summary = site.publish(&products)?;
        *open = Some(OpenSite {
            site,
            published: products.into_iter().map(|p| (p.id, p)).collect(),
            cursor,
        });
        Ok(summary)
    })
    .await
}

/// Forgets the logged writes this admin has published (the log would otherwise grow with
/// every batch of orders). Best effort: a failure only leaves rows for next time.
async fn prune(db: &Db, open: &SharedSite) {
    let floor = lock(open).as_ref().map(|o| o.cursor.floor);
    if let Some(floor) = floor.filter(|f| *f > 0) {
        if let Err(e) = db.prune_product_changes(floor).await {
            tracing::warn!(error = %e, "could not prune the log of product writes");
        }
    }
}

/// Renders off the async threads.
async fn render<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AppError::Internal(format!("the render task failed: {e}")))?
}

/// A poisoned lock held a render that panicked: start over from the disk.
fn lock(open: &SharedSite) -> MutexGuard<'_, Option<OpenSite>> {
    open.lock().unwrap_or_else(|poisoned| {
        let mut guard = poisoned.into_inner();
        *guard = None;
        guard
    })
}

/// How long a hole in the log's numbers is waited for. On MySQL a number is taken when a
/// write starts and seen when it commits, so a write may show up after a later one; a hole
/// that stays is a write rolled back. SQLite has no holes (one writer at a time).
const HOLE_WAIT: Duration = Duration::from_secs(10);

/// How far an admin has read the log of product writes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    /// Every write numbered up to here has been read.
    floor: i64,
    /// Writes read past `floor` (a hole lies below them).
    seen: BTreeSet<i64>,
    /// Holes between `floor` and the writes seen, and when each was first noticed.
    holes: BTreeMap<i64, Instant>,
}

impl Cursor {
    fn new(floor: i64) -> Cursor {
        Cursor {
            floor,
            seen: BTreeSet::new(),
            holes: BTreeMap::new(),
        }
    }

    /// Takes in the numbers of writes just read (all past `floor`), and moves `floor` up over
    /// those and over holes older than [`HOLE_WAIT`].
    fn advance(&mut self, seqs: impl IntoIterator<Item = i64>, now: Instant) {
        self.seen
            .extend(seqs.into_iter().filter(|&s| s > self.floor));
        let Some(&last) = self.seen.last() else {
            return;
        };
        for seq in self.floor + 1..last {
            if !self.seen.contains(&seq) {
                self.holes.entry(seq).or_insert(now);
            }
        }
        loop {
            let next = self.floor + 1;
            let settled = self
                .holes
                .get(&next)
                .is_some_and(|since| now.duration_since(*since) >= HOLE_WAIT);
            if self.seen.remove(&next) || settled {
                self.holes.remove(&next);
                self.floor = next;
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_follows_writes_read_in_order() {
        let mut c = Cursor::new(4);
        let now = Instant::now();
        c.advance([5, 6, 7], now);
        assert_eq!(c, Cursor::new(7));
        c.advance([], now);
        assert_eq!(c.floor, 7);
    }

    /// A write that commits after a later one (MySQL) is still read: the floor waits below
    /// its number, then passes it once it is read.
    #[test]
    fn a_hole_holds_the_floor_until_its_write_shows_up() {
        let mut c = Cursor::new(0);
        let t0 = Instant::now();
        c.advance([1, 3, 4], t0);
        assert_eq!(c.floor, 1, "2 is not committed yet");
        assert!(c.seen.contains(&3) && c.seen.contains(&4));
        // Read again from the floor: 3 and 4 come back, 2 is new.
        c.advance([2, 3, 4], t0 + Duration::from_secs(1));
        assert_eq!(c, Cursor::new(4));
    }

    /// A hole that stays (a write rolled back) is passed after a while, so the log read each
    /// time stays short.
    #[test]
    fn a_hole_that_stays_is_passed_after_the_wait() {
        let mut c = Cursor::new(0);
        let t0 = Instant::now();
        c.advance([1, 3], t0);
        c.advance([3], t0 + HOLE_WAIT / 2);
        assert_eq!(c.floor, 1);
        c.advance([3], t0 + HOLE_WAIT);
        assert_eq!(c, Cursor::new(3));
    }
}
