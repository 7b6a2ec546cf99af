//! What a data scientist checks before trusting a model, all on the validation leads (out of
//! time): how the probabilities of converted and not converted leads are spread, the confusion
//! matrix at the configured threshold, bootstrap intervals on AUC, precision and recall, and the
//! model's stability per creation month and per lead source.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike};
use leadscore_model::metrics::roc_auc;
use polars::prelude::DataFrame;
use rand::{RngCore, SeedableRng};
use serde::Serialize;

/// Bootstrap resamples of the validation leads.
pub const RESAMPLES: usize = 200;
/// Bins of the probability histogram.
const BINS: usize = 20;
/// Groups (lead sources) with fewer leads are pooled into "other" in the stability table.
const MIN_GROUP: u64 = 30;
/// The stability table shows at most this many lead sources, the largest first.
const MAX_SOURCES: usize = 12;
/// The pooled group's name.
const OTHER: &str = "(other)";

/// The chosen model's diagnostics (`report.json` → `trained.diagnostics`).
#[derive(Debug, Clone, Serialize)]
pub struct Diagnostics {
    /// Share of converted and of not converted leads per probability bin.
    pub distribution: Vec<Bin>,
    /// The confusion matrix at the configured policy's threshold.
    pub confusion: Confusion,
    /// 95% bootstrap intervals.
    pub intervals: Intervals,
    /// Per creation month of the validation leads.
    pub by_month: Vec<Group>,
    /// Per lead source (when the features have a `lead_source`), the largest first.
    pub by_source: Vec<Group>,
}

/// One bin of the probability histogram: `[from, to)`.
#[derive(Debug, Clone, Serialize)]
pub struct Bin {
    /// Lower edge.
    pub from: f64,
    /// Upper edge.
    pub to: f64,
    /// Share of the converted leads in it.
    pub converted: f64,
    /// Share of the leads that did not convert in it.
    pub not_converted: f64,
}

/// Counts at a threshold: a lead is qualified when its probability is at or above it.
#[derive(Debug, Clone, Serialize)]
pub struct Confusion {
    /// The policy the config chose.
    pub policy: String,
    /// Its threshold.
    pub threshold: f64,
    /// Qualified and converted.
    pub true_positives: u64,
    /// Qualified, not converted.
    pub false_positives: u64,
    /// Not qualified, converted.
    pub false_negatives: u64,
    /// Not qualified, not converted.
    pub true_negatives: u64,
    /// Converted share of the qualified.
    pub precision: f64,
    /// Qualified share of the converted.
    pub recall: f64,
    /// Qualified share of the leads.
    pub qualified_share: f64,
}

/// 95% percentile intervals over [`RESAMPLES`] resamples of the validation leads.
#[derive(Debug, Clone, Serialize)]
pub struct Intervals {
    /// Resamples drawn.
    pub resamples: usize,
    /// ROC AUC: the value and its interval.
    pub auc: Estimate,
    /// Precision at the configured threshold.
    pub precision: Estimate,
    /// Recall at the configured threshold.
    pub recall: Estimate,
}

/// A figure and its interval.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    /// On the validation leads.
    pub value: f64,
    /// 2.5th percentile of the resamples.
    pub low: f64,
    /// 97.5th percentile.
    pub high: f64,
}

/// The model on a group of validation leads.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The month (`2026-08`) or lead source.
    pub name: String,
    /// Leads.
    pub leads: u64,
    /// Conversions.
    pub conversions: u64,
    /// Observed conversion rate.
    pub rate: f64,
    /// Mean predicted probability: against `rate`, the calibration of the group.
    pub mean_predicted: f64,
    /// ROC AUC within the group (`None` without both outcomes).
    pub auc: Option<f64>,
}

/// Everything above for calibrated validation probabilities `p`, outcomes `y`, creation times,
/// the validation frame (for `lead_source`) and the configured policy's threshold.
pub fn diagnose(
    p: &[f64],
    y: &[bool],
    created_us: &[i64],
    frame: &DataFrame,
    (policy, threshold): (&str, f64),
    tz: chrono_tz::Tz,
    seed: u64,
) -> Diagnostics {
    let month = |t: &i64| {
        DateTime::from_timestamp_micros(*t)
            .map(|d| d.with_timezone(&tz))
            .map_or_else(|| "unknown".to_string(), |d| format!("{:04}-{:02}", d.year(), d.month()))
    };
    let months: Vec<String> = created_us.iter().map(month).collect();
    let sources: Option<Vec<String>> = frame
        .column("lead_source")
        .ok()
        .and_then(|c| c.str().ok().map(|s| s.iter().map(|v| v.unwrap_or("(none)").to_string()).collect()));
    let mut by_source = sources.map(|s| groups(p, y, &pooled(s))).unwrap_or_default();
    by_source.sort_by(|a, b| {
        (a.name == OTHER).cmp(&(b.name == OTHER)).then(b.leads.cmp(&a.leads)).then(a.name.cmp(&b.name))
    });
    let confusion = confusion(p, y, policy, threshold);
    Diagnostics {
        distribution: distribution(p, y),
        intervals: intervals(p, y, &confusion, seed),
        confusion,
        by_month: groups(p, y, &months),
        by_source,
    }
}

