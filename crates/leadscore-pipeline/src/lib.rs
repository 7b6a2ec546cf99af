//! `leadscore-pipeline`: the DAG runner.
//!
//! [`run`] is responsible for running leadscore's stages for one run date in dependency order,
//! each reading the Parquet tables the stages before it wrote under
//! `<output_dir>/runs/<date>/<stage>/`, and for reporting what each stage did. It is one of the
//! two crates (with the CLI) that see every stage; stages never depend on each other.

pub mod backtest;
pub mod dag;

use std::fmt::Write as _;

use leadscore_channels::{ChannelsError, ChannelsReport};
use leadscore_core::layout::{Freshness, Manifest, SourceProbe};
use leadscore_core::{Classify, Config, CoreError, ExitKind, RunContext, RunLayout, Scope, Stage};
use leadscore_export::{ExportError, ExportReport};
use leadscore_features::{FeaturesError, FeaturesReport};
use leadscore_ingest::{IngestError, IngestReport};
use leadscore_labels::{LabelsError, LabelsReport};
use leadscore_model::registry::{self, Due};
use leadscore_qualify::{QualifyError, QualifyReport};
use leadscore_train::{TrainError, TrainReport};
use leadscore_value::{ValueError, ValueStageReport};
use serde::Serialize;

/// Errors of a pipeline run: the failing stage's error, classified for the exit code.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The ingest stage failed.
    #[error("stage `ingest` {how}: {0}", how = ended(.0))]
    Ingest(#[from] IngestError),
    /// The labels stage failed.
    #[error("stage `labels` {how}: {0}", how = ended(.0))]
    Labels(#[from] LabelsError),
    /// The features stage failed.
    #[error("stage `features` {how}: {0}", how = ended(.0))]
    Features(#[from] FeaturesError),
    /// The train stage failed.
    #[error("stage `train` {how}: {0}", how = ended(.0))]
    Train(#[from] TrainError),
    /// The qualify stage failed.
    #[error("stage `qualify` {how}: {0}", how = ended(.0))]
    Qualify(#[from] QualifyError),
    /// The value stage failed.
    #[error("stage `value` {how}: {0}", how = ended(.0))]
    Value(#[from] ValueError),
    /// The export stage failed.
    #[error("stage `export` {how}: {0}", how = ended(.0))]
    Export(#[from] ExportError),
    /// The channels stage failed.
    #[error("stage `channels` {how}: {0}", how = ended(.0))]
    Channels(#[from] ChannelsError),
    /// Loading a model for a backtest failed.
    #[error(transparent)]
    Model(#[from] leadscore_model::ModelError),
    /// A backtest could not run.
    #[error("backtest: {0}")]
    Backtest(String),
    /// A core operation failed.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A stage that does not run in parts was asked to (`--partition`, `merge`).
    #[error(
        "`{0}` does not run in parts: only {parts} do (`--partition I/N`, then `leadscore merge`)",
        parts = partitioned_names()
    )]
    NotPartitioned(Stage),
}

/// The partitioned stages' names, for messages.
fn partitioned_names() -> String {
    let names: Vec<&str> = Stage::ALL.iter().filter(|s| s.partitioned()).map(|s| s.name()).collect();
    names.join(" and ")
}

/// How a stage's error reads: most fail, but "nothing to do" (exit 99) is not a failure.
fn ended(e: &impl Classify) -> &'static str {
    if e.exit_kind() == ExitKind::NothingToDo { "had nothing to do" } else { "failed" }
}

impl Classify for PipelineError {
    fn exit_kind(&self) -> ExitKind {
        match self {
            Self::Ingest(e) => e.exit_kind(),
            Self::Labels(e) => e.exit_kind(),
            Self::Features(e) => e.exit_kind(),
            Self::Train(e) => e.exit_kind(),
            Self::Qualify(e) => e.exit_kind(),
            Self::Value(e) => e.exit_kind(),
            Self::Export(e) => e.exit_kind(),
            Self::Channels(e) => e.exit_kind(),
            Self::Model(e) => e.exit_kind(),
            Self::Backtest(_) | Self::NotPartitioned(_) => ExitKind::Usage,
            Self::Core(e) => e.exit_kind(),
        }
    }
}

/// A stage's typed report.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum StageReport {
    /// What ingest read, kept and rejected.
    Ingest(IngestReport),
    /// Definitions, volumes and label counts.
    Labels(Box<LabelsReport>),
    /// Features built, splits and the leakage audit.
    Features(Box<FeaturesReport>),
    /// Models, calibration, thresholds and the champion decision.
    Train(Box<TrainReport>),
    /// Today's scores: policy, threshold, qualified share and drift.
    Qualify(Box<QualifyReport>),
    /// Predicted values of the day's leads.
    Value(Box<ValueStageReport>),
    /// Exported and refused leads per upload format.
    Export(Box<ExportReport>),
    /// Leads, qualified share and predicted value per channel and week.
    Channels(Box<ChannelsReport>),
}

impl StageReport {
    /// A short human summary.
    pub fn summary(&self) -> String {
        match self {
            Self::Ingest(r) => r.summary(),
            Self::Labels(r) => r.summary(),
            Self::Features(r) => r.summary(),
            Self::Train(r) => r.summary(),
            Self::Qualify(r) => r.summary(),
            Self::Value(r) => r.summary(),
            Self::Export(r) => r.summary(),
            Self::Channels(r) => r.render(),
        }
    }
}

/// One stage that ran.
#[derive(Debug, Clone, Serialize)]
pub struct StageRun {
    /// The stage.
    pub stage: Stage,
    /// Its report.
    pub report: StageReport,
    /// Its manifest (outputs, timings).
    pub manifest: Manifest,
}

/// How a stage of a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It ran and wrote its outputs.
    Ran,
    /// Its outputs were up to date (same inputs, config and build); nothing was done.
    Skipped,
    /// It had nothing to do (exit code 99); the stages after it did not run.
    NothingToDo,
    /// It failed; the stages after it did not run.
    Failed,
    /// An earlier stage stopped the run.
    NotRun,
}

impl Status {
    /// The word for the summary table.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ran => "ran",
            Self::Skipped => "skipped",
            Self::NothingToDo => "nothing to do",
            Self::Failed => "failed",
            Self::NotRun => "not run",
        }
    }
}

/// One stage of a run and how it ended.
#[derive(Debug, Clone, Serialize)]
pub struct StageOutcome {
    /// The stage.
    pub stage: Stage,
    /// How it ended.
    pub status: Status,
    /// Its report, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<StageReport>,
    /// Its manifest: this run's, or the reused one's when skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Manifest>,
    /// Why it was skipped, or what stopped it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Seconds spent on it in this run (checking freshness included).
    pub seconds: f64,
}

impl StageOutcome {
    /// Rows read (tables only) and rows written, from the manifest.
    pub fn rows(&self) -> (Option<u64>, Option<u64>) {
        let Some(m) = &self.manifest else { return (None, None) };
        let sum = |rows: Vec<Option<u64>>| rows.into_iter().flatten().reduce(|a, b| a + b);
        (sum(m.inputs.iter().map(|i| i.rows).collect()), sum(m.outputs.iter().map(|o| o.rows).collect()))
    }
}

/// What a pipeline run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// The run date.
    pub run_date: String,
    /// Where outputs are.
    pub run_dir: String,
    /// The stages, in the order they were considered.
    pub stages: Vec<StageOutcome>,
    /// What to open once the run is over.
    pub open: Open,
}

