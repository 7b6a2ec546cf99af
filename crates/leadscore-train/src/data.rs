//! The training set: the features stage's training, validation and pending leads, in time order,
//! with their labels and coded features, and the rows design matrices are built from.

use std::collections::HashMap;

use leadscore_core::frame;
use leadscore_core::schema::features as f;
use leadscore_model::{Coded, CodedFeature, Design, Encoding, FeatureSpec};
use polars::prelude::*;

use crate::error::{Result, TrainError};

/// One time-ordered slice of leads.
#[derive(Debug, Clone)]
pub struct Slice {
    /// Identity and labels, oldest lead first; the validation and pending slices' also hold the
    /// derived features, which the champion's own spec, the effects and the diagnostics read.
    pub frame: DataFrame,
    /// The derived features coded against the spec (what the slice's designs are built from).
    pub coded: Coded,
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
    fn new(frame: DataFrame, coded: Coded) -> Result<Self> {
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
        Ok(Self { frame, coded, labels, created_us, values, days_to_convert })
    }

    /// Leads in the slice.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the slice is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The rows of the converted leads with a value, in time order: what the value model learns
    /// from.
    pub fn valued_conversions(&self) -> Vec<usize> {
        (0..self.len()).filter(|i| self.labels[*i] && self.values[*i] > 0.0).collect()
    }

    /// Converted leads in the slice.
    pub fn positives(&self) -> usize {
        self.labels.iter().filter(|y| **y).count()
    }

    /// The design matrix of the slice.
    pub fn design(&self, spec: &FeatureSpec, encoding: Encoding) -> Result<Design> {
        Ok(spec.design(&[&self.coded], None, encoding)?)
    }