/// The histogram over [0, the 99th percentile of `p`], in [`BINS`] equal bins (the last takes
/// everything above).
fn distribution(p: &[f64], y: &[bool]) -> Vec<Bin> {
    let mut sorted: Vec<f64> = p.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let top = sorted.get(sorted.len().saturating_sub(1) * 99 / 100).copied().unwrap_or(1.0).max(1e-6);
    let width = top / BINS as f64;
    let mut counts = vec![(0u64, 0u64); BINS];
    for (v, yi) in p.iter().zip(y) {
        let k = ((v / width).floor().max(0.0) as usize).min(BINS - 1);
        if *yi {
            counts[k].0 += 1;
        } else {
            counts[k].1 += 1;
        }
    }
    let (pos, neg) = counts.iter().fold((0u64, 0u64), |a, c| (a.0 + c.0, a.1 + c.1));
    let share = |k: u64, n: u64| if n > 0 { k as f64 / n as f64 } else { 0.0 };
    counts
        .iter()
        .enumerate()
        .map(|(k, c)| Bin {
            from: width * k as f64,
            to: width * (k + 1) as f64,
            converted: share(c.0, pos),
            not_converted: share(c.1, neg),
        })
        .collect()
}

fn confusion(p: &[f64], y: &[bool], policy: &str, threshold: f64) -> Confusion {
    let (mut tp, mut fp, mut fn_, mut tn) = (0u64, 0u64, 0u64, 0u64);
    for (v, yi) in p.iter().zip(y) {
        match (*v >= threshold, *yi) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => tn += 1,
        }
    }
    let share = |k: u64, n: u64| if n > 0 { k as f64 / n as f64 } else { 0.0 };
    Confusion {
        policy: policy.to_string(),
        threshold,
        true_positives: tp,
        false_positives: fp,
        false_negatives: fn_,
        true_negatives: tn,
        precision: share(tp, tp + fp),
        recall: share(tp, tp + fn_),
        qualified_share: share(tp + fp, tp + fp + fn_ + tn),
    }
}

/// Poisson bootstrap (each lead drawn a Poisson(1) number of times, the large-sample limit of
/// drawing n leads with replacement; Hanley and MacGibbon 2006), every resample from a seeded
/// stream of its own so that the figures do not depend on the threads, resamples side by side.
/// The point values are those of `at`, the confusion matrix at its threshold. One sort of the
/// leads by probability; then a resample is one pass over them in that order,
/// which gives the AUC of its tie groups, precision and recall at once.
fn intervals(p: &[f64], y: &[bool], at: &Confusion, seed: u64) -> Intervals {
    let threshold = at.threshold;
    use rayon::prelude::*;
    let n = p.len().min(y.len());
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|a, b| p[*a].total_cmp(&p[*b]));
    // The leads in probability order, each with whether it starts a new tie group.
    let leads: Vec<(bool, bool, bool)> = order
        .iter()
        .enumerate()
        .map(|(k, i)| (k == 0 || p[order[k - 1]].total_cmp(&p[*i]).is_ne(), y[*i], p[*i] >= threshold))
        .collect();
    let poisson = PoissonOne::new();
    let resample = |k: usize| {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(k as u64);
        let mut groups: Vec<(u64, u64)> = Vec::with_capacity(leads.len());
        let (mut tp, mut qualified, mut positives) = (0u64, 0u64, 0u64);
        for (starts, converted, above) in &leads {
            let w = poisson.draw(rng.next_u64());
            if *starts || groups.is_empty() {
                groups.push((0, 0));
            }
            let last = groups.len() - 1;
            if *converted {
                groups[last].0 += w;
                positives += w;
            } else {
                groups[last].1 += w;
            }
            if *above {
                qualified += w;
                tp += if *converted { w } else { 0 };
            }
        }
        let auc = sorted_auc(&groups);
        let precision = (qualified > 0).then(|| tp as f64 / qualified as f64);
        let recall = (positives > 0).then(|| tp as f64 / positives as f64);
        (auc, precision, recall)
    };
    let drawn: Vec<_> = (0..if n > 0 { RESAMPLES } else { 0 }).into_par_iter().map(resample).collect();
    Intervals {
        resamples: RESAMPLES,
        auc: estimate(roc_auc(p, y).unwrap_or(f64::NAN), drawn.iter().filter_map(|d| d.0).collect()),
        precision: estimate(at.precision, drawn.iter().filter_map(|d| d.1).collect()),
        recall: estimate(at.recall, drawn.iter().filter_map(|d| d.2).collect()),
    }
}

