//! The fitted feature spec: how derived features become a numeric design matrix.
//!
//! A spec is learned on training leads only (by the features stage) and saved with the model.
//! [`FeatureSpec::transform`] gives exactly the same columns in the same order for any frame of
//! derived features: categories outside the fitted vocabulary become `__other__`, missing values
//! `__missing__` (categorical) or the fitted imputation (numeric, for linear models) with a missing
//! indicator.

use polars::prelude::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::derive::{FeatureDef, Recipe};
use crate::error::{ModelError, Result};

/// Version of the spec format.
pub const SPEC_VERSION: u32 = 1;
/// The level unseen categories map to.
pub const OTHER: &str = "__other__";
/// The level missing categories map to.
pub const MISSING: &str = "__missing__";

/// One fitted feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FittedFeature {
    /// A number.
    Numeric {
        /// Column name.
        name: String,
        /// Value used for missing entries in linear models (the training median).
        impute: f64,
        /// Training mean after imputation (for scaling).
        mean: f64,
        /// Training standard deviation after imputation (1 when constant).
        std: f64,
        /// Whether training had missing values (then a `<name>__missing` indicator is added).
        has_missing: bool,
    },
    /// A category.
    Categorical {
        /// Column name.
        name: String,
        /// Kept levels (most frequent first), before `__other__` and `__missing__`.
        levels: Vec<String>,
        /// The code of each level, then of `__other__` and `__missing__`, in the trees encoding:
        /// the rank of the level's smoothed training conversion rate, so one ordered column lets a
        /// tree split the levels into low- and high-converting groups. Empty: codes are positions.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tree_codes: Vec<f64>,
    },
}

/// The trees-encoding code of level index `i` (kept levels, then other, then missing).
fn tree_code(codes: &[f64], i: usize) -> f64 {
    codes.get(i).copied().unwrap_or(i as f64)
}

/// The trees-encoding codes of a categorical feature with `k` kept levels: its levels (kept, then
/// other, then missing; `codes` holds each row's) ordered by their conversion rate on those rows
/// (`converted`), smoothed towards the overall rate with `PRIOR` pseudo-leads so that a rare level
/// does not jump to an extreme. Ties keep the level order; a code above `k + 1` is not counted.
pub fn target_ordered_codes(codes: impl IntoIterator<Item = usize>, converted: &[bool], k: usize) -> Vec<f64> {
    const PRIOR: f64 = 20.0;
    let mut n = vec![0.0; k + 2];
    let mut pos = vec![0.0; k + 2];
    for (c, y) in codes.into_iter().zip(converted) {
        if let (Some(n), Some(pos)) = (n.get_mut(c), pos.get_mut(c)) {
            *n += 1.0;
            *pos += f64::from(u8::from(*y));
        }
    }
    let overall = pos.iter().sum::<f64>() / n.iter().sum::<f64>().max(1.0);
    let rate: Vec<f64> = (0..k + 2).map(|i| (pos[i] + PRIOR * overall) / (n[i] + PRIOR)).collect();
    let mut order: Vec<usize> = (0..k + 2).collect();
    order.sort_by(|a, b| rate[*a].total_cmp(&rate[*b]).then(a.cmp(b)));
    let mut out = vec![0.0; k + 2];
    for (rank, i) in order.into_iter().enumerate() {
        out[i] = rank as f64;
    }
    out
}

impl FittedFeature {
    /// For a categorical feature, the level a trees-encoding code stands for.
    pub fn level_of_code(&self, code: f64) -> Option<&str> {
        match self {
            Self::Categorical { levels, tree_codes, .. } => (0..levels.len() + 2)
                .find(|i| tree_code(tree_codes, *i) == code)
                .map(|i| levels.get(i).map_or(if i == levels.len() { OTHER } else { MISSING }, String::as_str)),
            Self::Numeric { .. } => None,
        }
    }

