//! Parsing raw cells into canonical values, whatever the file's column type.
//!
//! Each parser returns the parsed values (one per row, `None` for an empty cell) and the rows whose
//! cell could not be parsed, with why. Text from CSV, and typed values from Parquet and JSON Lines
//! (integers, floats, dates, timestamps) are all accepted where they make sense.

use chrono::{DateTime, NaiveDate, NaiveTime};
use chrono_tz::Tz;
use leadscore_core::time::{TimestampError, TimestampFormat, epoch_to_micros, in_range, local_micros, parse_timestamp};
use polars::prelude::*;

use crate::read::TextColumn;

/// A cell that could not be parsed: its row (0-based within the file) and why.
pub type CellError = (usize, String);

/// A column's raw cells: a polars column of any type, or a column of a block of a CSV file's
/// text, which the parsers read without building a polars text column for it.
#[derive(Clone, Copy)]
pub enum Cells<'a> {
    /// A polars column.
    Column(&'a Column),
    /// A CSV file's text (an empty field is null).
    Text(&'a TextColumn),
}

impl Cells<'_> {
    /// Cells.
    fn len(&self) -> usize {
        match self {
            Self::Column(c) => c.len(),
            Self::Text(t) => t.len(),
        }
    }
}

impl<'a> From<&'a Column> for Cells<'a> {
    fn from(c: &'a Column) -> Self {
        Self::Column(c)
    }
}

/// A cell trimmed; empty is null.
fn trimmed(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|t| !t.is_empty())
}

/// Trims text; empty cells become null. Non-text columns are cast to text (`123`, `1.5`, `true`).
pub fn text<'a>(cells: impl Into<Cells<'a>>) -> PolarsResult<StringChunked> {
    let col = match cells.into() {
        Cells::Text(t) => return Ok(t.iter().map(trimmed).collect()),
        Cells::Column(col) => col,
    };
    let s = col.as_materialized_series();
    let owned;
    let ca = if s.dtype() == &DataType::String {
        s.str()?
    } else {
        owned = s.cast(&DataType::String)?;
        owned.str()?
    };
    // Most exports are clean: then the column is shared as it is, not copied (a copy of every
    // text column was a tenth of ingest's time).
    if ca.iter().all(|v| v.is_none_or(|t| !t.is_empty() && t.trim().len() == t.len())) {
        return Ok(ca.clone().with_name(col.name().clone()));
    }
    Ok(ca.iter().map(trimmed).collect::<StringChunked>().with_name(col.name().clone()))
}

fn unit_to_micros(v: i64, unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Nanoseconds => v.div_euclid(1_000),
        TimeUnit::Microseconds => v,
        TimeUnit::Milliseconds => v.saturating_mul(1_000),
    }
}

/// Reads timestamp text into UTC microseconds: with the configured format if any, otherwise any
/// format [`parse_timestamp`] knows (the range is checked by the caller, see [`in_range`]).
pub struct TimestampText<'a> {
    format: Option<TimestampFormat<'a>>,
    tz: Tz,
}

impl<'a> TimestampText<'a> {
    /// A reader for `format` (if configured), times without an offset being local in `tz`.
    pub fn new(format: Option<&'a str>, tz: Tz) -> Self {
        Self { format: format.map(TimestampFormat::new), tz }
    }

    /// The instant `t` names.
    pub fn parse(&self, t: &str) -> Result<i64, TimestampError> {
        match &self.format {
            Some(f) => f.parse(t, self.tz),
            None => parse_timestamp(t, self.tz),
        }
    }
}

