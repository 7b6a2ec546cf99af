//! The model registry: `<models_dir>/<model-id>/` per trained model and `champion.json`, the
//! pointer to the model daily scoring uses.
//!
//! A model folder holds `model.json` ([`ModelArtifact`]), `feature_spec.json`, `thresholds.json`
//! ([`Thresholds`]), `metrics.json`, `training.json`, `config.json`, `report.html` and
//! `validation.parquet` (each validation lead's out-of-sample probability). It is
//! written to a temporary folder and renamed into place, so a folder that exists is complete.

use std::path::{Path, PathBuf};

use leadscore_core::config::Policy;
use leadscore_core::io::{self, TableMeta};
use leadscore_core::{CoreError, RunDate};
use serde::{Deserialize, Serialize};

use crate::classifier::ModelArtifact;
use crate::error::{ModelError, Result};
use crate::spec::FeatureSpec;

/// The model file.
pub const MODEL_FILE: &str = "model.json";
/// The fitted feature spec.
pub const SPEC_FILE: &str = "feature_spec.json";
/// Thresholds and segments.
pub const THRESHOLDS_FILE: &str = "thresholds.json";
/// Validation metrics.
pub const METRICS_FILE: &str = "metrics.json";
/// The training window and volumes.
pub const TRAINING_FILE: &str = "training.json";
/// The resolved config and its hash.
pub const CONFIG_FILE: &str = "config.json";
/// The HTML report.
pub const REPORT_FILE: &str = "report.html";
/// Validation leads with their out-of-sample calibrated probability.
pub const VALIDATION_FILE: &str = "validation.parquet";
/// The probability column of `validation.parquet`.
pub const PROBABILITY: &str = "probability";
/// The champion pointer.
pub const CHAMPION_FILE: &str = "champion.json";

/// The threshold of one qualification policy, computed on validation leads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyThreshold {
    /// The policy.
    pub policy: Policy,
    /// Its configured parameter (share, precision, recall or probability).
    pub parameter: f64,
    /// Leads with a calibrated probability at or above this are qualified.
    pub threshold: f64,
    /// Validation precision of the qualified leads.
    pub precision: f64,
    /// Validation recall (share of conversions among qualified leads).
    pub recall: f64,
    /// Share of validation leads qualified.
    pub qualified_share: f64,
    /// Whether the policy's target was reachable (for example a precision no threshold reaches).
    pub reachable: bool,
}

/// A segment: leads whose calibrated probability is at least `min_probability` (and below the
/// segment above it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentCut {
    /// `very good`, `good`, `medium` or `low`.
    pub name: String,
    /// Lowest calibrated probability in the segment.
    pub min_probability: f64,
    /// Share of validation leads in the segment.
    pub share_of_leads: f64,
    /// Share of validation conversions in the segment.
    pub share_of_conversions: f64,
    /// Validation conversion rate of the segment.
    pub conversion_rate: f64,
    /// Its rate over the `low` segment's rate.
    pub lift_over_low: f64,
}

/// `thresholds.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// The policy the config chose when the model was trained.
    pub configured_policy: Policy,
    /// One threshold per policy.
    pub policies: Vec<PolicyThreshold>,
    /// Segments from the best down.
    pub segments: Vec<SegmentCut>,
    /// The 0th, 1st, …, 100th percentiles of the validation probabilities: a lead's score (0-100)
    /// is the share of validation leads with a lower probability.
    pub score_quantiles: Vec<f64>,
}

