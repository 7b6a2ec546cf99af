//! The trees' encoding of categories with many levels, chosen out of time.
//!
//! The trees see a category as one ordered column. The features stage ranks its levels by their
//! smoothed conversion rate on the training slice (the target order), so that one split parts
//! low- from high-converting levels. With many levels and few conversions that rank is partly
//! noise learned from the same labels the trees then fit, and the trees split on it as if it were
//! signal. The other encoding ranks the levels by their number of training leads (the spec's
//! level order, which no label informs): the trees can still part levels, but only where the
//! conversions they fit show it.
//!
//! On a training slice of at most `[train] tune_below_leads` leads with a category of at least
//! [`HIGH_CARDINALITY`] kept levels, the configured trees are stopped early on the older 85% of
//! the training slice and judged by their log loss on the newest 15% under both encodings, the
//! target order learned from the older 85% only (as the watched leads' own labels would flatter
//! it). The frequency order is kept for those categories when its log loss is lower by more than
//! one standard error of the per-lead difference. The validation slice plays no part, and
//! everything after (the candidates, the folds, the refit, the value model, scoring) uses the
//! encoding chosen here: `feature_spec.json` of the model holds it.

use leadscore_core::config::Config;
use leadscore_model::spec::target_ordered_codes;
use leadscore_model::{CodedFeature, Encoding, FeatureSpec, FittedFeature};
use serde::Serialize;

use crate::data::TrainingSet;
use crate::error::Result;
use crate::evaluate::{clearly_negative, weighted_mean};
use crate::fit;

/// Kept levels from which a category's encoding is chosen out of time.
pub const HIGH_CARDINALITY: usize = 10;

/// How the trees' column orders a category's levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CategoryOrder {
    /// By the level's smoothed training conversion rate.
    Target,
    /// By the level's number of training leads.
    Frequency,
}

impl CategoryOrder {
    /// Its name in `report.json`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Target => "target",
            Self::Frequency => "frequency",
        }
    }
}

/// The encoding tried and chosen for the categories of many levels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EncodingChoice {
    /// The categories of at least [`HIGH_CARDINALITY`] kept levels, and their levels.
    pub columns: Vec<(String, usize)>,
    /// Log loss on the newest 15% of the training slice with the target order.
    pub target_log_loss: f64,
    /// The same with the frequency order.
    pub frequency_log_loss: f64,
    /// The order the model uses.
    pub chosen: CategoryOrder,
}

impl EncodingChoice {
    /// One line for the summary.
    pub fn summary(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(n, _)| n.as_str()).collect();
        let (kept, other, losses) = match self.chosen {
            CategoryOrder::Target => {
                ("conversion rate", "number of leads", (self.target_log_loss, self.frequency_log_loss))
            }
            CategoryOrder::Frequency => {
                ("number of leads", "conversion rate", (self.frequency_log_loss, self.target_log_loss))
            }
        };
        format!(
            "trees: levels of {} ranked by {kept}, not {other}, chosen out of time (log loss {:.4} vs {:.4} on the newest training leads)",
            names.join(", "),
            losses.0,
            losses.1
        )
    }
}

