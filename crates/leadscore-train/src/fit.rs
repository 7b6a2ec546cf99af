//! Fitting the classifiers: regularised logistic regression ([`crate::logistic`]) and gradient-boosted
//! trees (forust-ml) with early stopping on a time-ordered slice.

use forust_ml::constraints::{Constraint, ConstraintMap};
use forust_ml::gradientbooster::ImportanceMethod;
use forust_ml::metric::Metric;
use forust_ml::objective::ObjectiveType;
use forust_ml::sampler::SampleMethod;
use forust_ml::{GradientBooster, Matrix};
use leadscore_core::config::{Monotone, Train};
use leadscore_model::calibrate::sigmoid;
use leadscore_model::value::{SegmentValue, ValueModel, quantile};
use leadscore_model::{Classifier, Design, DesignColumn};

use crate::data::{Rows, joined, rows};
use crate::error::{Result, TrainError};

/// Most training rows the logistic baseline sees (an even subsample over time above this): its
/// optimiser makes full passes, and a linear model gains little from more rows.
pub const LOGISTIC_MAX_ROWS: usize = 100_000;
/// Most design cells (rows x columns) the logistic baseline sees: wide designs get fewer rows.
pub const LOGISTIC_MAX_CELLS: usize = 10_000_000;
/// Above this many training rows each boosted tree is grown on a random half of them (seeded):
/// half the histogram work per tree, at a cost in AUC measured in the benchmark notes.
pub const SUBSAMPLE_ABOVE_ROWS: usize = 300_000;
/// Share of the training slice, the most recent leads, that early stopping watches.
pub const EARLY_STOPPING_FRACTION: f64 = 0.15;
/// Rounds without improvement before early stopping.
pub const EARLY_STOPPING_ROUNDS: usize = 50;

/// What fitting the boosted trees decided.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BoostedFit {
    /// Rounds chosen by early stopping (on the older 85% of training, watching the newest 15%).
    pub best_rounds: usize,
    /// Rounds of the validated model: `best_rounds` (the early-stopped model itself), or with
    /// `[train] refit = false` those scaled to the whole training slice it is refitted on.
    pub final_rounds: usize,
    /// Share of the negatives the trees learned from (1 when every lead was used); each sampled
    /// negative weighed its inverse.
    pub negative_rate: f64,
    /// The settings of the trees (the configured ones, or the best of [`Trial`]s).
    pub settings: TreeSettings,
    /// The settings tried out of time and how each did (empty when only the configured ones ran).
    pub trials: Vec<Trial>,
}

/// Settings of the boosted trees.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TreeSettings {
    /// Depth of each tree.
    pub max_depth: usize,
    /// Smallest sum of hessians in a leaf (about `p (1 - p)` per lead for log loss).
    pub min_leaf_weight: f32,
    /// L2 penalty on the leaf weights.
    pub l2: f32,
    /// Share of the columns each tree may split on.
    pub colsample: f64,
}

impl TreeSettings {
    /// `[train] max_depth` with the default leaf size, penalty and every column.
    pub fn configured(cfg: &Train) -> Self {
        Self { max_depth: cfg.max_depth as usize, min_leaf_weight: 2.0, l2: 1.0, colsample: 1.0 }
    }
}

/// The settings tried besides the configured ones when the training slice holds at most `[train]
/// tune_below_leads` leads: shallow, strongly regularised trees; medium ones; deeper trees with
/// large leaves; each tree on 80% of the columns. Small histories overfit the configured trees,
/// and a few thousand leads make each try cheap.
pub const ALTERNATIVES: [TreeSettings; 3] = [
    TreeSettings { max_depth: 2, min_leaf_weight: 10.0, l2: 5.0, colsample: 0.8 },
    TreeSettings { max_depth: 3, min_leaf_weight: 5.0, l2: 1.0, colsample: 0.8 },
    TreeSettings { max_depth: 6, min_leaf_weight: 20.0, l2: 10.0, colsample: 0.8 },
];

/// One setting tried: fitted with early stopping on the older 85% of the training slice and
/// judged on the newest 15% (out of time; the validation slice is not used).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Trial {
    /// The settings.
    pub settings: TreeSettings,
    /// Rounds early stopping picked.
    pub rounds: usize,
    /// Log loss (weighted when negatives are sampled) of the newest 15% at those rounds.
    pub watch_log_loss: f64,
}

/// The training rows of the boosted trees when the slice is large: every positive and a seeded
/// random share `rate` of the negatives, in their time order, each negative weighing `1 / rate`
/// so that the weighted rows estimate the whole slice's likelihood.
#[derive(Debug, Clone, PartialEq)]
pub struct NegativeSample {
    /// Indices of the kept rows, ascending.
    pub rows: Vec<usize>,
    /// Weight of each kept row.
    pub weights: Vec<f64>,
    /// Share of the negatives kept.
    pub rate: f64,
}

/// The lowest share of negatives kept, however many leads there are: each sampled negative weighs
/// at most 50.
pub const MIN_NEGATIVE_RATE: f64 = 0.02;

