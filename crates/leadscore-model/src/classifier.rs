//! Fitted classifiers and the model artifact daily scoring loads.
//!
//! A [`ModelArtifact`] is everything needed to turn a design matrix into calibrated
//! probabilities: the classifier (logistic coefficients or a forust-ml booster), the design
//! columns it was fitted on, and the calibrator. Training writes it as `model.json`; scoring reads
//! it back without depending on the learners.

use forust_ml::GradientBooster;
use serde::{Deserialize, Serialize};

use crate::calibrate::Calibrator;
use crate::error::{ModelError, Result};
use crate::forest::Forest;
use crate::spec::{Design, Encoding, FeatureSpec};

/// Version of the `model.json` format.
pub const MODEL_VERSION: u32 = 1;

/// The kinds of classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// L2-regularised logistic regression on the linear encoding.
    Logistic,
    /// Gradient-boosted trees (forust-ml) on the trees encoding.
    Boosted,
}

impl ModelKind {
    /// The encoding the kind is fitted on.
    pub fn encoding(self) -> Encoding {
        match self {
            Self::Logistic => Encoding::Linear,
            Self::Boosted => Encoding::Trees,
        }
    }

    /// Readable name.
    pub fn label(self) -> &'static str {
        match self {
            Self::Logistic => "logistic regression",
            Self::Boosted => "gradient-boosted trees",
        }
    }
}

/// A fitted classifier producing log-odds.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Classifier {
    /// `z = intercept + coefficients · x`.
    Logistic {
        /// One coefficient per design column.
        coefficients: Vec<f64>,
        /// Intercept.
        intercept: f64,
    },
    /// A forust-ml booster with the log-loss objective (its prediction is log-odds).
    Boosted {
        /// The booster.
        booster: Box<GradientBooster>,
    },
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Logistic { coefficients, intercept } => f
                .debug_struct("Logistic")
                .field("coefficients", &coefficients.len())
                .field("intercept", intercept)
                .finish(),
            Self::Boosted { booster } => f.debug_struct("Boosted").field("trees", &booster.trees.len()).finish(),
        }
    }
}

impl Classifier {
    /// Its kind.
    pub fn kind(&self) -> ModelKind {
        match self {
            Self::Logistic { .. } => ModelKind::Logistic,
            Self::Boosted { .. } => ModelKind::Boosted,
        }
    }

    /// Log-odds of every row of `design`.
    pub fn logits(&self, design: &Design) -> Result<Vec<f64>> {
        match self {
            Self::Logistic { coefficients, intercept } => {
                let mut z = vec![*intercept; design.rows];
                for (j, c) in coefficients.iter().enumerate().take(design.columns.len()) {
                    for (z, x) in z.iter_mut().zip(design.column(j)) {
                        *z += c * x;
                    }
                }
                Ok(z)
            }
            Self::Boosted { booster } => Forest::new(booster)?.predict(&design.data, design.rows, design.columns.len()),
        }
    }
}

impl Classifier {
    /// Log-odds of every row of `design` and each row's contribution of every design column to
    /// them, row-major (`rows` x `columns`), in one pass: coefficient x standardised value for the
    /// logistic regression (relative to an average lead), the path-averaged tree contributions
    /// (relative to the base score) for boosted trees. The log-odds are the contributions' sum
    /// plus the intercept or base score, so scoring with reasons needs no separate prediction.
    pub fn logits_and_contributions(&self, design: &Design) -> Result<(Vec<f64>, Vec<f64>)> {
        let cols = design.columns.len();
        match self {
            Self::Logistic { coefficients, intercept } => {
                let mut contributions = vec![0.0; design.rows * cols];
                for (j, c) in coefficients.iter().enumerate().take(cols) {
                    for (i, x) in design.column(j).iter().enumerate() {
                        contributions[i * cols + j] = c * x;
                    }
                }
                // Summed in column order, as `logits` does, so both give the same bits.
                let logits = contributions.chunks(cols.max(1)).map(|row| row.iter().fold(*intercept, |z, v| z + v));
                let logits = if cols == 0 { vec![*intercept; design.rows] } else { logits.collect() };
                Ok((logits, contributions))
            }
            Self::Boosted { booster } => {
                let mut contributions = Forest::new(booster)?.contributions(&design.data, design.rows, cols)?;
                // The bias ends each row; the row sums are the log-odds.
                let logits = contributions.chunks(cols + 1).map(|row| row.iter().sum()).collect();
                // Drop the biases in place.
                for i in 0..design.rows {
                    let from = i * (cols + 1);
                    contributions.copy_within(from..from + cols, i * cols);
                }
                contributions.truncate(design.rows * cols);
                Ok((logits, contributions))
            }
        }
    }
}

