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

mod freshness;
mod lock;
mod partition;
mod run;
mod writer;

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::artifact::Artifact;
use crate::error::{CoreError, Result};
use crate::io::{self, TableMeta};
use crate::schema::files;
use crate::time::RunDate;

pub use freshness::{Freshness, SourceProbe};
pub use lock::{LOCK_FILE, RunLock};
pub use partition::{MAX_PARTS, Partition};
pub use run::{Outputs, StageRun};
pub use writer::{InputFile, Manifest, StageWriter, Stopwatch, Timing, process_alive};

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
    /// Leads, qualified share and predicted value per traffic source and week.
    Channels,
}

impl Stage {
    /// Every stage, in DAG order.
    pub const ALL: [Stage; 8] = [
        Stage::Ingest,
        Stage::Labels,
        Stage::Features,
        Stage::Train,
        Stage::Qualify,
        Stage::Value,
        Stage::Export,
        Stage::Channels,
    ];

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
            Self::Channels => "channels",
        }
    }

    /// Parses a stage name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The stages whose outputs this stage reads, in DAG order: the producers of its declared
    /// inputs ([`crate::artifact::inputs`]; qualify reads train's champion from the model
    /// registry). A pipeline that runs both must run them first.
    pub fn reads(self) -> Vec<Stage> {
        let mut stages: Vec<Stage> =
            crate::artifact::inputs(self).iter().map(|a| a.producer).filter(|p| *p != self).collect();
        stages.sort();
        stages.dedup();
        stages
    }

    /// Whether the stage can run on one part of the day's leads (`--partition I/N`, see
    /// [`Partition`]): the per-lead stages, whose rows do not depend on one another.
    pub fn partitioned(self) -> bool {
        matches!(self, Self::Qualify | Self::Value)
    }

    /// Whether the stage keeps less than the whole history in a run of [`Scope::Scoring`]:
    /// ingest, and labels after it.
    pub fn scoped(self) -> bool {
        matches!(self, Self::Ingest | Self::Labels)
    }

    /// The config section that tunes this stage (`[train]` …), if it has one.
    pub fn config_section(self) -> Option<&'static str> {
        match self {
            Self::Labels => Some("labels"),
            Self::Features => Some("features"),
            Self::Train => Some("train"),
            Self::Qualify => Some("qualify"),
            Self::Export => Some("export"),
            Self::Channels => Some("channels"),
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
    /// The part of the day's leads a partitioned stage runs on (`--partition I/N`); `None` for
    /// every lead.
    pub partition: Option<Partition>,
    /// How much of the history ingest and labels keep ([`Scope`]).
    pub scope: Scope,
}

/// How much of the history a run's ingest and labels keep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Every row of the sources: what features and training read.
    #[default]
    Full,
    /// The rows a run that does not train reads: the leads created from the first day it may
    /// export ([`crate::Config::first_exported_day`]) and the deals and events of their users.
    /// The pipeline runner chooses it on the days training is not due (see
    /// `leadscore_pipeline::run`); tables kept so are never read by a run of the whole history.
    Scoring,
}

impl Scope {
    /// The whole history (serde's `skip_serializing_if` needs a function).
    pub fn is_full(&self) -> bool {
        *self == Self::Full
    }
}

impl RunContext {
    /// The Parquet metadata for a table written by `stage` in this run.
    pub fn table_meta(&self, stage: Stage) -> TableMeta {
        TableMeta { stage: stage.name().into(), run_date: self.run_date, config_hash: self.config_hash.clone() }
    }
}

