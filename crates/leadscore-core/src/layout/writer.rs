//! Writing a stage's outputs: a staging folder, the manifest, and the atomic move into place.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{RunContext, RunLayout, Scope, Stage};
use crate::error::{CoreError, Result};
use crate::io::{self, TableMeta, WrittenFile};
use crate::schema::{SCHEMA_VERSION, files};
use crate::time::RunDate;

impl RunLayout {
    /// Starts writing a stage's outputs into a staging folder (those of the run's part, for a
    /// partitioned stage run on one: [`RunLayout::folder`]).
    pub fn begin(&self, ctx: &RunContext, stage: Stage) -> Result<StageWriter> {
        let final_dir = self.folder(ctx.run_date, stage, ctx.partition);
        let parent = self.run_dir(ctx.run_date);
        let name = final_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let werr = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CoreError::Write { path, source }
        };
        io::create_dir_private(&parent).map_err(werr(&parent))?;
        clear_stale_partials(&parent);
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(werr(&staging))?;
        }
        io::create_dir_private(&staging).map_err(werr(&staging))?;
        Ok(StageWriter {
            stage,
            name,
            layout: self.clone(),
            meta: ctx.table_meta(stage),
            scope: if stage.scoped() { ctx.scope } else { Scope::Full },
            final_dir,
            staging,
            outputs: Vec::new(),
            committed: false,
        })
    }
}

