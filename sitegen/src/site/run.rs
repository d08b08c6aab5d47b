//! Running a plan: render the outputs whose inputs moved, write them in publish order,
//! record them in the manifest, then remove what the publish no longer has.

use std::collections::HashSet;
use std::time::Instant;

use flashsale_core::site_manifest::{self as manifest, FileEntry};
use rayon::prelude::*;

use super::ledger::{is_asset, is_twin, twins};
use super::plan::{Job, Scope, What};
use super::render::Rendered;
use super::{RenderSummary, Site, RETIRED};
use crate::progress::Progress;
use crate::publish;
use crate::view::ProductView;
use crate::SitegenError;

impl Site {
    /// Renders the jobs whose inputs changed, writes them in publish order, records the
    /// manifest, then removes what this publish no longer has.
    pub(super) fn run(
        &mut self,
        jobs: Vec<Job>,
        scope: Scope,
        started: Instant,
    ) -> Result<RenderSummary, SitegenError> {
        let (todo, unchanged): (Vec<Job>, Vec<Job>) = jobs
            .into_iter()
            .partition(|job| self.entry(&job.path).is_none_or(|e| e.input != job.input));
        let keep: HashSet<&str> = todo
            .iter()
            .chain(&unchanged)
            .map(|j| j.path.as_str())
            .collect();
        let doomed = self.doomed(&scope, &keep);
        let retire: Vec<String> = match scope {
            Scope::Everything => self.retirable(&keep),
            Scope::Catalogue { .. } | Scope::Edits => Vec::new(),
        };

        let progress = Progress::new(self.opts.progress, todo.len() as u64);
        let base_ctx = self.base_context();
        // The catalogue in page order, for catalogue pages to take their slice of.
        let listed: Vec<&ProductView> = if todo
            .iter()
            .any(|j| matches!(j.what, What::Catalogue { .. }))
        {
            self.catalogue
                .iter()
                .flat_map(|c| c.values())
                .map(|i| &i.view)
                .collect()
        } else {
            Vec::new()
        };
        let mut rendered: Vec<Rendered> = todo
            .par_iter()
            .map(|job| {
                let out = self.render(job, &base_ctx, &listed);
                progress.tick();
                out
            })
            .collect::<Result<_, _>>()?;
        progress.finish();
        rendered.sort_by_key(|r| r.phase);

        let dist = self.opts.dist.clone();
        for phase in 0..=4 {
            rendered
                .par_iter()
                .filter(|r| r.phase == phase)
                .flat_map_iter(|r| r.files.iter())
                .try_for_each(|(path, bytes)| publish::write_atomic(&dist.join(path), bytes))?;
        }

        // The manifest: new entries in, gone ones out, retired assets kept with RETIRED.
        let mut dirty = HashSet::new();
        let mut removed_files = Vec::new();
        for r in &rendered {
            for (path, bytes) in &r.files {
                let entry = FileEntry {
                    input: r.input,
                    hash: manifest::content_hash(bytes),
                    len: bytes.len() as u64,
                };
                dirty.insert(self.set_entry(path, Some(entry)));
            }
            // A twin the new bytes did not earn (compression no longer pays) must go.
            for twin in twins(&r.path) {
                if !r.files.iter().any(|(p, _)| *p == twin) && self.entry(&twin).is_some() {
                    dirty.insert(self.set_entry(&twin, None));
                    removed_files.push(twin);
                }
            }
        }
        for path in &retire {
            for file in std::iter::once(path.clone()).chain(twins(path)) {
                if let Some(mut entry) = self.entry(&file).copied() {
                    entry.input = RETIRED;
                    dirty.insert(self.set_entry(&file, Some(entry)));
                }
            }
        }
        for path in &doomed {
            for file in std::iter::once(path.clone()).chain(twins(path)) {
                if self.entry(&file).is_some() {
                    dirty.insert(self.set_entry(&file, None));
                    removed_files.push(file);
                }
            }
        }
        self.write_manifest(&dirty)?;

        for file in &removed_files {
            publish::remove(&dist.join(file))?;
        }
        if let Scope::Everything = scope {
            self.sweep_unlisted_pages()?;
            self.sweep_orphan_shards()?;
        }
        if let Scope::Catalogue { removed } = &scope {
            // Pages of removed products that the manifest never knew (a render by an older
            // version) still go.
            for page in removed {
                for file in std::iter::once(page.clone()).chain(twins(page)) {
                    publish::remove(&dist.join(file))?;
                }
            }
        }

        let mut changed: Vec<String> = rendered.iter().map(|r| r.path.clone()).collect();
        changed.extend(doomed.iter().cloned());
        let summary = RenderSummary {
            rendered: rendered.len(),
            unchanged: unchanged.len(),
            removed: doomed.len(),
            changed,
            elapsed: started.elapsed(),
        };
        tracing::info!(
            dist = %dist.display(),
            rendered = summary.rendered,
            unchanged = summary.unchanged,
            removed = summary.removed,
            elapsed_ms = summary.elapsed.as_millis() as u64,
            "site published"
        );
        Ok(summary)
    }

    /// Outputs the manifest has that this publish does not: whole-site publishes drop
    /// everything not kept (assets retired a publish ago included); catalogue publishes only
    /// pages of removed products and catalogue pages past the new last one.
    fn doomed(&self, scope: &Scope, keep: &HashSet<&str>) -> Vec<String> {
        let primary = |path: &&String| !is_twin(path);
        let known = self.shards.values().flat_map(|s| s.iter());
        match scope {
            Scope::Everything => known
                .filter(|(path, e)| {
                    !keep.contains(path.as_str()) && (e.input == RETIRED || !is_asset(path))
                })
                .map(|(path, _)| path)
                .filter(primary)
                .cloned()
                .collect(),
            // Only the catalogue pages' shards and the removed pages: an edit must not
            // cost a walk over every page of a large site.
            Scope::Catalogue { removed } => {
                let pages = self
                    .shards
                    .iter()
                    .filter(|(name, _)| name.starts_with("page-"))
                    .flat_map(|(_, files)| files.keys())
                    .filter(|path| !is_twin(path) && !keep.contains(path.as_str()));
                let gone = removed.iter().filter(|path| self.entry(path).is_some());
                pages.chain(gone).cloned().collect()
            }
            Scope::Edits => Vec::new(),
        }
    }

    /// Assets of the previous publish that this one replaced: kept one more publish.
    fn retirable(&self, keep: &HashSet<&str>) -> Vec<String> {
        self.shards
            .values()
            .flat_map(|s| s.iter())
            .filter(|(path, e)| {
                e.input != RETIRED
                    && is_asset(path)
                    && !is_twin(path)
                    && !keep.contains(path.as_str())
            })
            .map(|(path, _)| path.clone())
            .collect()
    }
}