/// Poisson(1) draws from uniform 64-bit integers: the distribution function as integer
/// thresholds, searched from 0 (a draw is 0 or 1 three times in four).
struct PoissonOne {
    cdf: [u64; 16],
}

impl PoissonOne {
    fn new() -> Self {
        let mut cdf = [u64::MAX; 16];
        let (mut pmf, mut sum) = ((-1.0f64).exp(), 0.0);
        for (k, c) in cdf.iter_mut().enumerate().take(15) {
            if k > 0 {
                pmf /= k as f64;
            }
            sum += pmf;
            // 2^64 times the probability of at most k (the last threshold stays the maximum).
            *c = (sum * 18_446_744_073_709_551_616.0).min(u64::MAX as f64) as u64;
        }
        Self { cdf }
    }

    /// The draw for the uniform `x`.
    fn draw(&self, x: u64) -> u64 {
        self.cdf.iter().position(|c| x < *c).unwrap_or(15) as u64
    }
}

/// ROC AUC from `(positives, negatives)` per score group, the groups in ascending score order
/// (ties within a group count half).
fn sorted_auc(groups: &[(u64, u64)]) -> Option<f64> {
    let (pos, neg) = groups.iter().fold((0u64, 0u64), |a, g| (a.0 + g.0, a.1 + g.1));
    if pos == 0 || neg == 0 {
        return None;
    }
    let (mut below, mut wins) = (0u64, 0.0f64);
    for (p, n) in groups {
        wins += *p as f64 * below as f64 + 0.5 * *p as f64 * *n as f64;
        below += n;
    }
    Some(wins / (pos as f64 * neg as f64))
}

/// The value with the 2.5th and 97.5th percentiles of its resamples (the value itself when no
/// resample had one).
fn estimate(value: f64, mut resampled: Vec<f64>) -> Estimate {
    resampled.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let k = ((resampled.len().saturating_sub(1)) as f64 * q).round() as usize;
        resampled.get(k).copied().unwrap_or(value)
    };
    Estimate { value, low: at(0.025), high: at(0.975) }
}

/// The model per value of `key`, in the key's order.
fn groups(p: &[f64], y: &[bool], key: &[String]) -> Vec<Group> {
    let mut rows: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, k) in key.iter().enumerate().take(p.len()) {
        rows.entry(k.as_str()).or_default().push(i);
    }
    rows.into_iter().map(|(name, idx)| group(name, &idx, p, y)).collect()
}

fn group(name: &str, idx: &[usize], p: &[f64], y: &[bool]) -> Group {
    let gp: Vec<f64> = idx.iter().map(|i| p[*i]).collect();
    let gy: Vec<bool> = idx.iter().map(|i| y[*i]).collect();
    let leads = idx.len() as u64;
    let conversions = gy.iter().filter(|v| **v).count() as u64;
    let n = (leads as f64).max(1.0);
    Group {
        name: name.to_string(),
        leads,
        conversions,
        rate: conversions as f64 / n,
        mean_predicted: gp.iter().sum::<f64>() / n,
        auc: roc_auc(&gp, &gy),
    }
}

