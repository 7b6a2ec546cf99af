//! `[train] mlflow_tracking_uri`: each training logged as an MLflow run, so that data scientists
//! compare runs and promote models where they already do. The run holds the settings as
//! parameters, every validation figure as a metric, the champion decision as tags, and
//! `report.html` and the model folder's files as artifacts.
//!
//! A tracking server that is down does not stop the nightly run: the model is in the registry
//! either way. The failure is a warning in the log and in the train report, which also says where
//! a logged run is.

use std::path::Path;

use leadscore_core::{Config, RunContext};
use leadscore_mlflow::{Logged, RunRecord};
use serde::Serialize;

use crate::Trained;
use crate::evaluate::Headline;

/// What happened to the run (`report.json` → `mlflow`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tracked {
    /// Logged: where.
    Logged {
        /// The run.
        #[serde(flatten)]
        run: Logged,
        /// Its page in the MLflow UI.
        url: String,
    },
    /// Not logged: why (no credentials in it).
    Failed(String),
}

/// Logs the training of `t`, whose model folder is `model_dir`, when the config names a server.
pub fn log(config: &Config, ctx: &RunContext, t: &Trained, model_dir: &Path) -> Option<Tracked> {
    let mlflow = config.train.mlflow.as_ref()?;
    let record = record(config, ctx, t, model_dir);
    let tracked = match leadscore_mlflow::log_run(&mlflow.tracking_uri, &record) {
        Ok(run) => {
            tracing::info!(run_id = %run.run_id, url = %run.url(), "logged to MLflow");
            Tracked::Logged { url: run.url(), run }
        }
        Err(e) => {
            tracing::warn!("not logged to MLflow: {e}");
            Tracked::Failed(e.to_string())
        }
    };
    Some(tracked)
}

/// The run: parameters, metrics, tags and artifacts of one training.
fn record(config: &Config, ctx: &RunContext, t: &Trained, model_dir: &Path) -> RunRecord {
    RunRecord {
        experiment: config
            .train
            .mlflow
            .as_ref()
            .and_then(|m| m.experiment.clone())
            .unwrap_or_else(|| config.project.name.clone()),
        run_name: format!("{} {}", t.model_id, t.chosen.label()),
        params: params(config, ctx, t),
        metrics: metrics(t),
        tags: tags(config, t),
        artifacts: artifacts(model_dir),
    }
}

/// The settings and what was chosen: the config's, then each candidate's, the refit's and the
/// time-series folds'.
fn params(config: &Config, ctx: &RunContext, t: &Trained) -> Vec<(String, String)> {
    let train = &config.train;
    let labels = config.labels.as_ref();
    let mut params: Vec<(String, String)> = vec![
        ("model_id".into(), t.model_id.clone()),
        ("chosen".into(), t.chosen.label().into()),
        ("run_date".into(), ctx.run_date.to_string()),
        ("target".into(), labels.map_or_else(String::new, |l| l.target.clone())),
        ("window_days".into(), labels.map_or(0, |l| l.window_days).to_string()),
        ("validation".into(), format!("{:?}", train.validation).to_lowercase()),
        ("seed".into(), train.seed.to_string()),
        ("max_trees".into(), train.max_trees.to_string()),
        ("learning_rate".into(), train.learning_rate.to_string()),
        ("max_depth".into(), train.max_depth.to_string()),
        ("l2".into(), train.l2.to_string()),
        ("sample_negatives_above".into(), train.sample_negatives_above.to_string()),
        ("recency_adjustment".into(), train.recency_adjustment.to_string()),
        ("refit".into(), train.refit.to_string()),
        ("tune_below_leads".into(), train.tune_below_leads.to_string()),
        ("policy".into(), t.thresholds.configured_policy.name().into()),
        ("config_hash".into(), ctx.config_hash.clone()),
        ("train_leads".into(), t.train.leads.to_string()),
        ("validation_leads".into(), t.validation.leads.to_string()),
        ("design_columns_trees".into(), t.design_columns.0.to_string()),
        ("design_columns_linear".into(), t.design_columns.1.to_string()),
        ("value_method".into(), t.value.method.clone()),
    ];
    if !t.monotone.is_empty() {
        let each = t.monotone.iter().map(|(f, m)| format!("{f}={}", m.name()));
        params.push(("monotone".into(), each.collect::<Vec<_>>().join(",")));
    }
    for c in &t.candidates {
        params.push((format!("{}.calibration", prefix(c.kind)), c.calibration.method.clone()));
        if let Some(l) = &c.logistic {
            params.push(("logistic.l2".into(), l.l2.to_string()));
        }
        if let Some(b) = &c.boosting {
            params.push(("boosted.trees".into(), b.final_rounds.to_string()));
            params.push(("boosted.negative_rate".into(), b.negative_rate.to_string()));
            params.push(("boosted.max_depth".into(), b.settings.max_depth.to_string()));
            params.push(("boosted.min_leaf_weight".into(), b.settings.min_leaf_weight.to_string()));
            params.push(("boosted.l2".into(), b.settings.l2.to_string()));
            params.push(("boosted.colsample".into(), b.settings.colsample.to_string()));
        }
    }
    if let Some(e) = &t.encoding {
        params.push(("boosted.category_order".into(), e.chosen.name().into()));
    }
    if let Some(r) = &t.refit {
        params.push(("refit.leads".into(), r.leads.to_string()));
        if let Some(rounds) = r.rounds {
            params.push(("refit.trees".into(), rounds.to_string()));
        }
    }
    if let Some(c) = &t.folds {
        let folds = if c.used { format!("pooled {} leads", c.leads) } else { "declined: the level moved".into() };
        params.push(("calibration.folds".into(), folds));
    }
    params
}