/// Parses timestamps into UTC microseconds. Text follows [`parse_timestamp`]; timestamp columns
/// with a zone are taken as they are, those without one (and dates) are local time in `tz`;
/// integers are epoch seconds/milliseconds/microseconds by magnitude.
pub fn timestamps<'a>(
    cells: impl Into<Cells<'a>>,
    tz: Tz,
    format: Option<&str>,
) -> PolarsResult<(Vec<Option<i64>>, Vec<CellError>)> {
    let reader = TimestampText::new(format, tz);
    let cells = cells.into();
    let mut out = Vec::with_capacity(cells.len());
    let mut errors = Vec::new();
    // Messages say why, never what the cell holds: the rejects table keeps the value.
    let mut push = |i: usize, r: Result<i64, TimestampError>| match r.and_then(in_range) {
        Ok(v) => out.push(Some(v)),
        Err(TimestampError::Empty) => out.push(None),
        Err(e) => {
            out.push(None);
            errors.push((i, e.to_string()));
        }
    };
    let s = match cells {
        Cells::Text(t) => {
            each_timestamp(t.iter(), &reader, &mut push);
            return Ok((out, errors));
        }
        Cells::Column(col) => col.as_materialized_series(),
    };
    match s.dtype() {
        DataType::String => each_timestamp(s.str()?.iter(), &reader, &mut push),
        DataType::Datetime(unit, zone) => {
            let ca = s.datetime()?;
            let unit = *unit;
            let naive = zone.is_none();
            for (i, v) in ca.physical().iter().enumerate() {
                let Some(v) = v else {
                    push(i, Err(TimestampError::Empty));
                    continue;
                };
                let micros = unit_to_micros(v, unit);
                let Ok(micros) = in_range(micros) else {
                    push(i, Err(TimestampError::OutOfRange));
                    continue;
                };
                let r = if naive {
                    match DateTime::from_timestamp_micros(micros) {
                        Some(dt) => local_micros(dt.naive_utc(), tz),
                        None => Err(TimestampError::OutOfRange),
                    }
                } else {
                    Ok(micros)
                };
                push(i, r);
            }
        }
        DataType::Date => {
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
            for (i, v) in s.date()?.physical().iter().enumerate() {
                let r = match v {
                    None => Err(TimestampError::Empty),
                    Some(days) => epoch
                        .checked_add_signed(chrono::Duration::days(i64::from(days)))
                        .ok_or(TimestampError::OutOfRange)
                        .and_then(|d| local_micros(d.and_time(NaiveTime::MIN), tz)),
                };
                push(i, r);
            }
        }
        dt if dt.is_integer() => {
            let cast = s.cast(&DataType::Int64)?;
            for (i, v) in cast.i64()?.iter().enumerate() {
                let r = v.map_or(Err(TimestampError::Empty), epoch_to_micros);
                push(i, r);
            }
        }
        _ => {
            let cast = s.cast(&DataType::String)?;
            each_timestamp(cast.str()?.iter(), &reader, &mut push);
        }
    }
    Ok((out, errors))
}

/// Reads each text cell as a timestamp into `push` (row, result).
fn each_timestamp<'s>(
    values: impl Iterator<Item = Option<&'s str>>,
    reader: &TimestampText<'_>,
    push: &mut impl FnMut(usize, Result<i64, TimestampError>),
) {
    for (i, v) in values.enumerate() {
        push(i, v.map_or(Err(TimestampError::Empty), |t| reader.parse(t)));
    }
}

/// Parses numbers. Text is trimmed and read as a decimal number (`1234.5`, `-3`, `1e3`); `NaN`
/// and infinities are errors, as are booleans and anything else that is not a number.
pub fn numbers<'a>(cells: impl Into<Cells<'a>>) -> PolarsResult<(Vec<Option<f64>>, Vec<CellError>)> {
    let col = match cells.into() {
        Cells::Text(t) => return Ok(each_number(t.iter().map(trimmed), t.len())),
        Cells::Column(col) => col,
    };
    let s = col.as_materialized_series();
    if s.dtype().is_primitive_numeric() {
        let cast = s.cast(&DataType::Float64)?;
        let mut errors = Vec::new();
        let mut out = Vec::with_capacity(s.len());
        for (i, v) in cast.f64()?.iter().enumerate() {
            match v {
                Some(x) if !x.is_finite() => {
                    errors.push((i, "is not a finite number".to_string()));
                    out.push(None);
                }
                other => out.push(other),
            }
        }
        return Ok((out, errors));
    }
    Ok(each_number(text(col)?.iter(), s.len()))
}

/// Reads each trimmed text cell as a number.
fn each_number<'s>(values: impl Iterator<Item = Option<&'s str>>, n: usize) -> (Vec<Option<f64>>, Vec<CellError>) {
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(n);
    for (i, v) in values.enumerate() {
        match v {
            None => out.push(None),
            Some(t) => match t.parse::<f64>() {
                Ok(x) if x.is_finite() => out.push(Some(x)),
                _ => {
                    errors.push((i, "is not a number (expected digits such as `1234.5`)".to_string()));
                    out.push(None);
                }
            },
        }
    }
    (out, errors)
}

/// Parses booleans: `true/false`, `yes/no`, `y/n`, `t/f`, `1/0`, any case.
pub fn parse_bool(t: &str) -> Option<bool> {
    match t.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "t" | "1" => Some(true),
        "false" | "no" | "n" | "f" | "0" => Some(false),
        _ => None,
    }
}

/// Parses a boolean column; see [`parse_bool`].
pub fn booleans<'a>(cells: impl Into<Cells<'a>>) -> PolarsResult<(Vec<Option<bool>>, Vec<CellError>)> {
    let col = match cells.into() {
        Cells::Text(t) => return Ok(each_boolean(t.iter().map(trimmed), t.len())),
        Cells::Column(col) => col,
    };
    let s = col.as_materialized_series();
    if s.dtype() == &DataType::Boolean {
        return Ok((s.bool()?.iter().collect(), Vec::new()));
    }
    Ok(each_boolean(text(col)?.iter(), s.len()))
}