/// The part of a table a stage reads ([`RunLayout::read_part_table`]): by default all of it.
#[derive(Debug, Clone, Default)]
pub struct Reading<'a> {
    /// Only these rows ([`io::read_parquet_rows`]).
    pub rows: Option<crate::frame::Rows>,
    /// Only these columns (each must exist; declared ones are checked): the others are not read.
    pub columns: Option<&'a [&'a str]>,
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

    /// `<output_dir>/runs/<date>/<stage>.part-<I>-of-<N>`: one part of a partitioned stage.
    pub fn part_dir(&self, date: RunDate, stage: Stage, part: Partition) -> PathBuf {
        self.run_dir(date).join(part.folder(stage))
    }

    /// The folder `stage` writes (and is read from) in a run on `part`: the part's folder for a
    /// partitioned stage, the stage's folder otherwise.
    pub fn folder(&self, date: RunDate, stage: Stage, part: Option<Partition>) -> PathBuf {
        match part {
            Some(p) if stage.partitioned() => self.part_dir(date, stage, p),
            _ => self.stage_dir(date, stage),
        }
    }

    /// The path of an artifact of the run date, checked to exist: when it does not, the error
    /// names the stage to run.
    pub fn existing(&self, date: RunDate, artifact: &Artifact) -> Result<PathBuf> {
        self.existing_file(date, artifact, artifact.file, None)
    }

    /// The path of `file` of `artifact`'s producer on the run date (of its part `part` when the
    /// producer is partitioned), checked to exist as [`Self::existing`] checks it.
    fn existing_file(
        &self,
        date: RunDate,
        artifact: &Artifact,
        file: &str,
        part: Option<Partition>,
    ) -> Result<PathBuf> {
        let path = self.folder(date, artifact.producer, part).join(file);
        if !path.exists() {
            let stage = match part {
                Some(p) if artifact.producer.partitioned() => format!("{} --partition {p}", artifact.producer),
                _ => artifact.producer.name().into(),
            };
            return Err(CoreError::MissingStageOutput { path, stage, run_date: date.to_string() });
        }
        Ok(path)
    }

    /// Reads a table of the run date and checks its declared columns; names the stage to run
    /// when it is missing, and the file and column when a column is missing or of another kind.
    pub fn read_table(&self, date: RunDate, artifact: &Artifact) -> Result<(polars::prelude::DataFrame, InputFile)> {
        self.read_table_file(date, artifact, artifact.file, None, Reading::default())
    }

    /// [`Self::read_table`] of a run on `part` (a partitioned producer's table of that part), the
    /// part of it `reading` names (the input records the whole file's hash and the rows read).
    pub fn read_part_table(
        &self,
        date: RunDate,
        artifact: &Artifact,
        part: Option<Partition>,
        reading: Reading<'_>,
    ) -> Result<(polars::prelude::DataFrame, InputFile)> {
        self.read_table_file(date, artifact, artifact.file, part, reading)
    }

    /// [`Self::read_part_table`] of `file` of the artifact's producer (the artifact itself, or
    /// one of its members).
    fn read_table_file(
        &self,
        date: RunDate,
        artifact: &Artifact,
        file: &str,
        part: Option<Partition>,
        reading: Reading<'_>,
    ) -> Result<(polars::prelude::DataFrame, InputFile)> {
        let path = self.existing_file(date, artifact, file, part)?;
        let df = match (reading.rows, reading.columns) {
            (None, None) => io::read_parquet(&path)?,
            (Some(rows), None) => io::read_parquet_rows(&path, None, Some(&rows))?,
            (rows, Some(columns)) => {
                let available = io::parquet_columns(&path)?;
                if let Some(missing) = columns.iter().find(|c| !available.iter().any(|a| a == *c)) {
                    return Err(CoreError::MissingColumn {
                        path,
                        column: (*missing).to_string(),
                        expected: format!("a column of {}, written by `{}`", artifact.file, artifact.producer),
                        available: available.join(", "),
                    });
                }
                io::read_parquet_rows(&path, Some(columns), rows.as_ref())?
            }
        };
        artifact.check_read(&df, &path, reading.columns)?;
        let input = InputFile::hash(&path, Some(df.height() as u64))?;
        Ok((df, input))
    }

    /// Reads one member table of a folder artifact ([`Artifact::member`]) of the run date; names
    /// the stage to run when it is missing.
    pub fn read_member(
        &self,
        date: RunDate,
        artifact: &Artifact,
        name: &str,
    ) -> Result<(polars::prelude::DataFrame, InputFile)> {
        self.read_table_file(date, artifact, &artifact.member(name), None, Reading::default())
    }

    /// The run dates whose `artifact` was committed (its stage's manifest written), oldest first.
    pub fn committed(&self, artifact: &Artifact) -> Vec<RunDate> {
        let Ok(entries) = fs::read_dir(self.root.join("runs")) else { return Vec::new() };
        let mut dates: Vec<RunDate> = entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<RunDate>().ok())
            .filter(|d| {
                self.output(*d, artifact.producer, files::MANIFEST).is_file()
                    && self.output(*d, artifact.producer, artifact.file).is_file()
            })
            .collect();
        dates.sort();
        dates
    }

    /// The latest run date before `date` whose `artifact` was committed.
    pub fn previous(&self, date: RunDate, artifact: &Artifact) -> Option<RunDate> {
        self.committed(artifact).into_iter().rev().find(|d| *d < date)
    }

    /// The manifest of a completed stage, if it completed.
    pub fn manifest(&self, date: RunDate, stage: Stage) -> Option<Manifest> {
        self.part_manifest(date, stage, None)
    }

    /// The manifest of a completed stage of a run on `part` (see [`Self::folder`]).
    pub fn part_manifest(&self, date: RunDate, stage: Stage, part: Option<Partition>) -> Option<Manifest> {
        let text = fs::read_to_string(self.folder(date, stage, part).join(files::MANIFEST)).ok()?;
        serde_json::from_str(&text).ok()
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
