//! Model-quality metrics shared by the leakage audit, training and backtests.

use serde::{Deserialize, Serialize};

/// Probabilities are clipped to `[EPS, 1 - EPS]` before logarithms.
pub const EPS: f64 = 1e-6;

/// ROC AUC of `scores` against binary `labels` (Mann-Whitney U with average ranks for ties).
/// `None` when either class is absent.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let n = scores.len().min(labels.len());
    // One contiguous (score, label) array sorted unstably: ties are pooled below, so the order
    // within a tie does not matter, and this is several times faster than sorting indices.
    let mut pairs: Vec<(f64, bool)> = scores[..n].iter().copied().zip(labels[..n].iter().copied()).collect();
    pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut groups = Vec::new();
    for chunk in pairs.chunk_by(|a, b| a.0.total_cmp(&b.0).is_eq()) {
        let pos = chunk.iter().filter(|p| p.1).count() as u64;
        groups.push((chunk[0].0, pos, chunk.len() as u64 - pos));
    }
    roc_auc_grouped(&mut groups)
}

/// ROC AUC from `(score, positives, negatives)` groups: every lead of a group has the group's
/// score (groups with equal scores are pooled as ties). The same value as [`roc_auc`] on the
/// expanded rows, without sorting the rows: the leakage audit scores categories this way.
pub fn roc_auc_grouped(groups: &mut [(f64, u64, u64)]) -> Option<f64> {
    groups.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let (pos, neg) = groups.iter().fold((0u64, 0u64), |(p, n), g| (p + g.1, n + g.2));
    if pos == 0 || neg == 0 {
        return None;
    }
    // For each tie block: positives x negatives ranked below, plus half of the pairs inside it.
    let (mut below_neg, mut wins) = (0u64, 0.0f64);
    for block in groups.chunk_by(|a, b| a.0.total_cmp(&b.0).is_eq()) {
        let (p, n) = block.iter().fold((0u64, 0u64), |(p, n), g| (p + g.1, n + g.2));
        wins += p as f64 * below_neg as f64 + 0.5 * p as f64 * n as f64;
        below_neg += n;
    }
    Some(wins / (pos as f64 * neg as f64))
}

/// Mean log loss of probabilities `p` against `labels` (probabilities clipped to [`EPS`]).
pub fn log_loss(p: &[f64], labels: &[bool]) -> f64 {
    let n = p.len().min(labels.len()).max(1) as f64;
    p.iter().zip(labels).map(|(p, y)| lead_log_loss(*p, *y)).sum::<f64>() / n
}

/// The log loss of one lead: probability `p` (clipped to [`EPS`]) against its outcome `y`.
pub fn lead_log_loss(p: f64, y: bool) -> f64 {
    let p = p.clamp(EPS, 1.0 - EPS);
    -(if y { p.ln() } else { (1.0 - p).ln() })
}

/// Brier score: mean squared difference between probability and outcome.
pub fn brier(p: &[f64], labels: &[bool]) -> f64 {
    let n = p.len().min(labels.len()).max(1) as f64;
    p.iter().zip(labels).map(|(p, y)| (p - f64::from(u8::from(*y))).powi(2)).sum::<f64>() / n
}

/// Indices of `scores` from the highest to the lowest (ties by index, so results are stable).
pub fn descending(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b)));
    order
}

/// Area under the precision-recall curve as average precision (the precision at each positive,
/// averaged; tied scores are taken as one step). `None` without positives.
pub fn pr_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let pos = labels.iter().filter(|l| **l).count();
    if pos == 0 {
        return None;
    }
    let order = descending(scores);
    let (mut tp, mut seen, mut ap, mut i) = (0usize, 0usize, 0.0, 0);
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let new_tp = order[i..=j].iter().filter(|k| labels[**k]).count();
        tp += new_tp;
        seen += j - i + 1;
        ap += new_tp as f64 / pos as f64 * (tp as f64 / seen as f64);
        i = j + 1;
    }
    Some(ap)
}

/// One bin of a reliability (calibration) table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Leads in the bin.
    pub leads: u64,
    /// Mean predicted probability.
    pub predicted: f64,
    /// Observed conversion rate.
    pub observed: f64,
}

/// `bins` consecutive, non-empty index ranges of nearly equal size covering `0..n` (fewer when
/// `n < bins`), with each range's 0-based bin number.
pub fn equal_bins(n: usize, bins: usize) -> impl Iterator<Item = (usize, std::ops::Range<usize>)> {
    (0..bins).map(move |b| (b, b * n / bins..(b + 1) * n / bins)).filter(|(_, r)| !r.is_empty())
}

/// Reliability table over `bins` equal-count bins of the predicted probability, and the expected
/// calibration error (the lead-weighted mean of |predicted - observed| over the bins).
pub fn reliability(p: &[f64], labels: &[bool], bins: usize) -> (Vec<ReliabilityBin>, f64) {
    let n = p.len().min(labels.len());
    if n == 0 || bins == 0 {
        return (Vec::new(), 0.0);
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|a, b| p[*a].total_cmp(&p[*b]).then(a.cmp(b)));
    let mut out = Vec::with_capacity(bins);
    let mut ece = 0.0;
    for (_, range) in equal_bins(n, bins) {
        let idx = &order[range];
        let k = idx.len() as f64;
        let predicted = idx.iter().map(|i| p[*i]).sum::<f64>() / k;
        let observed = idx.iter().filter(|i| labels[**i]).count() as f64 / k;
        ece += k / n as f64 * (predicted - observed).abs();
        out.push(ReliabilityBin { leads: idx.len() as u64, predicted, observed });
    }
    (out, ece)
}

