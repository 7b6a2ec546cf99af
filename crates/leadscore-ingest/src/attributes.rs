//! Lead attributes: inferring a kind when the config gives none, and parsing values by kind.
//!
//! Inference, on up to [`INFER_SAMPLE`] non-empty values across all leads files:
//! 1. a typed column decides by its type (booleans, numbers, dates/timestamps);
//! 2. text where every value is a boolean word and at least one is not `0`/`1` → `boolean`;
//! 3. at least [`MIN_PARSED_SHARE`] of the values numbers → `numeric` (the rest become null and are
//!    counted, as `n/a` in a headcount column should);
//! 4. at least that share timestamps with a date part → `timestamp`;
//! 5. at most [`CATEGORICAL_MAX_DISTINCT`] distinct values, and at most one distinct value per
//!    five filled rows → `categorical`;
//! 6. otherwise → `text`.

use std::collections::HashSet;

use chrono_tz::Tz;
use leadscore_core::config::AttributeKind;
use leadscore_core::time::parse_timestamp;
use polars::prelude::*;

use crate::parse::{self, Cells};

/// How many non-empty values kind inference looks at.
pub const INFER_SAMPLE: usize = 100_000;
/// Share of values that must parse for a numeric or timestamp kind to be inferred.
pub const MIN_PARSED_SHARE: f64 = 0.95;
/// The most distinct values an inferred categorical attribute may have.
pub const CATEGORICAL_MAX_DISTINCT: usize = 200;

/// Infers an attribute's kind from its columns in every leads file (see the module docs).
pub fn infer_kind(cols: &[&Column], tz: Tz) -> PolarsResult<AttributeKind> {
    for c in cols {
        match c.dtype() {
            DataType::Boolean => return Ok(AttributeKind::Boolean),
            DataType::Date | DataType::Datetime(_, _) => return Ok(AttributeKind::Timestamp),
            dt if dt.is_primitive_numeric() => return Ok(AttributeKind::Numeric),
            _ => {}
        }
    }
    let mut values: Vec<String> = Vec::new();
    for c in cols {
        let t = parse::text(*c)?;
        values.extend(t.iter().flatten().take(INFER_SAMPLE - values.len()).map(str::to_string));
        if values.len() >= INFER_SAMPLE {
            break;
        }
    }
    if values.is_empty() {
        return Ok(AttributeKind::Categorical);
    }
    let all_bool = values.iter().all(|v| parse::parse_bool(v).is_some());
    if all_bool && values.iter().any(|v| v != "0" && v != "1") {
        return Ok(AttributeKind::Boolean);
    }
    let share = |ok: &dyn Fn(&str) -> bool| values.iter().filter(|v| ok(v)).count() as f64 / values.len() as f64;
    if share(&|v| v.parse::<f64>().is_ok_and(f64::is_finite)) >= MIN_PARSED_SHARE {
        return Ok(AttributeKind::Numeric);
    }
    if share(&|v| v.len() >= 10 && v.as_bytes()[4] == b'-' && parse_timestamp(v, tz).is_ok()) >= MIN_PARSED_SHARE {
        return Ok(AttributeKind::Timestamp);
    }
    let mut distinct = HashSet::new();
    for v in &values {
        distinct.insert(v.as_str());
        if distinct.len() > CATEGORICAL_MAX_DISTINCT {
            return Ok(AttributeKind::Text);
        }
    }
    if distinct.len() * 5 <= values.len() { Ok(AttributeKind::Categorical) } else { Ok(AttributeKind::Text) }
}

/// Parses an attribute column by kind into its output type (Float64, Boolean, UTC Datetime or
/// String), named `name`. Returns the column and the rows whose value could not be parsed (they
/// become null; the lead is kept).
pub fn parse_attribute<'a>(
    col: impl Into<Cells<'a>>,
    name: &str,
    kind: AttributeKind,
    (tz, format): (Tz, Option<&str>),
) -> PolarsResult<(Column, Vec<parse::CellError>)> {
    let col = col.into();
    Ok(match kind {
        AttributeKind::Numeric => {
            let (v, e) = parse::numbers(col)?;
            (Column::new(name.into(), v), e)
        }
        AttributeKind::Boolean => {
            let (v, e) = parse::booleans(col)?;
            (Column::new(name.into(), v), e)
        }
        AttributeKind::Timestamp => {
            let (v, e) = parse::timestamps(col, tz, format)?;
            (parse::datetime_column(name, v), e)
        }
        AttributeKind::Categorical | AttributeKind::Text => {
            (parse::text(col)?.with_name(name.into()).into_column(), Vec::new())
        }
    })
}

/// The output type of an attribute kind (for empty tables).
pub fn dtype_of(kind: AttributeKind) -> DataType {
    kind.dtype()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(values: &[Option<&str>]) -> AttributeKind {
        let c = Column::new("a".into(), values);
        infer_kind(&[&c], chrono_tz::UTC).unwrap_or(AttributeKind::Text)
    }

    #[test]
    fn infers_kinds_from_text() {
        assert_eq!(kind_of(&[Some("1"), Some("2.5"), None, Some("-3")]), AttributeKind::Numeric);
        assert_eq!(kind_of(&[Some("0"), Some("1"), Some("1")]), AttributeKind::Numeric);
        assert_eq!(kind_of(&[Some("yes"), Some("No"), Some("1")]), AttributeKind::Boolean);
        assert_eq!(kind_of(&[Some("2025-01-01"), Some("2025-02-03 10:00:00")]), AttributeKind::Timestamp);
        let cats: Vec<Option<&str>> = (0..50).map(|i| Some(["NL", "DE", "US"][i % 3])).collect();
        assert_eq!(kind_of(&cats), AttributeKind::Categorical);
        let titles: Vec<String> = (0..300).map(|i| format!("Title {i}")).collect();
        let titles: Vec<Option<&str>> = titles.iter().map(|s| Some(s.as_str())).collect();
        assert_eq!(kind_of(&titles), AttributeKind::Text);
        assert_eq!(kind_of(&[None, None]), AttributeKind::Categorical);
        // A headcount column with the odd `n/a` is still numeric.
        let mut sizes: Vec<Option<&str>> = (0..40).map(|i| Some(["10", "250", "5000"][i % 3])).collect();
        sizes.push(Some("n/a"));
        assert_eq!(kind_of(&sizes), AttributeKind::Numeric);
        sizes.extend([Some("n/a"), Some("unknown")]);
        assert_ne!(kind_of(&sizes), AttributeKind::Numeric);
    }

    #[test]
    fn typed_columns_decide_by_type() -> PolarsResult<()> {
        let c = Column::new("a".into(), [1.5f64, 2.0]);
        assert_eq!(infer_kind(&[&c], chrono_tz::UTC)?, AttributeKind::Numeric);
        let b = Column::new("a".into(), [true, false]);
        assert_eq!(infer_kind(&[&b], chrono_tz::UTC)?, AttributeKind::Boolean);
        Ok(())
    }

    #[test]
    fn unparsable_values_become_null_and_are_reported() -> PolarsResult<()> {
        let c = Column::new("a".into(), [Some("10"), Some("lots"), None]);
        let (col, errs) = parse_attribute(&c, "size", AttributeKind::Numeric, (chrono_tz::UTC, None))?;
        assert_eq!(col.name().as_str(), "size");
        assert_eq!(col.f64()?.iter().collect::<Vec<_>>(), [Some(10.0), None, None]);
        assert_eq!(errs.len(), 1);
        Ok(())
    }
}