impl Thresholds {
    /// Checks that thresholds, segments and score percentiles are finite probabilities, the
    /// percentiles ascending; names the first field that is not.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let prob = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
        for (k, p) in self.policies.iter().enumerate() {
            if !prob(p.threshold) {
                return Err(format!("`policies[{k}].threshold` is not a probability in [0, 1]"));
            }
        }
        for (k, s) in self.segments.iter().enumerate() {
            if !prob(s.min_probability) {
                return Err(format!("`segments[{k}].min_probability` is not a probability in [0, 1]"));
            }
        }
        if self.score_quantiles.iter().any(|q| !prob(*q)) || self.score_quantiles.windows(2).any(|w| w[0] > w[1]) {
            return Err("`score_quantiles` must be ascending probabilities in [0, 1]".into());
        }
        Ok(())
    }

    /// The threshold of a policy.
    pub fn policy(&self, p: Policy) -> Option<&PolicyThreshold> {
        self.policies.iter().find(|t| t.policy == p)
    }

    /// The score (0-100) of a calibrated probability: where it falls among the validation
    /// probabilities, interpolated between percentiles. Non-decreasing in `p`.
    pub fn score(&self, p: f64) -> f64 {
        let q = &self.score_quantiles;
        let (Some(first), Some(last)) = (q.first(), q.last()) else { return (100.0 * p).clamp(0.0, 100.0) };
        if p <= *first {
            return 0.0;
        }
        if p >= *last {
            return 100.0;
        }
        let k = q.partition_point(|x| *x <= p); // q[k-1] <= p < q[k]
        let (lo, hi) = (q[k - 1], q[k]);
        let frac = if hi > lo { (p - lo) / (hi - lo) } else { 0.0 };
        let steps = (q.len() - 1) as f64;
        (100.0 * ((k - 1) as f64 + frac) / steps).clamp(0.0, 100.0)
    }

    /// The segment of a calibrated probability (the first whose minimum it reaches).
    pub fn segment(&self, p: f64) -> &str {
        self.segments
            .iter()
            .find(|s| p >= s.min_probability)
            .or(self.segments.last())
            .map_or("low", |s| s.name.as_str())
    }
}

/// `champion.json`: the model daily scoring uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Champion {
    /// Folder name under the models directory.
    pub model_id: String,
    /// Run date of the training that produced it.
    pub trained_for: RunDate,
    /// Run date on which it became champion.
    pub promoted_on: RunDate,
    /// Its validation log loss when promoted.
    pub validation_log_loss: f64,
    /// Why it was promoted.
    pub reason: String,
}

/// A model loaded from the registry.
#[derive(Debug)]
pub struct LoadedModel {
    /// Its folder.
    pub dir: PathBuf,
    /// The classifier and calibrator.
    pub artifact: ModelArtifact,
    /// The feature spec it was fitted with.
    pub spec: FeatureSpec,
    /// Its thresholds.
    pub thresholds: Thresholds,
}

impl LoadedModel {
    /// [`ModelArtifact::calibrated`], with an error that names the model file.
    pub fn calibrated(&self, z: &[f64]) -> Result<Vec<f64>> {
        self.artifact.calibrated(z).map_err(|e| {
            let file = self.dir.join(MODEL_FILE);
            ModelError::Invalid(e.to_string().replacen(
                "invalid model artifact: model.json",
                &file.display().to_string(),
                1,
            ))
        })
    }

    /// Derives the features of `leads` with the model's recipe (events strictly before each
    /// lead's creation) and encodes them with its spec: the derived frame and the design.
    pub fn encode(
        &self,
        leads: &polars::prelude::DataFrame,
        events: Option<&polars::prelude::DataFrame>,
        encoding: crate::Encoding,
    ) -> Result<(polars::prelude::DataFrame, crate::Design)> {
        let t = std::time::Instant::now();
        let (derived, _) = crate::derive(leads, events, &self.spec.recipe)?;
        tracing::debug!(seconds = t.elapsed().as_secs_f64(), rows = derived.height(), "derived");
        let design = self.spec.transform(&derived, encoding)?;
        tracing::debug!(seconds = t.elapsed().as_secs_f64(), columns = design.columns.len(), "encoded");
        Ok((derived, design))
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ModelError::Invalid(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| ModelError::Invalid(format!("{}: {e}", path.display())))
}

/// The folder of a model.
pub fn model_dir(models_dir: &Path, model_id: &str) -> PathBuf {
    models_dir.join(model_id)
}

/// The champion pointer, if there is one.
pub fn read_champion(models_dir: &Path) -> Result<Option<Champion>> {
    let path = models_dir.join(CHAMPION_FILE);
    if !path.exists() {
        return Ok(None);
    }
    read_json(&path).map(Some)
}

/// The champion pointer and whether the model it names is there.
#[derive(Debug, Clone, PartialEq)]
pub enum ChampionState {
    /// There is no `champion.json`.
    Missing,
    /// `champion.json` names a model folder that does not exist (deleted by hand, say).
    Dangling(Champion),
    /// The champion's model folder exists.
    Usable(Champion),
}

impl ChampionState {
    /// The champion, if scoring can use it.
    pub fn usable(&self) -> Option<&Champion> {
        match self {
            Self::Usable(c) => Some(c),
            Self::Missing | Self::Dangling(_) => None,
        }
    }