/// The lead source of each lead, with the sources beyond the [`MAX_SOURCES`] largest, or with
/// fewer than [`MIN_GROUP`] leads, pooled as "other".
fn pooled(sources: Vec<String>) -> Vec<String> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for s in &sources {
        *counts.entry(s.as_str()).or_default() += 1;
    }
    let mut largest: Vec<(&str, u64)> = counts.into_iter().filter(|c| c.1 >= MIN_GROUP).collect();
    largest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let kept: std::collections::HashSet<String> =
        largest.into_iter().take(MAX_SOURCES).map(|(s, _)| s.to_string()).collect();
    sources.into_iter().map(|s| if kept.contains(&s) { s } else { OTHER.to_string() }).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// 1,000 leads whose probability ranks them well but not perfectly.
    fn leads() -> (Vec<f64>, Vec<bool>) {
        let p: Vec<f64> = (0..1000).map(|i| f64::from(i) / 1000.0 * 0.3).collect();
        let y: Vec<bool> = (0..1000).map(|i| (i * 7919) % 1000 < i / 4).collect();
        (p, y)
    }

    #[test]
    fn the_confusion_matrix_counts_every_lead_once_at_the_threshold() {
        let p = [0.1, 0.2, 0.3, 0.4];
        let y = [false, true, false, true];
        let c = confusion(&p, &y, "top_fraction", 0.3);
        assert_eq!((c.true_positives, c.false_positives, c.false_negatives, c.true_negatives), (1, 1, 1, 1));
        assert_eq!((c.precision, c.recall, c.qualified_share), (0.5, 0.5, 0.5));
        // At the threshold is qualified.
        assert_eq!(confusion(&p, &y, "", 0.2).true_positives, 2);
    }

    #[test]
    fn bootstrap_intervals_hold_the_value_and_narrow_with_more_leads() {
        let (p, y) = leads();
        let at = |p: &[f64], y: &[bool]| confusion(p, y, "", 0.2);
        let i = intervals(&p, &y, &at(&p, &y), 42);
        for e in [&i.auc, &i.precision, &i.recall] {
            assert!(e.low < e.value && e.value < e.high, "{e:?}");
        }
        assert!((i.auc.value - roc_auc(&p, &y).unwrap()).abs() < 1e-12);
        // Seeded: the same intervals again.
        assert_eq!(intervals(&p, &y, &at(&p, &y), 42).auc.low, i.auc.low);
        let (p4, y4): (Vec<f64>, Vec<bool>) = (p.repeat(4), y.repeat(4));
        let wide = i.auc.high - i.auc.low;
        let narrow = intervals(&p4, &y4, &at(&p4, &y4), 42);
        assert!(narrow.auc.high - narrow.auc.low < 0.75 * wide, "{wide} vs {:?}", narrow.auc);
        // No leads: no resample, the value itself.
        assert!(intervals(&[], &[], &confusion(&[], &[], "", 0.5), 1).auc.low.is_nan());
    }

    #[test]
    fn the_auc_of_sorted_groups_is_the_auc_of_the_leads() {
        let (p, y) = leads();
        let mut order: Vec<usize> = (0..p.len()).collect();
        order.sort_by(|a, b| p[*a].total_cmp(&p[*b]));
        let groups: Vec<(u64, u64)> = order.iter().map(|i| (u64::from(y[*i]), u64::from(!y[*i]))).collect();
        assert!((sorted_auc(&groups).unwrap() - roc_auc(&p, &y).unwrap()).abs() < 1e-12);
        // A tie between a positive and a negative counts half.
        assert_eq!(sorted_auc(&[(1, 1)]), Some(0.5));
        assert_eq!(sorted_auc(&[(0, 3)]), None);
    }

    #[test]
    fn poisson_draws_average_one_with_variance_one() {
        use rand::{RngCore, SeedableRng};
        let poisson = PoissonOne::new();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let draws: Vec<f64> = (0..200_000).map(|_| poisson.draw(rng.next_u64()) as f64).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / draws.len() as f64;
        assert!((mean - 1.0).abs() < 0.01 && (var - 1.0).abs() < 0.02, "{mean} {var}");
        let at = |u: f64| poisson.draw((u * 18_446_744_073_709_551_616.0) as u64);
        assert_eq!((at(0.0), at(0.5), at(0.99), poisson.draw(u64::MAX)), (0, 1, 4, 15));
    }

    #[test]
    fn each_group_shares_of_the_histogram_sum_to_one() {
        let (p, y) = leads();
        let bins = distribution(&p, &y);
        assert_eq!(bins.len(), BINS);
        let (c, n): (f64, f64) = bins.iter().fold((0.0, 0.0), |a, b| (a.0 + b.converted, a.1 + b.not_converted));
        assert!((c - 1.0).abs() < 1e-9 && (n - 1.0).abs() < 1e-9, "{c} {n}");
        assert!(bins.windows(2).all(|w| (w[0].to - w[1].from).abs() < 1e-12));
        // Converted leads sit higher than the others.
        let mean = |f: &dyn Fn(&Bin) -> f64| bins.iter().map(|b| f(b) * (b.from + b.to) / 2.0).sum::<f64>();
        assert!(mean(&|b| b.converted) > mean(&|b| b.not_converted));
    }

    #[test]
    fn small_lead_sources_are_pooled_and_every_lead_is_in_one_group() {
        let mut sources: Vec<String> = (0..200).map(|i| if i < 120 { "web" } else { "event" }.to_string()).collect();
        sources.extend((0..10).map(|_| "fax".to_string()));
        let pooled = pooled(sources);
        assert_eq!(pooled.iter().filter(|s| *s == OTHER).count(), 10);
        let p = vec![0.1; pooled.len()];
        let y: Vec<bool> = (0..pooled.len()).map(|i| i % 5 == 0).collect();
        let g = groups(&p, &y, &pooled);
        assert_eq!(g.iter().map(|g| g.leads).sum::<u64>(), 210);
        assert_eq!(g.iter().map(|g| g.conversions).sum::<u64>(), 42);
    }
}