/// What a run leaves to look at: the files its last lines name.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Open {
    /// The champion's `report.html` (the model the day's leads were scored with).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_report: Option<String>,
    /// The `report.html` of a model this run trained and did not promote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trained_report: Option<String>,
    /// The folder of the day's upload files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exports: Option<String>,
    /// The day's channel report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<String>,
}

impl Open {
    /// What exists after these stages: reports of models and folders of stages that ran or were
    /// up to date.
    fn after(stages: &[StageOutcome], config: &Config, run_dir: &std::path::Path) -> Self {
        let done = |stage: Stage| {
            stages.iter().any(|s| s.stage == stage && s.manifest.is_some() && s.status != Status::Failed)
        };
        let existing = |path: std::path::PathBuf| path.exists().then(|| path.display().to_string());
        let report_of = |id: &str| existing(registry::model_dir(&config.models_dir(), id).join(registry::REPORT_FILE));
        let champion = registry::read_champion(&config.models_dir()).ok().flatten().map(|c| c.model_id);
        let trained = stages.iter().find_map(|s| match &s.report {
            Some(StageReport::Train(t)) => t.trained.as_ref().map(|t| t.model_id.clone()),
            _ => None,
        });
        let any_model = stages.iter().any(|s| s.stage >= Stage::Train && s.manifest.is_some());
        Self {
            model_report: champion.as_deref().filter(|_| any_model).and_then(report_of),
            trained_report: trained.filter(|t| Some(t) != champion.as_ref()).as_deref().and_then(report_of),
            exports: done(Stage::Export).then(|| existing(run_dir.join(Stage::Export.name()))).flatten(),
            channels: done(Stage::Channels)
                .then(|| existing(run_dir.join(Stage::Channels.name()).join("channels.html")))
                .flatten(),
        }
    }

