//! The run layout on disk and stage manifests.
//!
//! ```text
//! <output_dir>/runs/<YYYY-MM-DD>/<stage>/        one folder per stage and run date
//!     leads.parquet, …, report.json
//!     manifest.json                              written last: its presence marks success
//! ```
//!
//! A stage writes into a hidden staging folder (`.<stage>.partial-<pid>`) next to its final folder
//! and renames it into place only when every output and the manifest are written. A stage that
//! dies leaves at most a `.partial` folder, which no reader mistakes for output and the next run
//! clears away.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::io::{self, TableMeta, WrittenFile};
use crate::schema::{SCHEMA_VERSION, files};
use crate::time::RunDate;

/// The stages of the pipeline, in DAG order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// CRM exports → canonical tables + rejects.
    Ingest,
    /// Conversion definitions → conversions and per-lead window labels.
    Labels,
    /// Point-in-time features, the fitted feature spec, the leakage audit.
    Features,
    /// Models, calibration, thresholds, the registry and its champion.
    Train,
    /// Daily scores: probability, score, segment, qualified flag and reasons per new lead.
    Qualify,
    /// Predicted value within the window per scored lead.
    Value,
    /// Qualified leads in the ad platforms' upload formats.
    Export,
}

impl Stage {
    /// Every stage, in DAG order.
    pub const ALL: [Stage; 7] =
        [Stage::Ingest, Stage::Labels, Stage::Features, Stage::Train, Stage::Qualify, Stage::Value, Stage::Export];

    /// The stage's name (folder name, CLI name).
    pub fn name(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Labels => "labels",
            Self::Features => "features",
            Self::Train => "train",
            Self::Qualify => "qualify",
            Self::Value => "value",
            Self::Export => "export",
        }
    }

    /// Parses a stage name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The stages whose outputs this stage reads (qualify reads train's champion from the model
    /// registry). A pipeline that runs both must run them first.
    pub fn reads(self) -> &'static [Stage] {
        match self {
            Self::Ingest => &[],
            Self::Labels => &[Self::Ingest],
            Self::Features => &[Self::Ingest, Self::Labels],
            Self::Train => &[Self::Features],
            Self::Qualify => &[Self::Ingest, Self::Train],
            Self::Value => &[Self::Ingest, Self::Qualify],
            Self::Export => &[Self::Ingest, Self::Qualify, Self::Value],
        }
    }

    /// The config section that tunes this stage (`[train]` …), if it has one.
    pub fn config_section(self) -> Option<&'static str> {
        match self {
            Self::Labels => Some("labels"),
            Self::Features => Some("features"),
            Self::Train => Some("train"),
            Self::Qualify => Some("qualify"),
            Self::Export => Some("export"),
            Self::Ingest | Self::Value => None,
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What every stage gets besides its config and inputs.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The run date.
    pub run_date: RunDate,
    /// SHA-256 of the resolved config.
    pub config_hash: String,
    /// Seed for every random source of the run.
    pub seed: u64,
    /// Train even when the champion is recent (`--retrain`).
    pub retrain: bool,
}

impl RunContext {
    /// The Parquet metadata for a table written by `stage` in this run.
    pub fn table_meta(&self, stage: Stage) -> TableMeta {
        TableMeta { stage: stage.name().into(), run_date: self.run_date, config_hash: self.config_hash.clone() }
    }
}

/// Folders of runs under an output directory.
#[derive(Debug, Clone)]
pub struct RunLayout {
    root: PathBuf,
    /// Input paths in manifests are written relative to this folder (the config's), so that a
    /// run from another working directory finds the same manifests up to date.
    base: PathBuf,
}

impl RunLayout {
    /// The layout under `output_dir`; manifests record input paths as given.
    pub fn new(output_dir: impl Into<PathBuf>) -> Self {
        Self { root: output_dir.into(), base: PathBuf::new() }
    }

    /// The layout of a config's output folder; manifests record input paths relative to the
    /// config's folder.
    pub fn for_config(config: &crate::Config) -> Self {
        Self { root: config.output_dir(), base: config.base_dir.clone() }
    }