    /// The feature's column name.
    pub fn name(&self) -> &str {
        match self {
            Self::Numeric { name, .. } | Self::Categorical { name, .. } => name,
        }
    }
}

/// How numeric features are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Raw values, NaN for missing (gradient-boosted trees handle missing values natively);
    /// one column per categorical feature holding its level's target-ordered code.
    Trees,
    /// Imputed and standardised values plus missing indicators (linear models).
    Linear,
    /// The linear encoding's columns followed by the trees encoding's (a blend of both models).
    Both,
}

/// One column of the design matrix and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesignColumn {
    /// Column name (`company_size`, `company_size__missing`, `industry=Retail`).
    pub name: String,
    /// The derived feature it encodes.
    pub feature: String,
    /// The category level, for one-hot columns.
    pub level: Option<String>,
}

/// A dense design matrix, column-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    /// Columns, in order.
    pub columns: Vec<DesignColumn>,
    /// Rows.
    pub rows: usize,
    /// Values, column after column (`rows` values each).
    pub data: Vec<f64>,
}

impl Design {
    /// One column's values.
    pub fn column(&self, j: usize) -> &[f64] {
        &self.data[j * self.rows..(j + 1) * self.rows]
    }

    /// The values in row-major order (for libraries that want rows).
    pub fn row_major(&self) -> Vec<f64> {
        let cols = self.columns.len();
        let mut out = vec![0.0; self.rows * cols];
        for j in 0..cols {
            for (i, v) in self.column(j).iter().enumerate() {
                out[i * cols + j] = *v;
            }
        }
        out
    }
}

/// The fitted spec: the recipe that derives features, and how each is encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// [`SPEC_VERSION`].
    pub version: u32,
    /// How to derive the features from leads and events.
    pub recipe: Recipe,
    /// The derived features the model uses, with their meaning.
    pub catalog: Vec<FeatureDef>,
    /// Their fitted encodings, in design order.
    pub features: Vec<FittedFeature>,
}

