//! A progress bar over a run's stages, on interactive terminals only.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use leadscore_core::Stage;
use leadscore_pipeline::{Observer, StageOutcome};

use crate::LogFormat;

/// Shows `[elapsed] [bar] 3/7 features` on stderr while a run goes, when stderr is a terminal
/// and logs are human; otherwise it shows nothing. Log lines are written above it (see
/// [`crate::logs`]), never into its line.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for `total` stages (hidden when it would garble logs or files).
    pub fn new(total: usize, format: LogFormat) -> Self {
        let show = format == LogFormat::Human && std::io::stderr().is_terminal();
        let bar = show.then(|| {
            let bar = ProgressBar::new(total as u64);
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] [{bar:28}] {pos}/{len} {msg}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            crate::logs::show_bar(&bar);
            bar
        });
        Self { bar }
    }
}

impl Observer for Progress {
    fn started(&mut self, stage: Stage, index: usize, total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
            bar.set_position(index as u64);
            bar.set_message(stage.name().to_string());
        }
    }

    fn finished(&mut self, outcome: &StageOutcome) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(format!("{} {}", outcome.stage, outcome.status.label()));
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            crate::logs::hide_bar();
            bar.finish_and_clear();
        }
    }
}