    /// Why there is no usable champion (so train must train), when there is none.
    pub fn unusable(&self) -> Option<String> {
        match self {
            Self::Usable(_) => None,
            Self::Missing => Some("there is no champion yet".into()),
            Self::Dangling(c) => Some(format!("champion.json names model {}, whose folder is missing", c.model_id)),
        }
    }
}

/// The champion pointer, checked against the model folders.
pub fn read_usable_champion(models_dir: &Path) -> Result<ChampionState> {
    Ok(match read_champion(models_dir)? {
        None => ChampionState::Missing,
        Some(c) if model_dir(models_dir, &c.model_id).is_dir() => ChampionState::Usable(c),
        Some(c) => ChampionState::Dangling(c),
    })
}

/// Loads a model folder and checks its parts fit together.
pub fn load_model(models_dir: &Path, model_id: &str) -> Result<LoadedModel> {
    let dir = model_dir(models_dir, model_id);
    if !dir.is_dir() {
        return Err(ModelError::Invalid(format!("no model folder {}", dir.display())));
    }
    let artifact: ModelArtifact = read_json(&dir.join(MODEL_FILE))?;
    let spec: FeatureSpec = read_json(&dir.join(SPEC_FILE))?;
    let thresholds: Thresholds = read_json(&dir.join(THRESHOLDS_FILE))?;
    let at = |file: &str, e: String| ModelError::Invalid(format!("{}: {e}", dir.join(file).display()));
    artifact
        .validate()
        .map_err(|e| at(MODEL_FILE, e.to_string().replace("invalid model artifact: model.json: ", "")))?;
    spec.check_finite().map_err(|e| at(SPEC_FILE, e))?;
    thresholds.validate().map_err(|e| at(THRESHOLDS_FILE, e))?;
    artifact.check_spec(&spec)?;
    Ok(LoadedModel { dir, artifact, spec, thresholds })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thresholds() -> Thresholds {
        let seg = |name: &str, min: f64| SegmentCut {
            name: name.into(),
            min_probability: min,
            share_of_leads: 0.0,
            share_of_conversions: 0.0,
            conversion_rate: 0.0,
            lift_over_low: 0.0,
        };
        Thresholds {
            configured_policy: Policy::TopFraction,
            policies: vec![],
            segments: vec![seg("very good", 0.3), seg("good", 0.1), seg("medium", 0.05), seg("low", 0.0)],
            score_quantiles: (0..=100).map(|k| f64::from(k) / 200.0).collect(),
        }
    }

    #[test]
    fn scores_are_monotone_percentiles_and_segments_follow_probability() {
        let t = thresholds();
        assert_eq!(t.score(0.0), 0.0);
        assert_eq!(t.score(0.9), 100.0);
        assert!((t.score(0.25) - 50.0).abs() < 1e-9);
        assert!((t.score(0.2525) - 50.5).abs() < 1e-9);
        let ps: Vec<f64> = (0..1000).map(|i| f64::from(i) / 1000.0).collect();
        assert!(ps.windows(2).all(|w| t.score(w[0]) <= t.score(w[1])));
        assert_eq!(t.segment(0.5), "very good");
        assert_eq!(t.segment(0.1), "good");
        assert_eq!(t.segment(0.07), "medium");
        assert_eq!(t.segment(0.01), "low");
    }
}

/// Whether training is due, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Train, for this reason.
    Train(String),
    /// Do not train, for this reason.
    Skip(String),
}

/// Whether the run trains: when asked (`retrain`), when there is no usable champion, or when the
/// champion is at least `retrain_after_days` (`[train]`) old on the run date.
pub fn due(champion: &ChampionState, run_date: RunDate, retrain: bool, retrain_after_days: u32) -> Due {
    if retrain {
        return Due::Train("retraining was asked for (--retrain)".into());
    }
    let Some(c) = champion.usable() else {
        return Due::Train(champion.unusable().unwrap_or_default());
    };
    let age = (run_date.date() - c.trained_for.date()).num_days();
    let limit = i64::from(retrain_after_days);
    if age >= limit {
        Due::Train(format!("champion {} is {age} days old (retrain_after_days = {limit})", c.model_id))
    } else {
        Due::Skip(format!(
            "champion {} was trained for {} ({age} days ago; retraining after {limit} days, or with --retrain)",
            c.model_id, c.trained_for
        ))
    }
}