    /// The lines that name them, or nothing.
    fn render(&self) -> String {
        let rows = [
            ("model report", &self.model_report),
            ("trained, not promoted", &self.trained_report),
            ("exports", &self.exports),
            ("channels", &self.channels),
        ];
        let mut s = String::new();
        for (what, path) in rows {
            if let Some(path) = path {
                let _ = writeln!(s, "  {what:<22} {path}");
            }
        }
        if s.is_empty() { s } else { format!("open:\n{s}") }
    }
}

impl RunSummary {
    /// A human summary for the terminal: each stage's summary and outputs, then a table of every
    /// stage's status, rows and seconds.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for st in &self.stages {
            let (Some(report), Some(manifest)) = (&st.report, &st.manifest) else { continue };
            s.push_str(&report.summary());
            let _ = writeln!(s, "  outputs ({:.2} s):", manifest.seconds_total);
            for o in &manifest.outputs {
                let rows = o.rows.map(|r| format!("{r} rows")).unwrap_or_default();
                let _ = writeln!(s, "    {}/{}/{} {rows}", self.run_dir, st.stage, o.file);
            }
        }
        s.push_str(&self.table());
        s.push_str(&self.open.render());
        s
    }

    /// The table of stages: status, rows in, rows out, seconds, and the note.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "run {} ({}):", self.run_date, self.run_dir);
        let _ = writeln!(
            s,
            "  {:<9} {:<14} {:>12} {:>12} {:>9}  note",
            "stage", "status", "rows in", "rows out", "seconds"
        );
        let num = |n: Option<u64>| n.map_or_else(|| "-".to_string(), |n| n.to_string());
        for st in &self.stages {
            let (rows_in, rows_out) = st.rows();
            let _ = writeln!(
                s,
                "  {:<9} {:<14} {:>12} {:>12} {:>9.2}  {}",
                st.stage.name(),
                st.status.label(),
                num(rows_in),
                num(rows_out),
                st.seconds,
                st.note.as_deref().unwrap_or("")
            );
        }
        s
    }

    /// Whether every stage was skipped as up to date.
    pub fn all_skipped(&self) -> bool {
        self.stages.iter().all(|s| s.status == Status::Skipped)
    }
}

/// Runs one stage.
pub fn run_stage(
    stage: Stage,
    config: &Config,
    ctx: &RunContext,
    layout: &RunLayout,
) -> Result<StageRun, PipelineError> {
    fn boxed<R>((report, manifest): (R, Manifest), wrap: fn(Box<R>) -> StageReport) -> (StageReport, Manifest) {
        (wrap(Box::new(report)), manifest)
    }
    let (report, manifest) = match stage {
        Stage::Ingest => leadscore_ingest::execute(config, ctx, layout).map(|(r, m)| (StageReport::Ingest(r), m))?,
        Stage::Labels => boxed(leadscore_labels::execute(config, ctx, layout)?, StageReport::Labels),
        Stage::Features => boxed(leadscore_features::execute(config, ctx, layout)?, StageReport::Features),
        Stage::Train => boxed(leadscore_train::execute(config, ctx, layout)?, StageReport::Train),
        Stage::Qualify => boxed(leadscore_qualify::execute(config, ctx, layout)?, StageReport::Qualify),
        Stage::Value => boxed(leadscore_value::execute(config, ctx, layout)?, StageReport::Value),
        Stage::Export => boxed(leadscore_export::execute(config, ctx, layout)?, StageReport::Export),
        Stage::Channels => boxed(leadscore_channels::execute(config, ctx, layout)?, StageReport::Channels),
    };
    Ok(StageRun { stage, report, manifest })
}

