//! The train stage report (`report.json`, and the data behind `report.html`).

use std::fmt::Write as _;

use leadscore_core::RunDate;
use leadscore_model::ModelKind;
use leadscore_model::registry::Thresholds;
use serde::Serialize;

use crate::evaluate::{CalibrationChoice, Evaluation, Headline};
use crate::explain::Rule;
use crate::fit::BoostedFit;
use crate::value::ValueReport;

/// One slice of the training set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SliceSummary {
    /// Leads.
    pub leads: u64,
    /// Converted within the window.
    pub conversions: u64,
    /// First creation time (RFC 3339).
    pub from: Option<String>,
    /// Last creation time.
    pub to: Option<String>,
}

/// Leads and conversions of one creation month in the training window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthVolume {
    /// `YYYY-MM`.
    pub month: String,
    /// Matured leads.
    pub leads: u64,
    /// Of which converted within the window.
    pub conversions: u64,
    /// Whether the month is in the validation slice.
    pub validation: bool,
}

/// One fitted candidate and how it did out of time.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// The kind.
    pub kind: ModelKind,
    /// Calibrated (cross-fitted) validation metrics.
    pub validation: Headline,
    /// The calibration decision.
    pub calibration: CalibrationChoice,
    /// Seconds to fit (calibration included).
    pub seconds: f64,
    /// Rows it was fitted on.
    pub rows: u64,
    /// Early stopping (boosted trees only).
    pub boosting: Option<BoostedFit>,
    /// The penalty (logistic regression only).
    pub logistic: Option<crate::fit::LogisticFit>,
    /// The weights (blend only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blend: Option<BlendFit>,
    /// Calibrated (cross-fitted) metrics on the validation slice and two time-series folds
    /// ([`crate::refit`]), which the choice goes by; small training slices only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folds: Option<Headline>,
}

/// A model fitted again without `[train] monotone`'s constraints, on the same leads and with the
/// same choice of settings: what the constraints cost (or gain) on the validation slice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unconstrained {
    /// The kind.
    pub kind: ModelKind,
    /// Its calibrated (cross-fitted) validation metrics without the constraints.
    pub free: Headline,
    /// The same with them (the candidate's).
    pub constrained: Headline,
}

/// How a blend of the logistic regression and the trees was weighed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlendFit {
    /// The logistic regression's share of the log-odds (the trees' is the rest), chosen on every
    /// validation lead.
    pub weight: f64,
    /// The shares chosen on the older and on the newer half of the validation leads alone: each
    /// half's figures are those of the other half's share and calibrator.
    pub halves: (f64, f64),
    /// The shares tried.
    pub tried: Vec<f64>,
}

/// A feature's importance in the chosen model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Importance {
    /// The derived feature.
    pub feature: String,
    /// Share of the total (gain for trees, |coefficient| for the logistic regression).
    pub importance: f64,
}

/// What happened to the champion pointer.
#[derive(Debug, Clone, Serialize)]
pub struct ChampionDecision {
    /// The previous champion, if any.
    pub previous: Option<String>,
    /// Its log loss on this run's validation leads, when it could score them.
    pub previous_log_loss: Option<f64>,
    /// Its ROC AUC on the same leads.
    pub previous_auc: Option<f64>,
    /// The new model's validation log loss.
    pub new_log_loss: f64,
    /// The configured margin.
    pub margin: f64,
    /// Whether the new model is now the champion.
    pub promoted: bool,
    /// Why, in words.
    pub reason: String,
}

/// The candidate that was not chosen, evaluated on the validation leads like the chosen one.
#[derive(Debug, Clone, Serialize)]
pub struct OtherCandidate {
    /// Its kind.
    pub kind: ModelKind,
    /// Its evaluation.
    pub evaluation: Evaluation,
}

