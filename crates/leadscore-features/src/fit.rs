//! The learner of the feature spec: vocabularies, imputation and scaling from training leads.

use leadscore_model::spec::{SPEC_VERSION, target_ordered_codes};
use leadscore_model::{FeatureDef, FeatureKind, FeatureSpec, FittedFeature, Recipe};
use polars::prelude::*;
use rayon::prelude::*;

use crate::error::Result;

/// Learns a [`FeatureSpec`] (the learner; the spec is what it learns).
#[derive(Debug, Clone, Copy)]
pub struct SpecLearner {
    /// Most levels kept per categorical feature.
    pub top_k: u32,
    /// Training rows a level needs to be kept.
    pub min_count: u32,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let (m, odd) = (v.len() / 2, v.len() % 2 == 1);
    // Linear-time selection: the upper middle, then the largest value below it.
    let (below, upper, _) = v.select_nth_unstable_by(m, f64::total_cmp);
    let upper = *upper;
    if odd {
        return Some(upper);
    }
    let lower = below.iter().copied().max_by(f64::total_cmp).unwrap_or(upper);
    // Halved before adding: two values near f64::MAX must not overflow.
    Some(lower / 2.0 + upper / 2.0)
}

impl SpecLearner {
    /// Fits every catalog feature on `train` (the derived features of the training split only)
    /// with their labels `converted` (one per row of `train`).
    pub fn fit(
        &self,
        recipe: Recipe,
        catalog: Vec<FeatureDef>,
        train: &DataFrame,
        converted: &[bool],
    ) -> Result<FeatureSpec> {
        // Features are fitted independently: in parallel, in catalog order.
        let features = catalog.par_iter().map(|def| self.fit_one(def, train, converted)).collect::<Result<_>>()?;
        Ok(FeatureSpec { version: SPEC_VERSION, recipe, catalog, features })
    }

