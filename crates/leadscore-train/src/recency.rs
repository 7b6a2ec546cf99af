//! The recency adjustment: correcting the model's level for drift since its training window.
//!
//! A model can only learn from matured leads, so its newest labelled lead is at least one
//! conversion window old, and calibration sits on a validation slice older still. When the
//! conversion rate drifts, the probabilities lag. The leads created since (the features stage's
//! `pending` split) carry fresh evidence: by the run date, some have already converted. They are
//! never negatives: a pending lead of age `a` that has not converted yet may still convert.
//!
//! With `F(a)` the share of (matured, converted) training leads that converted within `a` days,
//! a pending lead with probability `p` has converted by now with probability `p * F(a)`. The
//! adjustment is the shift `delta` of the log-odds that maximises the likelihood of what is seen
//! so far, `sum y log(s F) + (1 - y) log(1 - s F)` with `s = sigmoid(logit(p) + delta)`, with a
//! normal prior on `delta` (standard deviation [`PRIOR_SD`]) so that a handful of pending leads
//! barely moves it. Ranking is unchanged; only the level moves.

use leadscore_model::calibrate::{shift, sigmoid};
use serde::{Deserialize, Serialize};

/// Standard deviation of the prior on the shift (log-odds): shifts of a quarter are plausible,
/// shifts beyond one are not.
pub const PRIOR_SD: f64 = 0.25;
/// The largest shift applied, either way.
pub const MAX_SHIFT: f64 = 1.0;

/// What the adjustment found, for the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecencyReport {
    /// Whether a shift was applied.
    pub applied: bool,
    /// The shift added to the log-odds (0 when not applied).
    pub shift: f64,
    /// Pending leads (created after the training window, windows still open).
    pub leads: u64,
    /// Of them, converted so far.
    pub converted_so_far: u64,
    /// Conversions so far the unshifted model expects, given each lead's age.
    pub expected_so_far: f64,
    /// The same with the shift.
    pub expected_after_shift: f64,
    /// Why, in words.
    pub why: String,
}

impl RecencyReport {
    /// No shift, for a reason.
    pub fn not_applied(leads: usize, converted: usize, why: String) -> Self {
        Self {
            applied: false,
            shift: 0.0,
            leads: leads as u64,
            converted_so_far: converted as u64,
            expected_so_far: 0.0,
            expected_after_shift: 0.0,
            why,
        }
    }
}

/// The share of `delays` (sorted ascending) strictly below `age`.
fn share_below(delays: &[f64], age: f64) -> f64 {
    delays.partition_point(|d| *d < age) as f64 / delays.len() as f64
}

/// Estimates the shift from the pending leads' calibrated probabilities `p`, their ages in days at
/// the run date, whether each has converted so far, and the days to convert of matured converted
/// training leads.
pub fn estimate(p: &[f64], age_days: &[f64], converted: &[bool], delays: &[f64]) -> RecencyReport {
    let n = p.len();
    let observed = converted.iter().filter(|c| **c).count();
    if n == 0 {
        return RecencyReport::not_applied(
            0,
            0,
            "no pending leads: every lead before the day to score has matured".into(),
        );
    }
    let mut delays: Vec<f64> = delays.iter().copied().filter(|d| d.is_finite() && *d >= 0.0).collect();
    if delays.is_empty() {
        return RecencyReport::not_applied(
            n,
            observed,
            "no days-to-convert of matured conversions to weigh ages with".into(),
        );
    }
    delays.sort_by(f64::total_cmp);
    let f: Vec<f64> = age_days.iter().map(|a| share_below(&delays, *a)).collect();
    let z: Vec<f64> = p.iter().map(|p| p.clamp(1e-9, 1.0 - 1e-9)).map(|p| (p / (1.0 - p)).ln()).collect();
    let expected = |delta: f64| -> f64 { z.iter().zip(&f).map(|(z, f)| sigmoid(z + delta) * f).sum() };
    // The derivative of the penalised log-likelihood; it decreases in delta.
    let slope = |delta: f64| -> f64 {
        let mut g = -delta / (PRIOR_SD * PRIOR_SD);
        for ((z, f), y) in z.iter().zip(&f).zip(converted) {
            let s = sigmoid(z + delta);
            g += if *y { 1.0 - s } else { -f * s * (1.0 - s) / (1.0 - s * f).max(1e-12) };
        }
        g
    };
    let (mut lo, mut hi) = (-MAX_SHIFT, MAX_SHIFT);
    let delta = if slope(lo) <= 0.0 {
        lo
    } else if slope(hi) >= 0.0 {
        hi
    } else {
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if slope(mid) > 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    };
    let before = expected(0.0);
    let after = expected(delta);
    let capped = delta.abs() >= MAX_SHIFT;
    RecencyReport {
        applied: true,
        shift: delta,
        leads: n as u64,
        converted_so_far: observed as u64,
        expected_so_far: before,
        expected_after_shift: after,
        why: format!(
            "{n} pending leads have converted {observed} times so far where the model expects {before:.1} for their ages: log-odds shifted by {delta:+.3} (conversion odds x{:.3}){}",
            delta.exp(),
            if capped { format!("; capped at {MAX_SHIFT}") } else { String::new() }
        ),
    }
}