/// Samples the negatives of `y` so that about `above` rows remain (`[train]
/// sample_negatives_above`); `None` when the slice is not larger than that, or `above` is 0.
pub fn sample_negatives(y: &[bool], above: usize, seed: u64) -> Option<NegativeSample> {
    use rand::{Rng, SeedableRng};
    if above == 0 || y.len() <= above {
        return None;
    }
    let positives = y.iter().filter(|v| **v).count();
    let negatives = y.len() - positives;
    if negatives == 0 {
        return None;
    }
    let rate = (above.saturating_sub(positives) as f64 / negatives as f64).clamp(MIN_NEGATIVE_RATE, 1.0);
    if rate >= 1.0 {
        return None;
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (mut rows, mut weights) = (Vec::new(), Vec::new());
    for (i, positive) in y.iter().enumerate() {
        // One draw per row, positives included, so a row's fate does not depend on the labels
        // of the rows before it.
        let keep = rng.gen_bool(rate);
        if *positive || keep {
            rows.push(i);
            weights.push(if *positive { 1.0 } else { 1.0 / rate });
        }
    }
    Some(NegativeSample { rows, weights, rate })
}

fn labels_f64(y: &[bool]) -> Vec<f64> {
    y.iter().map(|y| f64::from(u8::from(*y))).collect()
}

/// Most rows the logistic baseline fits for a design of `columns` columns: at most
/// [`LOGISTIC_MAX_ROWS`] and about [`LOGISTIC_MAX_CELLS`] cells.
pub fn logistic_budget(columns: usize) -> usize {
    LOGISTIC_MAX_ROWS.min(LOGISTIC_MAX_CELLS / columns.max(1)).max(1000)
}

/// The training rows the logistic baseline fits, ascending. Every row when they fit the budget;
/// otherwise a case-control sample spread evenly over time: the positives (at most half the
/// budget) and as many negatives as fill it. Sampling by class changes only the intercept of a
/// logistic regression, and calibration on the untouched validation slice sets that again.
pub fn logistic_rows(y: &[bool], columns: usize) -> Vec<usize> {
    let budget = logistic_budget(columns);
    if y.len() <= budget {
        return (0..y.len()).collect();
    }
    let (positives, negatives): (Vec<usize>, Vec<usize>) = (0..y.len()).partition(|i| y[*i]);
    let keep_pos = positives.len().min(budget / 2);
    let keep_neg = (budget - keep_pos).min(negatives.len());
    let evenly = |rows: &[usize], k: usize| -> Vec<usize> {
        (0..k).map(|j| rows[(j as f64 * rows.len() as f64 / k as f64) as usize]).collect()
    };
    let mut picked = evenly(&positives, keep_pos);
    picked.extend(evenly(&negatives, keep_neg));
    picked.sort_unstable();
    picked
}

/// Multiples of `[train] l2` tried for the logistic regression when the training slice holds at
/// most `[train] tune_below_leads` leads: a few hundred leads over dozens of columns want a
/// stronger penalty than a hundred thousand.
pub const L2_MULTIPLES: [f64; 3] = [1.0, 10.0, 100.0];

/// What fitting the logistic regression decided.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LogisticFit {
    /// The L2 penalty of the model.
    pub l2: f64,
    /// The penalties tried out of time and the log loss each gave (empty when only the configured
    /// one ran).
    pub trials: Vec<(f64, f64)>,
}

/// The monotone direction of each design column, if `[train] monotone` declares one for it: a
/// numeric feature's own column (not its missing-value indicator, nor a categorical level).
fn monotone_columns<'a>(
    columns: &'a [DesignColumn],
    monotone: &'a std::collections::BTreeMap<String, Monotone>,
) -> impl Iterator<Item = (usize, Monotone)> + 'a {
    columns.iter().enumerate().filter_map(|(j, c)| {
        let own = c.level.is_none() && c.name == c.feature;
        own.then(|| monotone.get(&c.feature)).flatten().map(|m| (j, *m))
    })
}

/// forust's constraints on the trees' design columns under `[train] monotone` (`None`: none).
fn tree_constraints(columns: &[DesignColumn], cfg: &Train) -> Option<ConstraintMap> {
    let map: ConstraintMap = monotone_columns(columns, &cfg.monotone)
        .map(|(j, m)| (j, if m == Monotone::Increasing { Constraint::Positive } else { Constraint::Negative }))
        .collect();
    (!map.is_empty()).then_some(map)
}

/// The coefficients and intercept of the logistic regression with L2 penalty `l2` on a
/// linear-encoded design; a column that `monotone` gives a direction keeps that sign. The constraint is kept by an active-set loop: a coefficient fitted with the
/// wrong sign is held at 0 and the rest refitted, and a held one is freed again when the loss's
/// slope says it would move the allowed way.
pub fn logistic_coefficients(
    x: &Design,
    y: &[bool],
    l2: f64,
    monotone: &std::collections::BTreeMap<String, Monotone>,
) -> Result<(Vec<f64>, f64)> {
    let err = |message| TrainError::Fit { model: "logistic regression", message };
    // Read once for every fit of the active-set loop below.
    let columns = crate::logistic::Columns::new(x);
    // The loss is a sum over rows, so the tolerance on its gradient scales with them.
    let fit = |held: &[bool]| crate::logistic::fit(&columns, y, l2, (100, 1e-5 * x.rows as f64), held).map_err(err);
    let signs: Vec<(usize, f64)> = monotone_columns(&x.columns, monotone).map(|(j, m)| (j, m.sign())).collect();
    let mut held = vec![false; x.columns.len()];
    let mut fitted = fit(&held)?;
    // Each round holds at least one column or frees one never freed before: a column is held at
    // most twice and freed at most once, so the loop ends within three rounds a column.
    let mut freed = vec![false; x.columns.len()];
    for _ in 0..=3 * signs.len() {
        let (w, b) = &fitted;
        let wrong: Vec<usize> = signs.iter().filter(|(j, s)| !held[*j] && s * w[*j] < 0.0).map(|(j, _)| *j).collect();
        if wrong.is_empty() {
            let slope = crate::logistic::gradient(&columns, y, l2, w, *b);
            let free = signs.iter().find(|(j, s)| held[*j] && !freed[*j] && s * slope[*j] < 0.0);
            let Some((j, _)) = free else { break };
            (held[*j], freed[*j]) = (false, true);
        } else {
            wrong.iter().for_each(|j| held[*j] = true);
        }
        fitted = fit(&held)?;
    }
    // The loop ends with every sign kept; this only guards the bound.
    let (mut w, b) = fitted;
    for (j, s) in &signs {
        if s * w[*j] < 0.0 {
            w[*j] = 0.0;
        }
    }
    Ok((w, b))
}

fn logistic_with(x: &Design, y: &[bool], cfg: &Train, l2: f64) -> Result<Classifier> {
    let (coefficients, intercept) = logistic_coefficients(x, y, l2, &cfg.monotone)?;
    Ok(Classifier::Logistic { coefficients, intercept })
}