/// Removes the staging folders (`.<folder>.partial-<pid>`) and replaced outputs awaiting deletion
/// (`.<folder>.old-<pid>`) in a run date's folder that processes no longer running left.
pub(super) fn clear_stale_partials(run_dir: &Path) {
    let Ok(entries) = fs::read_dir(run_dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix('.')
            .and_then(|n| n.rsplit_once(".partial-").or_else(|| n.rsplit_once(".old-")))
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !process_alive(pid) {
            tracing::info!(folder = %e.path().display(), "removing output left by an interrupted run");
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Whether a process with this id is running (Linux: `/proc/<pid>` exists). Elsewhere every
/// process is assumed alive, so nothing is removed that might be in use.
pub fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if Path::new("/proc").is_dir() { Path::new(&format!("/proc/{pid}")).exists() } else { true }
}

/// Collects one stage's outputs in a staging folder; [`StageWriter::commit`] moves them into place.
/// Dropped without commit, it removes the staging folder.
#[derive(Debug)]
pub struct StageWriter {
    stage: Stage,
    /// The final folder's name (the stage's, or its part's).
    name: String,
    layout: RunLayout,
    meta: TableMeta,
    scope: Scope,
    final_dir: PathBuf,
    staging: PathBuf,
    outputs: Vec<WrittenFile>,
    committed: bool,
}

impl StageWriter {
    /// The folder outputs are written to before commit.
    pub fn staging_dir(&self) -> &Path {
        &self.staging
    }

    /// Where the stage's outputs will be after commit.
    pub fn final_dir(&self) -> &Path {
        &self.final_dir
    }

    /// Writes a table (with this run's metadata), recorded by its path in the stage folder
    /// (`tables/<name>.parquet` for a member of a folder artifact).
    pub fn write_parquet(&mut self, file: &str, df: &mut polars::prelude::DataFrame) -> Result<()> {
        let rec = io::write_parquet(&self.staging.join(file), df, &self.meta)?;
        self.outputs.push(WrittenFile { file: file.to_string(), ..rec });
        Ok(())
    }

    /// Writes a declared output table of this stage (with this run's metadata); a table without
    /// its declared columns is a bug.
    pub fn write_table(&mut self, a: &crate::artifact::Artifact, df: &mut polars::prelude::DataFrame) -> Result<()> {
        self.own(a)?;
        let path = self.staging.join(a.file);
        a.check(df, &path)
            .map_err(|e| CoreError::Internal(format!("an output does not match its declaration: {e}")))?;
        self.write_parquet(a.file, df)
    }

    /// Writes the member `name` of a declared folder output of this stage
    /// ([`crate::artifact::SOURCE_TABLES`]).
    pub fn write_member(
        &mut self,
        a: &crate::artifact::Artifact,
        name: &str,
        df: &mut polars::prelude::DataFrame,
    ) -> Result<()> {
        self.own(a)?;
        let folder = self.staging.join(a.file);
        fs::create_dir_all(&folder).map_err(|source| CoreError::Write { path: folder.clone(), source })?;
        self.write_parquet(&a.member(name), df)
    }

    /// A stage writes only its own artifacts: another's is a bug.
    fn own(&self, a: &crate::artifact::Artifact) -> Result<()> {
        if a.producer == self.stage {
            Ok(())
        } else {
            Err(CoreError::Internal(format!("stage `{}` writes {} of `{}`", self.stage, a.file, a.producer)))
        }
    }

    /// Writes a JSON document (a report).
    pub fn write_json<T: Serialize>(&mut self, file: &str, value: &T) -> Result<()> {
        let rec = io::write_json(&self.staging.join(file), value)?;
        self.outputs.push(rec);
        Ok(())
    }

    /// Writes raw bytes (CSV, HTML, …).
    pub fn write_bytes(&mut self, file: &str, bytes: &[u8]) -> Result<()> {
        let rec = io::write_bytes(&self.staging.join(file), bytes)?;
        self.outputs.push(rec);
        Ok(())
    }

    /// Writes a table encoded elsewhere (Parquet bytes from the arrow writer) and records its rows.
    pub fn write_table_bytes(&mut self, file: &str, bytes: &[u8], rows: u64) -> Result<()> {
        let mut rec = io::write_bytes(&self.staging.join(file), bytes)?;
        rec.rows = Some(rows);
        self.outputs.push(rec);
        Ok(())
    }

    /// Writes the manifest and moves the stage's folder into place, replacing an earlier run's.
    pub fn commit(mut self, inputs: Vec<InputFile>, timings: Vec<Timing>, started: Instant) -> Result<Manifest> {
        let inputs = inputs.into_iter().map(|i| InputFile { path: self.layout.recorded(&i.path), ..i }).collect();
        let manifest = Manifest {
            stage: self.stage,
            run_date: self.meta.run_date,
            status: "success".into(),
            leadscore_version: io::VERSION.into(),
            build: crate::digest::build_id().into(),
            schema_version: SCHEMA_VERSION,
            config_hash: self.meta.config_hash.clone(),
            scope: self.scope,
            inputs,
            outputs: std::mem::take(&mut self.outputs),
            timings,
            seconds_total: started.elapsed().as_secs_f64(),
        };
        io::write_json(&self.staging.join(files::MANIFEST), &manifest)?;
        let werr = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CoreError::Write { path, source }
        };
        if self.final_dir.exists() {
            let old = self.final_dir.with_file_name(format!(".{}.old-{}", self.name, std::process::id()));
            let _ = fs::remove_dir_all(&old);
            fs::rename(&self.final_dir, &old).map_err(werr(&self.final_dir))?;
            fs::rename(&self.staging, &self.final_dir).map_err(werr(&self.final_dir))?;
            let _ = fs::remove_dir_all(&old);
        } else {
            fs::rename(&self.staging, &self.final_dir).map_err(werr(&self.final_dir))?;
        }
        self.committed = true;
        Ok(manifest)
    }
}

impl Drop for StageWriter {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// An input file a stage read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFile {
    /// Path: relative to the config's folder when the file is reached from it (see
    /// [`RunLayout::for_config`]), else as given.
    pub path: String,
    /// SHA-256 of the content.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Rows read from it, for tables.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rows: Option<u64>,
    /// For a database source: the query whose result was read (`path` then names the
    /// environment variable of the connection, `env:NAME`, and `sha256` digests the result as
    /// CSV). Freshness runs it again to tell whether the result changed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub query: Option<String>,
}

impl InputFile {
    /// Hashes a file.
    pub fn hash(path: &Path, rows: Option<u64>) -> Result<Self> {
        let (sha256, bytes) = io::hash_file(path)?;
        Ok(Self { path: path.display().to_string(), sha256, bytes, rows, query: None })
    }
}

/// How long one step of a stage took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Step name (`read leads`, `parse`, `write`).
    pub step: String,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Times steps of a stage.
#[derive(Debug)]
pub struct Stopwatch {
    last: Instant,
    timings: Vec<Timing>,
}

impl Default for Stopwatch {
    fn default() -> Self {
        Self::new()
    }
}

impl Stopwatch {
    /// Starts timing.
    pub fn new() -> Self {
        Self { last: Instant::now(), timings: Vec::new() }
    }

    /// Records the time since the previous lap under `step`.
    pub fn lap(&mut self, step: impl Into<String>) {
        let now = Instant::now();
        let timing = Timing { step: step.into(), seconds: (now - self.last).as_secs_f64() };
        tracing::debug!(step = %timing.step, seconds = timing.seconds, resident_mib = crate::memory::resident_mib(), "step done");
        self.timings.push(timing);
        self.last = now;
    }

    /// Appends steps timed elsewhere (a stage's inner steps) and restarts the lap from now.
    pub fn record(&mut self, timings: Vec<Timing>) {
        self.timings.extend(timings);
        self.last = Instant::now();
    }

    /// The recorded steps.
    pub fn into_timings(self) -> Vec<Timing> {
        self.timings
    }
}

/// `manifest.json`: what a stage read and wrote. Written last; its presence marks success.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The stage.
    pub stage: Stage,
    /// The run date.
    pub run_date: RunDate,
    /// Always `success` (failed stages leave no manifest).
    pub status: String,
    /// The leadscore version that ran.
    pub leadscore_version: String,
    /// The build that ran (SHA-256 of the executable, [`crate::digest::build_id`]).
    #[serde(default)]
    pub build: String,
    /// Canonical table layout version.
    pub schema_version: u32,
    /// SHA-256 of the resolved config.
    pub config_hash: String,
    /// The rows of the history the stage kept ([`Scope`]; absent for the whole history).
    #[serde(default, skip_serializing_if = "Scope::is_full")]
    pub scope: Scope,
    /// Files read, with content hashes.
    pub inputs: Vec<InputFile>,
    /// Files written, with row counts and hashes.
    pub outputs: Vec<WrittenFile>,
    /// Seconds per step.
    pub timings: Vec<Timing>,
    /// Seconds for the whole stage.
    pub seconds_total: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> RunContext {
        RunContext {
            run_date: "2026-03-01".parse().unwrap_or_else(|_| RunDate::new(chrono::NaiveDate::MIN)),
            config_hash: "h".into(),
            seed: 1,
            retrain: false,
            partition: None,
            scope: Scope::Full,
        }
    }

    #[test]
    fn uncommitted_stage_leaves_nothing_and_commit_replaces_atomically() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| CoreError::Internal(e.to_string()))?;
        let layout = RunLayout::new(dir.path());
        let ctx = ctx();
        {
            let mut w = layout.begin(&ctx, Stage::Ingest)?;
            w.write_json("report.json", &serde_json::json!({"a": 1}))?;
            // Dropped without commit: as if the stage failed.
        }
        assert!(!layout.stage_dir(ctx.run_date, Stage::Ingest).exists());
        let run_dir = layout.run_dir(ctx.run_date);
        assert_eq!(fs::read_dir(&run_dir).map(|d| d.count()).unwrap_or(99), 0);

        let mut w = layout.begin(&ctx, Stage::Ingest)?;
        w.write_json("report.json", &serde_json::json!({"a": 2}))?;
        let m = w.commit(vec![], vec![], Instant::now())?;
        assert_eq!(m.outputs.len(), 1);
        let read = layout.manifest(ctx.run_date, Stage::Ingest);
        assert_eq!(read.as_ref().map(|m| m.status.as_str()), Some("success"));
        assert_eq!(read.map(|m| m.config_hash), Some("h".to_string()));

        // A second commit replaces the first, leaving no side folders.
        let mut w = layout.begin(&ctx, Stage::Ingest)?;
        w.write_json("other.json", &serde_json::json!({}))?;
        w.commit(vec![], vec![], Instant::now())?;
        let stage_dir = layout.stage_dir(ctx.run_date, Stage::Ingest);
        assert!(!stage_dir.join("report.json").exists());
        assert!(stage_dir.join("other.json").exists());
        assert_eq!(fs::read_dir(&run_dir).map(|d| d.count()).unwrap_or(99), 1);
        Ok(())
    }

    #[test]
    fn stale_partial_folders_of_dead_processes_are_cleared() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| CoreError::Internal(e.to_string()))?;
        let layout = RunLayout::new(dir.path());
        let ctx = ctx();
        let run_dir = layout.run_dir(ctx.run_date);
        // pid 0 never names a user process; u32::MAX is beyond any pid_max.
        let stale = run_dir.join(format!(".ingest.partial-{}", u32::MAX));
        fs::create_dir_all(&stale).map_err(|e| CoreError::Internal(e.to_string()))?;
        let w = layout.begin(&ctx, Stage::Ingest)?;
        assert!(!stale.exists());
        drop(w);
        Ok(())
    }
}