/// The spec the model uses and, when a choice was made, how: `spec` itself unless the training
/// slice is small enough to tune on, holds a target-ordered category of many levels, and the
/// frequency order did better on the newest training leads.
pub fn choose(config: &Config, set: &TrainingSet, spec: FeatureSpec) -> Result<(FeatureSpec, Option<EncodingChoice>)> {
    let many = many_levels(&spec);
    if many.is_empty() || set.train.len() as u64 > config.train.tune_below_leads || set.train.positives() == 0 {
        return Ok((spec, None));
    }
    let older = fit::watch_cut(set.train.len());
    let (mut target, mut frequency) = (spec.clone(), spec.clone());
    for j in &many {
        if let (Some(CodedFeature::Levels(codes)), Some(FittedFeature::Categorical { levels, tree_codes, .. })) =
            (set.train.coded.features.get(*j), target.features.get_mut(*j))
        {
            let codes = codes.iter().take(older).map(|c| *c as usize);
            *tree_codes = target_ordered_codes(codes, &set.train.labels[..older], levels.len());
        }
        if let Some(FittedFeature::Categorical { tree_codes, .. }) = frequency.features.get_mut(*j) {
            tree_codes.clear();
        }
    }
    let losses =
        |s: &FeatureSpec| fit::watch_losses(&set.train.rows(s, Encoding::Trees), &set.train.labels, &config.train);
    let ((by_rate, weights), (by_leads, _)) = (losses(&target)?, losses(&frequency)?);
    let w = Some(&weights[..]);
    let (target_log_loss, frequency_log_loss) = (weighted_mean(&by_rate, w), weighted_mean(&by_leads, w));
    // The target order, which gives the trees the most to split on, stays unless the frequency
    // order is better beyond the noise of a few hundred watched leads (on the panel, a plain
    // comparison picked it on three of five draws of mlc_churn and cost 0.0015 of log loss over
    // the five).
    let d: Vec<f64> = by_leads.iter().zip(&by_rate).map(|(a, b)| a - b).collect();
    let chosen = if clearly_negative(&d, w) { CategoryOrder::Frequency } else { CategoryOrder::Target };
    let columns = many
        .iter()
        .filter_map(|j| match spec.features.get(*j) {
            Some(FittedFeature::Categorical { name, levels, .. }) => Some((name.clone(), levels.len())),
            _ => None,
        })
        .collect();
    let choice = EncodingChoice { columns, target_log_loss, frequency_log_loss, chosen };
    tracing::info!(target_log_loss, frequency_log_loss, order = ?chosen, "category encoding chosen out of time");
    Ok((if chosen == CategoryOrder::Frequency { frequency } else { spec }, Some(choice)))
}