/// Fits the logistic regression on a linear-encoded design of time-ordered rows (the rows
/// [`logistic_rows`] picked). With `tune`, each of [`L2_MULTIPLES`] of `[train] l2` is fitted on
/// the older 85% of the rows and judged by its log loss on the newest 15% (out of time; the
/// validation slice plays no part), and the best is fitted on every row.
pub fn logistic(x: &Design, y: &[bool], cfg: &Train, tune: bool) -> Result<(Classifier, LogisticFit)> {
    let mut trials = Vec::new();
    let mut l2 = cfg.l2;
    let cut = watch_cut(x.rows);
    let watch = &y[cut..];
    if tune && watch.iter().any(|v| *v) && watch.iter().any(|v| !*v) {
        let (fit_x, watch_x, _) = watch_split(x);
        let base = if cfg.l2 > 0.0 { cfg.l2 } else { 1.0 };
        for m in L2_MULTIPLES {
            let z = logistic_with(&fit_x, &y[..cut], cfg, base * m)?.logits(&watch_x)?;
            let loss = watch_log_loss(&z, &labels_f64(watch), &vec![1.0; watch.len()]);
            trials.push((base * m, loss));
        }
        if let Some(best) = trials.iter().min_by(|a, b| a.1.total_cmp(&b.1)) {
            l2 = best.0;
        }
    }
    Ok((logistic_with(x, y, cfg, l2)?, LogisticFit { l2, trials }))
}

/// A booster with `cfg`'s and `settings`' parameters; `constraints` for a classifier under
/// `[train] monotone` ([`tree_constraints`]), `None` for the value regression.
fn booster(
    cfg: &Train,
    settings: TreeSettings,
    rounds: usize,
    (regression, constraints): (bool, Option<&ConstraintMap>),
    rows: usize,
) -> GradientBooster {
    let (method, share) =
        if rows > SUBSAMPLE_ABOVE_ROWS { (SampleMethod::Random, 0.5) } else { (SampleMethod::None, 1.0) };
    GradientBooster::default()
        .set_sample_method(method)
        .set_subsample(share)
        .set_objective_type(if regression { ObjectiveType::SquaredLoss } else { ObjectiveType::LogLoss })
        .set_iterations(rounds)
        .set_learning_rate(cfg.learning_rate as f32)
        .set_max_depth(settings.max_depth)
        .set_l2(settings.l2)
        .set_min_leaf_weight(settings.min_leaf_weight)
        .set_colsample_bytree(settings.colsample)
        .set_seed(cfg.seed)
        .set_parallel(true)
        // Histograms filled row by row from a tiled copy of the binned data: the same trees up
        // to the last bits of the sums, 25-30% less time than the column-wise fill (benches/).
        .set_tiled_histograms(true)
        .set_monotone_constraints(constraints.cloned())
}

/// A booster with `cfg`'s and `settings`' parameters fitted with `rounds` rounds (no early
/// stopping) on the rows `x`, targets `y` and weights `w`; `target` as for [`booster`].
fn fit_rounds(
    cfg: &Train,
    (settings, rounds, target): (TreeSettings, usize, (bool, Option<&ConstraintMap>)),
    (x, y, w): (&Design, &[f64], &[f64]),
) -> Result<GradientBooster> {
    let what = if target.0 { "value regression" } else { "boosted trees" };
    let mut model = booster(cfg, settings, rounds, target, x.rows);
    model
        .fit(&Matrix::new(&x.data, x.rows, x.columns.len()), y, w, None)
        .map_err(|e| TrainError::Fit { model: what, message: e.to_string() })?;
    Ok(fitted(model))
}

/// A fitted booster without its monotone constraints: they shape the fit, not the prediction,
/// and forust writes them as a map keyed by column numbers, which `model.json` (an internally
/// tagged classifier) cannot read back.
fn fitted(mut model: GradientBooster) -> GradientBooster {
    model.monotone_constraints = None;
    model
}

/// A booster fitted with early stopping, and the probe's out-of-sample predictions on the
/// watched (newest) rows.
struct Boosted {
    model: GradientBooster,
    fit: BoostedFit,
    watch_predictions: Vec<f64>,
    cut: usize,
}

/// Early stopping picks the number of rounds on the newest [`EARLY_STOPPING_FRACTION`] of the
/// time-ordered rows. With `tune`, each of the configured settings and [`ALTERNATIVES`] is fitted
/// so and the one with the lowest log loss on those newest rows is kept.
///
/// With `[train] refit` (the default) the model is the probe itself, cut at the round early
/// stopping picked: the refit on every matured lead ([`crate::refit`]) is the model that scores,
/// so a second fit on the training slice would only move the validation figures (measured in
/// benches/README, 2026-12-06: 1.3 s of the 300k DAG). Without it, the model is refitted on
/// all rows with that many rounds (scaled up for the extra data).
///
/// `x` is held as its two parts while the probes fit, and put together again for the training
/// slice's fit: never the design and its parts beside a booster (48 MB less at the peak of 300k
/// leads).
fn boost(x: Design, y: &[f64], w: &[f64], cfg: &Train, regression: bool, tune: bool) -> Result<Boosted> {
    let constraints = if regression { None } else { tree_constraints(&x.columns, cfg) };
    let (fit_x, watch_x, cut) = watch_split(&x);
    drop(x);
    let target = (regression, constraints.as_ref());
    let mut settings = vec![TreeSettings::configured(cfg)];
    if tune {
        settings.extend(ALTERNATIVES);
    }
    let mut trials = Vec::new();
    let mut best: Option<(usize, Probe)> = None;
    for (i, s) in settings.iter().enumerate() {
        let (fit, watch) = ((&fit_x, &y[..cut], &w[..cut]), (&watch_x, &y[cut..], &w[cut..]));
        let probed = probe(cfg, *s, target, fit, watch)?;
        trials.push(probed.trial.clone());
        if best.as_ref().is_none_or(|b| probed.trial.watch_log_loss < b.1.trial.watch_log_loss) {
            best = Some((i, probed));
        }
    }
    let Some((chosen, Probe { trial: Trial { rounds: best_rounds, .. }, predictions: watch_predictions, model })) =
        best
    else {
        return Err(TrainError::Internal("no tree settings to try".into()));
    };
    let (model, final_rounds) = if cfg.refit {
        (model, best_rounds)
    } else {
        drop(model);
        // Scaled from the older 85% to every row, as the refit on every matured lead scales it.
        let final_rounds = refit_rounds(best_rounds, y.len(), y.len());
        let x = joined(fit_x, &watch_x);
        drop(watch_x);
        (fit_rounds(cfg, (settings[chosen], final_rounds, target), (&x, y, w))?, final_rounds)
    };
    if !tune {
        trials.clear();
    }
    // Every row; `boosted` records the rate when it sampled.
    let fit = BoostedFit { best_rounds, final_rounds, negative_rate: 1.0, settings: settings[chosen], trials };
    Ok(Boosted { model, fit, watch_predictions, cut })
}