/// Reads each trimmed text cell as a boolean.
fn each_boolean<'s>(values: impl Iterator<Item = Option<&'s str>>, n: usize) -> (Vec<Option<bool>>, Vec<CellError>) {
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(n);
    for (i, v) in values.enumerate() {
        match v.map(|t| (t, parse_bool(t))) {
            None => out.push(None),
            Some((_, Some(b))) => out.push(Some(b)),
            Some((_, None)) => {
                errors.push((i, "is not a boolean (expected yes/no, true/false, 1/0)".to_string()));
                out.push(None);
            }
        }
    }
    (out, errors)
}

/// Builds a UTC timestamp column from microseconds.
pub fn datetime_column(name: &str, values: Vec<Option<i64>>) -> Column {
    Int64Chunked::from_iter_options(name.into(), values.into_iter())
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        .into_column()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_trims_and_nulls_empty_cells() -> PolarsResult<()> {
        let c = Column::new("x".into(), [Some(" a "), Some(""), None, Some("  ")]);
        let t = text(&c)?;
        assert_eq!(t.iter().collect::<Vec<_>>(), [Some("a"), None, None, None]);
        let ints = Column::new("n".into(), [Some(12i64), None]);
        assert_eq!(text(&ints)?.iter().collect::<Vec<_>>(), [Some("12"), None]);
        // Clean text comes back as it is; one value to trim (even a non-ASCII space, or only at
        // the end) or one empty value and the column is rewritten.
        let clean = Column::new("x".into(), [Some("a b"), None, Some("long enough to be in a buffer")]);
        assert_eq!(
            text(&clean)?.iter().collect::<Vec<_>>(),
            [Some("a b"), None, Some("long enough to be in a buffer")]
        );
        for (dirty, want) in [("b\u{a0}", "b"), ("b\t", "b"), ("\u{2003}b", "b")] {
            let c = Column::new("x".into(), [Some("a"), Some(dirty), Some("")]);
            assert_eq!(text(&c)?.iter().collect::<Vec<_>>(), [Some("a"), Some(want), None]);
        }
        Ok(())
    }

    #[test]
    fn numbers_report_bad_cells_with_their_row() -> PolarsResult<()> {
        let c = Column::new("amount".into(), [Some("10.5"), Some(" 3 "), Some("ten"), None, Some("NaN")]);
        let (v, e) = numbers(&c)?;
        assert_eq!(v, [Some(10.5), Some(3.0), None, None, None]);
        assert_eq!(e.iter().map(|x| x.0).collect::<Vec<_>>(), [2, 4]);
        Ok(())
    }

    #[test]
    fn timestamps_from_every_column_type() -> PolarsResult<()> {
        let tz = chrono_tz::Europe::Amsterdam;
        let want = Some(1_756_689_448_000_000i64); // 2025-09-01T01:17:28Z
        let text = Column::new("t".into(), [Some("2025-09-01T01:17:28Z"), Some("garbage"), None]);
        let (v, e) = timestamps(&text, tz, None)?;
        assert_eq!(v, [want, None, None]);
        assert_eq!(e.len(), 1);
        assert!(e[0].1.contains("not a supported timestamp") && !e[0].1.contains("garbage"));
        // Out of range: an epoch far outside any CRM's dates, before 1900 or from 2200.
        let far = Column::new("t".into(), [Some("-9000000000000000000"), Some("1899-12-31"), Some("2200-01-02")]);
        let (v, e) = timestamps(&far, tz, None)?;
        assert_eq!(v, [None, None, None]);
        assert!(e.iter().all(|(_, m)| m.contains("1900-01-01")), "{e:?}");
        let epoch = Column::new("t".into(), [i64::MIN, -9_000_000_000_000_000_000]);
        assert_eq!(timestamps(&epoch, tz, None)?.1.len(), 2);
        let ms = Column::new("t".into(), [1_756_689_448_000i64]);
        assert_eq!(timestamps(&ms, tz, None)?.0, [want]);
        let utc = datetime_column("t", vec![want]);
        assert_eq!(timestamps(&utc, tz, None)?.0, [want]);
        // A naive timestamp is local time: 03:17:28 in Amsterdam is 01:17:28Z.
        let naive = Int64Chunked::from_vec("t".into(), vec![1_756_696_648_000])
            .into_datetime(TimeUnit::Milliseconds, None)
            .into_column();
        assert_eq!(timestamps(&naive, tz, None)?.0, [want]);
        Ok(())
    }

    #[test]
    fn booleans_accept_common_spellings() -> PolarsResult<()> {
        let c = Column::new("b".into(), [Some("Yes"), Some("n"), Some("TRUE"), Some("0"), Some("maybe"), None]);
        let (v, e) = booleans(&c)?;
        assert_eq!(v, [Some(true), Some(false), Some(true), Some(false), None, None]);
        assert_eq!(e.len(), 1);
        Ok(())
    }
}