/// The chosen model refitted on every matured lead (`[train] refit`).
#[derive(Debug, Clone, Serialize)]
pub struct Refit {
    /// Matured leads it learned from: the training and validation slices.
    pub leads: u64,
    /// Of which converted.
    pub conversions: u64,
    /// Rows of them it learned from (fewer when negatives are sampled).
    pub rows: u64,
    /// Rounds of the refitted trees: early stopping's count scaled to the leads (trees only).
    pub rounds: Option<usize>,
    /// Seconds it took.
    pub seconds: f64,
    /// The value regression refitted on the valued conversions of the same leads (none when
    /// value is a mean per segment).
    pub value: Option<ValueRefit>,
}

impl Refit {
    /// The summary's line: what the refit learned from.
    fn summary(&self) -> String {
        let trees = self.rounds.map(|n| format!(", {n} trees")).unwrap_or_default();
        let value = self.value.as_ref().map_or(String::new(), |v| {
            let sampled = if v.rows < v.conversions { format!(" ({} sampled)", v.rows) } else { String::new() };
            format!(
                ", and the value regression on their {} valued conversions{sampled}, {} trees",
                v.conversions, v.rounds
            )
        });
        format!(
            "refitted for scoring on all {} matured leads ({} converted){trees}{value}; the figures above are the models fitted on the training slice alone",
            self.leads, self.conversions
        )
    }
}

/// The value regression refitted on every matured lead's valued conversion
/// ([`crate::refit::refit_value`]).
#[derive(Debug, Clone, Serialize)]
pub struct ValueRefit {
    /// Valued conversions of the training and validation slices.
    pub conversions: u64,
    /// Of them, the ones it learned from (a sample above [`crate::fit::VALUE_MAX_CONVERSIONS`]).
    pub rows: u64,
    /// Rounds of its trees: early stopping's count scaled to the conversions.
    pub rounds: usize,
}

/// The calibrator fitted on time-series folds ([`crate::refit`]): out-of-time log-odds of the
/// validation slice and of the training slice's last blocks, each block scored by the chosen model
/// fitted on the leads before it.
#[derive(Debug, Clone, Serialize)]
pub struct FoldCalibration {
    /// Blocks of out-of-time log-odds, the validation slice included.
    pub blocks: usize,
    /// Leads in them.
    pub leads: u64,
    /// Of which converted.
    pub conversions: u64,
    /// `platt`, `beta` or `isotonic`, chosen on these leads as on the validation slice.
    pub method: String,
    /// The blocks' conversion rate.
    pub actual_rate: f64,
    /// The mean probability the validation slice's calibrator gives the same log-odds.
    pub validation_calibrator_rate: f64,
    /// Log loss on these leads of the validation slice's calibrator and of this one (fitted on them).
    pub log_loss: (f64, f64),
    /// The older blocks' conversions, and how many the validation slice's calibrator expected.
    pub older: (u64, f64),
    /// Whether this calibrator scores: false when the older blocks' conversions were beyond
    /// [`crate::refit::LEVEL_NOISE`] standard deviations of the expected (the level moved), and
    /// the validation slice's calibrator stays.
    pub used: bool,
}