/// The time-ordered rows `x` early stopping fits on (the older) and watches (the newest
/// [`EARLY_STOPPING_FRACTION`]), and where the watched ones begin.
fn watch_split(x: &Design) -> (Design, Design, usize) {
    let cut = watch_cut(x.rows);
    (rows(x, 0, cut), rows(x, cut, x.rows), cut)
}

/// Where the newest [`EARLY_STOPPING_FRACTION`] of `rows` time-ordered rows begin.
pub fn watch_cut(rows: usize) -> usize {
    ((rows as f64) * (1.0 - EARLY_STOPPING_FRACTION)) as usize
}

/// Rows, targets and weights of a booster's fit, or of the rows it watches.
type Part<'a> = (&'a Design, &'a [f64], &'a [f64]);

/// A booster stopped early: how it did, its predictions on the watched rows, and itself cut at
/// the round early stopping picked.
struct Probe {
    trial: Trial,
    predictions: Vec<f64>,
    model: GradientBooster,
}

/// Settings `s` fitted with early stopping on the rows `fit`, watching the rows `watch`: the
/// trial (its log loss 0 for a regression, whose one setting needs no score), its predictions
/// on the watched rows at the rounds it picked and the booster cut there.
fn probe(
    cfg: &Train,
    s: TreeSettings,
    target: (bool, Option<&ConstraintMap>),
    (fit_x, fit_y, fit_w): Part<'_>,
    (watch_x, watch_y, watch_w): Part<'_>,
) -> Result<Probe> {
    fn matrix(x: &Design) -> Matrix<'_, f64> {
        Matrix::new(&x.data, x.rows, x.columns.len())
    }
    let regression = target.0;
    let what = if regression { "value regression" } else { "boosted trees" };
    let err = |e: forust_ml::errors::ForustError| TrainError::Fit { model: what, message: e.to_string() };
    let mut probe = booster(cfg, s, cfg.max_trees as usize, target, fit_x.rows)
        .set_evaluation_metric(Some(if regression { Metric::RootMeanSquaredError } else { Metric::LogLoss }))
        .set_early_stopping_rounds(Some(EARLY_STOPPING_ROUNDS));
    probe.fit(&matrix(fit_x), fit_y, fit_w, Some(vec![(matrix(watch_x), watch_y, watch_w)])).map_err(err)?;
    let rounds = probe.best_iteration.map_or(probe.trees.len(), |b| b + 1).max(1);
    probe.trees.truncate(rounds);
    (probe.best_iteration, probe.prediction_iteration, probe.evaluation_history) = (None, None, None);
    (probe.evaluation_metric, probe.early_stopping_rounds, probe.iterations) = (None, None, rounds);
    let predictions = probe.predict(&matrix(watch_x), true);
    let loss = if regression { 0.0 } else { watch_log_loss(&predictions, watch_y, watch_w) };
    Ok(Probe { trial: Trial { settings: s, rounds, watch_log_loss: loss }, predictions, model: fitted(probe) })
}

/// Each watched lead's log loss and weight: the newest [`EARLY_STOPPING_FRACTION`] of the
/// time-ordered rows `x` (labels `y`, sampled as [`boosted`] samples), scored by the configured
/// trees stopped early on the older rows. How the encodings of the categories are compared
/// ([`crate::encoding`]).
pub fn watch_losses(x: &dyn Rows, y: &[bool], cfg: &Train) -> Result<(Vec<f64>, Vec<f64>)> {
    let (x, y, w, _) = sampled(x, y, cfg)?;
    let constraints = tree_constraints(&x.columns, cfg);
    let (fit_x, watch_x, cut) = watch_split(&x);
    drop(x);
    let settings = TreeSettings::configured(cfg);
    let (fit, watch) = ((&fit_x, &y[..cut], &w[..cut]), (&watch_x, &y[cut..], &w[cut..]));
    let z = probe(cfg, settings, (false, constraints.as_ref()), fit, watch)?.predictions;
    let losses = z.iter().zip(&y[cut..]).map(|(z, y)| lead_loss(*z, *y)).collect();
    Ok((losses, w[cut..].to_vec()))
}

/// The rows `x` with labels `y` a boosted classifier learns from, as targets and weights: every
/// row, or above `[train] sample_negatives_above` every positive and a weighted sample of the
/// negatives ([`sample_negatives`]); and the share of the negatives kept.
fn sampled(x: &dyn Rows, y: &[bool], cfg: &Train) -> Result<(Design, Vec<f64>, Vec<f64>, f64)> {
    Ok(match sample_negatives(y, cfg.sample_negatives_above as usize, cfg.seed) {
        None => (x.all()?, labels_f64(y), vec![1.0; y.len()], 1.0),
        Some(sample) => {
            let kept: Vec<bool> = sample.rows.iter().map(|i| y[*i]).collect();
            (x.select(&sample.rows)?, labels_f64(&kept), sample.weights, sample.rate)
        }
    })
}

/// Log loss of one lead's log-odds `z` against its 0/1 label `y`.
fn lead_loss(z: f64, y: f64) -> f64 {
    let p = sigmoid(z).clamp(1e-12, 1.0 - 1e-12);
    -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
}

/// Weighted log loss of log-odds `z` against 0/1 labels `y`.
fn watch_log_loss(z: &[f64], y: &[f64], w: &[f64]) -> f64 {
    let (mut loss, mut weight) = (0.0, 0.0);
    for ((z, y), w) in z.iter().zip(y).zip(w) {
        loss += w * lead_loss(*z, *y);
        weight += w;
    }
    if weight > 0.0 { loss / weight } else { f64::NAN }
}

