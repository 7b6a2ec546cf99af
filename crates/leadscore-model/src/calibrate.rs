//! Probability calibration: a map from a model's raw log-odds to a calibrated probability.
//!
//! Both calibrators are fitted on out-of-time data (the validation slice), never on the leads the
//! model was trained on:
//!
//! - **Platt**: `p = sigmoid(a * z + b)`, two parameters fitted by Newton's method on the log
//!   loss; smooth, needs few conversions.
//! - **Isotonic**: the monotone step function closest to the outcomes (pool-adjacent-violators),
//!   interpolated linearly between the centres of its blocks; flexible, needs more data.

use serde::{Deserialize, Serialize};

use crate::metrics::EPS;

/// A fitted calibrator over log-odds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Calibrator {
    /// `sigmoid(a * z + b)`.
    Platt {
        /// Slope.
        a: f64,
        /// Intercept.
        b: f64,
    },
    /// A monotone piecewise-linear map through `(z[i], p[i])`, constant outside.
    Isotonic {
        /// Block centres (mean log-odds), ascending.
        z: Vec<f64>,
        /// Block conversion rates, non-decreasing.
        p: Vec<f64>,
    },
}

/// The logistic function.
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// A probability with `delta` added to its log-odds; 0 and 1 (and a zero shift) stay as they are.
pub fn shift(p: f64, delta: f64) -> f64 {
    if delta == 0.0 || p <= 0.0 || p >= 1.0 || p.is_nan() {
        return p;
    }
    sigmoid((p / (1.0 - p)).ln() + delta)
}