/// The positions in `spec` of the target-ordered categories of at least [`HIGH_CARDINALITY`]
/// kept levels.
fn many_levels(spec: &FeatureSpec) -> Vec<usize> {
    let many = |f: &FittedFeature| {
        matches!(f, FittedFeature::Categorical { levels, tree_codes, .. }
            if levels.len() >= HIGH_CARDINALITY && !tree_codes.is_empty())
    };
    spec.features.iter().enumerate().filter(|(_, f)| many(f)).map(|(j, _)| j).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadscore_core::schema::features as f;
    use leadscore_model::Recipe;
    use polars::prelude::*;
    use rand::{Rng, SeedableRng};

    /// `[train]` at its defaults.
    fn config() -> Config {
        let sources = "[sources]\npreset = \"hubspot\"\nleads = { path = \"l.csv\" }\ndeals = { path = \"d.csv\" }";
        let text = format!("[project]\nname = \"t\"\ncurrency = \"EUR\"\n{sources}\n");
        Config::from_toml(&text, "t.toml", std::path::Path::new(".")).expect("config")
    }

    /// A day's leads over a year, a numeric feature `x` that drives conversion and a category
    /// `region` of `levels` equally common levels that shifts each level's log-odds by `effect`
    /// (its own per level): the training slice, then a validation slice; the spec as the features
    /// stage fits it (levels by number of leads, codes by conversion rate on the training slice).
    fn world(levels: usize, effect: impl Fn(usize) -> f64, seed: u64) -> (TrainingSet, FeatureSpec) {
        let (train, validation) = (6_000, 1_000);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (mut x, mut region, mut converted) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..train + validation {
            let (v, l) = (rng.gen_range(0.0..1.0), rng.gen_range(0..levels));
            let z: f64 = -2.5 + 2.0 * v + effect(l);
            x.push(v);
            region.push(format!("r{l:03}"));
            converted.push(rng.gen_bool(1.0 / (1.0 + (-z).exp())));
        }
        let n = train + validation;
        let created = Int64Chunked::from_vec("t".into(), (0..n as i64).map(|i| i * 3_600_000_000).collect())
            .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
        let split: Vec<&str> = (0..n).map(|i| if i < train { f::TRAIN } else { f::VALIDATION }).collect();
        let mut df = df!(
            f::LEAD_ID => (0..n).map(|i| format!("l{i}")).collect::<Vec<_>>(),
            f::SPLIT => split,
            f::CONVERTED => converted.clone(),
            f::VALUE_IN_WINDOW => vec![0.0; n],
            "x" => x,
            "region" => region.clone(),
        )
        .expect("frame");
        df.insert_column(1, created.into_column().with_name(f::CREATED_AT.into())).expect("created");
        let mut counts = std::collections::BTreeMap::<&str, usize>::new();
        for r in &region[..train] {
            *counts.entry(r.as_str()).or_default() += 1;
        }
        let mut kept: Vec<(&str, usize)> = counts.into_iter().collect();
        kept.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let kept: Vec<String> = kept.into_iter().map(|(l, _)| l.to_string()).collect();
        let index = |r: &str| kept.iter().position(|k| k == r).unwrap_or(kept.len());
        let codes = target_ordered_codes(region[..train].iter().map(|r| index(r)), &converted[..train], kept.len());
        let numeric = FittedFeature::Numeric { name: "x".into(), impute: 0.5, mean: 0.5, std: 0.3, has_missing: false };
        let category = FittedFeature::Categorical { name: "region".into(), levels: kept, tree_codes: codes };
        let recipe = Recipe { timezone: "UTC".into(), attributes: vec![], events: None };
        let spec = FeatureSpec { version: 1, recipe, catalog: vec![], features: vec![numeric, category] };
        (TrainingSet::from_features(df, &spec).expect("set"), spec)
    }

    fn orders(spec: &FeatureSpec) -> bool {
        matches!(&spec.features[1], FittedFeature::Categorical { tree_codes, .. } if !tree_codes.is_empty())
    }

    /// A region of 300 levels of about 20 training leads each (`[features] top_k = 300`) that says
    /// nothing about conversion: ranked by the training leads' own conversion rates it is noise
    /// the trees learn, and the newest training leads show it.
    #[test]
    fn a_category_of_many_levels_that_is_noise_is_ordered_by_number_of_leads() {
        let mut frequency = 0;
        for seed in 0..5 {
            let (set, spec) = world(300, |_| 0.0, seed);
            let (chosen, choice) = choose(&config(), &set, spec).expect("choose");
            let choice = choice.expect("a category of 150 levels is chosen for");
            assert_eq!(choice.columns, vec![("region".to_string(), 300)]);
            assert!(choice.frequency_log_loss.is_finite() && choice.target_log_loss.is_finite());
            assert_eq!(orders(&chosen), choice.chosen == CategoryOrder::Target);
            frequency += usize::from(choice.chosen == CategoryOrder::Frequency);
        }
        // Measured: chosen on all five, the newest training leads' log loss 0.005-0.022 lower. At
        // 150 levels of 40 leads it was chosen on two draws of five: the trees learn less noise.
        assert!(frequency >= 4, "the frequency order chosen on {frequency} of 5 draws");
    }

    /// A region whose levels convert at rates spread evenly from low to high keeps the target
    /// order: one column then ranks them, which the trees split in a few places.
    #[test]
    fn a_category_of_many_levels_that_drives_conversion_keeps_the_target_order() {
        // The levels' effects in an order that is not their names' (nor their numbers of leads').
        let (set, spec) = world(30, |l| 3.0 * ((l * 17) % 30) as f64 / 29.0 - 1.5, 7);
        let (chosen, choice) = choose(&config(), &set, spec.clone()).expect("choose");
        let choice = choice.expect("chosen for");
        assert_eq!(choice.chosen, CategoryOrder::Target);
        assert!(choice.target_log_loss < choice.frequency_log_loss, "{choice:?}");
        assert_eq!(chosen, spec);
    }

    /// Above `[train] tune_below_leads`, or without a category of many levels, nothing is tried.
    #[test]
    fn large_slices_and_few_levels_are_left_as_they_are() {
        let (set, spec) = world(5, |_| 0.0, 1);
        assert_eq!(choose(&config(), &set, spec.clone()).expect("choose"), (spec, None));
        let (set, spec) = world(40, |_| 0.0, 1);
        let mut small = config();
        small.train.tune_below_leads = 1_000;
        assert_eq!(choose(&small, &set, spec.clone()).expect("choose"), (spec, None));
    }
}