/// Fits gradient-boosted trees (log loss) on a trees-encoded design of time-ordered rows; above
/// `[train] sample_negatives_above` rows, on every positive and a weighted sample of negatives;
/// with `tune` (a training slice of at most `[train] tune_below_leads` leads), the settings chosen
/// among the configured ones and [`ALTERNATIVES`]. Returns the model, its early stopping and the
/// rows it learned from.
pub fn boosted(x: &dyn Rows, y: &[bool], cfg: &Train, tune: bool) -> Result<(Classifier, BoostedFit, usize)> {
    let (x, labels, weights, rate) = sampled(x, y, cfg)?;
    let rows = x.rows;
    let mut b = boost(x, &labels, &weights, cfg, false, tune)?;
    b.fit.negative_rate = rate;
    Ok((Classifier::Boosted { booster: Box::new(b.model) }, b.fit, rows))
}

/// Rounds of trees refitted on `all` leads when early stopping picked `best` rounds for the older
/// 85% of `train` leads: the count scaled to the data (with `all == train`, the training slice's
/// own fit under `[train] refit = false`).
pub fn refit_rounds(best: usize, train: usize, all: usize) -> usize {
    let fitted = (1.0 - EARLY_STOPPING_FRACTION) * train.max(1) as f64;
    (best as f64 * all as f64 / fitted).round().max(1.0) as usize
}

/// Refits gradient-boosted trees with `rounds` rounds (no early stopping) on the rows `x` (in time
/// order), labels `y`, sampled as [`boosted`] samples. Returns the classifier and the rows it
/// learned from.
pub fn boosted_refit(
    x: &dyn Rows,
    y: &[bool],
    cfg: &Train,
    (settings, rounds): (TreeSettings, usize),
) -> Result<(Classifier, usize)> {
    let (x, labels, weights, _) = sampled(x, y, cfg)?;
    let constraints = tree_constraints(&x.columns, cfg);
    let model = fit_rounds(cfg, (settings, rounds, (false, constraints.as_ref())), (&x, &labels, &weights))?;
    Ok((Classifier::Boosted { booster: Box::new(model) }, x.rows))
}

/// `ln(πp / πn)` for the rows `picked` of `y`, with `πp` and `πn` the shares of the positives
/// and of the negatives picked: what a case-control sample adds to a logistic regression's
/// intercept (0 when every row is picked).
pub fn case_control_offset(y: &[bool], picked: &[usize]) -> f64 {
    let positives = y.iter().filter(|v| **v).count();
    let picked_positives = picked.iter().filter(|i| y[**i]).count();
    let (negatives, picked_negatives) = (y.len() - positives, picked.len() - picked_positives);
    if [positives, negatives, picked_positives, picked_negatives].contains(&0) {
        return 0.0;
    }
    let share = |k: usize, n: usize| k as f64 / n as f64;
    (share(picked_positives, positives) / share(picked_negatives, negatives)).ln()
}

/// Fewest valued conversions for a value regression; below, segment means are used. From this
/// many up, the regression is kept only when it beats a constant on the newest conversions.
pub const VALUE_MIN_CONVERSIONS: usize = 50;

/// Above this many valued conversions, the value regression learns from a seeded random sample of
/// this many, in time order.
pub const VALUE_MAX_CONVERSIONS: usize = 25_000;

/// `rows` (time-ordered), or a seeded random sample of [`VALUE_MAX_CONVERSIONS`] of them in the
/// same order.
pub fn value_rows(rows: Vec<usize>, seed: u64) -> Vec<usize> {
    use rand::SeedableRng;
    if rows.len() <= VALUE_MAX_CONVERSIONS {
        return rows;
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut picked = rand::seq::index::sample(&mut rng, rows.len(), VALUE_MAX_CONVERSIONS).into_vec();
    picked.sort_unstable();
    picked.into_iter().map(|i| rows[i]).collect()
}

/// The valued conversions `idx` with their `values`, or a seeded random sample of
/// [`VALUE_MAX_CONVERSIONS`] of them in the same order ([`value_rows`]).
pub fn sample_conversions(idx: &[usize], values: &[f64], seed: u64) -> (Vec<usize>, Vec<f64>) {
    value_rows((0..idx.len()).collect(), seed).into_iter().map(|i| (idx[i], values[i])).unzip()
}

/// Root mean squared error of ln(value) on the newest 15% of the valued conversions, for the
/// regression and for a constant (the older conversions' mean): the regression is kept only when
/// it is the lower.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ValueCheck {
    /// The regression's.
    pub regression: f64,
    /// The constant's.
    pub constant: f64,
}

/// Fits E[value | converted] on the converted training leads (`x` their trees-encoded rows in time
/// order, `values` > 0): a regression on ln(value) whose smearing factor and residual percentiles
/// come from the out-of-sample residuals of the early-stopping rows; with how it did there
/// against a constant.
pub fn value_regression(x: Design, values: &[f64], cfg: &Train) -> Result<(ValueModel, BoostedFit, ValueCheck)> {
    let logs: Vec<f64> = values.iter().map(|v| v.ln()).collect();
    let weights = vec![1.0; x.rows];
    let b = boost(x, &logs, &weights, cfg, true, false)?;
    let (older, newest) = logs.split_at(b.cut);
    let mut resid: Vec<f64> = newest.iter().zip(&b.watch_predictions).map(|(y, f)| y - f).collect();
    let constant = older.iter().sum::<f64>() / older.len().max(1) as f64;
    let rmse = |errors: &mut dyn Iterator<Item = f64>| {
        let (sum, n) = errors.fold((0.0, 0usize), |(s, n), e| (s + e * e, n + 1));
        (sum / n.max(1) as f64).sqrt()
    };
    let check = ValueCheck {
        regression: rmse(&mut resid.iter().copied()),
        constant: rmse(&mut newest.iter().map(|y| y - constant)),
    };
    let smearing = resid.iter().map(|r| r.exp()).sum::<f64>() / resid.len().max(1) as f64;
    resid.sort_by(f64::total_cmp);
    let model = ValueModel::Boosted {
        booster: Box::new(b.model),
        smearing: if smearing.is_finite() && smearing > 0.0 { smearing } else { 1.0 },
        resid_p10: quantile(&resid, 0.1),
        resid_p90: quantile(&resid, 0.9),
    };
    Ok((model, b.fit, check))
}