/// The model artifact (`model.json`).
#[derive(Debug, Serialize, Deserialize)]
pub struct ModelArtifact {
    /// [`MODEL_VERSION`].
    pub version: u32,
    /// The model's id (its folder name in the registry).
    pub model_id: String,
    /// Design column names the classifier was fitted on, in order.
    pub columns: Vec<String>,
    /// The classifier.
    pub classifier: Classifier,
    /// Maps log-odds to calibrated probabilities.
    pub calibrator: Calibrator,
    /// E[value | converted] (trees encoding), when training had valued conversions.
    #[serde(default)]
    pub value: Option<crate::value::ValueModel>,
    /// Added to the log-odds of the calibrated probability (the recency adjustment; 0 for none).
    #[serde(default)]
    pub recency_shift: f64,
    /// The classifier as it was validated (fitted on the training slice alone) when `classifier`
    /// was refitted on every matured lead, validation slice included (`[train] refit`). The
    /// calibrator was fitted on its out-of-time log-odds, and a later training compares models
    /// with it: `classifier` learned from the leads such a comparison is made on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validated: Option<Classifier>,
}

impl ModelArtifact {
    /// A model of this [`MODEL_VERSION`], not yet named (its id is a hash of it: see the registry).
    pub fn new(
        columns: Vec<String>,
        classifier: Classifier,
        calibrator: Calibrator,
        value: crate::value::ValueModel,
        recency_shift: f64,
    ) -> Self {
        Self {
            version: MODEL_VERSION,
            model_id: String::new(),
            columns,
            classifier,
            calibrator,
            value: Some(value),
            recency_shift,
            validated: None,
        }
    }

    /// The classifier a comparison on the model's validation leads, or on later leads, must
    /// use: the validated one when `classifier` was refitted on them.
    pub fn validated_classifier(&self) -> &Classifier {
        self.validated.as_ref().unwrap_or(&self.classifier)
    }

    /// The encoding the classifier needs.
    pub fn encoding(&self) -> Encoding {
        self.classifier.kind().encoding()
    }

    /// Checks that `spec` yields the columns the classifier was fitted on.
    pub fn check_spec(&self, spec: &FeatureSpec) -> Result<()> {
        let cols: Vec<String> = spec.design_columns(self.encoding()).into_iter().map(|c| c.name).collect();
        if cols != self.columns {
            return Err(ModelError::Invalid(format!(
                "model {} was fitted on {} design columns but its feature spec gives {}",
                self.model_id,
                self.columns.len(),
                cols.len()
            )));
        }
        let n = match &self.classifier {
            Classifier::Logistic { coefficients, .. } => coefficients.len(),
            Classifier::Boosted { .. } => cols.len(),
        };
        if n != cols.len() {
            return Err(ModelError::Invalid(format!(
                "model {} has {n} coefficients for {} columns",
                self.model_id,
                cols.len()
            )));
        }
        Ok(())
    }

