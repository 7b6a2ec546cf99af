//! Whether a stage's earlier outputs can be reused.

use super::{InputFile, RunContext, RunLayout, Stage, writer};
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

/// Runs a database input's query again and digests its result the way the stage did (see
/// [`InputFile::query`]), or says why it cannot.
pub type QueryDigest<'a> = &'a dyn Fn(&InputFile) -> Result<String, String>;

impl RunLayout {
    /// Whether the stage's outputs for the run date can be reused: its manifest shows success
    /// with the same config hash, leadscore build and table layout; every input it read still has
    /// the content hash it had; and every output still has the content hash it was written with
    /// (so a damaged or edited output is recomputed). An input that is a database query's result
    /// is checked last, by running the query again through `query_digest`.
    pub fn freshness(&self, ctx: &RunContext, stage: Stage, query_digest: QueryDigest<'_>) -> Freshness {
        let stale = |why: String| Freshness::Stale(why);
        let Some(m) = self.manifest(ctx.run_date, stage) else {
            return stale(format!("no completed run of `{stage}` for {}", ctx.run_date));
        };
        if m.status != "success" {
            return stale(format!("its last run ended with status `{}`", m.status));
        }
        if m.config_hash != ctx.config_hash {
            return stale("the config changed since it ran".into());
        }
        if m.build != crate::digest::build_id() {
            return stale("it ran with another leadscore build".into());
        }
        if m.schema_version != SCHEMA_VERSION {
            return stale(format!("it wrote table layout {} (now {SCHEMA_VERSION})", m.schema_version));
        }
        for input in m.inputs.iter().filter(|i| i.query.is_none()) {
            match io::hash_file(&self.resolved(&input.path)) {
                Ok((h, _)) if h == input.sha256 => {}
                Ok(_) => return stale(format!("input {} changed", input.path)),
                Err(_) => return stale(format!("input {} can no longer be read", input.path)),
            }
        }
        let dir = self.stage_dir(ctx.run_date, stage);
        for output in &m.outputs {
            let path = dir.join(&output.file);
            match io::hash_file(&path) {
                Ok((h, _)) if h == output.sha256 => {}
                Ok(_) => return stale(format!("output {} differs from what it wrote", path.display())),
                Err(_) => return stale(format!("output {} is missing", path.display())),
            }
        }
        for input in m.inputs.iter().filter(|i| i.query.is_some()) {
            match query_digest(input) {
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
        for stage in Stage::ALL {
            writer::clear_stale_partials(&self.run_dir(date), stage);
        }
    }
}