/// The value regression's booster refitted with `settings` and `rounds` rounds (no early
/// stopping) on ln(`values`) of the rows `x` (valued conversions in time order).
pub fn value_refit(
    x: &Design,
    values: &[f64],
    cfg: &Train,
    (settings, rounds): (TreeSettings, usize),
) -> Result<GradientBooster> {
    let logs: Vec<f64> = values.iter().map(|v| v.ln()).collect();
    fit_rounds(cfg, (settings, rounds, (true, None)), (x, &logs, &vec![1.0; x.rows]))
}

/// The fallback: mean value (and percentiles) of converted training leads per segment.
pub fn value_by_segment(values: &[f64], segments: &[&str], names: &[&str]) -> ValueModel {
    let summarise = |name: &str, mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        SegmentValue {
            segment: name.to_string(),
            conversions: v.len() as u64,
            mean: v.iter().sum::<f64>() / v.len().max(1) as f64,
            p10: quantile(&v, 0.1),
            p90: quantile(&v, 0.9),
        }
    };
    let per = names
        .iter()
        .map(|n| summarise(n, values.iter().zip(segments).filter(|(_, s)| *s == n).map(|(v, _)| *v).collect()))
        .collect();
    ValueModel::SegmentMean { segments: per, overall: summarise("all", values.to_vec()) }
}

/// Importance of each feature, summing to 1, largest first: total split gain for boosted trees;
/// for the logistic regression, the standard deviation over `x`'s rows of the feature's
/// contribution to the log-odds ([`logistic_contributions`], [`spread_importance`]), so a
/// feature with many levels is not inflated by summing coefficients.
pub fn importance(c: &Classifier, x: &Design) -> Vec<(String, f64)> {
    match c {
        Classifier::Boosted { booster } => gain_importance(booster, &x.columns),
        Classifier::Logistic { coefficients, .. } => spread_importance(logistic_contributions(coefficients, x)),
        Classifier::Blend { weight, coefficients, booster, .. } => {
            // The trees' columns follow the linear ones, which alone have coefficients.
            let trees = x.columns.get(coefficients.len()..).unwrap_or_default();
            let linear = spread_importance(logistic_contributions(coefficients, x));
            blend_importance(*weight, &linear, &gain_importance(booster, trees))
        }
    }
}

/// Each feature's share of the trees' total split gain; `columns` are the booster's.
fn gain_importance(booster: &GradientBooster, columns: &[DesignColumn]) -> Vec<(String, f64)> {
    let gains = booster.calculate_feature_importance(ImportanceMethod::TotalGain, false);
    normalised(
        columns.iter().enumerate().map(|(j, col)| (col.feature.clone(), gains.get(&j).map_or(0.0, |g| f64::from(*g)))),
    )
}

/// A blend's importance: each feature's share in the logistic regression weighted by the
/// regression's share `weight` of the log-odds, plus its share in the trees weighted by theirs.
pub fn blend_importance(weight: f64, logistic: &[(String, f64)], trees: &[(String, f64)]) -> Vec<(String, f64)> {
    let linear = logistic.iter().map(|(f, v)| (f.clone(), weight * v));
    normalised(linear.chain(trees.iter().map(|(f, v)| (f.clone(), (1.0 - weight) * v))))
}

/// Each feature's contribution to the logistic regression's log-odds on each of `x`'s rows (all
/// of a category's one-hot columns together), the features in design order. Rows of several
/// designs of the same columns can be appended feature by feature: the contributions of a row do
/// not depend on the others.
pub fn logistic_contributions(coefficients: &[f64], x: &Design) -> Vec<(String, Vec<f64>)> {
    let mut out = Vec::new();
    let mut j = 0;
    while j < x.columns.len() {
        let feature = x.columns[j].feature.clone();
        let mut contribution = vec![0.0; x.rows];
        while j < x.columns.len() && x.columns[j].feature == feature {
            let coef = coefficients.get(j).copied().unwrap_or(0.0);
            for (c, v) in contribution.iter_mut().zip(x.column(j)) {
                *c += coef * v;
            }
            j += 1;
        }
        out.push((feature, contribution));
    }
    out
}

/// The logistic regression's importance: each feature's standard deviation of its contributions
/// ([`logistic_contributions`]) over the rows, summing to 1, largest first.
pub fn spread_importance(contributions: Vec<(String, Vec<f64>)>) -> Vec<(String, f64)> {
    normalised(contributions.into_iter().map(|(feature, contribution)| {
        let n = contribution.len().max(1) as f64;
        let mean = contribution.iter().sum::<f64>() / n;
        (feature, (contribution.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / n).sqrt())
    }))
}

/// The values summed by feature, scaled to sum to 1 (when they sum to more than 0), largest
/// first, ties by name.
fn normalised(values: impl IntoIterator<Item = (String, f64)>) -> Vec<(String, f64)> {
    let mut by_feature: Vec<(String, f64)> = Vec::new();
    for (feature, v) in values {
        match by_feature.iter_mut().find(|(f, _)| *f == feature) {
            Some(e) => e.1 += v,
            None => by_feature.push((feature, v)),
        }
    }
    let total: f64 = by_feature.iter().map(|e| e.1).sum();
    if total > 0.0 {
        by_feature.iter_mut().for_each(|e| e.1 /= total);
    }
    by_feature.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    by_feature
}

#[cfg(test)]
mod tests {
    use leadscore_model::DesignColumn;

    use super::*;