/// Merges the `parts` parts of a partitioned stage into its own folder.
pub fn merge_stage(
    stage: Stage,
    parts: u32,
    config: &Config,
    ctx: &RunContext,
    layout: &RunLayout,
) -> Result<StageRun, PipelineError> {
    let (report, manifest) = match stage {
        Stage::Qualify => {
            leadscore_qualify::merge(config, ctx, layout, parts).map(|(r, m)| (StageReport::Qualify(Box::new(r)), m))?
        }
        Stage::Value => {
            leadscore_value::merge(config, ctx, layout, parts).map(|(r, m)| (StageReport::Value(Box::new(r)), m))?
        }
        other => return Err(PipelineError::NotPartitioned(other)),
    };
    Ok(StageRun { stage, report, manifest })
}

/// How [`run`] treats stages whose outputs are up to date, and those only training needs.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Run every stage even when its outputs are up to date.
    pub force: bool,
    /// Stages to run only when train trains this run (`when = "training"` in the pipeline
    /// file); on other runs they are skipped with train's reason, `--force` or not.
    pub training_only: Vec<Stage>,
    /// Merge each stage's parts of a split into this many ([`leadscore_core::layout::Partition`])
    /// instead of running it; every stage must be partitioned.
    pub merge: Option<u32>,
    /// Ingest and labels keep the whole history even on a day training is not due (see
    /// [`scope`]).
    pub whole_history: bool,
}

/// How much of the history ingest and labels keep in this run, and why. [`Scope::Scoring`] when
/// the run has ingest or labels to run, training is not due, the pipeline runs features (the one
/// stage besides train that reads the whole history) only for training
/// (`options.training_only`, as `pipelines/daily.toml` does), and no conversion is defined in SQL
/// or over `[sources.tables]` (a query may relate any rows to any others). Otherwise the whole
/// history.
/// `due` is train's decision, read here when the rule needs it and kept for the run.
pub fn scope(
    stages: &[Stage],
    config: &Config,
    ctx: &RunContext,
    options: &RunOptions,
    due: &mut Option<Due>,
) -> (Scope, String) {
    let full = |why: &str| (Scope::Full, why.to_string());
    if !stages.iter().any(|s| s.scoped()) {
        return full("neither ingest nor labels run");
    }
    if options.whole_history {
        return full("--whole-history");
    }
    if ctx.partition.is_some() || options.merge.is_some() {
        return full("a partitioned run");
    }
    if let Due::Train(why) = due.get_or_insert_with(|| registry::training_due(config, ctx)) {
        return full(&format!("training is due: {why}"));
    }
    if !options.training_only.contains(&Stage::Features) {
        return full("the pipeline does not run features only for training (`when = \"training\"`)");
    }
    let sql = config.conversions.iter().any(|d| matches!(d.kind, leadscore_core::config::DefinitionKind::Sql(_)));
    if sql || !config.sources.tables.is_empty() {
        return full("a conversion is defined in SQL, which may relate any rows");
    }
    let from = config.first_exported_day(ctx.run_date);
    (
        Scope::Scoring,
        format!(
            "training is not due: ingest and labels keep the leads created from {from} on (the first day \
             this run may export) and the deals and events of their users"
        ),
    )
}