/// A trained model's report.
#[derive(Debug, Clone, Serialize)]
pub struct Trained {
    /// The new model's id.
    pub model_id: String,
    /// Training slice.
    pub train: SliceSummary,
    /// Validation slice (out of time).
    pub validation: SliceSummary,
    /// Volumes per month.
    pub months: Vec<MonthVolume>,
    /// The candidates.
    pub candidates: Vec<Candidate>,
    /// The chosen kind.
    pub chosen: ModelKind,
    /// Why it was chosen.
    pub why: String,
    /// The trees' encoding of the categories of many levels, when it was chosen out of time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<crate::encoding::EncodingChoice>,
    /// The chosen model refitted on every matured lead, the one that scores (`None` with `[train]
    /// refit = false`). Every figure of this report is the model fitted on the training slice
    /// alone, on leads it never learned from.
    pub refit: Option<Refit>,
    /// The calibrator on time-series folds (small training slices only; `None`: the one fitted on
    /// the validation slice scores).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folds: Option<FoldCalibration>,
    /// Full evaluation of the chosen model.
    pub evaluation: Evaluation,
    /// The candidate not chosen, evaluated on the same leads.
    pub other: OtherCandidate,
    /// Distribution, confusion matrix, bootstrap intervals and stability of the chosen model.
    pub diagnostics: crate::diagnose::Diagnostics,
    /// The chosen model against each other conversion definition of the config.
    pub other_definitions: Vec<crate::definitions::DefinitionCheck>,
    /// Thresholds and segments.
    pub thresholds: Thresholds,
    /// Feature importance of the chosen model, largest first.
    pub importance: Vec<Importance>,
    /// Signed contributions and partial dependence of the chosen model's top features.
    pub effects: crate::effects::Effects,
    /// The explainer tree's rules.
    pub rules: Vec<Rule>,
    /// The champion decision.
    pub champion: ChampionDecision,
    /// The value model and its out-of-time check.
    pub value: ValueReport,
    /// The recency adjustment of the probabilities' level.
    pub recency: crate::recency::RecencyReport,
    /// The leakage audit of the features stage.
    pub audit: Vec<leadscore_core::artifact::AuditRow>,
    /// Design columns per encoding (trees, linear).
    pub design_columns: (usize, usize),
    /// The features held to one direction (`[train] monotone`), in both models.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub monotone: std::collections::BTreeMap<String, leadscore_core::config::Monotone>,
    /// With `monotone` on a training slice of at most `[train] tune_below_leads` leads, both
    /// models fitted again without the constraints.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unconstrained: Vec<Unconstrained>,
}

/// `report.json` of the train stage.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    /// The run date.
    pub run_date: RunDate,
    /// The model trained, or `None` when training was not due.
    pub trained: Option<Box<Trained>>,
    /// Why training was skipped.
    pub skipped: Option<String>,
    /// Warnings.
    pub warnings: Vec<String>,
    /// The MLflow run of this training (with `[train] mlflow_tracking_uri`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mlflow: Option<crate::tracking::Tracked>,
}

impl TrainReport {
    /// The report of a model trained on `run_date`.
    pub fn trained(run_date: RunDate, trained: Trained, warnings: Vec<String>) -> Self {
        Self { run_date, trained: Some(Box::new(trained)), skipped: None, warnings, mlflow: None }
    }

    /// The report of a day training was not due, and why.
    pub fn skipped(run_date: RunDate, reason: String) -> Self {
        Self { run_date, trained: None, skipped: Some(reason), warnings: Vec::new(), mlflow: None }
    }

    /// A short human summary.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "train {}", self.run_date);
        if let Some(reason) = &self.skipped {
            let _ = writeln!(s, "  not retrained: {reason}");
        }
        if let Some(t) = &self.trained {
            t.summarise(&mut s);
        }
        if let Some(crate::tracking::Tracked::Logged { run, url }) = &self.mlflow {
            let _ = writeln!(s, "  mlflow: run {} in experiment {}: {url}", run.run_id, run.experiment_id);
        }
        for w in &self.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
        s
    }
}