    #[test]
    fn the_value_regression_samples_its_conversions_in_time_order_above_the_cap() {
        let few: Vec<usize> = (0..VALUE_MAX_CONVERSIONS).map(|i| 3 * i).collect();
        assert_eq!(value_rows(few.clone(), 1), few);
        let many: Vec<usize> = (0..VALUE_MAX_CONVERSIONS * 2 + 7).map(|i| 3 * i).collect();
        let picked = value_rows(many.clone(), 1);
        assert_eq!(picked.len(), VALUE_MAX_CONVERSIONS);
        assert!(picked.windows(2).all(|w| w[0] < w[1]) && picked.iter().all(|r| r % 3 == 0));
        assert_eq!(picked, value_rows(many.clone(), 1), "seeded");
        assert_ne!(picked, value_rows(many.clone(), 2));
        // Drawn from the whole span, not only its start or end.
        let newer = picked.iter().filter(|r| **r >= 3 * many.len() / 2).count();
        assert!((0.45..0.55).contains(&(newer as f64 / picked.len() as f64)), "{newer}");
    }

    /// Rows `rows` of a linear design: a numeric feature `n`, and a category `c` one-hot encoded
    /// in three columns.
    fn linear_design(rows: std::ops::Range<usize>) -> Design {
        let columns = [("n", "n"), ("c=a", "c"), ("c=b", "c"), ("c=other", "c")]
            .iter()
            .map(|(name, feature)| DesignColumn { name: (*name).into(), feature: (*feature).into(), level: None })
            .collect();
        let mut data: Vec<f64> = rows.clone().map(|i| (i as f64 * 0.37).sin()).collect();
        for k in 0..3 {
            data.extend(rows.clone().map(|i| if (i * 7 + 3) % 3 == k { 1.0 } else { 0.0 }));
        }
        Design { columns, rows: rows.len(), data }
    }

    #[test]
    fn the_logistic_importance_of_slices_appended_is_that_of_the_whole_design() {
        let coefficients = [0.8, -0.4, 0.3, 1.1];
        let classifier = Classifier::Logistic { coefficients: coefficients.to_vec(), intercept: -1.0 };
        let whole = importance(&classifier, &linear_design(0..1000));
        let mut parts = logistic_contributions(&coefficients, &linear_design(0..300));
        for ((_, all), (_, more)) in
            parts.iter_mut().zip(logistic_contributions(&coefficients, &linear_design(300..1000)))
        {
            all.extend(more);
        }
        // Bit for bit: the slices give each row the same contributions, in the same order.
        assert_eq!(spread_importance(parts), whole);
        assert_eq!(whole.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(), ["c", "n"]);
        assert!((whole.iter().map(|e| e.1).sum::<f64>() - 1.0).abs() < 1e-12, "{whole:?}");
    }

    fn labels(n: usize, every: usize) -> Vec<bool> {
        (0..n).map(|i| i % every == 0).collect()
    }

    #[test]
    fn small_slices_and_zero_are_not_sampled() {
        assert_eq!(sample_negatives(&labels(1000, 10), 1000, 1), None);
        assert_eq!(sample_negatives(&labels(100_000, 10), 0, 1), None);
        // Positives alone exceed the budget: the rate stops at its floor.
        let s = sample_negatives(&labels(100_000, 2), 20_000, 1).expect("sampled");
        assert_eq!(s.rate, MIN_NEGATIVE_RATE);
    }

    #[test]
    fn every_positive_is_kept_and_negatives_weigh_their_inverse_rate() {
        let y = labels(200_000, 16);
        let s = sample_negatives(&y, 50_000, 7).expect("sampled");
        let positives = y.iter().filter(|v| **v).count();
        assert_eq!(s.rows.iter().filter(|i| y[**i]).count(), positives);
        assert!(s.rows.windows(2).all(|w| w[0] < w[1]), "time order is kept");
        assert!((s.rows.len() as f64 - 50_000.0).abs() < 1_000.0, "about the budget: {}", s.rows.len());
        for (i, w) in s.rows.iter().zip(&s.weights) {
            assert_eq!(*w, if y[*i] { 1.0 } else { 1.0 / s.rate });
        }
        // The weighted rows stand for the whole slice.
        let total: f64 = s.weights.iter().sum();
        assert!((total / y.len() as f64 - 1.0).abs() < 0.02, "{total}");
        // Seeded: the same seed, the same rows; another seed, others.
        assert_eq!(sample_negatives(&y, 50_000, 7), Some(s.clone()));
        assert_ne!(sample_negatives(&y, 50_000, 8).map(|o| o.rows), Some(s.rows));
    }

    #[test]
    fn a_case_control_sample_moves_the_intercept_by_the_log_ratio_of_its_rates() {
        // 10 positives and 90 negatives: every positive and half the negatives picked.
        let y = labels(100, 10);
        let negatives: Vec<usize> = (0..100).filter(|i| !y[*i]).collect();
        let mut picked: Vec<usize> = (0..100).filter(|i| y[*i]).chain(negatives[..45].iter().copied()).collect();
        picked.sort_unstable();
        assert_eq!(picked.iter().filter(|i| !y[**i]).count(), 45);
        assert!((case_control_offset(&y, &picked) - 2f64.ln()).abs() < 1e-12);
        // Every row picked, or no negative picked: nothing to correct.
        assert_eq!(case_control_offset(&y, &(0..100).collect::<Vec<_>>()), 0.0);
        assert_eq!(case_control_offset(&y, &[0, 10]), 0.0);
        // The rows logistic_rows picks above its budget are such a sample: positives over-represented.
        let big = labels(400_000, 20);
        let picked = logistic_rows(&big, 10);
        assert!(case_control_offset(&big, &picked) > 0.0);
        assert_eq!(case_control_offset(&big[..50_000], &logistic_rows(&big[..50_000], 10)), 0.0);
    }

    /// `[train]` with `monotone` as written, the rest at its defaults.
    fn train_config(monotone: &str) -> Train {
        let sources = "[sources]\npreset = \"hubspot\"\nleads = { path = \"l.csv\" }\ndeals = { path = \"d.csv\" }";
        let text =
            format!("[project]\nname = \"t\"\ncurrency = \"EUR\"\n{sources}\n[train]\nmonotone = {{ {monotone} }}\n");
        leadscore_core::Config::from_toml(&text, "t.toml", std::path::Path::new(".")).expect("config").train
    }