/// `p` with the report's shift.
pub fn apply(p: &[f64], report: &RecencyReport) -> Vec<f64> {
    p.iter().map(|p| shift(*p, report.shift)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pending leads whose true rate is `true_p`, observed at ages 0..window with conversions
    /// spread evenly over the window (so `F(a) = a / window`), for a model that says `model_p`.
    fn world(n: usize, true_p: f64, model_p: f64) -> (Vec<f64>, Vec<f64>, Vec<bool>, Vec<f64>) {
        let window = 40.0;
        let delays: Vec<f64> = (0..400).map(|k| f64::from(k) * window / 400.0).collect();
        let mut age = Vec::new();
        let mut converted = Vec::new();
        let mut seen = 0.0;
        for i in 0..n {
            let a = window * (i as f64 + 0.5) / n as f64;
            age.push(a);
            // Deterministic: convert whenever the running expectation passes the next integer.
            let before = seen;
            seen += true_p * a / window;
            converted.push(seen.floor() > before.floor());
        }
        (vec![model_p; n], age, converted, delays)
    }

    #[test]
    fn a_model_that_overshoots_is_shifted_down_to_about_the_truth() {
        let (p, age, y, delays) = world(20_000, 0.05, 0.06);
        let r = estimate(&p, &age, &y, &delays);
        assert!(r.applied);
        assert!(r.shift < 0.0, "{r:?}");
        let shifted = apply(&p, &r)[0];
        assert!((shifted - 0.05).abs() < 0.002, "{shifted} {r:?}");
        assert!((r.expected_after_shift - r.converted_so_far as f64).abs() < 0.05 * r.converted_so_far as f64);
    }

    #[test]
    fn a_calibrated_model_is_left_about_where_it_is() {
        let (p, age, y, delays) = world(20_000, 0.05, 0.05);
        let r = estimate(&p, &age, &y, &delays);
        assert!(r.shift.abs() < 0.03, "{r:?}");
    }

    #[test]
    fn young_leads_that_have_not_converted_yet_are_not_negatives() {
        // Every lead is a day old and none has converted: with F(1) = 2.5% the model expects 2.5
        // conversions so far, so the level moves only a little instead of collapsing.
        let delays: Vec<f64> = (0..400).map(|k| f64::from(k) / 10.0).collect();
        let r = estimate(&vec![0.05; 2000], &vec![1.0; 2000], &vec![false; 2000], &delays);
        assert!(r.shift < 0.0 && r.shift > -0.2, "{r:?}");
        // The same leads treated as matured non-converters (age beyond every delay) push it down.
        let r = estimate(&vec![0.05; 2000], &vec![100.0; 2000], &vec![false; 2000], &delays);
        assert!(r.shift < -0.5, "{r:?}");
    }

    #[test]
    fn few_pending_leads_barely_move_the_level_and_none_leave_it() {
        let delays = vec![1.0, 5.0, 20.0];
        let r = estimate(
            &[0.05; 20],
            &[30.0; 20],
            &[
                true, true, true, false, false, false, false, false, false, false, false, false, false, false, false,
                false, false, false, false, false,
            ],
            &delays,
        );
        assert!(r.shift > 0.0 && r.shift < 0.5, "{r:?}");
        let r = estimate(&[], &[], &[], &delays);
        assert!(!r.applied && r.shift == 0.0);
        let r = estimate(&[0.1], &[3.0], &[false], &[]);
        assert!(!r.applied);
    }
}