/// Whether a stage's earlier outputs can be reused. Train's also need the champion they left: a
/// deleted `champion.json`, or one naming a model folder that is gone, makes train run again.
fn freshness(layout: &RunLayout, config: &Config, ctx: &RunContext, stage: Stage) -> Freshness {
    let files = |run_date| leadscore_ingest::source_files(config, run_date).map_err(|e| e.to_string());
    let probe = SourceProbe { files: &files, query_digest: &leadscore_ingest::query_digest };
    let fresh = layout.freshness(ctx, stage, &probe);
    if stage != Stage::Train || matches!(fresh, Freshness::Stale(_)) {
        return fresh;
    }
    match registry::read_usable_champion(&config.models_dir()) {
        Ok(state) => state.unusable().map_or(fresh, Freshness::Stale),
        Err(e) => Freshness::Stale(format!("the champion cannot be read ({e})")),
    }
}

/// How one stage ended: its status, report, manifest, note, and its error when it stopped the run.
type Ended = (Status, Option<StageReport>, Option<Manifest>, Option<String>, Option<PipelineError>);

/// Runs a stage unless its outputs are up to date (and it is not `forced`), or merges its parts
/// (always, when `merge` says of how many).
fn run_unless_fresh(
    stage: Stage,
    config: &Config,
    ctx: &RunContext,
    layout: &RunLayout,
    forced: bool,
    merge: Option<u32>,
) -> Ended {
    let why = match (!forced && merge.is_none()).then(|| freshness(layout, config, ctx, stage)) {
        Some(Freshness::Fresh(m)) => {
            let note = "up to date: same inputs, config and build (use --force to recompute)";
            return (Status::Skipped, None, Some(*m), Some(note.into()), None);
        }
        Some(Freshness::Stale(why)) => why,
        None if merge.is_some() => "merging its parts".into(),
        None => "forced".into(),
    };
    tracing::info!(reason = %why, "starting");
    let ran = match merge {
        Some(parts) => merge_stage(stage, parts, config, ctx, layout),
        None => run_stage(stage, config, ctx, layout),
    };
    match ran {
        Ok(run) => (Status::Ran, Some(run.report), Some(run.manifest), None, None),
        Err(e) => {
            let status = if e.exit_kind() == ExitKind::NothingToDo { Status::NothingToDo } else { Status::Failed };
            let note = e.to_string();
            (status, None, None, Some(note), Some(e))
        }
    }
}

/// Told about each stage as a run goes (for progress displays).
pub trait Observer {
    /// Stage `index` (0-based) of `total` starts.
    fn started(&mut self, _stage: Stage, _index: usize, _total: usize) {}
    /// A stage ended.
    fn finished(&mut self, _outcome: &StageOutcome) {}
}

/// An observer that does nothing.
pub struct Quiet;

impl Observer for Quiet {}

