//! `[train]`: the validation slice, the learners' settings, the champion rule and sampling.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::raw::RawTrain;
use super::{KeyPath, Validator};

/// `validation_fraction` when neither it nor `validation_weeks` is set.
pub const DEFAULT_VALIDATION_FRACTION: f64 = 0.2;
/// `seed` (also the CLI's `--seed`).
pub const DEFAULT_SEED: u64 = 42;
/// `max_trees`.
pub const DEFAULT_MAX_TREES: u32 = 1000;
/// `learning_rate`.
pub const DEFAULT_LEARNING_RATE: f64 = 0.1;
/// `max_depth`.
pub const DEFAULT_MAX_DEPTH: u32 = 4;
/// `l2`.
pub const DEFAULT_L2: f64 = 1.0;
/// `champion_margin`.
pub const DEFAULT_CHAMPION_MARGIN: f64 = 0.002;
/// `retrain_after_days`.
pub const DEFAULT_RETRAIN_AFTER_DAYS: u32 = 7;
/// `recency_adjustment`.
pub const DEFAULT_RECENCY_ADJUSTMENT: bool = true;
/// `refit`.
pub const DEFAULT_REFIT: bool = true;
/// `tune_below_leads`.
pub const DEFAULT_TUNE_BELOW_LEADS: u64 = 50_000;
/// `sample_negatives_above`.
pub const DEFAULT_SAMPLE_NEGATIVES_ABOVE: u64 = 100_000;

/// How the out-of-time validation slice is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Validation {
    /// The most recent share of matured training leads.
    Fraction(f64),
    /// The leads of the last N weeks of the training window.
    Weeks(u32),
}

/// Which way a feature may move the conversion probability (`[train] monotone`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monotone {
    /// Never lower for a larger value.
    Increasing,
    /// Never higher for a larger value.
    Decreasing,
}

impl Monotone {
    /// `increasing` or `decreasing`, as written in the config.
    pub fn name(self) -> &'static str {
        match self {
            Self::Increasing => "increasing",
            Self::Decreasing => "decreasing",
        }
    }

    /// +1 for increasing, -1 for decreasing: the sign a linear coefficient keeps.
    pub fn sign(self) -> f64 {
        match self {
            Self::Increasing => 1.0,
            Self::Decreasing => -1.0,
        }
    }
}

/// Validated `[train]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Train {
    /// The validation slice.
    pub validation: Validation,
    /// Seed of every random choice in training.
    pub seed: u64,
    /// Most boosting rounds.
    pub max_trees: u32,
    /// Learning rate of the boosted trees.
    pub learning_rate: f64,
    /// Depth of each boosted tree.
    pub max_depth: u32,
    /// L2 penalty of the logistic regression.
    pub l2: f64,
    /// Largest validation log-loss increase over the champion that still replaces it.
    pub champion_margin: f64,
    /// Champion age (days) after which the daily run retrains.
    pub retrain_after_days: u32,
    /// Correct the model's level with the outcomes known so far of the leads whose windows are
    /// still open (see the train stage's recency adjustment).
    pub recency_adjustment: bool,
    /// Refit the chosen model on every matured lead (training and validation slices) once its
    /// figures are measured (left out of the config hash when on, the default, so that configs
    /// written before it keep their hash).
    #[serde(skip_serializing_if = "is_true")]
    pub refit: bool,
    /// Training slices of at most this many leads get the boosted trees' settings chosen out of
    /// time (left out of the config hash at its default, so that configs written before it keep
    /// their hash).
    #[serde(skip_serializing_if = "is_default_tune")]
    pub tune_below_leads: u64,
    /// Above this many training leads the boosted trees see every positive and a weighted
    /// random sample of the negatives (about this many leads in all); 0 = never.
    pub sample_negatives_above: u64,
    /// Features whose effect may only go one way (left out of the config hash when empty, so
    /// that configs without it keep their hash).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub monotone: BTreeMap<String, Monotone>,
    /// Where each training is logged, if anywhere (left out of the config hash when unset, so
    /// that configs without it keep their hash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mlflow: Option<Mlflow>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_true(b: &bool) -> bool {
    *b
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_default_tune(n: &u64) -> bool {
    *n == DEFAULT_TUNE_BELOW_LEADS
}

/// `mlflow_tracking_uri` and `mlflow_experiment`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mlflow {
    /// The tracking server, `http://…` or `https://…`.
    pub tracking_uri: String,
    /// The experiment (`None`: the project's name).
    pub experiment: Option<String>,
}