impl Calibrator {
    /// The method's name (`platt`, `isotonic`).
    pub fn method(&self) -> &'static str {
        match self {
            Self::Platt { .. } => "platt",
            Self::Isotonic { .. } => "isotonic",
        }
    }

    /// Fits Platt scaling of log-odds `z` to `labels`.
    pub fn fit_platt(z: &[f64], labels: &[bool]) -> Self {
        let (mut a, mut b) = (1.0, 0.0);
        // Newton's method on the mean log loss, with a tiny ridge so a separable slice stays finite.
        for _ in 0..50 {
            let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 1e-9, 0.0, 1e-9);
            for (x, y) in z.iter().zip(labels) {
                let p = sigmoid(a * x + b);
                let r = p - f64::from(u8::from(*y));
                let w = (p * (1.0 - p)).max(1e-12);
                ga += r * x;
                gb += r;
                haa += w * x * x;
                hab += w * x;
                hbb += w;
            }
            let det = haa * hbb - hab * hab;
            if det.abs() < 1e-18 {
                break;
            }
            let da = (hbb * ga - hab * gb) / det;
            let db = (haa * gb - hab * ga) / det;
            a -= da;
            b -= db;
            if da.abs() < 1e-10 && db.abs() < 1e-10 {
                break;
            }
        }
        if a.is_finite() && b.is_finite() { Self::Platt { a, b } } else { Self::Platt { a: 1.0, b: 0.0 } }
    }

    /// Fits isotonic regression of `labels` on log-odds `z` (pool-adjacent-violators).
    pub fn fit_isotonic(z: &[f64], labels: &[bool]) -> Self {
        let mut order: Vec<usize> = (0..z.len().min(labels.len())).collect();
        order.sort_by(|a, b| z[*a].total_cmp(&z[*b]).then(a.cmp(b)));
        // Blocks of (sum z, sum y, count); equal z values start in one block.
        let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
        let mut last_z = f64::NAN;
        for i in order {
            let y = f64::from(u8::from(labels[i]));
            match blocks.last_mut() {
                Some(b) if z[i] == last_z => {
                    b.0 += z[i];
                    b.1 += y;
                    b.2 += 1.0;
                }
                _ => blocks.push((z[i], y, 1.0)),
            }
            last_z = z[i];
            while blocks.len() >= 2 {
                let (p, q) = (blocks[blocks.len() - 2], blocks[blocks.len() - 1]);
                if p.1 / p.2 < q.1 / q.2 {
                    break;
                }
                blocks.pop();
                if let Some(b) = blocks.last_mut() {
                    *b = (p.0 + q.0, p.1 + q.1, p.2 + q.2);
                }
            }
        }
        // An end block without a conversion (or without a miss) would say 0 (or 1) to every lead
        // beyond it, and a lead scored there on a model fitted again on more leads costs the log
        // loss of a certainty (one draw of the panel's mlc_churn: 8 of 196 such leads converted,
        // log loss 0.22 against Platt's 0.17). Such a block is pooled with its neighbour, which
        // keeps the map monotone.
        while blocks.len() >= 2 && blocks[0].1 == 0.0 {
            let first = blocks.remove(0);
            blocks[0] = (blocks[0].0 + first.0, blocks[0].1 + first.1, blocks[0].2 + first.2);
        }
        while blocks.len() >= 2 && blocks.last().is_some_and(|b| b.1 == b.2) {
            if let (Some(last), Some(b)) = (blocks.pop(), blocks.last_mut()) {
                *b = (b.0 + last.0, b.1 + last.1, b.2 + last.2);
            }
        }
        let z: Vec<f64> = blocks.iter().map(|b| b.0 / b.2).collect();
        let p: Vec<f64> = blocks.iter().map(|b| (b.1 / b.2).clamp(EPS, 1.0 - EPS)).collect();
        Self::Isotonic { z, p }
    }

    /// The calibrated probability of log-odds `z`.
    pub fn apply(&self, z: f64) -> f64 {
        match self {
            Self::Platt { a, b } => sigmoid(a * z + b),
            Self::Isotonic { z: xs, p } => {
                let (Some(first), Some(last)) = (xs.first(), xs.last()) else { return sigmoid(z) };
                if z.is_nan() || p.len() != xs.len() {
                    return f64::NAN;
                }
                if z <= *first {
                    return p[0];
                }
                if z >= *last {
                    return p[p.len() - 1];
                }
                let j = xs.partition_point(|x| *x <= z);
                let (x0, x1, p0, p1) = (xs[j - 1], xs[j], p[j - 1], p[j]);
                if x1 > x0 { p0 + (p1 - p0) * (z - x0) / (x1 - x0) } else { p0 }
            }
        }
    }

    /// Calibrated probabilities of many log-odds.
    pub fn apply_all(&self, z: &[f64]) -> Vec<f64> {
        z.iter().map(|z| self.apply(*z)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platt_recovers_a_known_slope_and_intercept() {
        // Outcomes drawn deterministically so that P(y | z) = sigmoid(0.5 z - 1).
        let mut z = Vec::new();
        let mut y = Vec::new();
        for i in 0..400 {
            let x = -4.0 + 8.0 * f64::from(i) / 400.0;
            let p = sigmoid(0.5 * x - 1.0);
            for k in 0..50 {
                z.push(x);
                y.push(f64::from(k) + 0.5 < p * 50.0);
            }
        }
        let Calibrator::Platt { a, b } = Calibrator::fit_platt(&z, &y) else { panic!("platt") };
        assert!((a - 0.5).abs() < 0.02 && (b + 1.0).abs() < 0.03, "a {a} b {b}");
    }

    #[test]
    fn isotonic_is_monotone_and_pools_violators() {
        let z = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let y = [true, false, true, false, true, false];
        let c = Calibrator::fit_isotonic(&z, &y);
        let Calibrator::Isotonic { p, .. } = &c else { panic!("isotonic") };
        // 1-2, 3-4 and 5-6 each pool to 0.5, and then into one block.
        assert_eq!(p, &vec![0.5]);
        let z = [1.0, 2.0, 3.0, 4.0];
        let y = [true, false, true, true];
        let c = Calibrator::fit_isotonic(&z, &y);
        let Calibrator::Isotonic { p, z } = &c else { panic!("isotonic") };
        // 1 and 2 pool to 0.5; 3 and 4, both converted, are an end block of certainties pooled
        // with it: one block of 3 in 4.
        assert_eq!((z.len(), p.len()), (1, 1));
        assert!((p[0] - 0.75).abs() < 1e-12);
        let probs = c.apply_all(&[0.0, 1.0, 2.5, 3.9, 9.0]);
        assert!(probs.windows(2).all(|w| w[0] <= w[1]), "{probs:?}");
    }

    /// Blocks 0/3, 1/3, 1/2, 2/3, 3/3: the end blocks, certainties, are pooled with their
    /// neighbours (1/6 and 5/6); the map stays monotone, and no lead is given 0 or 1.
    #[test]
    fn an_end_block_of_certainties_is_pooled_with_its_neighbour() {
        let y = [false, false, false, true, false, false, true, false, true, true, false, true, true, true];
        let z: Vec<f64> = (1..=14u32).map(f64::from).collect();
        let c = Calibrator::fit_isotonic(&z, &y);
        let Calibrator::Isotonic { p, .. } = &c else { panic!("isotonic") };
        let expected = [1.0 / 6.0, 0.5, 5.0 / 6.0];
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p.iter().zip(expected).all(|(p, e)| (p - e).abs() < 1e-12), "{p:?}");
        let probs = c.apply_all(&[-100.0, 1.0, 7.5, 14.0, 100.0]);
        assert!(probs.windows(2).all(|w| w[0] <= w[1]), "{probs:?}");
        assert!(probs.iter().all(|p| *p > 0.1 && *p < 0.9), "{probs:?}");
        // One class alone stays one block at its rate (clipped).
        let Calibrator::Isotonic { p, .. } = Calibrator::fit_isotonic(&[1.0, 2.0], &[false, false]) else {
            panic!("isotonic")
        };
        assert_eq!(p, vec![EPS]);
    }
}