/// Runs `stages` in the given order for the run date in `ctx`, stopping at the first stage that
/// fails or has nothing to do. A stage of `options.training_only` is skipped when train will not
/// train. A stage whose manifest shows success with the same inputs, config and build is skipped,
/// unless `options.force` (or, for train, `ctx.retrain`). The summary
/// covers every stage, including those that did not run; the error, if any, is the stopping
/// stage's. The caller holds the output folder's lock.
pub fn run(
    stages: &[Stage],
    config: &Config,
    ctx: &RunContext,
    options: &RunOptions,
    observer: &mut dyn Observer,
) -> (RunSummary, Result<(), PipelineError>) {
    let layout = RunLayout::for_config(config);
    let mut summary = RunSummary {
        run_date: ctx.run_date.to_string(),
        run_dir: layout.run_dir(ctx.run_date).display().to_string(),
        stages: Vec::new(),
        open: Open::default(),
    };
    let in_parts = ctx.partition.is_some() || options.merge.is_some();
    if let Some(stage) = stages.iter().find(|s| in_parts && !s.partitioned()) {
        return (summary, Err(PipelineError::NotPartitioned(*stage)));
    }
    layout.clear_interrupted(ctx.run_date);
    // The champion is read once per run: only train changes it, and it runs after the stages that
    // ask.
    let mut due: Option<Due> = None;
    // Ingest and labels keep what the run needs (each may run in a task of its own, as under
    // Airflow: every task of a day decides alike).
    let (scope, why) = scope(stages, config, ctx, options, &mut due);
    if stages.iter().any(|s| s.scoped()) {
        tracing::info!(scope = ?scope, "{why}");
    }
    let ctx = &RunContext { scope, ..ctx.clone() };
    // A run that reads the whole history holds GBs in each stage, one after the other in this
    // process: the allocator is told to map large blocks for themselves (see
    // `leadscore_core::memory`; at 1M leads 3.7 GB -> 1.9 GB). A day without training holds a few
    // hundred MB, and would only pay for the fresh pages (about 7% of its time). Every run hands
    // back what a stage freed once it is done: a day without training at 5M peaked at 1.8 GiB
    // without that, 1.3 GiB with it (0.60 and 0.46 GiB at 1M), in the same time.
    let whole_history = scope == Scope::Full
        && stages.iter().any(|s| matches!(s, Stage::Ingest | Stage::Labels | Stage::Features | Stage::Train));
    if whole_history {
        leadscore_core::memory::configure();
    }
    let mut result = Ok(());
    for (i, &stage) in stages.iter().enumerate() {
        if result.is_err() {
            summary.stages.push(StageOutcome {
                stage,
                status: Status::NotRun,
                report: None,
                manifest: None,
                note: None,
                seconds: 0.0,
            });
            continue;
        }
        observer.started(stage, i, stages.len());
        let (outcome, error) = run_one(stage, config, ctx, &layout, options, &mut due);
        if let Some(e) = error {
            result = Err(e);
        }
        observer.finished(&outcome);
        summary.stages.push(outcome);
    }
    summary.open = Open::after(&summary.stages, config, &layout.run_dir(ctx.run_date));
    (summary, result)
}

/// Runs one stage of [`run`] unless it is fresh or not needed, and logs how it ended; with the
/// stage's error, if it failed or had nothing to do.
fn run_one(
    stage: Stage,
    config: &Config,
    ctx: &RunContext,
    layout: &RunLayout,
    options: &RunOptions,
    due: &mut Option<Due>,
) -> (StageOutcome, Option<PipelineError>) {
    let _span = tracing::info_span!("stage", stage = stage.name(), run_date = %ctx.run_date).entered();
    let started = std::time::Instant::now();
    // A stage only training reads is not needed when train will not train.
    let not_needed = match options.training_only.contains(&stage) {
        true => match due.get_or_insert_with(|| registry::training_due(config, ctx)) {
            Due::Skip(why) => Some(format!("not needed today, only training reads it: {why}")),
            Due::Train(_) => None,
        },
        false => None,
    };
    let (status, report, manifest, note, failure) = match not_needed {
        Some(note) => (Status::Skipped, None, None, Some(note), None),
        None => {
            let forced = options.force || (stage == Stage::Train && ctx.retrain);
            run_unless_fresh(stage, config, ctx, layout, forced, options.merge)
        }
    };
    if status == Status::Ran {
        // The stage's tables are dropped: the next starts from what the run holds.
        leadscore_core::memory::release_freed();
    }
    let outcome = StageOutcome { stage, status, report, manifest, note, seconds: started.elapsed().as_secs_f64() };
    let (rows_in, rows_out) = outcome.rows();
    tracing::info!(
        status = outcome.status.label(),
        seconds = outcome.seconds,
        rows_in,
        rows_out,
        "{}",
        match outcome.status {
            Status::Skipped if outcome.manifest.is_some() => "skipped (up to date)",
            Status::Skipped => outcome.note.as_deref().unwrap_or("skipped"),
            _ => "done",
        }
    );
    (outcome, failure)
}

/// [`run`] without an observer, for callers that need the summary only when every stage ended
/// well.
pub fn run_through(
    stages: &[Stage],
    config: &Config,
    ctx: &RunContext,
    options: &RunOptions,
) -> Result<RunSummary, PipelineError> {
    let (summary, result) = run(stages, config, ctx, options, &mut Quiet);
    result.map(|()| summary)
}