    /// A design of numeric columns `x0`, `x1`, … (named as their features), given column-major.
    fn numeric_design(columns: Vec<Vec<f64>>) -> Design {
        let names = (0..columns.len()).map(|j| {
            let name = format!("x{j}");
            DesignColumn { name: name.clone(), feature: name, level: None }
        });
        Design { columns: names.collect(), rows: columns[0].len(), data: columns.concat() }
    }

    /// A hash-based uniform in [0, 1), so that the worlds below need no RNG.
    fn uniform(i: usize, salt: u64) -> f64 {
        let z = (i as u64).wrapping_add(salt << 32).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let z = (z ^ (z >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        ((z ^ (z >> 32)) >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn a_monotone_coefficient_keeps_its_sign_and_a_held_one_is_freed_when_it_may_move_its_way() {
        // x1 is x0 plus a little noise; the log-odds are -2 x0 + 3 x1 + 0.5 x2, so that each of
        // x0 and x1 alone raises the odds while together they pull apart.
        let n = 40_000;
        let x0: Vec<f64> = (0..n).map(|i| 2.0 * uniform(i, 1) - 1.0).collect();
        let x1: Vec<f64> = x0.iter().enumerate().map(|(i, v)| v + 0.3 * (uniform(i, 2) - 0.5)).collect();
        let x2: Vec<f64> = (0..n).map(|i| 2.0 * uniform(i, 3) - 1.0).collect();
        let y: Vec<bool> =
            (0..n).map(|i| uniform(i, 4) < 1.0 / (1.0 + (-(-2.0 * x0[i] + 3.0 * x1[i] + 0.5 * x2[i])).exp())).collect();
        let x = numeric_design(vec![x0, x1, x2]);
        let free = logistic_coefficients(&x, &y, 1.0, &train_config("").monotone).expect("fit").0;
        assert!(free[0] < -1.0 && free[1] > 2.0, "unconstrained, the data's signs: {free:?}");
        // x0 may only raise the odds: held at 0, x1 takes their joint effect.
        let w = logistic_coefficients(&x, &y, 1.0, &train_config("x0 = \"increasing\"").monotone).expect("fit").0;
        assert_eq!(w[0], 0.0, "{w:?}");
        assert!(w[1] > 0.5 && (w[2] - free[2]).abs() < 0.1, "{w:?}");
        // Both fitted the wrong way at first: both held, then x0 freed (alone it raises the
        // odds, as it may); x1 stays at 0.
        let both = train_config("x0 = \"increasing\", x1 = \"decreasing\"");
        let w = logistic_coefficients(&x, &y, 1.0, &both.monotone).expect("fit").0;
        assert!(w[0] > 0.5 && w[1] == 0.0, "{w:?}");
    }

    #[test]
    fn monotone_trees_never_turn_against_their_direction() {
        // Conversion is likely only in a middle band of x0: no monotone shape fits it.
        let n = 20_000;
        let x0: Vec<f64> = (0..n).map(|i| uniform(i, 5)).collect();
        let x1: Vec<f64> = (0..n).map(|i| uniform(i, 6)).collect();
        let y: Vec<bool> =
            (0..n).map(|i| uniform(i, 7) < if (0.3..0.6).contains(&x0[i]) { 0.6 } else { 0.1 } + 0.2 * x1[i]).collect();
        let x = numeric_design(vec![x0, x1]);
        // x0 on a grid, x1 held at 0.5.
        let grid: Vec<f64> = (0..50).map(|k| k as f64 / 49.0).collect();
        let probe = numeric_design(vec![grid.clone(), vec![0.5; grid.len()]]);
        let logits = |cfg: &Train| {
            let (c, _, _) = boosted(&x, &y, cfg, false).expect("fit");
            c.logits(&probe).expect("logits")
        };
        let rises = |z: &[f64]| z.windows(2).all(|w| w[1] >= w[0] - 1e-9);
        let falls = |z: &[f64]| z.windows(2).all(|w| w[1] <= w[0] + 1e-9);
        let free = logits(&train_config(""));
        assert!(!rises(&free) && !falls(&free), "unconstrained, the band shows: {free:?}");
        assert!(rises(&logits(&train_config("x0 = \"increasing\""))));
        assert!(falls(&logits(&train_config("x0 = \"decreasing\""))));
    }

    #[test]
    fn the_validated_trees_are_early_stoppings_own_unless_the_training_slice_model_scores() {
        let n = 6_000;
        let x0: Vec<f64> = (0..n).map(|i| uniform(i, 1)).collect();
        let y: Vec<bool> = (0..n).map(|i| uniform(i, 2) < 0.05 + 0.3 * x0[i]).collect();
        let x = numeric_design(vec![x0, (0..n).map(|i| uniform(i, 3)).collect()]);
        let trees = |refit: bool| {
            let cfg = Train { refit, ..train_config("") };
            let (c, fit, _) = boosted(&x, &y, &cfg, false).expect("fit");
            let Classifier::Boosted { booster } = c else { panic!("trees expected") };
            (booster.trees.len(), fit)
        };
        // With the refit on every matured lead to score, the probe cut at its best round.
        let (kept, fit) = trees(true);
        assert!(fit.best_rounds > 1 && fit.best_rounds < 1000, "early stopping stopped: {}", fit.best_rounds);
        assert_eq!((kept, fit.final_rounds), (fit.best_rounds, fit.best_rounds));
        // Without it, refitted on every training row with the rounds scaled to them.
        let (refitted, again) = trees(false);
        assert_eq!(again.best_rounds, fit.best_rounds);
        let scaled = (fit.best_rounds as f64 / (1.0 - EARLY_STOPPING_FRACTION)).round() as usize;
        assert_eq!((refitted, again.final_rounds), (scaled, scaled));
    }

    #[test]
    fn refitted_trees_get_early_stopping_rounds_scaled_to_the_leads() {
        // Early stopping watched the newest 15% of 1,000 training leads: 100 rounds for 850.
        assert_eq!(refit_rounds(100, 1000, 1000), 118);
        assert_eq!(refit_rounds(100, 1000, 1250), 147);
        assert_eq!(refit_rounds(0, 0, 10), 1);
    }
}
