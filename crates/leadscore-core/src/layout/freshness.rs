//! Whether a stage's earlier outputs can be reused.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::{InputFile, RunContext, RunLayout, Scope, Stage, writer};
use crate::io;
use crate::layout::Manifest;
use crate::schema::SCHEMA_VERSION;
use crate::time::RunDate;

/// Whether a stage's earlier outputs for a run date can be reused.
#[derive(Debug, Clone)]
pub enum Freshness {
    /// Reusable: its manifest shows success with the same config, build, inputs and outputs.
    Fresh(Box<Manifest>),
    /// It must run, for this reason.
    Stale(String),
}

/// What freshness asks of the sources, which only ingest knows how to read.
pub struct SourceProbe<'a> {
    /// The source files ingest would read for a run date now (a glob or a partitioned folder may
    /// have gained or lost files), resolved against the config folder, or why they cannot be
    /// listed.
    pub files: &'a dyn Fn(RunDate) -> Result<Vec<PathBuf>, String>,
    /// Runs a database input's query again and digests its result the way ingest did (see
    /// [`InputFile::query`]), or says why it cannot.
    pub query_digest: &'a dyn Fn(&InputFile) -> Result<String, String>,
}

impl RunLayout {
    /// Whether the stage's outputs for the run date can be reused: its manifest shows success
    /// with the same config hash, leadscore build and table layout; every input it read still has
    /// the content hash it had; and every output still has the content hash it was written with
    /// (so a damaged or edited output is recomputed). Ingest's source files must also be the
    /// files it would read now (`sources.files`), and a database query's result is checked
    /// last, by running the query again (`sources.query_digest`).
    pub fn freshness(&self, ctx: &RunContext, stage: Stage, sources: &SourceProbe<'_>) -> Freshness {
        let stale = |why: String| Freshness::Stale(why);
        let Some(m) = self.part_manifest(ctx.run_date, stage, ctx.partition) else {
            let part = ctx.partition.filter(|_| stage.partitioned()).map(|p| format!(" part {p}")).unwrap_or_default();
            return stale(format!("no completed run of `{stage}`{part} for {}", ctx.run_date));
        };
        if m.status != "success" {
            return stale(format!("its last run ended with status `{}`", m.status));
        }
        if m.config_hash != ctx.config_hash {
            return stale("the config changed since it ran".into());
        }
        if m.scope == Scope::Scoring && ctx.scope == Scope::Full {
            return stale(
                "it kept only the rows a day without training reads; this run needs the whole history".into(),
            );
        }
        if m.build != crate::digest::build_id() {
            return stale("it ran with another leadscore build".into());
        }
        if m.schema_version != SCHEMA_VERSION {
            return stale(format!("it wrote table layout {} (now {SCHEMA_VERSION})", m.schema_version));
        }
        if stage == Stage::Ingest {
            // Compared as the manifest records paths.
            let read: BTreeSet<String> =
                m.inputs.iter().filter(|i| i.query.is_none()).map(|i| i.path.clone()).collect();
            match (sources.files)(ctx.run_date) {
                Ok(now) => {
                    let now: BTreeSet<String> = now.iter().map(|p| self.recorded(&p.display().to_string())).collect();
                    if let Some(added) = now.difference(&read).next() {
                        return stale(format!("source file {added} is new"));
                    }
                    if let Some(gone) = read.difference(&now).next() {
                        return stale(format!("source file {gone} is no longer read"));
                    }
                }
                Err(why) => return stale(format!("the source files cannot be listed ({why})")),
            }
        }
        for input in m.inputs.iter().filter(|i| i.query.is_none()) {
            match io::hash_file(&self.resolved(&input.path)) {
                Ok((h, _)) if h == input.sha256 => {}
                Ok(_) => return stale(format!("input {} changed", input.path)),
                Err(_) => return stale(format!("input {} can no longer be read", input.path)),
            }
        }
        let dir = self.folder(ctx.run_date, stage, ctx.partition);
        for output in &m.outputs {
            let path = dir.join(&output.file);
            match io::hash_file(&path) {
                Ok((h, _)) if h == output.sha256 => {}
                Ok(_) => return stale(format!("output {} differs from what it wrote", path.display())),
                Err(_) => return stale(format!("output {} is missing", path.display())),
            }
        }
        for input in m.inputs.iter().filter(|i| i.query.is_some()) {
            match (sources.query_digest)(input) {
                Ok(h) if h == input.sha256 => {}
                Ok(_) => return stale(format!("the result of the query of {} changed", input.path)),
                Err(why) => return stale(format!("the query of {} could not be run again ({why})", input.path)),
            }
        }
        Freshness::Fresh(Box::new(m))
    }

    /// Removes what interrupted runs left for the run date: staging folders of stages that never
    /// committed and replaced outputs awaiting deletion, of processes that no longer run.
    pub fn clear_interrupted(&self, date: RunDate) {
        writer::clear_stale_partials(&self.run_dir(date));
    }
}