impl Trained {
    /// The summary's lines on the model trained.
    fn summarise(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "  train {} leads ({} converted), validation {} leads ({} converted), {} … {}",
            self.train.leads,
            self.train.conversions,
            self.validation.leads,
            self.validation.conversions,
            self.validation.from.as_deref().unwrap_or("?"),
            self.validation.to.as_deref().unwrap_or("?"),
        );
        self.summarise_candidates(s);
        for p in &self.thresholds.policies {
            let _ = writeln!(
                s,
                "  policy {:<16} {:>5} → threshold {:.4}: precision {:.1}%, recall {:.1}%, qualifies {:.1}%{}",
                p.policy.name(),
                p.parameter,
                p.threshold,
                100.0 * p.precision,
                100.0 * p.recall,
                100.0 * p.qualified_share,
                if p.reachable { "" } else { " (target not reachable)" }
            );
        }
        let v = &self.value;
        let _ = writeln!(
            s,
            "  value ({}): predicted {:.0} vs actual {:.0} on validation (ratio {:.3}), Gini {:.3}, 10-90% interval holds {:.0}% of converted values",
            v.method,
            v.total_predicted,
            v.total_actual,
            v.ratio,
            v.gini,
            100.0 * v.interval_coverage
        );
        if !self.unconstrained.is_empty() {
            let each = self
                .unconstrained
                .iter()
                .map(|u| format!("{} {:.4} (with: {:.4})", u.kind.label(), u.free.log_loss, u.constrained.log_loss));
            let _ = writeln!(
                s,
                "  without the monotone constraints, validation log loss: {}",
                each.collect::<Vec<_>>().join(", ")
            );
        }
        if let Some(r) = &self.refit {
            let _ = writeln!(s, "  {}", r.summary());
        }
        match &self.folds {
            Some(c) if c.used => {
                let _ = writeln!(
                    s,
                    "  calibrated ({}) on {} out-of-time leads of {} time-series folds ({} converted, rate {:.4}; the validation slice's calibrator gave them {:.4})",
                    c.method, c.leads, c.blocks, c.conversions, c.actual_rate, c.validation_calibrator_rate
                );
            }
            Some(c) => {
                let _ = writeln!(
                    s,
                    "  calibrated on the validation slice: the {} older time-series folds converted {} times where its calibrator expects {:.1}, so the level moved and they are not pooled",
                    c.blocks - 1,
                    c.older.0,
                    c.older.1
                );
            }
            None => {}
        }
        let _ = writeln!(s, "  model {}: {}", self.model_id, self.champion.reason);
    }

    /// The summary's table of candidates, why one was chosen, and their sampling.
    fn summarise_candidates(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "  {:<24} {:>7} {:>7} {:>9} {:>7} {:>7}  calibration",
            "model", "AUC", "PR AUC", "log loss", "Brier", "ECE"
        );
        for c in &self.candidates {
            let h = &c.validation;
            let _ = writeln!(
                s,
                "  {:<24} {:>7.4} {:>7.4} {:>9.4} {:>7.4} {:>7.4}  {}",
                c.kind.label(),
                h.roc_auc,
                h.pr_auc,
                h.log_loss,
                h.brier,
                h.ece,
                c.calibration.method
            );
        }
        let _ = writeln!(s, "  {}", self.why);
        if let Some(e) = &self.encoding {
            let _ = writeln!(s, "  {}", e.summary());
        }
        for c in &self.candidates {
            if let Some(b) = c.boosting.as_ref().filter(|b| b.negative_rate < 1.0) {
                let _ = writeln!(
                    s,
                    "  {}: {} of {} training leads (every conversion, {:.1}% of the others, each weighing {:.1}; `[train] sample_negatives_above`)",
                    c.kind.label(),
                    c.rows,
                    self.train.leads,
                    100.0 * b.negative_rate,
                    1.0 / b.negative_rate
                );
            }
            if let Some(l) = c.logistic.as_ref().filter(|l| !l.trials.is_empty()) {
                let _ = writeln!(
                    s,
                    "  {}: L2 {} chosen out of time among {} penalties (`[train] tune_below_leads`)",
                    c.kind.label(),
                    l.l2,
                    l.trials.len()
                );
            }
            if let Some(b) = c.boosting.as_ref().filter(|b| !b.trials.is_empty()) {
                let t = &b.settings;
                let _ = writeln!(
                    s,
                    "  {}: depth {}, min leaf weight {}, L2 {}, column share {} chosen out of time among {} settings (`[train] tune_below_leads`)",
                    c.kind.label(),
                    t.max_depth,
                    t.min_leaf_weight,
                    t.l2,
                    t.colsample,
                    b.trials.len()
                );
            }
            if let Some(b) = &c.blend {
                let _ = writeln!(
                    s,
                    "  {}: logistic regression {:.1}, trees {:.1} of the log-odds, chosen with the calibrator on the {} (cross-fitted: {:.1} on {} older half, {:.1} on {} newer)",
                    c.kind.label(),
                    b.weight,
                    1.0 - b.weight,
                    if c.folds.is_some() {
                        format!("validation slice and {}", crate::refit::FOLDS_IN_WORDS)
                    } else {
                        "validation slice".into()
                    },
                    b.halves.0,
                    if c.folds.is_some() { "their" } else { "its" },
                    b.halves.1,
                    if c.folds.is_some() { "their" } else { "its" },
                );
            }
        }
    }
}