/// Every validation figure: the chosen model's, each candidate's (and on the time-series folds
/// where they were judged there), the diagnostics' intervals, value, recency, the other
/// definitions and the champion decision.
fn metrics(t: &Trained) -> Vec<(String, f64)> {
    let mut metrics: Vec<(String, f64)> = Vec::new();
    let headline = |metrics: &mut Vec<(String, f64)>, prefix: &str, h: &Headline| {
        for (k, v) in [
            ("roc_auc", h.roc_auc),
            ("pr_auc", h.pr_auc),
            ("log_loss", h.log_loss),
            ("brier", h.brier),
            ("ece", h.ece),
            ("base_rate", h.base_rate),
            ("mean_predicted", h.mean_predicted),
        ] {
            metrics.push((format!("{prefix}{k}"), v));
        }
    };
    headline(&mut metrics, "", &t.evaluation.headline);
    for c in &t.candidates {
        headline(&mut metrics, &format!("{}.", prefix(c.kind)), &c.validation);
        if let Some(h) = &c.folds {
            headline(&mut metrics, &format!("{}.folds.", prefix(c.kind)), h);
        }
        metrics.push((format!("{}.fit_seconds", prefix(c.kind)), c.seconds));
    }
    let d = &t.diagnostics;
    for (k, e) in
        [("roc_auc", &d.intervals.auc), ("precision", &d.intervals.precision), ("recall", &d.intervals.recall)]
    {
        metrics.push((format!("{k}.ci_low"), e.low));
        metrics.push((format!("{k}.ci_high"), e.high));
    }
    metrics.push(("precision".into(), d.confusion.precision));
    metrics.push(("recall".into(), d.confusion.recall));
    metrics.push(("qualified_share".into(), d.confusion.qualified_share));
    metrics.push(("threshold".into(), d.confusion.threshold));
    metrics.push(("value.gini".into(), t.value.gini));
    metrics.push(("value.ratio".into(), t.value.ratio));
    metrics.push(("value.interval_coverage".into(), t.value.interval_coverage));
    metrics.push(("recency.shift".into(), t.recency.shift));
    for c in &t.other_definitions {
        if let Some(auc) = c.auc {
            metrics.push((format!("definition.{}.roc_auc", c.definition), auc));
        }
        metrics.push((format!("definition.{}.precision", c.definition), c.precision));
        metrics.push((format!("definition.{}.recall", c.definition), c.recall));
    }
    metrics.push(("champion.promoted".into(), if t.champion.promoted { 1.0 } else { 0.0 }));
    if let Some(previous) = t.champion.previous_log_loss {
        metrics.push(("champion.previous_log_loss".into(), previous));
    }
    metrics
}

/// The champion decision and where the run came from.
fn tags(config: &Config, t: &Trained) -> Vec<(String, String)> {
    vec![
        ("mlflow.source.name".into(), "leadscore".into()),
        ("leadscore.version".into(), env!("CARGO_PKG_VERSION").into()),
        ("leadscore.project".into(), config.project.name.clone()),
        ("leadscore.model_id".into(), t.model_id.clone()),
        ("leadscore.promoted".into(), t.champion.promoted.to_string()),
        ("leadscore.champion_decision".into(), t.champion.reason.clone()),
        ("leadscore.previous_champion".into(), t.champion.previous.clone().unwrap_or_default()),
    ]
}

/// `report.html` at the top, and every file of the model folder under `model/`.
fn artifacts(model_dir: &Path) -> Vec<(String, std::path::PathBuf)> {
    let mut artifacts: Vec<(String, std::path::PathBuf)> = Vec::new();
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(model_dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    for f in files {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name == leadscore_model::registry::REPORT_FILE {
            artifacts.push((name.clone(), f.clone()));
        }
        artifacts.push((format!("model/{name}"), f));
    }
    artifacts
}

fn prefix(kind: leadscore_model::ModelKind) -> &'static str {
    match kind {
        leadscore_model::ModelKind::Logistic => "logistic",
        leadscore_model::ModelKind::Boosted => "boosted",
        leadscore_model::ModelKind::Blend => "blend",
    }
}
