//! The leads the table counts: the day's scored leads with their channels and predictions
//! (`channel_leads.parquet`), and their outcomes joined from the labels.

use std::path::Path;

use chrono::Datelike;
use chrono_tz::Tz;
use leadscore_core::RunDate;
use leadscore_core::schema::{channel_leads as cl, labels as la, leads as le, scores as sc, values as va};
use polars::prelude::*;

use crate::error::{ChannelsError, Result};
use crate::table::{Facts, days_since_epoch};

/// The name of a dimension's column in `channel_leads.parquet`.
pub fn dimension_column(dimension: &str) -> String {
    format!("{}{dimension}", cl::DIMENSION_PREFIX)
}

/// `channel_leads.parquet` of a run: every scored lead (`scores`, with `values` joined by lead)
/// with its week, click ids and the configured dimensions from `leads`.
pub fn channel_leads(
    scores: &DataFrame,
    values: &DataFrame,
    leads: &DataFrame,
    dimensions: &[String],
    tz: Tz,
) -> Result<DataFrame> {
    let mut lead_columns = vec![
        col(le::LEAD_ID),
        col(le::GCLID).is_not_null().alias(cl::GOOGLE_CLICK),
        col(le::FBCLID).is_not_null().or(col(le::META_LEAD_ID).is_not_null()).alias(cl::META_CLICK),
    ];
    for d in dimensions {
        lead_columns.push(col(d.as_str()).cast(DataType::String).alias(dimension_column(d)));
    }
    let mut df = scores
        .clone()
        .lazy()
        .select([col(sc::LEAD_ID), col(sc::CREATED_AT), col(sc::MODEL_ID), col(sc::PROBABILITY), col(sc::QUALIFIED)])
        .join(
            values.clone().lazy().select([col(va::LEAD_ID), col(va::PREDICTED_VALUE)]),
            [col(sc::LEAD_ID)],
            [col(va::LEAD_ID)],
            JoinArgs::new(JoinType::Left),
        )
        .join(
            leads.clone().lazy().select(lead_columns),
            [col(sc::LEAD_ID)],
            [col(le::LEAD_ID)],
            JoinArgs::new(JoinType::Left),
        )
        .collect()?;
    let weeks = weeks_of(&df, cl::CREATED_AT, tz)?;
    df.with_column(Column::new(cl::WEEK.into(), weeks).cast(&DataType::Date)?)?;
    let mut order = vec![
        cl::LEAD_ID.to_string(),
        cl::CREATED_AT.into(),
        cl::WEEK.into(),
        cl::GOOGLE_CLICK.into(),
        cl::META_CLICK.into(),
        cl::MODEL_ID.into(),
        cl::PROBABILITY.into(),
        cl::QUALIFIED.into(),
        cl::PREDICTED_VALUE.into(),
    ];
    order.extend(dimensions.iter().map(|d| dimension_column(d)));
    let df = df.select(order)?;
    // A lead of the scores missing from leads (or values) would be counted without channels:
    // the inputs of one run date always hold every scored lead, so this is a bug.
    let unmatched = df.column(cl::GOOGLE_CLICK)?.null_count() + df.column(cl::PREDICTED_VALUE)?.null_count();
    if unmatched > 0 {
        return Err(ChannelsError::Internal(format!(
            "{unmatched} scored lead(s) have no row in leads.parquet or values.parquet of the same run"
        )));
    }
    Ok(df)
}

/// Monday of the local week of each instant of `column` (days since 1970-01-01).
fn weeks_of(df: &DataFrame, column: &str, tz: Tz) -> Result<Vec<Option<i32>>> {
    let created = df.column(column)?.datetime()?.physical().clone();
    Ok(created
        .iter()
        .map(|t| {
            let day = RunDate::of_instant(t?, tz)?.date();
            Some(days_since_epoch(day) - day.weekday().num_days_from_monday() as i32)
        })
        .collect())
}

/// The facts of `leads` (a `channel_leads` table) with their outcomes from `labels`: matured,
/// converted and value within the window; a lead the labels do not know is not matured.
/// `path` names the channel leads in errors.
pub fn facts(leads: &DataFrame, labels: &DataFrame, dimensions: &[String], path: &Path) -> Result<Facts> {
    let outcomes = labels.select([la::LEAD_ID, la::MATURED, la::CONVERTED, la::VALUE_IN_WINDOW])?;
    let df = leads
        .clone()
        .lazy()
        .join(outcomes.lazy(), [col(cl::LEAD_ID)], [col(la::LEAD_ID)], JoinArgs::new(JoinType::Left))
        .collect()?;
    let floats = |name: &'static str| -> Result<Vec<f64>> {
        let c = df.column(name)?.cast(&DataType::Float64)?;
        c.f64()?
            .iter()
            .enumerate()
            .map(|(i, v)| v.ok_or(ChannelsError::MissingValue { path: path.to_path_buf(), column: name, row: i + 1 }))
            .collect()
    };
    let bools =
        |name: &str| -> Result<Vec<bool>> { Ok(df.column(name)?.bool()?.iter().map(|v| v == Some(true)).collect()) };
    let week = df.column(cl::WEEK)?.cast(&DataType::Int32)?;
    let week: Vec<i32> = week
        .i32()?
        .iter()
        .enumerate()
        .map(|(i, v)| v.ok_or(ChannelsError::MissingValue { path: path.to_path_buf(), column: cl::WEEK, row: i + 1 }))
        .collect::<Result<_>>()?;
    let matured = bools(la::MATURED)?;
    let actual_value: Vec<f64> = df.column(la::VALUE_IN_WINDOW)?.f64()?.iter().map(|v| v.unwrap_or(0.0)).collect();
    let mut dims = Vec::new();
    for d in dimensions {
        let name = dimension_column(d);
        let values = match df.column(&name) {
            Ok(c) => c.cast(&DataType::String)?.str()?.clone(),
            Err(_) => StringChunked::full_null(name.as_str().into(), df.height()),
        };
        dims.push((d.clone(), values));
    }
    Ok(Facts {
        week,
        dimensions: dims,
        google_click: bools(cl::GOOGLE_CLICK)?,
        meta_click: bools(cl::META_CLICK)?,
        probability: floats(cl::PROBABILITY)?,
        qualified: bools(cl::QUALIFIED)?,
        predicted_value: floats(cl::PREDICTED_VALUE)?,
        converted: bools(la::CONVERTED)?.into_iter().zip(&matured).map(|(c, m)| c && *m).collect(),
        matured,
        actual_value,
    })
}
