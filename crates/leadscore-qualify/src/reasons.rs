//! Per-lead reasons: the strongest signed contributions to the log-odds, in words.

use leadscore_model::{Design, FeatureKind, FeatureSpec};
use polars::prelude::*;
use rayon::prelude::*;

/// A feature's values, cast once, for reading single rows cheaply.
enum Values {
    Text(StringChunked),
    Number(Float64Chunked),
    Unknown,
}

impl Values {
    fn of(derived: &DataFrame, feature: &str, kind: FeatureKind) -> Self {
        let Ok(col) = derived.column(feature) else { return Self::Unknown };
        let cast = |dt: &DataType| col.cast(dt).ok().map(|c| c.as_materialized_series().rechunk());
        match kind {
            FeatureKind::Categorical => {
                cast(&DataType::String).and_then(|s| s.str().ok().cloned()).map_or(Self::Unknown, Self::Text)
            }
            FeatureKind::Numeric => {
                cast(&DataType::Float64).and_then(|s| s.f64().ok().cloned()).map_or(Self::Unknown, Self::Number)
            }
        }
    }

    /// The value of a row as text (`VP`, `250`, `missing`).
    fn text(&self, row: usize) -> String {
        match self {
            Self::Text(s) => s.get(row).map_or_else(|| "missing".into(), str::to_string),
            Self::Number(n) => match n.get(row) {
                None => "missing".into(),
                Some(x) if x.is_nan() => "missing".into(),
                Some(x) if (x - x.round()).abs() < 1e-9 => format!("{}", x.round()),
                Some(x) => format!("{x:.2}"),
            },
            Self::Unknown => "?".into(),
        }
    }
}

/// For every row, up to `k` reasons, the strongest first: "job title seniority: VP (+0.80)".
/// Contributions of a feature's design columns are added up; features whose contribution rounds
/// to zero are left out.
/// `contributions` are the row-major per-column contributions of
/// [`leadscore_model::Classifier::logits_and_contributions`].
pub fn top_reasons(
    contrib: &[f64],
    design: &Design,
    spec: &FeatureSpec,
    derived: &DataFrame,
    k: usize,
) -> Vec<Vec<String>> {
    let cols = design.columns.len();
    let values: Vec<Values> = spec.catalog.iter().map(|d| Values::of(derived, &d.name, d.kind)).collect();
    let names: Vec<String> = spec.catalog.iter().map(|d| d.name.replace('_', " ")).collect();
    // Design columns grouped by feature, in catalog order (a blend's design holds each feature's
    // linear columns and, further on, its trees column); columns of no feature are left out.
    let mut groups: Vec<(usize, Vec<usize>)> = (0..spec.catalog.len()).map(|f| (f, Vec::new())).collect();
    for (j, c) in design.columns.iter().enumerate() {
        if let Some(f) = spec.catalog.iter().position(|d| d.name == c.feature) {
            groups[f].1.push(j);
        }
    }
    groups.retain(|(_, js)| !js.is_empty());
    (0..design.rows)
        .into_par_iter()
        .with_min_len(1024)
        .map(|i| {
            let row = &contrib[i * cols..(i + 1) * cols];
            // The k strongest by absolute contribution, ties to the earlier feature.
            let mut top: Vec<(usize, f64)> = Vec::with_capacity(k + 1);
            for (f, js) in &groups {
                let v: f64 = js.iter().map(|j| row[*j]).sum();
                if v.abs() < 0.005 {
                    continue;
                }
                let at = top.iter().position(|(g, w)| v.abs() > w.abs() || (v.abs() == w.abs() && f < g));
                match at {
                    Some(at) => top.insert(at, (*f, v)),
                    None => top.push((*f, v)),
                }
                top.truncate(k);
            }
            top.into_iter().map(|(f, v)| format!("{}: {} ({v:+.2})", names[f], values[f].text(i))).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use leadscore_model::spec::SPEC_VERSION;
    use leadscore_model::{Encoding, FeatureDef, FittedFeature, Recipe};

    use super::*;

    fn spec() -> FeatureSpec {
        let def =
            |name: &str, kind| FeatureDef { name: name.into(), kind, origin: "t".into(), description: name.into() };
        FeatureSpec {
            version: SPEC_VERSION,
            recipe: Recipe { timezone: "UTC".into(), attributes: vec![], events: None },
            catalog: vec![def("size", FeatureKind::Numeric), def("tier", FeatureKind::Categorical)],
            features: vec![
                FittedFeature::Numeric { name: "size".into(), impute: 0.0, mean: 0.0, std: 1.0, has_missing: false },
                FittedFeature::Categorical {
                    name: "tier".into(),
                    levels: vec!["gold".into()],
                    tree_codes: vec![2.0, 1.0, 0.0],
                },
            ],
        }
    }

    /// A blend's design holds each feature twice (its linear columns, then its trees column):
    /// a reason is the feature's contributions in both, added, and a feature is named once.
    #[test]
    fn a_blend_s_reasons_add_each_feature_s_contributions_in_both_encodings() {
        let s = spec();
        let derived = df!("size" => [3.0, 1.0], "tier" => [Some("gold"), None]).unwrap();
        let design = s.transform(&derived, Encoding::Both).unwrap();
        let names: Vec<&str> = design.columns.iter().map(|c| c.feature.as_str()).collect();
        // size, tier=gold, tier=__other__, tier=__missing__, then size and tier for the trees.
        assert_eq!(names, ["size", "tier", "tier", "tier", "size", "tier"]);
        let contrib = [
            0.6, 0.2, 0.0, 0.0, -0.4, 0.3, // row 0: size 0.6 - 0.4 = 0.2, tier 0.2 + 0.3 = 0.5
            0.1, 0.0, 0.0, -0.5, 0.2, 0.1, // row 1: size 0.3, tier -0.4
        ];
        let reasons = top_reasons(&contrib, &design, &s, &derived, 3);
        assert_eq!(reasons[0], ["tier: gold (+0.50)", "size: 3 (+0.20)"]);
        assert_eq!(reasons[1], ["tier: missing (-0.40)", "size: 1 (+0.30)"]);
    }
}
