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
        .into_par_iter()
        .with_min_len(1024)
        .map(|i| {
            let row = &contrib[i * cols..(i + 1) * cols];
            // The k strongest by absolute contribution, ties to the earlier feature.
            let mut top: Vec<(usize, f64)> = Vec::with_capacity(k + 1);
            for (f, js) in &groups {
                let v: f64 = js.iter().map(|j| row[*j]).sum();
                if *f == usize::MAX || v.abs() < 0.005 {
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