    /// The output folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// An input path as a manifest records it: relative to the config's folder when it is inside
    /// it (or reached from it), else as given.
    fn recorded(&self, path: &str) -> String {
        if self.base.as_os_str().is_empty() || self.base == Path::new(".") {
            return path.to_string();
        }
        Path::new(path).strip_prefix(&self.base).map_or_else(|_| path.to_string(), |p| p.display().to_string())
    }

    /// A recorded input path as a path to open.
    fn resolved(&self, recorded: &str) -> PathBuf {
        let p = Path::new(recorded);
        if p.is_absolute() || self.base.as_os_str().is_empty() { p.to_path_buf() } else { self.base.join(p) }
    }

    /// Checks that the output folder is a folder (or does not exist yet): a file in its place is
    /// a configuration error, not a failure halfway through a run.
    pub fn check_root(&self) -> Result<()> {
        check_folder(&self.root, "[project] output_dir")
    }

    /// `<output_dir>/runs/<date>`.
    pub fn run_dir(&self, date: RunDate) -> PathBuf {
        self.root.join("runs").join(date.to_string())
    }

    /// `<output_dir>/runs/<date>/<stage>`.
    pub fn stage_dir(&self, date: RunDate, stage: Stage) -> PathBuf {
        self.run_dir(date).join(stage.name())
    }

    /// The path of one output of a stage that has completed.
    pub fn output(&self, date: RunDate, stage: Stage, file: &str) -> PathBuf {
        self.stage_dir(date, stage).join(file)
    }

    /// Reads one table a stage wrote for the run date; names the stage to run when it is missing.
    pub fn read_output(
        &self,
        date: RunDate,
        stage: Stage,
        file: &str,
    ) -> Result<(polars::prelude::DataFrame, InputFile)> {
        let path = self.output(date, stage, file);
        if !path.exists() {
            return Err(CoreError::MissingStageOutput { path, stage: stage.name().into(), run_date: date.to_string() });
        }
        let df = io::read_parquet(&path)?;
        let input = InputFile::hash(&path, Some(df.height() as u64))?;
        Ok((df, input))
    }

    /// The manifest of a completed stage, if it completed.
    pub fn manifest(&self, date: RunDate, stage: Stage) -> Option<Manifest> {
        let text = fs::read_to_string(self.output(date, stage, files::MANIFEST)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Starts writing a stage's outputs into a staging folder.
    pub fn begin(&self, ctx: &RunContext, stage: Stage) -> Result<StageWriter> {
        let final_dir = self.stage_dir(ctx.run_date, stage);
        let parent = self.run_dir(ctx.run_date);
        let werr = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CoreError::Write { path, source }
        };
        io::create_dir_private(&parent).map_err(werr(&parent))?;
        clear_stale_partials(&parent, stage);
        let staging = parent.join(format!(".{}.partial-{}", stage.name(), std::process::id()));
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(werr(&staging))?;
        }
        io::create_dir_private(&staging).map_err(werr(&staging))?;
        Ok(StageWriter {
            stage,
            layout: self.clone(),
            meta: ctx.table_meta(stage),
            final_dir,
            staging,
            outputs: Vec::new(),
            committed: false,
        })
    }
}

/// Checks that `path` is a folder or can become one: neither it nor a folder above it is a file.
pub fn check_folder(path: &Path, key: &'static str) -> Result<()> {
    for p in path.ancestors().filter(|p| !p.as_os_str().is_empty()) {
        if p.exists() {
            if p.is_dir() {
                return Ok(());
            }
            return Err(CoreError::NotAFolder { path: p.to_path_buf(), key });
        }
    }
    Ok(())
}

/// Whether a stage's earlier outputs for a run date can be reused.
#[derive(Debug, Clone)]
pub enum Freshness {
    /// Reusable: its manifest shows success with the same config, build, inputs and outputs.
    Fresh(Box<Manifest>),
    /// It must run, for this reason.
    Stale(String),
}

/// The name of the lock file in the output folder.
pub const LOCK_FILE: &str = ".leadscore.lock";