impl Validator<'_> {
    pub(super) fn train(&mut self) -> Option<Train> {
        let path = KeyPath::root().key("train");
        let raw: RawTrain = match self.get(&path) {
            None => RawTrain::default(),
            Some(v) => self.deser(&path, v)?,
        };
        let validation = self.validation(&path, &raw)?;
        let p = |k: &str| path.key(k);
        let max_trees = self.in_range(
            &p("max_trees"),
            raw.max_trees,
            DEFAULT_MAX_TREES,
            |x| (10..=10_000).contains(&x),
            "between 10 and 10000",
        );
        let learning_rate = self.in_range(
            &p("learning_rate"),
            raw.learning_rate,
            DEFAULT_LEARNING_RATE,
            |x| x > 0.0 && x <= 1.0,
            "above 0 and at most 1",
        );
        let max_depth = self.in_range(
            &p("max_depth"),
            raw.max_depth,
            DEFAULT_MAX_DEPTH,
            |x| (1..=12).contains(&x),
            "between 1 and 12",
        );
        let l2 = self.in_range(&p("l2"), raw.l2, DEFAULT_L2, |x| x >= 0.0 && x.is_finite(), "0 or more");
        let champion_margin = self.in_range(
            &p("champion_margin"),
            raw.champion_margin,
            DEFAULT_CHAMPION_MARGIN,
            |x| (0.0..=1.0).contains(&x),
            "between 0 and 1",
        );
        let retrain_after_days = self.in_range(
            &p("retrain_after_days"),
            raw.retrain_after_days,
            DEFAULT_RETRAIN_AFTER_DAYS,
            |x| x >= 1,
            "at least 1",
        );
        let sample_negatives_above = self.in_range(
            &p("sample_negatives_above"),
            raw.sample_negatives_above,
            DEFAULT_SAMPLE_NEGATIVES_ABOVE,
            |x| x == 0 || x >= 10_000,
            "0 (off) or at least 10000",
        );
        let mlflow = self.mlflow(&path, raw.mlflow_tracking_uri, raw.mlflow_experiment)?;
        Some(Train {
            validation,
            mlflow,
            seed: raw.seed.unwrap_or(DEFAULT_SEED),
            max_trees: max_trees?,
            learning_rate: learning_rate?,
            max_depth: max_depth?,
            l2: l2?,
            champion_margin: champion_margin?,
            retrain_after_days: retrain_after_days?,
            recency_adjustment: raw.recency_adjustment.unwrap_or(DEFAULT_RECENCY_ADJUSTMENT),
            refit: raw.refit.unwrap_or(DEFAULT_REFIT),
            tune_below_leads: raw.tune_below_leads.unwrap_or(DEFAULT_TUNE_BELOW_LEADS),
            sample_negatives_above: sample_negatives_above?,
            monotone: raw.monotone.unwrap_or_default(),
        })
    }
    /// `[train]`'s validation slice: a fraction of the matured leads (the default) or weeks.
    fn validation(&mut self, path: &KeyPath, raw: &RawTrain) -> Option<Validation> {
        Some(match (raw.validation_fraction, raw.validation_weeks) {
            (Some(_), Some(_)) => {
                self.problem(path, "set either `validation_fraction` or `validation_weeks`, not both");
                return None;
            }
            (_, Some(w)) if !(1..=52).contains(&w) => {
                self.problem(&path.key("validation_weeks"), format!("must be between 1 and 52, found {w}"));
                return None;
            }
            (_, Some(w)) => Validation::Weeks(w),
            (Some(f), None) if !(f > 0.0 && f <= 0.5) => {
                self.problem(&path.key("validation_fraction"), format!("must be above 0 and at most 0.5, found {f}"));
                return None;
            }
            (Some(f), None) => Validation::Fraction(f),
            (None, None) => Validation::Fraction(DEFAULT_VALIDATION_FRACTION),
        })
    }

    /// `[train]`'s MLflow server, if any (`None` when the keys are wrong, `Some(None)` when unset).
    fn mlflow(
        &mut self,
        path: &KeyPath,
        tracking_uri: Option<String>,
        experiment: Option<String>,
    ) -> Option<Option<Mlflow>> {
        let p = |k: &str| path.key(k);
        match tracking_uri {
            Some(uri) if !(uri.starts_with("http://") || uri.starts_with("https://")) => {
                self.problem(
                    &p("mlflow_tracking_uri"),
                    "must start with http:// or https:// (leadscore logs through MLflow's REST API; a file store is not a server)",
                );
                None
            }
            Some(tracking_uri) => Some(Some(Mlflow { tracking_uri, experiment })),
            None if experiment.is_some() => {
                self.problem(&p("mlflow_experiment"), "needs `mlflow_tracking_uri`, the server to log to");
                None
            }
            None => Some(None),
        }
    }
}
