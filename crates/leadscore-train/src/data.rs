//! The training set: the features stage's training and validation leads, in time order, with
//! their labels and design matrices.

use leadscore_core::frame;
use leadscore_core::schema::features as f;
use leadscore_model::{Design, Encoding, FeatureSpec};
use polars::prelude::*;

use crate::error::Result;

/// One time-ordered slice of leads.
#[derive(Debug, Clone)]
pub struct Slice {
    /// Derived features, identity and labels, oldest lead first.
    pub frame: DataFrame,
    /// Whether each lead converted within the window.
    pub labels: Vec<bool>,
    /// Creation times (µs since the epoch), ascending.
    pub created_us: Vec<i64>,
    /// Value of the target conversions within the window (project currency; 0 when none).
    pub values: Vec<f64>,
    /// Days from creation to the first target conversion (NaN without one, or when the features
    /// table predates the column).
    pub days_to_convert: Vec<f64>,
}

impl Slice {
    fn from_frame(df: &DataFrame, split: &str) -> Result<Self> {
        // The features table holds each split as one run of rows in time order: then the slice is
        // the table's own rows, neither filtered nor sorted into copies (at 1M leads, 0.8 GB).
        let mask = df.column(f::SPLIT)?.str()?.equal(split);
        let frame = frame::sorted_by_time(frame::rows_where(df, &mask)?, f::CREATED_AT, f::LEAD_ID)?;
        let labels = frame.column(f::CONVERTED)?.bool()?.iter().map(|y| y == Some(true)).collect();
        let created_us = frame
            .column(f::CREATED_AT)?
            .cast(&DataType::Datetime(TimeUnit::Microseconds, None))?
            .datetime()?
            .physical()
            .iter()
            .map(|t| t.unwrap_or(i64::MIN))
            .collect();
        let values = frame
            .column(f::VALUE_IN_WINDOW)?
            .cast(&DataType::Float64)?
            .f64()?
            .iter()
            .map(|v| v.filter(|v| v.is_finite()).unwrap_or(0.0))
            .collect();
        let days_to_convert = match frame.column(f::DAYS_TO_CONVERT) {
            Ok(c) => c.cast(&DataType::Float64)?.f64()?.iter().map(|d| d.unwrap_or(f64::NAN)).collect(),
            Err(_) => vec![f64::NAN; frame.height()],
        };
        Ok(Self { frame, labels, created_us, values, days_to_convert })
    }

    /// Leads in the slice.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the slice is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Converted leads in the slice.
    pub fn positives(&self) -> usize {
        self.labels.iter().filter(|y| **y).count()
    }

    /// The design matrix of the slice.
    pub fn design(&self, spec: &FeatureSpec, encoding: Encoding) -> Result<Design> {
        Ok(spec.transform(&self.frame, encoding)?)
    }
}

/// Training and validation slices.
#[derive(Debug, Clone)]
pub struct TrainingSet {
    /// The training slice.
    pub train: Slice,
    /// The out-of-time validation slice (every lead created after every training lead).
    pub validation: Slice,
    /// Leads after the training window whose windows are still open; `labels` says whether each
    /// has converted so far (false: not yet, never "did not convert").
    pub pending: Slice,
}

impl TrainingSet {
    /// Splits `features.parquet` by its `split` column (rows of any other split are left out).
    pub fn from_features(df: &DataFrame) -> Result<Self> {
        Ok(Self {
            train: Slice::from_frame(df, f::TRAIN)?,
            validation: Slice::from_frame(df, f::VALIDATION)?,
            pending: Slice::from_frame(df, f::PENDING)?,
        })
    }

    /// Days to convert of the converted training and validation leads (all matured).
    pub fn conversion_delays(&self) -> Vec<f64> {
        [&self.train, &self.validation]
            .iter()
            .flat_map(|s| s.labels.iter().zip(&s.days_to_convert).filter(|(y, _)| **y).map(|(_, d)| *d))
            .filter(|d| d.is_finite())
            .collect()
    }
}

/// The rows `idx` (in that order) of a column-major design.
pub fn select(d: &Design, idx: &[usize]) -> Design {
    select_stacked(&[d], idx)
}

/// The rows `idx` (in that order) of the designs `parts` stacked one above the other (row
/// `parts[0].rows` is the first row of `parts[1]`); the parts have the same columns.
pub fn select_stacked(parts: &[&Design], idx: &[usize]) -> Design {
    let starts: Vec<usize> = parts
        .iter()
        .scan(0, |next, d| {
            let start = *next;
            *next += d.rows;
            Some(start)
        })
        .collect();
    // Each row's part and its row there, found once for every column.
    let at: Vec<(usize, usize)> = idx
        .iter()
        .map(|i| {
            let p = starts.partition_point(|s| s <= i).saturating_sub(1);
            (p, i - starts[p])
        })
        .collect();
    let columns = parts.first().map(|d| d.columns.clone()).unwrap_or_default();
    let mut data = Vec::with_capacity(idx.len() * columns.len());
    for j in 0..columns.len() {
        let parts: Vec<&[f64]> = parts.iter().map(|d| d.column(j)).collect();
        data.extend(at.iter().map(|(p, r)| parts[*p][*r]));
    }
    Design { columns, rows: idx.len(), data }
}

/// The rows `lo..hi` of a column-major design.
pub fn rows(d: &Design, lo: usize, hi: usize) -> Design {
    select(d, &(lo..hi).collect::<Vec<_>>())
}

/// Every `step`-th row of a column-major design (an even, deterministic subsample over time).
pub fn every_nth(d: &Design, step: usize) -> Design {
    select(d, &(0..d.rows).step_by(step.max(1)).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadscore_model::spec::DesignColumn;

    fn design(rows: usize, first: f64) -> Design {
        let columns =
            ["a", "b"].iter().map(|c| DesignColumn { name: (*c).into(), feature: (*c).into(), level: None }).collect();
        // Column a holds first, first + 1, …; column b the same plus 100.
        let a: Vec<f64> = (0..rows).map(|i| first + i as f64).collect();
        let data = a.iter().copied().chain(a.iter().map(|v| v + 100.0)).collect();
        Design { columns, rows, data }
    }

    #[test]
    fn rows_of_stacked_designs_are_taken_across_the_boundary_in_the_order_asked() {
        let (top, bottom) = (design(3, 0.0), design(2, 10.0));
        let d = select_stacked(&[&top, &bottom], &[4, 0, 3, 2]);
        assert_eq!(d.rows, 4);
        assert_eq!(d.column(0), &[11.0, 0.0, 10.0, 2.0]);
        assert_eq!(d.column(1), &[111.0, 100.0, 110.0, 102.0]);
        assert_eq!(select(&top, &[2, 1]).column(1), &[102.0, 101.0]);
        assert_eq!(rows(&bottom, 1, 2).column(0), &[11.0]);
    }
}