    /// The levels kept out of `(level, leads)` counts: at least `min_count` leads, the `top_k`
    /// most frequent first; ties by name, so the spec is deterministic.
    fn levels<'a>(&self, counts: impl Iterator<Item = (&'a str, u64)>) -> Vec<String> {
        let mut levels: Vec<(&str, u64)> = counts.filter(|(_, n)| *n >= u64::from(self.min_count)).collect();
        levels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        levels.truncate(self.top_k as usize);
        levels.into_iter().map(|(l, _)| l.to_string()).collect()
    }

    /// The levels of a column held as codes, and each row's level (`k` for another level, `k + 1`
    /// when missing). Levels of the mapping no row has (another run's) are not levels here.
    fn levels_of_codes(&self, cats: &Categorical32Chunked) -> (Vec<String>, Vec<usize>) {
        let mapping = cats.get_mapping();
        let mut counts = vec![0u64; mapping.num_cats_upper_bound()];
        for c in cats.physical().iter().flatten() {
            if let Some(n) = counts.get_mut(c as usize) {
                *n += 1;
            }
        }
        let present = counts.iter().enumerate().filter(|(_, n)| **n > 0);
        let levels = self.levels(present.filter_map(|(c, n)| Some((mapping.cat_to_str(c as CatSize)?, *n))));
        let k = levels.len();
        let mut at = vec![k; counts.len()];
        for (i, l) in levels.iter().enumerate() {
            if let Some(slot) = mapping.get_cat(l).and_then(|c| at.get_mut(c as usize)) {
                *slot = i;
            }
        }
        let codes = cats.physical().iter().map(|c| c.map_or(k + 1, |c| at.get(c as usize).copied().unwrap_or(k)));
        (levels, codes.collect())
    }

    /// [`Self::levels_of_codes`] for a text column.
    fn levels_of_text(&self, s: &StringChunked) -> (Vec<String>, Vec<usize>) {
        let mut counts: PlHashMap<&str, u64> = PlHashMap::new();
        for v in s.iter().flatten() {
            *counts.entry(v).or_default() += 1;
        }
        let levels = self.levels(counts.into_iter());
        let k = levels.len();
        let index: PlHashMap<&str, usize> = levels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
        let codes = s.iter().map(|v| v.map_or(k + 1, |v| index.get(v).copied().unwrap_or(k))).collect();
        drop(index);
        (levels, codes)
    }

    fn fit_one(&self, def: &FeatureDef, train: &DataFrame, converted: &[bool]) -> Result<FittedFeature> {
        let col = train.column(&def.name)?;
        Ok(match def.kind {
            FeatureKind::Numeric => {
                let v = col.cast(&DataType::Float64)?;
                let v = v.f64()?;
                let present: Vec<f64> = v.iter().flatten().filter(|x| x.is_finite()).collect();
                let has_missing = present.len() < v.len();
                let impute = median(present).unwrap_or(0.0);
                let n = v.len().max(1) as f64;
                let filled = || v.iter().map(|x| x.filter(|x| x.is_finite()).unwrap_or(impute));
                let mean = filled().sum::<f64>() / n;
                let var = filled().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
                if !mean.is_finite() || !var.is_finite() {
                    // Values near ±f64::MAX overflow the sums: the same statistics on values
                    // scaled by the largest magnitude stay finite (the deviation is at most it).
                    let scale = filled().fold(0.0_f64, |m, x| m.max(x.abs()));
                    let scaled_mean = filled().map(|x| x / scale).sum::<f64>() / n;
                    let scaled_var = filled().map(|x| (x / scale - scaled_mean).powi(2)).sum::<f64>() / n;
                    let std = scaled_var.sqrt() * scale;
                    let std = if std > 0.0 && std.is_finite() { std } else { 1.0 };
                    let mean = scaled_mean * scale;
                    return Ok(FittedFeature::Numeric { name: def.name.clone(), impute, mean, std, has_missing });
                }
                let std = if var > 0.0 { var.sqrt() } else { 1.0 };
                FittedFeature::Numeric { name: def.name.clone(), impute, mean, std, has_missing }
            }
            FeatureKind::Categorical => {
                let (levels, codes) = match col.cat32() {
                    // An attribute held as codes (features' `as_categories`): counted by code.
                    Ok(cats) => self.levels_of_codes(cats),
                    Err(_) => self.levels_of_text(col.cast(&DataType::String)?.str()?),
                };
                let tree_codes = target_ordered_codes(codes.iter().copied(), converted, levels.len());
                FittedFeature::Categorical { name: def.name.clone(), levels, tree_codes }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attribute_held_as_codes_fits_as_its_text_does() -> Result<()> {
        let text =
            df!("industry" => [Some("b"), Some("a"), Some("b"), None, Some("c"), Some("b"), Some("a"), Some("d")])?;
        let levels = Categories::new("industry".into(), "leadscore.features.fit-test".into(), CategoricalPhysical::U32);
        let dtype = DataType::from_categories(levels);
        // The mapping also has a level no lead here has (as when another run shares it).
        let _other = Column::new("industry".into(), ["zzz", "c"]).cast(&dtype)?;
        let mut coded = text.clone();
        coded.with_column(text.column("industry")?.cast(&dtype)?)?;
        assert!(coded.column("industry")?.cat32().is_ok());
        let catalog = vec![FeatureDef {
            name: "industry".into(),
            kind: FeatureKind::Categorical,
            origin: String::new(),
            description: String::new(),
        }];
        let recipe = Recipe { timezone: "UTC".into(), attributes: vec![], events: None };
        let converted = [true, false, false, true, false, true, true, false];
        for (top_k, min_count) in [(1, 1), (2, 2), (5, 1), (5, 0), (0, 0)] {
            let learner = SpecLearner { top_k, min_count };
            let fit = |train: &DataFrame| learner.fit(recipe.clone(), catalog.clone(), train, &converted);
            assert_eq!(fit(&coded)?.features, fit(&text)?.features, "top_k {top_k}, min_count {min_count}");
        }
        Ok(())
    }

    #[test]
    fn fits_vocabulary_imputation_and_scaling() -> Result<()> {
        let train = df!(
            "industry" => [Some("a"), Some("a"), Some("b"), Some("b"), Some("c"), None],
            "size" => [Some(1.0), Some(3.0), None, Some(5.0), Some(7.0), Some(9.0)],
        )?;
        let catalog = vec![
            FeatureDef {
                name: "industry".into(),
                kind: FeatureKind::Categorical,
                origin: String::new(),
                description: String::new(),
            },
            FeatureDef {
                name: "size".into(),
                kind: FeatureKind::Numeric,
                origin: String::new(),
                description: String::new(),
            },
        ];
        let recipe = Recipe { timezone: "UTC".into(), attributes: vec![], events: None };
        let converted = [false, false, true, true, false, true];
        let spec = SpecLearner { top_k: 1, min_count: 2 }.fit(recipe, catalog, &train, &converted)?;
        // Top 1 of the levels with at least 2 rows; a tie between a and b goes to the name. Then
        // by smoothed conversion rate: a (0 of 2) < other (b, c: 2 of 3) < missing (1 of 1).
        assert_eq!(
            spec.features[0],
            FittedFeature::Categorical {
                name: "industry".into(),
                levels: vec!["a".into()],
                tree_codes: vec![0.0, 1.0, 2.0]
            }
        );
        let FittedFeature::Numeric { impute, mean, has_missing, .. } = &spec.features[1] else { panic!("numeric") };
        assert_eq!((*impute, *has_missing), (5.0, true));
        assert!((mean - 5.0).abs() < 1e-12);
        Ok(())
    }
}