impl RunLayout {
    /// Whether the stage's outputs for the run date can be reused: its manifest shows success
    /// with the same config hash, leadscore build and table layout; every input it read still has
    /// the content hash it had; and every output still has the content hash it was written with
    /// (so a damaged or edited output is recomputed).
    pub fn freshness(&self, ctx: &RunContext, stage: Stage) -> Freshness {
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
        for input in &m.inputs {
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
        Freshness::Fresh(Box::new(m))
    }

    /// Removes what interrupted runs left for the run date: staging folders of stages that never
    /// committed and replaced outputs awaiting deletion, of processes that no longer run.
    pub fn clear_interrupted(&self, date: RunDate) {
        for stage in Stage::ALL {
            clear_stale_partials(&self.run_dir(date), stage);
        }
    }

    /// Takes the output folder's lock, waiting up to `wait` for another run to release it. The
    /// lock is an advisory lock on `<output_dir>/.leadscore.lock` held by this process; the
    /// operating system releases it when the process dies, so a lock left by a killed run is
    /// noticed (its holder's details are still in the file), reported, and taken over.
    pub fn lock(&self, command: &str, wait: std::time::Duration) -> Result<RunLock> {
        let werr = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CoreError::Write { path, source }
        };
        self.check_root()?;
        io::create_dir_private(&self.root).map_err(werr(&self.root))?;
        let path = self.root.join(LOCK_FILE);
        let deadline = Instant::now() + wait;
        loop {
            let mut options = fs::OpenOptions::new();
            options.read(true).write(true).create(true).truncate(false);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&path).map_err(werr(&path))?;
            match file.try_lock() {
                Ok(()) => {
                    let previous = read_holder(&mut file);
                    if let Some(p) = previous.filter(|p| !p.trim().is_empty()) {
                        tracing::warn!(lock = %path.display(), "clearing a stale lock: {} is no longer running", p.trim());
                    }
                    let me = format!(
                        "pid {} on {} since {} ({command})",
                        std::process::id(),
                        hostname(),
                        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
                    );
                    use std::io::{Seek, Write};
                    file.set_len(0).map_err(werr(&path))?;
                    file.seek(std::io::SeekFrom::Start(0)).map_err(werr(&path))?;
                    file.write_all(me.as_bytes()).map_err(werr(&path))?;
                    return Ok(RunLock { file, path });
                }
                Err(fs::TryLockError::WouldBlock) => {
                    if Instant::now() >= deadline {
                        let holder = read_holder(&mut file).unwrap_or_default();
                        return Err(CoreError::Locked { path, holder: holder.trim().to_string() });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                Err(fs::TryLockError::Error(source)) => return Err(CoreError::Write { path, source }),
            }
        }
    }
}

fn read_holder(file: &mut fs::File) -> Option<String> {
    use std::io::{Read, Seek};
    let mut text = String::new();
    file.seek(std::io::SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    Some(text)
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this machine".into())
}

/// The output folder's lock, held until dropped (or the process ends).
#[derive(Debug)]
pub struct RunLock {
    file: fs::File,
    path: PathBuf,
}

impl RunLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Empty means "released cleanly"; the advisory lock goes with the file handle.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// Removes staging folders (and replaced outputs awaiting deletion) of this stage left by
/// processes that no longer run.
fn clear_stale_partials(run_dir: &Path, stage: Stage) {
    let prefixes = [format!(".{}.partial-", stage.name()), format!(".{}.old-", stage.name())];
    let Ok(entries) = fs::read_dir(run_dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = prefixes.iter().find_map(|p| name.strip_prefix(p.as_str())).and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !process_alive(pid) {
            tracing::info!(stage = stage.name(), folder = %e.path().display(), "removing output left by an interrupted run");
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
    layout: RunLayout,
    meta: TableMeta,
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

    /// Writes a table (with this run's metadata).
    pub fn write_parquet(&mut self, file: &str, df: &mut polars::prelude::DataFrame) -> Result<()> {
        let rec = io::write_parquet(&self.staging.join(file), df, &self.meta)?;
        self.outputs.push(rec);
        Ok(())
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
            let old = self.final_dir.with_file_name(format!(".{}.old-{}", self.stage.name(), std::process::id()));
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
}

impl InputFile {
    /// Hashes a file.
    pub fn hash(path: &Path, rows: Option<u64>) -> Result<Self> {
        let (sha256, bytes) = io::hash_file(path)?;
        Ok(Self { path: path.display().to_string(), sha256, bytes, rows })
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
        self.timings.push(Timing { step: step.into(), seconds: (now - self.last).as_secs_f64() });
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
