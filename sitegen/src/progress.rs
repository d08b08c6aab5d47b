//! A progress bar for long renders on a terminal; nothing at all otherwise (logs, CI, admin).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// Below this many pages a render is over before a bar would be read.
const WORTH_A_BAR: u64 = 500;

pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub(crate) fn new(wanted: bool, pages: u64) -> Progress {
        let show = wanted && pages >= WORTH_A_BAR && std::io::stderr().is_terminal();
        let bar = show.then(|| {
            let bar = ProgressBar::new(pages);
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} rendering {pos}/{len} pages [{bar:30}] {per_sec} eta {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Progress { bar }
    }

    pub(crate) fn tick(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