/// [`due`] for a config and run, reading the champion (an unreadable one means train runs, and
/// reports why).
pub fn training_due(config: &leadscore_core::Config, ctx: &leadscore_core::RunContext) -> Due {
    match read_usable_champion(&config.models_dir()) {
        Ok(champion) => due(&champion, ctx.run_date, ctx.retrain, config.train.retrain_after_days),
        Err(e) => Due::Train(format!("the champion cannot be read ({e})")),
    }
}

/// What a model folder holds, as train produces it.
#[derive(Debug)]
pub struct ModelFiles<'a, M: Serialize, T: Serialize, C: Serialize> {
    /// `model.json`.
    pub artifact: &'a ModelArtifact,
    /// `feature_spec.json`.
    pub spec: &'a FeatureSpec,
    /// `thresholds.json`.
    pub thresholds: &'a Thresholds,
    /// `metrics.json`: the training report's figures.
    pub metrics: &'a M,
    /// `training.json`: the run date, target, window, seed and slices.
    pub training: &'a T,
    /// `config.json`: the resolved config and its hash.
    pub config: &'a C,
    /// `report.html`.
    pub html: &'a str,
    /// `validation.parquet`: out-of-sample probabilities of the validation leads.
    pub validation: &'a mut polars::prelude::DataFrame,
    /// Metadata of the Parquet file.
    pub meta: &'a TableMeta,
}

/// Removes model folders staged by processes that no longer run (killed mid-write).
fn clear_stale_staging(models: &Path) {
    let Ok(entries) = std::fs::read_dir(models) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name.strip_prefix(".staging-").and_then(|rest| rest.rsplit('-').next()).and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| !leadscore_core::layout::process_alive(p)) {
            tracing::info!(folder = %e.path().display(), "removing a model folder left by an interrupted run");
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Writes a model folder `<models_dir>/<model_id>/`: staged under a temporary name, then renamed
/// into place (replacing a folder of the same id).
pub fn write_model<M: Serialize, T: Serialize, C: Serialize>(
    models: &Path,
    files: ModelFiles<'_, M, T, C>,
) -> std::result::Result<(), CoreError> {
    let write_err = |path: &Path, source: std::io::Error| CoreError::Write { path: path.to_path_buf(), source };
    leadscore_core::layout::check_folder(models, "[project] models_dir")?;
    io::create_dir_private(models).map_err(|e| write_err(models, e))?;
    let id = &files.artifact.model_id;
    clear_stale_staging(models);
    let staging = models.join(format!(".staging-{id}-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| write_err(&staging, e))?;
    }
    io::create_dir_private(&staging).map_err(|e| write_err(&staging, e))?;
    io::write_json(&staging.join(MODEL_FILE), files.artifact)?;
    io::write_json(&staging.join(SPEC_FILE), files.spec)?;
    io::write_json(&staging.join(THRESHOLDS_FILE), files.thresholds)?;
    io::write_json(&staging.join(METRICS_FILE), files.metrics)?;
    io::write_json(&staging.join(TRAINING_FILE), files.training)?;
    io::write_json(&staging.join(CONFIG_FILE), files.config)?;
    io::write_bytes(&staging.join(REPORT_FILE), files.html.as_bytes())?;
    io::write_parquet(&staging.join(VALIDATION_FILE), files.validation, files.meta)?;
    let dir = model_dir(models, id);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| write_err(&dir, e))?;
    }
    std::fs::rename(&staging, &dir).map_err(|e| write_err(&dir, e))?;
    Ok(())
}

/// Makes `champion` the champion (`champion.json`, written atomically).
pub fn promote(models: &Path, champion: &Champion) -> std::result::Result<(), CoreError> {
    io::write_json(&models.join(CHAMPION_FILE), champion)?;
    Ok(())
}
