//! Probability calibration: a map from a model's raw log-odds to a calibrated probability.
//!
//! Every calibrator is fitted on out-of-time data (the validation slice), never on the leads the
//! model was trained on:
//!
//! - **Platt**: `p = sigmoid(a * z + b)`, two parameters fitted by Newton's method on the log
//!   loss; smooth, needs few conversions.
//! - **Beta** (Kull, Silva Filho and Flach, "Beyond sigmoids", 2017): `p = sigmoid(c + a ln s -
//!   b ln(1 - s))` with `s = sigmoid(z)`, three parameters fitted the same way. Its slope in the
//!   log-odds is `a` at the low end and `b` at the high end, so it can flatten the bulk of
//!   unlikely leads that a model spread too far while keeping a sharp high end; `a = b` is Platt.
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
    /// `sigmoid(c + a ln s - b ln(1 - s))` with `s = sigmoid(z)`; `a, b >= 0`.
    Beta {
        /// Slope at the low end (the weight of `ln s`).
        a: f64,
        /// Slope at the high end (the weight of `-ln(1 - s)`).
        b: f64,
        /// Intercept.
        c: f64,
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

/// `ln(sigmoid(x))`, without overflow.
pub fn log_sigmoid(x: f64) -> f64 {
    if x > 0.0 { -(-x).exp().ln_1p() } else { x - x.exp().ln_1p() }
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
            Self::Beta { .. } => "beta",
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

    /// Fits beta calibration of log-odds `z` to `labels`: a logistic regression on `ln s` and
    /// `-ln(1 - s)` by Newton's method. A slope fitted below 0 (the map would not be monotone) is
    /// held at 0 and the other two refitted, as the paper does.
    pub fn fit_beta(z: &[f64], labels: &[bool]) -> Self {
        let rows: Vec<[f64; 3]> = z.iter().map(|z| beta_features(*z)).collect();
        let mut held = [false; 3];
        let mut w = logistic_newton(&rows, labels, held);
        for _ in 0..2 {
            let Some(j) = (0..2).filter(|j| w[*j] < 0.0).min_by(|i, j| w[*i].total_cmp(&w[*j])) else { break };
            held[j] = true;
            w = logistic_newton(&rows, labels, held);
        }
        let [a, b, c] = w;
        if w.iter().all(|v| v.is_finite()) {
            Self::Beta { a: a.max(0.0), b: b.max(0.0), c }
        } else {
            Self::Beta { a: 1.0, b: 1.0, c: 0.0 }
        }
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
            Self::Beta { a, b, c } => {
                let [ln_s, ln_not_s, _] = beta_features(z);
                sigmoid(a * ln_s + b * ln_not_s + c)
            }
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

/// Beta calibration's features of log-odds `z`: `ln s`, `-ln(1 - s)` (with `s = sigmoid(z)`)
/// and 1.
fn beta_features(z: f64) -> [f64; 3] {
    [log_sigmoid(z), -log_sigmoid(-z), 1.0]
}

/// The weights of a logistic regression of `labels` on `rows` by Newton's method on the log loss
/// (a tiny ridge keeps a separable slice finite); a `held` weight stays 0.
fn logistic_newton(rows: &[[f64; 3]], labels: &[bool], held: [bool; 3]) -> [f64; 3] {
    let mut w = [0.0; 3];
    for _ in 0..50 {
        let (mut g, mut h) = ([0.0; 3], [[0.0; 3]; 3]);
        for (x, y) in rows.iter().zip(labels) {
            let p = sigmoid(x.iter().zip(&w).map(|(x, w)| x * w).sum());
            let (r, v) = (p - f64::from(u8::from(*y)), (p * (1.0 - p)).max(1e-12));
            for i in 0..3 {
                g[i] += r * x[i];
                for j in 0..3 {
                    h[i][j] += v * x[i] * x[j];
                }
            }
        }
        for i in 0..3 {
            h[i][i] += 1e-9;
            if held[i] {
                // The held weight's row and column become the identity and its step 0.
                (0..3).for_each(|j| (h[i][j], h[j][i]) = (0.0, 0.0));
                (h[i][i], g[i]) = (1.0, 0.0);
            }
        }
        let Some(step) = solve3(h, g) else { break };
        (0..3).for_each(|i| w[i] -= step[i]);
        if step.iter().all(|d| d.abs() < 1e-10) {
            break;
        }
    }
    w
}

/// `x` with `h x = g` (Gaussian elimination with partial pivoting); `None` when `h` is singular.
fn solve3(mut h: [[f64; 3]; 3], mut g: [f64; 3]) -> Option<[f64; 3]> {
    for k in 0..3 {
        let pivot = (k..3).max_by(|i, j| h[*i][k].abs().total_cmp(&h[*j][k].abs()))?;
        if h[pivot][k].abs() < 1e-18 {
            return None;
        }
        h.swap(k, pivot);
        g.swap(k, pivot);
        for i in k + 1..3 {
            let f = h[i][k] / h[k][k];
            (k..3).for_each(|j| h[i][j] -= f * h[k][j]);
            g[i] -= f * g[k];
        }
    }
    let mut x = [0.0; 3];
    for k in (0..3).rev() {
        x[k] = (g[k] - (k + 1..3).map(|j| h[k][j] * x[j]).sum::<f64>()) / h[k][k];
    }
    Some(x)
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

    /// Log-odds from -8 to 4 with outcomes drawn deterministically so that P(y | z) is beta
    /// calibration's map with slopes `a`, `b` and intercept `c`.
    fn beta_world(a: f64, b: f64, c: f64) -> (Vec<f64>, Vec<bool>) {
        let (mut z, mut y) = (Vec::new(), Vec::new());
        for i in 0..600 {
            let x = -8.0 + 12.0 * f64::from(i) / 600.0;
            let [ln_s, ln_not_s, _] = beta_features(x);
            let p = sigmoid(a * ln_s + b * ln_not_s + c);
            for k in 0..100 {
                z.push(x);
                y.push(f64::from(k) + 0.5 < p * 100.0);
            }
        }
        (z, y)
    }

    #[test]
    fn beta_recovers_two_slopes_and_an_intercept_and_nests_platt() {
        // A model that spread its unlikely leads too far: slope 0.3 at the low end, 1.4 at the high.
        let (z, y) = beta_world(0.3, 1.4, -0.5);
        let Calibrator::Beta { a, b, c } = Calibrator::fit_beta(&z, &y) else { panic!("beta") };
        assert!((a - 0.3).abs() < 0.03 && (b - 1.4).abs() < 0.05 && (c + 0.5).abs() < 0.1, "a {a} b {b} c {c}");
        // Equal slopes are Platt's map (`a ln s - a ln(1 - s)` is `a z`): both find it.
        let (z, y) = beta_world(0.8, 0.8, -1.0);
        let beta = Calibrator::fit_beta(&z, &y);
        let Calibrator::Beta { a, b, c } = beta else { panic!("beta") };
        assert!((a - 0.8).abs() < 0.05 && (b - 0.8).abs() < 0.05 && (c + 1.0).abs() < 0.08, "a {a} b {b} c {c}");
        let platt = Calibrator::fit_platt(&z, &y);
        for x in [-6.0, -2.0, 0.0, 3.0] {
            assert!((beta.apply(x) - platt.apply(x)).abs() < 0.01, "at {x}: {beta:?} against {platt:?}");
        }
    }

    #[test]
    fn a_beta_slope_that_would_turn_the_map_down_is_held_at_zero() {
        // The rate falls as the log-odds rise at the low end (a = -0.5): a map that is not monotone.
        let (z, y) = beta_world(-0.5, 1.0, 0.0);
        let fitted = Calibrator::fit_beta(&z, &y);
        let Calibrator::Beta { a, b, .. } = fitted else { panic!("beta") };
        assert_eq!(a, 0.0);
        assert!(b >= 0.0, "b {b}");
        let p = fitted.apply_all(&[-8.0, -4.0, -1.0, 0.0, 2.0, 4.0]);
        assert!(p.windows(2).all(|w| w[0] <= w[1]), "{p:?}");
        // Extreme log-odds give probabilities, not overflows.
        assert!(fitted.apply_all(&[-800.0, 800.0]).iter().all(|p| (0.0..=1.0).contains(p)));
    }

    #[test]
    fn beta_on_degenerate_slices_gives_finite_probabilities() {
        let same = [-2.0; 50];
        let one_class = [true; 50];
        let mixed: Vec<bool> = (0..50).map(|i| i % 7 == 0).collect();
        let ramp: Vec<f64> = (0..50).map(|i| f64::from(i) / 10.0 - 2.5).collect();
        for (z, y) in
            [(&[][..], &[][..]), (&same[..], &mixed[..]), (&ramp[..], &one_class[..]), (&ramp[..], &mixed[..])]
        {
            let fitted = Calibrator::fit_beta(z, y);
            let Calibrator::Beta { a, b, c } = fitted else { panic!("beta") };
            assert!(a.is_finite() && b.is_finite() && c.is_finite() && a >= 0.0 && b >= 0.0, "{fitted:?}");
            let p = fitted.apply_all(&[-30.0, -2.0, 0.0, 30.0]);
            assert!(p.iter().all(|p| (0.0..=1.0).contains(p)) && p.windows(2).all(|w| w[0] <= w[1]), "{p:?}");
        }
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