    /// The rows of the slice a design is built from, in `encoding`.
    pub fn rows<'a>(&'a self, spec: &'a FeatureSpec, encoding: Encoding) -> Encoded<'a> {
        Encoded { spec, parts: vec![&self.coded], encoding }
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

/// The row number column of the split keys.
const ROW: &str = "__row";

impl TrainingSet {
    /// Splits `features.parquet` by its `split` column (rows of any other split are left out),
    /// each split in time order, with its features coded against `spec` (a feature missing from
    /// the table is an error naming it).
    ///
    /// The table is consumed a few columns at a time: each column is gathered into the three
    /// splits and dropped, and the training split's part of a feature's column is coded and
    /// dropped in turn (its frame keeps identity and labels). So neither the table is held beside
    /// its splits nor the training leads' text beside their codes: at 5M leads the text of the
    /// training split is 3 GB and its codes 1.6 GB.
    pub fn from_features(df: DataFrame, spec: &FeatureSpec) -> Result<Self> {
        spec.columns(&df)?;
        let keys = df.select([f::CREATED_AT, f::LEAD_ID])?.with_row_index(ROW.into(), None)?;
        let split = df.column(f::SPLIT)?.str()?.clone();
        let order = |name: &str| -> Result<IdxCa> {
            let rows = frame::sorted_by_time(keys.filter(&split.equal(name))?, f::CREATED_AT, f::LEAD_ID)?;
            Ok(rows.column(ROW)?.idx()?.clone())
        };
        let order = [order(f::TRAIN)?, order(f::VALIDATION)?, order(f::PENDING)?];
        drop((keys, split));
        let [n_train, n_validation, n_pending] = order.each_ref().map(|o| o.len());
        let train_run = run_start(&order[0]);
        let of_feature: HashMap<&str, usize> = spec.features.iter().enumerate().map(|(k, f)| (f.name(), k)).collect();
        let (mut train, mut validation, mut pending) = (Vec::new(), Vec::new(), Vec::new());
        let mut train_coded: Vec<Option<CodedFeature>> = vec![None; spec.features.len()];
        let parts = frame::consume_columns(df, |column| -> Result<(TrainPart, Column, Column)> {
            // The training rows are usually a run of the table's first rows: a slice of them is
            // coded or kept as it is; the other splits are copies.
            let t = match train_run {
                Some(start) => column.slice(start as i64, n_train),
                None => column.take(&order[0])?.rechunk(),
            };
            let (v, p) = (column.take(&order[1])?.rechunk(), column.take(&order[2])?.rechunk());
            let t = match of_feature.get(column.name().as_str()) {
                Some(k) => TrainPart::Coded(*k, spec.features[*k].code(&t)?),
                None => TrainPart::Kept(t),
            };
            Ok((t, v, p))
        })?;
        for (t, v, p) in parts {
            match t {
                TrainPart::Coded(k, c) => train_coded[k] = Some(c),
                TrainPart::Kept(t) => train.push(t),
            }
            validation.push(v);
            pending.push(p);
        }
        let features = train_coded
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| TrainError::Internal("a feature of the spec was not coded".into()))?;
        let validation = DataFrame::new(n_validation, validation)?;
        let pending = DataFrame::new(n_pending, pending)?;
        Ok(Self {
            train: Slice::new(DataFrame::new(n_train, train)?, Coded { rows: n_train, features })?,
            validation: Slice::new(validation.clone(), spec.code(&validation)?)?,
            pending: Slice::new(pending.clone(), spec.code(&pending)?)?,
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

/// A column's part of the training split: a feature's coded, any other kept.
enum TrainPart {
    Coded(usize, CodedFeature),
    Kept(Column),
}

/// Where the rows `idx` start when they are consecutive and ascending.
fn run_start(idx: &IdxCa) -> Option<usize> {
    let first = idx.get(0).unwrap_or(0);
    idx.iter().enumerate().all(|(k, i)| i.is_some_and(|i| i as usize == first as usize + k)).then_some(first as usize)
}

/// Rows a design matrix is built from on demand: a design's own, or the coded rows of slices
/// ([`Encoded`]), so that no design of every training lead need be held.
pub trait Rows: Sync {
    /// How many rows.
    fn len(&self) -> usize;

    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The design of the rows `idx`, in that order.
    fn select(&self, idx: &[usize]) -> Result<Design>;

    /// Every `step`-th row (an even, deterministic subsample over time).
    fn every_nth(&self, step: usize) -> Result<Design> {
        self.select(&(0..self.len()).step_by(step.max(1)).collect::<Vec<_>>())
    }

    /// Every row.
    fn all(&self) -> Result<Design> {
        self.select(&(0..self.len()).collect::<Vec<_>>())
    }
}

impl Rows for Design {
    fn len(&self) -> usize {
        self.rows
    }

    fn select(&self, idx: &[usize]) -> Result<Design> {
        Ok(select(self, idx))
    }
}

/// The coded rows of slices stacked one above the other (row `parts[0].rows` is the first of
/// `parts[1]`), in one encoding.
pub struct Encoded<'a> {
    /// The spec the rows were coded against.
    pub spec: &'a FeatureSpec,
    /// The slices' coded rows.
    pub parts: Vec<&'a Coded>,
    /// The encoding of the designs.
    pub encoding: Encoding,
}

impl Rows for Encoded<'_> {
    fn len(&self) -> usize {
        self.parts.iter().map(|c| c.rows).sum()
    }

    fn select(&self, idx: &[usize]) -> Result<Design> {
        Ok(self.spec.design(&self.parts, Some(idx), self.encoding)?)
    }

    fn all(&self) -> Result<Design> {
        Ok(self.spec.design(&self.parts, None, self.encoding)?)
    }
}

/// The first `len` rows of `rows`: what a fit on the leads before a time-series fold learns from.
pub struct Prefix<'a> {
    /// All the rows.
    pub rows: &'a dyn Rows,
    /// How many of them, from the first.
    pub len: usize,
}

impl Rows for Prefix<'_> {
    fn len(&self) -> usize {
        self.len.min(self.rows.len())
    }

    fn select(&self, idx: &[usize]) -> Result<Design> {
        match idx.iter().find(|i| **i >= Rows::len(self)) {
            Some(i) => Err(TrainError::Internal(format!("row {i} past a prefix of {} rows", Rows::len(self)))),
            None => self.rows.select(idx),
        }
    }
}

/// The rows `idx` (in that order) of a column-major design.
pub fn select(d: &Design, idx: &[usize]) -> Design {
    let columns = d.columns.clone();
    let mut data = Vec::with_capacity(idx.len() * columns.len());
    for j in 0..columns.len() {
        let column = d.column(j);
        data.extend(idx.iter().map(|i| column[*i]));
    }
    Design { columns, rows: idx.len(), data }
}

/// The rows `lo..hi` of a column-major design.
pub fn rows(d: &Design, lo: usize, hi: usize) -> Design {
    let columns = d.columns.clone();
    let mut data = Vec::with_capacity((hi - lo) * columns.len());
    for j in 0..columns.len() {
        data.extend_from_slice(&d.column(j)[lo..hi]);
    }
    Design { columns, rows: hi - lo, data }
}

/// The rows of `older`, then those of `newer` (designs of the same columns): the design [`rows`]
/// cut in two.
pub fn joined(older: Design, newer: &Design) -> Design {
    let rows = older.rows + newer.rows;
    let mut data = Vec::with_capacity(rows * older.columns.len());
    for j in 0..older.columns.len() {
        data.extend_from_slice(older.column(j));
        data.extend_from_slice(newer.column(j));
    }
    Design { columns: older.columns, rows, data }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadscore_model::{DesignColumn, FittedFeature, Recipe};

    fn spec() -> FeatureSpec {
        FeatureSpec {
            version: leadscore_model::spec::SPEC_VERSION,
            recipe: Recipe { timezone: "UTC".into(), attributes: vec![], events: None },
            catalog: vec![],
            features: vec![
                FittedFeature::Numeric { name: "size".into(), impute: 1.0, mean: 2.0, std: 3.0, has_missing: true },
                FittedFeature::Categorical {
                    name: "industry".into(),
                    levels: vec!["Retail".into()],
                    tree_codes: vec![],
                },
            ],
        }
    }

    /// A features table with its splits out of time order and interleaved, and a row of another
    /// split.
    fn features() -> DataFrame {
        let created = [5, 1, 9, 3, 7, 2, 8];
        let t = Int64Chunked::from_vec("t".into(), created.iter().map(|d| d * 86_400_000_000).collect())
            .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
        let mut df = df!(
            f::LEAD_ID => ["e", "a", "i", "c", "g", "b", "h"],
            f::SPLIT => [f::TRAIN, f::TRAIN, f::PENDING, f::TRAIN, f::VALIDATION, "other", f::VALIDATION],
            f::CONVERTED => [Some(true), Some(false), None, Some(false), Some(true), Some(false), Some(false)],
            f::VALUE_IN_WINDOW => [10.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0],
            "size" => [Some(5.0), None, Some(9.0), Some(3.0), Some(7.0), Some(2.0), Some(f64::NAN)],
            "industry" => [Some("Retail"), Some("Mining"), None, None, Some("Retail"), Some("Retail"), Some("Mining")],
        )
        .unwrap();
        df.insert_column(1, t.into_column().with_name(f::CREATED_AT.into())).unwrap();
        df
    }

    fn ids(s: &Slice) -> Vec<&str> {
        s.frame.column(f::LEAD_ID).unwrap().str().unwrap().iter().map(Option::unwrap).collect()
    }

    /// A fit on the leads before a fold sees the first rows of the matured leads (training, then
    /// validation) and nothing after them.
    #[test]
    fn a_prefix_gives_the_first_rows_and_refuses_the_later_ones() {
        let spec = spec();
        let set = TrainingSet::from_features(features(), &spec).unwrap();
        let matured =
            Encoded { spec: &spec, parts: vec![&set.train.coded, &set.validation.coded], encoding: Encoding::Trees };
        let prefix = Prefix { rows: &matured, len: 4 };
        assert_eq!((Rows::len(&matured), Rows::len(&prefix)), (5, 4));
        let (all, first) = (matured.all().unwrap(), prefix.all().unwrap());
        assert_eq!(first.rows, 4);
        // Same rows as the matured leads' first four (the fourth is the first validation lead).
        assert_eq!(format!("{:?}", first.data), format!("{:?}", select(&all, &[0, 1, 2, 3]).data));
        assert!(prefix.select(&[1, 4]).is_err());
        assert_eq!(Rows::len(&Prefix { rows: &matured, len: 9 }), 5);
    }

    #[test]
    fn splits_are_in_time_order_and_coded_as_the_spec_codes_their_rows() {
        let spec = spec();
        let set = TrainingSet::from_features(features(), &spec).unwrap();
        assert_eq!(
            (ids(&set.train), ids(&set.validation), ids(&set.pending)),
            (vec!["a", "c", "e"], vec!["g", "h"], vec!["i"])
        );
        assert_eq!(set.train.labels, [false, false, true]);
        assert_eq!(set.train.values, [0.0, 0.0, 10.0]);
        // The training frame keeps identity and labels; its features are coded only.
        assert!(set.train.frame.column("size").is_err() && set.train.frame.column("industry").is_err());
        assert!(set.validation.frame.column("industry").is_ok());
        let train_rows = df!(
            "size" => [None, Some(3.0), Some(5.0)],
            "industry" => [Some("Mining"), None, Some("Retail")],
        )
        .unwrap();
        // Compared as printed: a missing value is NaN, which is not equal to itself.
        let same = |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| assert_eq!(format!("{a:?}"), format!("{b:?}"));
        same(&set.train.coded, &spec.code(&train_rows).unwrap());
        assert_eq!(set.train.coded.features[1], CodedFeature::Levels(vec![1, 2, 0]));
        for encoding in [Encoding::Trees, Encoding::Linear] {
            let whole = spec.transform(&train_rows, encoding).unwrap();
            same(&set.train.design(&spec, encoding).unwrap(), &whole);
            same(&set.train.rows(&spec, encoding).select(&[2, 0]).unwrap(), &select(&whole, &[2, 0]));
            same(&set.train.rows(&spec, encoding).every_nth(2).unwrap(), &select(&whole, &[0, 2]));
        }
    }

    #[test]
    fn a_feature_missing_from_the_table_is_named() {
        let err = TrainingSet::from_features(features().drop("industry").unwrap(), &spec()).unwrap_err().to_string();
        assert!(err.contains("industry"), "{err}");
    }

    /// A design cut in two at any row and joined again is the design, value for value; each part
    /// holds its rows of every column.
    #[test]
    fn a_design_cut_and_joined_is_the_same_design() {
        let columns = ["a", "b", "c"].map(|n| DesignColumn { name: n.into(), feature: n.into(), level: None }).to_vec();
        let n = 7;
        let data: Vec<f64> = (0..3 * n).map(|v| if v % 5 == 0 { f64::NAN } else { v as f64 * 0.5 }).collect();
        let d = Design { columns, rows: n, data };
        for cut in 0..=n {
            let (older, newer) = (rows(&d, 0, cut), rows(&d, cut, n));
            assert_eq!((older.rows, newer.rows), (cut, n - cut));
            for j in 0..3 {
                let want: Vec<u64> = d.column(j).iter().map(|v| v.to_bits()).collect();
                let parts: Vec<u64> = older.column(j).iter().chain(newer.column(j)).map(|v| v.to_bits()).collect();
                assert_eq!(parts, want, "column {j} cut at {cut}");
            }
            let back = joined(older, &newer);
            assert_eq!(
                back.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                d.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            assert_eq!((back.rows, &back.columns), (n, &d.columns));
        }
    }
}