/// One decile of leads ranked by score, the best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decile {
    /// 1 = the highest-scored tenth.
    pub decile: u32,
    /// Leads in the decile.
    pub leads: u64,
    /// Converted leads in the decile.
    pub conversions: u64,
    /// Conversion rate in the decile.
    pub rate: f64,
    /// The decile's rate over the overall rate.
    pub lift: f64,
    /// Share of all conversions found in deciles 1..=this one.
    pub cumulative_recall: f64,
}

/// Conversions, lift and cumulative recall by decile of `scores`.
pub fn deciles(scores: &[f64], labels: &[bool]) -> Vec<Decile> {
    let n = scores.len().min(labels.len());
    let order = descending(&scores[..n]);
    let total = labels[..n].iter().filter(|l| **l).count();
    let overall = total as f64 / n.max(1) as f64;
    let mut cum = 0;
    equal_bins(n, 10)
        .map(|(d, range)| {
            let leads = range.len();
            let conv = order[range].iter().filter(|i| labels[**i]).count();
            cum += conv;
            let rate = conv as f64 / leads as f64;
            Decile {
                decile: d as u32 + 1,
                leads: leads as u64,
                conversions: conv as u64,
                rate,
                lift: if overall > 0.0 { rate / overall } else { 0.0 },
                cumulative_recall: if total > 0 { cum as f64 / total as f64 } else { 0.0 },
            }
        })
        .collect()
}

/// Points of the ROC curve `(false positive rate, true positive rate)`, at most `points` + 1 of
/// them, for plotting.
pub fn roc_curve(scores: &[f64], labels: &[bool], points: usize) -> Vec<(f64, f64)> {
    let order = descending(scores);
    let pos = labels.iter().filter(|l| **l).count().max(1) as f64;
    let neg = (labels.len() - labels.iter().filter(|l| **l).count()).max(1) as f64;
    let step = (order.len() / points.max(1)).max(1);
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut out = vec![(0.0, 0.0)];
    for (k, i) in order.iter().enumerate() {
        if labels[*i] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        if (k + 1) % step == 0 || k + 1 == order.len() {
            out.push((fp / neg, tp / pos));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_loss_brier_and_average_precision_known_values() {
        let y = [true, false];
        assert!((log_loss(&[0.5, 0.5], &y) - std::f64::consts::LN_2).abs() < 1e-12);
        assert!((brier(&[1.0, 0.0], &y)).abs() < 1e-12);
        assert!((brier(&[0.0, 1.0], &y) - 1.0).abs() < 1e-12);
        // Ranked: pos, neg, pos -> AP = (1/1 + 2/3) / 2.
        let ap = pr_auc(&[0.9, 0.8, 0.7], &[true, false, true]).unwrap_or(0.0);
        assert!((ap - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(pr_auc(&[0.1], &[false]), None);
    }

    #[test]
    fn reliability_of_perfectly_calibrated_bins_has_no_error() {
        // Two bins: p = 0.25 with 1 of 4 converted, p = 0.75 with 3 of 4.
        let p = [0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75];
        let y = [true, false, false, false, true, true, true, false];
        let (bins, ece) = reliability(&p, &y, 2);
        assert_eq!(bins.len(), 2);
        assert!(ece.abs() < 1e-12);
        let (_, ece) = reliability(&[0.9; 8], &y, 2);
        assert!((ece - 0.4).abs() < 1e-12);
    }

    #[test]
    fn deciles_rank_best_first_and_recall_accumulates_to_one() {
        let scores: Vec<f64> = (0..100).map(f64::from).collect();
        let labels: Vec<bool> = (0..100).map(|i| i >= 90 || i % 20 == 0).collect();
        let d = deciles(&scores, &labels);
        assert_eq!(d.len(), 10);
        assert_eq!(d[0].conversions, 10);
        assert!((d[9].cumulative_recall - 1.0).abs() < 1e-12);
        assert!(d[0].lift > 1.0);
        let roc = roc_curve(&scores, &labels, 10);
        assert_eq!(roc.first(), Some(&(0.0, 0.0)));
        assert_eq!(roc.last(), Some(&(1.0, 1.0)));
    }

    #[test]
    fn auc_known_values() {
        assert_eq!(roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]), Some(0.75));
        assert_eq!(roc_auc(&[1.0, 2.0], &[false, true]), Some(1.0));
        assert_eq!(roc_auc(&[2.0, 1.0], &[false, true]), Some(0.0));
        assert_eq!(roc_auc(&[1.0, 1.0, 1.0], &[false, true, false]), Some(0.5));
        assert_eq!(roc_auc(&[1.0, 2.0], &[true, true]), None);
    }

    #[test]
    fn grouped_auc_equals_row_auc() {
        // Three levels: score 0.1 (1 pos, 3 neg), 0.5 (2, 2), 0.5 again (1, 0), 0.9 (3, 1).
        let mut groups = [(0.5, 2, 2), (0.1, 1, 3), (0.9, 3, 1), (0.5, 1, 0)];
        let (mut scores, mut labels) = (Vec::new(), Vec::new());
        for (s, p, n) in groups {
            for i in 0..(p + n) {
                scores.push(s);
                labels.push(i < p);
            }
        }
        let rows = roc_auc(&scores, &labels).unwrap_or(f64::NAN);
        let grouped = roc_auc_grouped(&mut groups).unwrap_or(f64::NAN);
        assert!((rows - grouped).abs() < 1e-12, "{rows} vs {grouped}");
        assert_eq!(roc_auc_grouped(&mut [(1.0, 3, 0)]), None);
    }
}