/// How one date of a backfill ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DateStatus {
    /// Some stage ran and every stage ended well.
    #[serde(rename = "ok")]
    Ok,
    /// Every stage was up to date.
    #[serde(rename = "up to date")]
    UpToDate,
    /// A stage had nothing to do (exit 99): not a failure.
    #[serde(rename = "nothing to do")]
    NothingToDo,
    /// A stage failed.
    #[serde(rename = "failed")]
    Failed,
}

impl DateStatus {
    /// The words for the summary table (as serialized).
    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::UpToDate => "up to date",
            Self::NothingToDo => "nothing to do",
            Self::Failed => "failed",
        }
    }
}

/// One run date of a backfill.
#[derive(Debug, Clone, Serialize)]
pub struct BackfillDate {
    /// The run date.
    pub run_date: String,
    /// How it ended.
    pub status: DateStatus,
    /// Seconds for the date.
    pub seconds: f64,
    /// The error, for a failed date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its stages.
    pub stages: Vec<StageOutcome>,
}

/// What a backfill did.
#[derive(Debug, Clone, Serialize)]
pub struct BackfillSummary {
    /// The dates, in order (dates after a stop are left out).
    pub dates: Vec<BackfillDate>,
    /// Dates not run because an earlier one failed.
    pub not_run: Vec<String>,
}

impl BackfillSummary {
    /// The table for the terminal.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ =
            writeln!(s, "{:<12} {:<14} {:>5} {:>8} {:>9}  error", "run date", "status", "ran", "skipped", "seconds");
        for d in &self.dates {
            let count = |st: Status| d.stages.iter().filter(|o| o.status == st).count();
            let _ = writeln!(
                s,
                "{:<12} {:<14} {:>5} {:>8} {:>9.2}  {}",
                d.run_date,
                d.status.label(),
                count(Status::Ran),
                count(Status::Skipped),
                d.seconds,
                d.error.as_deref().unwrap_or("")
            );
        }
        for d in &self.not_run {
            let _ = writeln!(s, "{d:<12} {:<14}", "not run");
        }
        let failed = self.dates.iter().filter(|d| d.status == DateStatus::Failed).count();
        let _ = writeln!(
            s,
            "{} dates: {} failed, {} not run",
            self.dates.len() + self.not_run.len(),
            failed,
            self.not_run.len()
        );
        s
    }
}

/// Runs `stages` for every date of `dates` in order (the caller holds the lock). A date with
/// nothing to do (exit 99) is not a failure. Stops at the first failing date unless
/// `continue_on_error`; the error returned is the first failure's.
pub fn backfill(
    dates: &[leadscore_core::RunDate],
    stages: &[Stage],
    config: &Config,
    seed: u64,
    options: &RunOptions,
    continue_on_error: bool,
    observer: &mut dyn Observer,
) -> (BackfillSummary, Result<(), PipelineError>) {
    let mut summary = BackfillSummary { dates: Vec::new(), not_run: Vec::new() };
    let mut first_error: Option<PipelineError> = None;
    for (i, date) in dates.iter().enumerate() {
        if first_error.is_some() && !continue_on_error {
            summary.not_run.extend(dates[i..].iter().map(ToString::to_string));
            break;
        }
        let ctx = RunContext {
            run_date: *date,
            config_hash: config.hash(),
            seed,
            retrain: false,
            partition: None,
            scope: Scope::Full,
        };
        let started = std::time::Instant::now();
        let (run, result) = run(stages, config, &ctx, options, observer);
        let (status, error) = match result {
            Ok(()) if run.all_skipped() => (DateStatus::UpToDate, None),
            Ok(()) => (DateStatus::Ok, None),
            Err(e) if e.exit_kind() == ExitKind::NothingToDo => (DateStatus::NothingToDo, Some(e.to_string())),
            Err(e) => {
                let text = e.to_string();
                tracing::error!(run_date = %date, "backfill: {text}");
                first_error.get_or_insert(e);
                (DateStatus::Failed, Some(text))
            }
        };
        summary.dates.push(BackfillDate {
            run_date: date.to_string(),
            status,
            seconds: started.elapsed().as_secs_f64(),
            error,
            stages: run.stages,
        });
    }
    (summary, first_error.map_or(Ok(()), Err))
}
