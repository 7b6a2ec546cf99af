//! Per-lead window labels with maturity (censoring) and existing customers.
//!
//! For a lead L and the target conversions C of its user, known before the run date D:
//! - converted iff some C has `L.created_at <= C.at < L.created_at + window`;
//! - matured iff `L.created_at + window <= D`; an unmatured lead without a conversion so far has
//!   `converted = null` (not yet known), never `false`;
//! - existing customer iff some C has `C.at < L.created_at`.
//!
//! The window is an exact duration (24-hour days), not calendar days, so DST changes move neither
//! boundary.

use leadscore_core::schema::{conversions as c, labels as l, leads};
use leadscore_core::time::MICROS_PER_DAY;
use polars::prelude::*;

use crate::error::Result;

const CREATED: &str = "__created_us";
const AT: &str = "__at_us";

/// Labels for `leads` (already restricted to those created before the run date) from the target
/// conversions, sorted by `created_at`, then `lead_id`. Also returns, for every lead that is not
/// an existing customer and has a conversion at or after its creation (in or beyond the window),
/// the days from creation to the first one: the distribution users pick a window from.
pub fn label(
    leads_df: &DataFrame,
    target: &DataFrame,
    window_micros: i64,
    run_start: i64,
) -> Result<(DataFrame, Vec<f64>)> {
    let leads_lf = leads_df.clone().lazy().select([
        col(leads::LEAD_ID),
        col(leads::USER_ID),
        col(leads::CREATED_AT),
        col(leads::CREATED_AT).dt().timestamp(TimeUnit::Microseconds).alias(CREATED),
    ]);
    let conv = target.clone().lazy().select([
        col(c::USER_ID),
        col(c::AT).dt().timestamp(TimeUnit::Microseconds).alias(AT),
        col(c::VALUE),
    ]);
    // Every (lead, conversion of the same user) pair; leads without a user join nothing.
    let pairs = leads_lf
        .clone()
        .filter(col(leads::USER_ID).is_not_null())
        .select([col(leads::LEAD_ID), col(leads::USER_ID), col(CREATED)])
        .inner_join(conv, col(leads::USER_ID), col(c::USER_ID));
    let in_window = pairs
        .clone()
        .filter(col(AT).gt_eq(col(CREATED)).and(col(AT).lt(col(CREATED) + lit(window_micros))))
        .group_by([col(leads::LEAD_ID)])
        .agg([
            col(AT).min().alias("__first"),
            col(c::VALUE).sum().alias("__value"),
            len().cast(DataType::UInt32).alias("__count"),
        ]);
    let before =
        pairs.clone().filter(col(AT).lt(col(CREATED))).group_by([col(leads::LEAD_ID)]).agg([len().alias("__before")]);
    let after = pairs
        .filter(col(AT).gt_eq(col(CREATED)))
        .group_by([col(leads::LEAD_ID)])
        .agg([(col(AT).min() - col(CREATED).first()).alias("__after_us")]);
    let matured = (col(CREATED) + lit(window_micros)).lt_eq(lit(run_start));
    let converted_now = col("__count").is_not_null();
    let out = leads_lf
        .left_join(in_window, col(leads::LEAD_ID), col(leads::LEAD_ID))
        .left_join(before, col(leads::LEAD_ID), col(leads::LEAD_ID))
        .left_join(after, col(leads::LEAD_ID), col(leads::LEAD_ID))
        .with_columns([matured.alias(l::MATURED), converted_now.alias("__converted_now")])
        .select(label_columns())
        .sort([l::CREATED_AT, l::LEAD_ID], SortMultipleOptions::default())
        .collect()?;
    let lags = out
        .clone()
        .lazy()
        .filter(col(l::EXISTING_CUSTOMER).not().and(col("__after_us").is_not_null()))
        .select([(col("__after_us").cast(DataType::Float64) / lit(MICROS_PER_DAY as f64)).alias("d")])
        .collect()?;
    let lags: Vec<f64> = lags.column("d")?.f64()?.into_no_null_iter().collect();
    Ok((out.drop("__after_us")?, lags))
}

/// The labels table's columns from the lead joined to its conversions: converted when a
/// conversion fell in the window, else `false` only once the window has ended (matured) and
/// empty before; the value in the window likewise.
fn label_columns() -> Vec<Expr> {
    vec![
        col(leads::LEAD_ID).alias(l::LEAD_ID),
        col(leads::USER_ID).alias(l::USER_ID),
        col(leads::CREATED_AT).alias(l::CREATED_AT),
        col(l::MATURED),
        when(col("__converted_now"))
            .then(lit(true))
            .when(col(l::MATURED))
            .then(lit(false))
            .otherwise(lit(NULL).cast(DataType::Boolean))
            .alias(l::CONVERTED),
        col("__first")
            .cast(DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)))
            .alias(l::FIRST_CONVERSION_AT),
        ((col("__first") - col(CREATED)).cast(DataType::Float64) / lit(MICROS_PER_DAY as f64))
            .alias(l::DAYS_TO_CONVERT),
        when(col("__converted_now"))
            .then(col("__value").fill_null(lit(0.0)))
            .when(col(l::MATURED))
            .then(lit(0.0))
            .otherwise(lit(NULL).cast(DataType::Float64))
            .alias(l::VALUE_IN_WINDOW),
        col("__count").fill_null(lit(0u32)).alias(l::CONVERSIONS_IN_WINDOW),
        col("__before").is_not_null().alias(l::EXISTING_CUSTOMER),
        col("__after_us"),
    ]
}