impl FeatureSpec {
    /// Checks that every fitted number is finite (and every standard deviation positive), naming
    /// the first feature and field that is not: a spec with `null` or infinite statistics would
    /// encode garbage.
    pub fn check_finite(&self) -> std::result::Result<(), String> {
        for f in &self.features {
            match f {
                FittedFeature::Numeric { name, impute, mean, std, .. } => {
                    for (field, v) in [("impute", impute), ("mean", mean), ("std", std)] {
                        if !v.is_finite() {
                            return Err(format!("feature `{name}`: `{field}` is {v}, expected a finite number"));
                        }
                    }
                    if *std <= 0.0 {
                        return Err(format!("feature `{name}`: `std` is {std}, expected a positive number"));
                    }
                }
                FittedFeature::Categorical { name, tree_codes, .. } => {
                    if let Some(k) = tree_codes.iter().position(|c| !c.is_finite()) {
                        return Err(format!("feature `{name}`: `tree_codes[{k}]` is not a finite number"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The design columns for an encoding, in order.
    pub fn design_columns(&self, encoding: Encoding) -> Vec<DesignColumn> {
        if encoding == Encoding::Both {
            let mut out = self.design_columns(Encoding::Linear);
            out.extend(self.design_columns(Encoding::Trees));
            return out;
        }
        let mut out = Vec::new();
        for f in &self.features {
            match f {
                FittedFeature::Numeric { name, has_missing, .. } => {
                    out.push(DesignColumn { name: name.clone(), feature: name.clone(), level: None });
                    if encoding == Encoding::Linear && *has_missing {
                        out.push(DesignColumn { name: format!("{name}__missing"), feature: name.clone(), level: None });
                    }
                }
                FittedFeature::Categorical { name, .. } if encoding == Encoding::Trees => {
                    out.push(DesignColumn { name: name.clone(), feature: name.clone(), level: None });
                }
                FittedFeature::Categorical { name, levels, .. } => {
                    for l in levels.iter().map(String::as_str).chain([OTHER, MISSING]) {
                        out.push(DesignColumn {
                            name: format!("{name}={l}"),
                            feature: name.clone(),
                            level: Some(l.to_string()),
                        });
                    }
                }
            }
        }
        out
    }

    /// Encodes derived features (as returned by [`crate::derive::derive`]) into a design matrix.
    /// Every feature of the spec must be a column of `df`; a missing one is an error naming it.
    /// The features are coded ([`Self::code`]), then encoded ([`Self::design`]).
    pub fn transform(&self, df: &DataFrame, encoding: Encoding) -> Result<Design> {
        self.design(&[&self.code(df)?], None, encoding)
    }

    /// Codes the derived features of `df` against the spec, each feature in parallel: what both
    /// encodings are built from, without the categories' text. Every feature of the spec must be
    /// a column of `df`; a missing one is an error naming it.
    pub fn code(&self, df: &DataFrame) -> Result<Coded> {
        let inputs = self.columns(df)?;
        let features = self.features.par_iter().zip(inputs).map(|(f, c)| f.code(c)).collect::<Result<_>>()?;
        Ok(Coded { rows: df.height(), features })
    }

    /// The column of `df` of each feature of the spec, in its order; a missing one is an error
    /// naming it.
    pub fn columns<'a>(&self, df: &'a DataFrame) -> Result<Vec<&'a Column>> {
        self.features
            .iter()
            .map(|f| {
                df.column(f.name()).map_err(|_| ModelError::MissingColumn {
                    column: f.name().to_string(),
                    expected: "a feature of the model's spec".into(),
                    available: df.get_column_names().iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "),
                })
            })
            .collect()
    }

    /// The design matrix of coded features ([`Self::code`]) in `encoding`: of the rows of `parts`
    /// stacked one above the other (row `parts[0].rows` is the first of `parts[1]`), every row in
    /// order or the rows `rows` in that order. The same values as [`Self::transform`] of those
    /// rows. Features are encoded in parallel, each into its own design columns.
    pub fn design(&self, parts: &[&Coded], rows: Option<&[usize]>, encoding: Encoding) -> Result<Design> {
        if encoding == Encoding::Both {
            // Column-major: the trees' columns simply follow the linear ones.
            let mut both = self.design(parts, rows, Encoding::Linear)?;
            let trees = self.design(parts, rows, Encoding::Trees)?;
            both.columns.extend(trees.columns);
            both.data.extend(trees.data);
            return Ok(both);
        }
        let columns = self.design_columns(encoding);
        let starts: Vec<usize> = parts
            .iter()
            .scan(0, |next, c| {
                let start = *next;
                *next += c.rows;
                Some(start)
            })
            .collect();
        let total = parts.iter().map(|c| c.rows).sum::<usize>();
        if let Some(c) = parts.iter().find(|c| c.features.iter().any(|f| f.len() != c.rows)) {
            return Err(ModelError::Invalid(format!("coded features whose values are not all {} rows", c.rows)));
        }
        if let Some(i) = rows.into_iter().flatten().find(|i| **i >= total) {
            return Err(ModelError::Invalid(format!("row {i} of coded features with {total} rows")));
        }
        // Each picked row's part and its row there, found once for every feature.
        let at: Option<Vec<(usize, usize)>> = rows.map(|rows| {
            rows.iter()
                .map(|i| {
                    let p = starts.partition_point(|s| s <= i).saturating_sub(1);
                    (p, i - starts[p])
                })
                .collect()
        });
        let n = rows.map_or(total, <[usize]>::len);
        let mut data = vec![0.0; n * columns.len()];
        // Each feature's design columns are consecutive: hand each feature its part of `data`.
        let mut out = Vec::with_capacity(self.features.len());
        let mut rest = data.as_mut_slice();
        for f in &self.features {
            let width = columns.iter().filter(|c| c.feature == f.name()).count();
            let (part, tail) = rest.split_at_mut(width * n);
            out.push(part);
            rest = tail;
        }
        self.features.par_iter().enumerate().zip(out).try_for_each(|((k, f), out)| {
            let coded = parts
                .iter()
                .map(|c| {
                    c.features.get(k).ok_or_else(|| ModelError::Invalid(format!("no coded feature `{}`", f.name())))
                })
                .collect::<Result<Vec<_>>>()?;
            encode(f, &coded, at.as_deref(), encoding, out)
        })?;
        Ok(Design { columns, rows: n, data })
    }
}

/// One feature's values before either encoding ([`FeatureSpec::code`]).
#[derive(Debug, Clone, PartialEq)]
pub enum CodedFeature {
    /// A numeric feature's values; NaN when missing or not finite.
    Values(Vec<f64>),
    /// A categorical feature's level index: below the kept levels' count a kept level, at it
    /// `__other__`, one above `__missing__`.
    Levels(Vec<u32>),
}

impl CodedFeature {
    /// How many values.
    pub fn len(&self) -> usize {
        match self {
            Self::Values(v) => v.len(),
            Self::Levels(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Derived features coded against a spec ([`FeatureSpec::code`]): what both encodings are built
/// from, a few bytes a value where the categories' text takes 16 or more.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Coded {
    /// Rows.
    pub rows: usize,
    /// Each feature of the spec, in its order.
    pub features: Vec<CodedFeature>,
}

impl FittedFeature {
    /// Codes one column of derived values.
    pub fn code(&self, col: &Column) -> Result<CodedFeature> {
        Ok(match self {
            Self::Numeric { .. } => {
                let v = col.cast(&DataType::Float64)?;
                CodedFeature::Values(v.f64()?.iter().map(|x| x.filter(|x| x.is_finite()).unwrap_or(f64::NAN)).collect())
            }
            Self::Categorical { levels, .. } => {
                let s = col.cast(&DataType::String)?;
                let k = levels.len() as u32;
                let index: PlHashMap<&str, u32> =
                    levels.iter().enumerate().map(|(i, l)| (l.as_str(), i as u32)).collect();
                CodedFeature::Levels(
                    s.str()?.iter().map(|v| v.map_or(k + 1, |v| index.get(v).copied().unwrap_or(k))).collect(),
                )
            }
        })
    }
}

/// The values of the picked rows (`at`: part and row; `None`: every row of every part).
fn picked<'a, T: Copy>(parts: &'a [&'a [T]], at: Option<&'a [(usize, usize)]>) -> impl Iterator<Item = T> + 'a {
    let all = at.is_none().then(|| parts.iter().flat_map(|p| p.iter().copied()));
    let some = at.map(|at| at.iter().map(|(p, i)| parts[*p][*i]));
    all.into_iter().flatten().chain(some.into_iter().flatten())
}

/// Writes one feature's design columns (column after column) into `out`, from its coded values
/// in `parts`.
fn encode(
    f: &FittedFeature,
    parts: &[&CodedFeature],
    at: Option<&[(usize, usize)]>,
    encoding: Encoding,
    out: &mut [f64],
) -> Result<()> {
    let mismatch = || ModelError::Invalid(format!("feature `{}` was coded as another kind", f.name()));
    if encoding == Encoding::Both {
        return Err(ModelError::Invalid("a feature is encoded in one encoding at a time".into()));
    }
    match f {
        FittedFeature::Numeric { impute, mean, std, has_missing, .. } => {
            let parts = parts
                .iter()
                .map(|c| if let CodedFeature::Values(v) = c { Ok(v.as_slice()) } else { Err(mismatch()) })
                .collect::<Result<Vec<_>>>()?;
            let rows = at.map_or_else(|| parts.iter().map(|p| p.len()).sum(), <[_]>::len);
            let (values, flags) = out.split_at_mut(rows);
            match encoding {
                Encoding::Trees => {
                    for (o, x) in values.iter_mut().zip(picked(&parts, at)) {
                        *o = x;
                    }
                }
                Encoding::Linear | Encoding::Both => {
                    let s = if *std > 0.0 { *std } else { 1.0 };
                    let (impute_z, mean_z) = (impute / s, mean / s);
                    for (o, x) in values.iter_mut().zip(picked(&parts, at)) {
                        // Divided before subtracting, so that values near ±f64::MAX cannot
                        // overflow; clamped, so that an outlier cannot dominate the linear model.
                        let z = if x.is_nan() { impute_z } else { x / s } - mean_z;
                        *o = z.clamp(-MAX_STANDARDISED, MAX_STANDARDISED);
                    }
                    if *has_missing {
                        for (o, x) in flags.iter_mut().zip(picked(&parts, at)) {
                            *o = if x.is_nan() { 1.0 } else { 0.0 };
                        }
                    }
                }
            }
        }
        FittedFeature::Categorical { tree_codes, .. } => {
            let parts = parts
                .iter()
                .map(|c| if let CodedFeature::Levels(v) = c { Ok(v.as_slice()) } else { Err(mismatch()) })
                .collect::<Result<Vec<_>>>()?;
            let rows = at.map_or_else(|| parts.iter().map(|p| p.len()).sum(), <[_]>::len);
            match encoding {
                Encoding::Trees => {
                    for (o, c) in out.iter_mut().zip(picked(&parts, at)) {
                        *o = tree_code(tree_codes, c as usize);
                    }
                }
                Encoding::Linear | Encoding::Both => {
                    // One-hot: the column of each row's level gets a 1 (the rest stays 0).
                    for (i, c) in picked(&parts, at).enumerate() {
                        if let Some(o) = out.get_mut(c as usize * rows + i) {
                            *o = 1.0;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// The largest standardised value the linear encoding passes on (in standard deviations):
/// outliers beyond it are clamped, so log-odds stay finite and no single lead dominates.
pub const MAX_STANDARDISED: f64 = 20.0;

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> FeatureSpec {
        FeatureSpec {
            version: SPEC_VERSION,
            recipe: Recipe { timezone: "UTC".into(), attributes: vec![], events: None },
            catalog: vec![],
            features: vec![
                FittedFeature::Numeric { name: "size".into(), impute: 10.0, mean: 20.0, std: 10.0, has_missing: true },
                FittedFeature::Categorical {
                    name: "industry".into(),
                    levels: vec!["Retail".into(), "Software".into()],
                    tree_codes: vec![1.0, 3.0, 0.0, 2.0],
                },
            ],
        }
    }

    #[test]
    fn transform_gives_fixed_columns_with_other_and_missing() -> Result<()> {
        let df = df!(
            "industry" => [Some("Software"), Some("Mining"), None],
            "size" => [Some(30.0), None, Some(f64::NAN)],
        )?;
        let s = spec();
        let lin = s.transform(&df, Encoding::Linear)?;
        let names: Vec<&str> = lin.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "size",
                "size__missing",
                "industry=Retail",
                "industry=Software",
                "industry=__other__",
                "industry=__missing__"
            ]
        );
        assert_eq!(lin.column(0), [1.0, -1.0, -1.0]);
        assert_eq!(lin.column(1), [0.0, 1.0, 1.0]);
        assert_eq!(lin.column(3), [1.0, 0.0, 0.0]);
        assert_eq!(lin.column(4), [0.0, 1.0, 0.0]);
        assert_eq!(lin.column(5), [0.0, 0.0, 1.0]);
        let trees = s.transform(&df, Encoding::Trees)?;
        assert_eq!(trees.columns.len(), 2);
        assert_eq!(trees.column(0)[0], 30.0);
        assert!(trees.column(0)[1].is_nan());
        // Software, then Mining (unseen: other), then missing, by their target-ordered codes.
        assert_eq!(trees.column(1), [3.0, 0.0, 2.0]);
        assert_eq!(trees.row_major()[..2], [30.0, 3.0]);
        let industry = &s.features[1];
        assert_eq!(industry.level_of_code(3.0), Some("Software"));
        assert_eq!(industry.level_of_code(0.0), Some(OTHER));
        assert_eq!(industry.level_of_code(2.0), Some(MISSING));
        Ok(())
    }

    #[test]
    fn a_missing_feature_column_is_named() {
        let df = df!("industry" => ["Retail"]).unwrap_or_default();
        let err = spec().transform(&df, Encoding::Trees).map(|_| ()).map_err(|e| e.to_string());
        assert!(err.as_ref().is_err_and(|e| e.contains("`size`") && e.contains("industry")), "{err:?}");
    }

    #[test]
    fn spec_round_trips_through_json() {
        let s = spec();
        let json = serde_json::to_string(&s).unwrap_or_default();
        let back: FeatureSpec = serde_json::from_str(&json).unwrap_or_else(|_| spec());
        assert_eq!(back, s);
    }

    /// The design of rows picked across coded parts stacked one above the other is the
    /// transform of those rows of the stacked frame, in either encoding.
    #[test]
    fn the_design_of_picked_rows_of_stacked_parts_is_their_transform() -> Result<()> {
        let top = df!("industry" => [Some("Software"), None], "size" => [Some(30.0), Some(f64::INFINITY)])?;
        let bottom = df!("industry" => [Some("Mining"), Some("Retail"), None], "size" => [None, Some(1.0), Some(2.0)])?;
        let s = spec();
        let (a, b) = (s.code(&top)?, s.code(&bottom)?);
        let picked = [4, 0, 2, 1, 3, 0];
        let stacked = top.vstack(&bottom)?;
        let idx = IdxCa::from_vec("i".into(), picked.iter().map(|i| *i as IdxSize).collect());
        let printed = |d: &Design| format!("{d:?}");
        for encoding in [Encoding::Trees, Encoding::Linear, Encoding::Both] {
            let expected = s.transform(&stacked.take(&idx)?, encoding)?;
            assert_eq!(printed(&s.design(&[&a, &b], Some(&picked), encoding)?), printed(&expected));
            assert_eq!(printed(&s.design(&[&a, &b], None, encoding)?), printed(&s.transform(&stacked, encoding)?));
        }
        // Both: the linear design's columns, then the trees design's.
        let (linear, trees, both) = (
            s.design(&[&a, &b], Some(&picked), Encoding::Linear)?,
            s.design(&[&a, &b], Some(&picked), Encoding::Trees)?,
            s.design(&[&a, &b], Some(&picked), Encoding::Both)?,
        );
        assert_eq!(both.columns, [linear.columns.clone(), trees.columns.clone()].concat());
        assert_eq!(both.columns, s.design_columns(Encoding::Both));
        assert_eq!(format!("{:?}", both.column(linear.columns.len())), format!("{:?}", trees.column(0)));
        assert_eq!(printed(&both), printed(&Design { data: [linear.data, trees.data].concat(), ..both.clone() }));
        let err = s.design(&[&a, &b], Some(&[5]), Encoding::Trees).unwrap_err().to_string();
        assert!(err.contains("row 5") && err.contains("5 rows"), "{err}");
        // Codes of another spec (the kinds swapped), or fewer values than rows, are an error, not
        // a wrong design.
        let swapped = Coded { rows: 2, features: vec![a.features[1].clone(), a.features[0].clone()] };
        assert!(s.design(&[&swapped], None, Encoding::Linear).is_err());
        let short = Coded { rows: 3, ..a.clone() };
        assert!(s.design(&[&short], Some(&[2]), Encoding::Trees).is_err());
        Ok(())
    }
}
