//! Per-lead reasons: the strongest signed contributions to the log-odds, in words.

use leadscore_model::{Design, FeatureKind, FeatureSpec};
use polars::prelude::*;

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
    // Design columns grouped by feature, in spec order.
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for (j, c) in design.columns.iter().enumerate() {
        let f = spec.catalog.iter().position(|d| d.name == c.feature).unwrap_or(usize::MAX);
        match groups.last_mut() {
            Some((g, js)) if *g == f => js.push(j),
            _ => groups.push((f, vec![j])),
        }
    }
    (0..design.rows)
        .map(|i| {
            let row = &contrib[i * cols..(i + 1) * cols];
            let mut per: Vec<(usize, f64)> =
                groups.iter().map(|(f, js)| (*f, js.iter().map(|j| row[*j]).sum::<f64>())).collect();
            per.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
            per.into_iter()
                .filter(|(f, v)| *f != usize::MAX && v.abs() >= 0.005)
                .take(k)
                .map(|(f, v)| {
                    let def = &spec.catalog[f];
                    let name = def.name.replace('_', " ");
                    format!("{name}: {} ({v:+.2})", values[f].text(i))
                })
                .collect()
        })
        .collect()
}
