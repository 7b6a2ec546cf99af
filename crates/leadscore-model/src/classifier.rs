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
    /// A weighted average of the two models' log-odds, on both encodings.
    Blend,
}

impl ModelKind {
    /// The encoding the kind is fitted on.
    pub fn encoding(self) -> Encoding {
        match self {
            Self::Logistic => Encoding::Linear,
            Self::Boosted => Encoding::Trees,
            Self::Blend => Encoding::Both,
        }
    }

    /// Readable name.
    pub fn label(self) -> &'static str {
        match self {
            Self::Logistic => "logistic regression",
            Self::Boosted => "gradient-boosted trees",
            Self::Blend => "blend of both",
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
    /// `z = weight * z_logistic + (1 - weight) * z_trees` on the design of both encodings: the
    /// logistic regression reads its `coefficients.len()` first columns (the linear encoding), the
    /// booster the rest (the trees encoding).
    Blend {
        /// The logistic regression's share of the log-odds, in [0, 1].
        weight: f64,
        /// The logistic regression's coefficients, one per linear design column.
        coefficients: Vec<f64>,
        /// The logistic regression's intercept.
        intercept: f64,
        /// The trees.
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
            Self::Blend { weight, coefficients, intercept, booster } => f
                .debug_struct("Blend")
                .field("weight", weight)
                .field("coefficients", &coefficients.len())
                .field("intercept", intercept)
                .field("trees", &booster.trees.len())
                .finish(),
        }
    }
}

/// Column-major values of a design, or of some of its consecutive columns.
#[derive(Clone, Copy)]
struct View<'a> {
    data: &'a [f64],
    rows: usize,
    cols: usize,
}

impl<'a> View<'a> {
    fn of(design: &'a Design) -> Self {
        Self { data: &design.data, rows: design.rows, cols: design.columns.len() }
    }

    fn column(self, j: usize) -> &'a [f64] {
        &self.data[j * self.rows..(j + 1) * self.rows]
    }

    /// Its first `k` columns and the rest; an error when it has fewer than `k` or its values
    /// are not `rows` x `cols`.
    fn split(self, k: usize) -> Result<(Self, Self)> {
        if k > self.cols || self.data.len() != self.rows * self.cols {
            return Err(ModelError::Invalid(format!(
                "a blend of {k} linear columns cannot read a design of {} columns and {} values",
                self.cols,
                self.data.len()
            )));
        }
        let (a, b) = self.data.split_at(k * self.rows);
        Ok((Self { data: a, rows: self.rows, cols: k }, Self { data: b, rows: self.rows, cols: self.cols - k }))
    }
}

fn linear_logits(coefficients: &[f64], intercept: f64, x: View) -> Vec<f64> {
    let mut z = vec![intercept; x.rows];
    for (j, c) in coefficients.iter().enumerate().take(x.cols) {
        for (z, x) in z.iter_mut().zip(x.column(j)) {
            *z += c * x;
        }
    }
    z
}

fn linear_contributions(coefficients: &[f64], intercept: f64, x: View) -> (Vec<f64>, Vec<f64>) {
    let cols = x.cols;
    let mut contributions = vec![0.0; x.rows * cols];
    for (j, c) in coefficients.iter().enumerate().take(cols) {
        for (i, x) in x.column(j).iter().enumerate() {
            contributions[i * cols + j] = c * x;
        }
    }
    // Summed in column order, as `linear_logits` does, so both give the same bits.
    let logits = contributions.chunks(cols.max(1)).map(|row| row.iter().fold(intercept, |z, v| z + v));
    let logits = if cols == 0 { vec![intercept; x.rows] } else { logits.collect() };
    (logits, contributions)
}

fn trees_logits(booster: &GradientBooster, x: View) -> Result<Vec<f64>> {
    Forest::new(booster)?.predict(x.data, x.rows, x.cols)
}

fn trees_contributions(booster: &GradientBooster, x: View) -> Result<(Vec<f64>, Vec<f64>)> {
    let (rows, cols) = (x.rows, x.cols);
    let mut contributions = Forest::new(booster)?.contributions(x.data, rows, cols)?;
    // The bias ends each row; the row sums are the log-odds.
    let logits = contributions.chunks(cols + 1).map(|row| row.iter().sum()).collect();
    // Drop the biases in place.
    for i in 0..rows {
        let from = i * (cols + 1);
        contributions.copy_within(from..from + cols, i * cols);
    }
    contributions.truncate(rows * cols);
    Ok((logits, contributions))
}

