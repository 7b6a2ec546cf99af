//! `leadscore-pipeline`: the DAG runner.
//!
//! [`run`] is responsible for running leadscore's stages for one run date in dependency order,
//! each reading the Parquet tables the stages before it wrote under
//! `<output_dir>/runs/<date>/<stage>/`, and for reporting what each stage did. It is one of the
//! two crates (with the CLI) that see every stage; stages never depend on each other.

pub mod backtest;

use std::fmt::Write as _;

use leadscore_core::layout::Manifest;
use leadscore_core::{Classify, Config, CoreError, ExitKind, RunContext, RunLayout, Stage};
use leadscore_export::{ExportError, ExportReport};
use leadscore_features::{FeaturesError, FeaturesReport};
use leadscore_ingest::{IngestError, IngestReport};
use leadscore_labels::{LabelsError, LabelsReport};
use leadscore_qualify::{QualifyError, QualifyReport};
use leadscore_train::{TrainError, TrainReport};
use leadscore_value::{ValueError, ValueStageReport};
use serde::Serialize;

/// Errors of a pipeline run: the failing stage's error, classified for the exit code.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The ingest stage failed.
    #[error("stage `ingest` failed: {0}")]
    Ingest(#[from] IngestError),
    /// The labels stage failed.
    #[error("stage `labels` failed: {0}")]
    Labels(#[from] LabelsError),
    /// The features stage failed.
    #[error("stage `features` failed: {0}")]
    Features(#[from] FeaturesError),
    /// The train stage failed.
    #[error("stage `train` failed: {0}")]
    Train(#[from] TrainError),
    /// The qualify stage failed.
    #[error("stage `qualify` failed: {0}")]
    Qualify(#[from] QualifyError),
    /// The value stage failed.
    #[error("stage `value` failed: {0}")]
    Value(#[from] ValueError),
    /// The export stage failed.
    #[error("stage `export` failed: {0}")]
    Export(#[from] ExportError),
    /// Loading a model for a backtest failed.
    #[error(transparent)]
    Model(#[from] leadscore_model::ModelError),
    /// A backtest could not run.
    #[error("backtest: {0}")]
    Backtest(String),
    /// A core operation failed.
    #[error(transparent)]
    Core(#[from] CoreError),
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
            Self::Model(e) => e.exit_kind(),
            Self::Backtest(_) => ExitKind::Usage,
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

/// What a pipeline run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// The run date.
    pub run_date: String,
    /// Where outputs are.
    pub run_dir: String,
    /// The stages, in the order they ran.
    pub stages: Vec<StageRun>,
}

impl RunSummary {
    /// A human summary for the terminal: each stage's summary and its outputs.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for st in &self.stages {
            s.push_str(&st.report.summary());
            let _ = writeln!(s, "  outputs ({:.2} s):", st.manifest.seconds_total);
            for o in &st.manifest.outputs {
                let rows = o.rows.map(|r| format!("{r} rows")).unwrap_or_default();
                let _ = writeln!(s, "    {}/{}/{} {rows}", self.run_dir, st.stage, o.file);
            }
        }
        s
    }
}

/// The stages that exist, in DAG order.
pub fn all_stages() -> Vec<Stage> {
    Stage::ALL.to_vec()
}

/// Runs one stage.
pub fn run_stage(
    stage: Stage,
    config: &Config,
    ctx: &RunContext,
    layout: &RunLayout,
) -> Result<StageRun, PipelineError> {
    let _span = tracing::info_span!("stage", name = stage.name(), date = %ctx.run_date).entered();
    tracing::info!("starting");
    let run = match stage {
        Stage::Ingest => {
            let (report, manifest) = leadscore_ingest::execute(config, ctx, layout)?;
            StageRun { stage, report: StageReport::Ingest(report), manifest }
        }
        Stage::Labels => {
            let (report, manifest) = leadscore_labels::execute(config, ctx, layout)?;
            StageRun { stage, report: StageReport::Labels(Box::new(report)), manifest }
        }
        Stage::Features => {
            let (report, manifest) = leadscore_features::execute(config, ctx, layout)?;
            StageRun { stage, report: StageReport::Features(Box::new(report)), manifest }
        }
        Stage::Train => {
            let (report, manifest) = leadscore_train::execute(config, ctx, layout)?;
            StageRun { stage, report: StageReport::Train(Box::new(report)), manifest }
        }
        Stage::Qualify => {
            let (report, manifest) = leadscore_qualify::execute(config, ctx, layout)?;
            StageRun { stage, report: StageReport::Qualify(Box::new(report)), manifest }
        }
        Stage::Value => {
            let (report, manifest) = leadscore_value::execute(config, ctx, layout)?;
            StageRun { stage, report: StageReport::Value(Box::new(report)), manifest }
        }
        Stage::Export => {
            let (report, manifest) = leadscore_export::execute(config, ctx, layout)?;
            StageRun { stage, report: StageReport::Export(Box::new(report)), manifest }
        }
    };
    tracing::info!(seconds = run.manifest.seconds_total, "done");
    Ok(run)
}

/// Runs `stages` in DAG order for the run date in `ctx`, stopping at the first failure.
pub fn run(stages: &[Stage], config: &Config, ctx: &RunContext) -> Result<RunSummary, PipelineError> {
    let layout = RunLayout::new(config.output_dir());
    let mut ordered = stages.to_vec();
    ordered.sort();
    ordered.dedup();
    let mut out = Vec::new();
    for stage in ordered {
        out.push(run_stage(stage, config, ctx, &layout)?);
    }
    Ok(RunSummary {
        run_date: ctx.run_date.to_string(),
        run_dir: layout.run_dir(ctx.run_date).display().to_string(),
        stages: out,
    })
}