    /// Checks that every number of the artifact is finite (and the isotonic calibrator ordered),
    /// naming the first field that is not: a hand-edited or corrupted `model.json` is refused at
    /// load, not found out halfway through scoring.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: String, what: &str| Err(ModelError::Invalid(format!("model.json: `{field}` {what}")));
        let finite = |field: &str, values: &[f64]| -> Result<()> {
            match values.iter().position(|v| !v.is_finite()) {
                Some(k) => bad(format!("{field}[{k}]"), "is not a finite number"),
                None => Ok(()),
            }
        };
        match &self.classifier {
            Classifier::Logistic { coefficients, intercept } => {
                finite("classifier.coefficients", coefficients)?;
                finite("classifier.intercept", &[*intercept])?;
            }
            Classifier::Boosted { booster } => {
                finite("classifier.booster.base_score", &[booster.base_score])?;
                for (t, tree) in booster.trees.iter().enumerate() {
                    for (k, node) in tree.nodes.iter().enumerate() {
                        if !f64::from(node.weight_value).is_finite() || (!node.is_leaf && node.split_value.is_nan()) {
                            return bad(
                                format!("classifier.booster.trees[{t}].nodes[{k}]"),
                                "holds a non-finite value",
                            );
                        }
                    }
                }
            }
        }
        match &self.calibrator {
            Calibrator::Platt { a, b } => finite("calibrator.a/b", &[*a, *b])?,
            Calibrator::Isotonic { z, p } => {
                finite("calibrator.z", z)?;
                finite("calibrator.p", p)?;
                if z.len() != p.len() {
                    return bad("calibrator".into(), "has as many `z` as `p` values: expected equal lengths");
                }
                if z.windows(2).any(|w| w[0] > w[1]) || p.windows(2).any(|w| w[0] > w[1]) {
                    return bad("calibrator".into(), "is not ascending: expected `z` and `p` in ascending order");
                }
                if p.iter().any(|p| !(0.0..=1.0).contains(p)) {
                    return bad("calibrator.p".into(), "holds a value outside [0, 1]");
                }
            }
        }
        finite("recency_shift", &[self.recency_shift])?;
        if let Some(v) = &self.value {
            v.validate().map_err(|e| ModelError::Invalid(format!("model.json: `value.{e}`")))?;
        }
        Ok(())
    }

    /// Calibrated probabilities of every row of `design` (encoded with [`Self::encoding`]).
    pub fn probabilities(&self, design: &Design) -> Result<Vec<f64>> {
        self.calibrated(&self.classifier.logits(design)?)
    }

    /// The calibrated probabilities of log-odds `z`, with the recency shift. Log-odds that are not
    /// finite (coefficients so large that the sum overflows) make the artifact invalid.
    pub fn calibrated(&self, z: &[f64]) -> Result<Vec<f64>> {
        let bad = z.iter().filter(|z| !z.is_finite()).count();
        if bad > 0 {
            return Err(ModelError::Invalid(format!(
                "model.json: field `classifier` gives non-finite log-odds for {bad} of {} leads: its coefficients \
                 or trees are out of range; retrain with `leadscore train`",
                z.len()
            )));
        }
        Ok(z.iter().map(|z| crate::calibrate::shift(self.calibrator.apply(*z), self.recency_shift)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::DesignColumn;

    #[test]
    fn logistic_logits_are_the_linear_predictor() {
        let columns =
            ["a", "b"].iter().map(|n| DesignColumn { name: (*n).into(), feature: (*n).into(), level: None }).collect();
        let design = Design { columns, rows: 2, data: vec![1.0, 2.0, 10.0, 20.0] };
        let c = Classifier::Logistic { coefficients: vec![0.5, -0.1], intercept: 1.0 };
        assert_eq!(c.logits(&design).expect("logits"), [1.0 + 0.5 - 1.0, 1.0 + 1.0 - 2.0]);
        let (z, contributions) = c.logits_and_contributions(&design).expect("contributions");
        assert_eq!(z, c.logits(&design).expect("logits"));
        assert_eq!(contributions, [0.5, -1.0, 1.0, -2.0]);
    }

    #[test]
    fn boosted_contributions_add_up_to_the_prediction() {
        let n = 400;
        let columns =
            ["a", "b"].iter().map(|c| DesignColumn { name: (*c).into(), feature: (*c).into(), level: None }).collect();
        let data: Vec<f64> = (0..2 * n).map(|k| f64::from((k * 7919 % 101) as u32) / 101.0).collect();
        let design = Design { columns, rows: n, data };
        let y: Vec<f64> =
            (0..n).map(|i| f64::from(u8::from(design.column(0)[i] + 0.3 * design.column(1)[i] > 0.7))).collect();
        let mut booster = GradientBooster::default().set_iterations(20).set_max_depth(3).set_parallel(false);
        let m = forust_ml::Matrix::new(&design.data, n, 2);
        assert!(booster.fit(&m, &y, &vec![1.0; n], None).is_ok());
        let c = Classifier::Boosted { booster: Box::new(booster) };
        let (z, contributions) = c.logits_and_contributions(&design).expect("contributions");
        assert_eq!(contributions.len(), 2 * n);
        assert!(z.iter().zip(c.logits(&design).expect("logits")).all(|(a, b)| (a - b).abs() < 1e-9));
    }
}