/// A blend's log-odds: `weight * a + (1 - weight) * b`, element by element.
pub fn blend_logits(weight: f64, a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(a, b)| weight * a + (1.0 - weight) * b).collect()
}

impl Classifier {
    /// Its kind.
    pub fn kind(&self) -> ModelKind {
        match self {
            Self::Logistic { .. } => ModelKind::Logistic,
            Self::Boosted { .. } => ModelKind::Boosted,
            Self::Blend { .. } => ModelKind::Blend,
        }
    }

    /// The blend of a logistic regression and boosted trees, `weight` the logistic regression's
    /// share of the log-odds; `None` unless `logistic` and `boosted` are those kinds.
    pub fn blend(weight: f64, logistic: Self, boosted: Self) -> Option<Self> {
        match (logistic, boosted) {
            (Self::Logistic { coefficients, intercept }, Self::Boosted { booster }) => {
                Some(Self::Blend { weight, coefficients, intercept, booster })
            }
            _ => None,
        }
    }

    /// Log-odds of every row of `design`.
    pub fn logits(&self, design: &Design) -> Result<Vec<f64>> {
        let x = View::of(design);
        match self {
            Self::Logistic { coefficients, intercept } => Ok(linear_logits(coefficients, *intercept, x)),
            Self::Boosted { booster } => trees_logits(booster, x),
            Self::Blend { weight, coefficients, intercept, booster } => {
                let (linear, trees) = x.split(coefficients.len())?;
                let z = linear_logits(coefficients, *intercept, linear);
                Ok(blend_logits(*weight, &z, &trees_logits(booster, trees)?))
            }
        }
    }
}

impl Classifier {
    /// Log-odds of every row of `design` and each row's contribution of every design column to
    /// them, row-major (`rows` x `columns`), in one pass: coefficient x standardised value for the
    /// logistic regression (relative to an average lead), the path-averaged tree contributions
    /// (relative to the base score) for boosted trees, each part's weighted by its share for a
    /// blend. The log-odds are the contributions' sum plus the intercept or base score, so
    /// scoring with reasons needs no separate prediction.
    pub fn logits_and_contributions(&self, design: &Design) -> Result<(Vec<f64>, Vec<f64>)> {
        let x = View::of(design);
        match self {
            Self::Logistic { coefficients, intercept } => Ok(linear_contributions(coefficients, *intercept, x)),
            Self::Boosted { booster } => trees_contributions(booster, x),
            Self::Blend { weight, coefficients, intercept, booster } => {
                let (linear, trees) = x.split(coefficients.len())?;
                let (za, ca) = linear_contributions(coefficients, *intercept, linear);
                let (zb, cb) = trees_contributions(booster, trees)?;
                let (a, b) = (linear.cols, trees.cols);
                let mut contributions = Vec::with_capacity(ca.len() + cb.len());
                for i in 0..x.rows {
                    contributions.extend(ca[i * a..(i + 1) * a].iter().map(|v| weight * v));
                    contributions.extend(cb[i * b..(i + 1) * b].iter().map(|v| (1.0 - weight) * v));
                }
                Ok((blend_logits(*weight, &za, &zb), contributions))
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
        // The coefficients and the columns they are for: the linear columns of a blend.
        let (n, linear) = match &self.classifier {
            Classifier::Logistic { coefficients, .. } => (coefficients.len(), cols.len()),
            Classifier::Boosted { .. } => (cols.len(), cols.len()),
            Classifier::Blend { coefficients, .. } => (coefficients.len(), spec.design_columns(Encoding::Linear).len()),
        };
        if n != linear {
            return Err(ModelError::Invalid(format!(
                "model {} has {n} coefficients for {linear} columns",
                self.model_id
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
        let trees = |booster: &GradientBooster| -> Result<()> {
            finite("classifier.booster.base_score", &[booster.base_score])?;
            for (t, tree) in booster.trees.iter().enumerate() {
                for (k, node) in tree.nodes.iter().enumerate() {
                    if !f64::from(node.weight_value).is_finite() || (!node.is_leaf && node.split_value.is_nan()) {
                        return bad(format!("classifier.booster.trees[{t}].nodes[{k}]"), "holds a non-finite value");
                    }
                }
            }
            Ok(())
        };
        match &self.classifier {
            Classifier::Logistic { coefficients, intercept } => {
                finite("classifier.coefficients", coefficients)?;
                finite("classifier.intercept", &[*intercept])?;
            }
            Classifier::Boosted { booster } => trees(booster)?,
            Classifier::Blend { weight, coefficients, intercept, booster } => {
                if !(0.0..=1.0).contains(weight) {
                    return bad("classifier.weight".into(), "is not a share: expected a number from 0 to 1");
                }
                finite("classifier.coefficients", coefficients)?;
                finite("classifier.intercept", &[*intercept])?;
                trees(booster)?;
            }
        }
        match &self.calibrator {
            Calibrator::Platt { a, b } => finite("calibrator.a/b", &[*a, *b])?,
            Calibrator::Beta { a, b, c } => {
                finite("calibrator.a/b/c", &[*a, *b, *c])?;
                if *a < 0.0 || *b < 0.0 {
                    return bad("calibrator.a/b".into(), "is negative: expected slopes of at least 0");
                }
            }
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

    #[test]
    fn a_blend_weighs_the_logistic_and_trees_log_odds_and_their_contributions() {
        let n = 300;
        let col = |c: &str| DesignColumn { name: c.into(), feature: c.into(), level: None };
        let data: Vec<f64> = (0..2 * n).map(|k| f64::from((k * 7919 % 101) as u32) / 101.0).collect();
        let trees = Design { columns: vec![col("a"), col("b")], rows: n, data: data.clone() };
        let linear = Design { columns: vec![col("a")], rows: n, data: data[..n].to_vec() };
        let y: Vec<f64> = (0..n).map(|i| f64::from(u8::from(data[i] + 0.3 * data[n + i] > 0.7))).collect();
        let mut booster = GradientBooster::default().set_iterations(10).set_max_depth(2).set_parallel(false);
        assert!(booster.fit(&forust_ml::Matrix::new(&data, n, 2), &y, &vec![1.0; n], None).is_ok());
        let logistic = Classifier::Logistic { coefficients: vec![2.0], intercept: -1.0 };
        let boosted = Classifier::Boosted { booster: Box::new(booster) };
        let (za, zb) = (logistic.logits(&linear).expect("logistic"), boosted.logits(&trees).expect("trees"));
        let (_, parts) = boosted.logits_and_contributions(&trees).expect("trees' contributions");
        let both = Design {
            columns: [linear.columns.clone(), trees.columns.clone()].concat(),
            rows: n,
            data: [linear.data.clone(), data].concat(),
        };
        assert!(
            Classifier::blend(
                0.3,
                Classifier::Logistic { coefficients: vec![1.0], intercept: 0.0 },
                Classifier::Logistic { coefficients: vec![1.0], intercept: 0.0 }
            )
            .is_none()
        );
        let blend = Classifier::blend(0.3, logistic, boosted).expect("a blend");
        assert_eq!(blend.kind(), ModelKind::Blend);
        let z = blend.logits(&both).expect("blend");
        for i in 0..n {
            assert!((z[i] - (0.3 * za[i] + 0.7 * zb[i])).abs() < 1e-12);
        }
        let (zc, contributions) = blend.logits_and_contributions(&both).expect("contributions");
        assert_eq!(contributions.len(), 3 * n);
        for i in 0..n {
            assert!((zc[i] - z[i]).abs() < 1e-9, "row {i}");
            assert!((contributions[3 * i] - 0.3 * 2.0 * linear.data[i]).abs() < 1e-12);
            for j in 0..2 {
                assert!((contributions[3 * i + 1 + j] - 0.7 * parts[2 * i + j]).abs() < 1e-12);
            }
        }
        // A design without the blend's columns is an error, not a panic.
        let short = Design { columns: vec![], rows: n, data: vec![] };
        assert!(blend.logits(&short).is_err());
    }
}
