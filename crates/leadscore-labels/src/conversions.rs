//! Definitions → the conversions table: every matching deal or event known before the run date.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use leadscore_core::config::{ConversionDef, Dedupe, DefinitionKind, Matcher};
use leadscore_core::currency::Rates;
use leadscore_core::digest::stable_id;
use leadscore_core::io::column_list;
use leadscore_core::schema::{SourceKind, conversions as c, deals, events};
use leadscore_core::time::MICROS_PER_DAY;
use polars::prelude::*;

use crate::conditions;
use crate::error::{LabelsError, Result};

/// The canonical tables conversions are drawn from.
#[derive(Debug, Clone)]
pub struct Sources<'a> {
    /// Canonical leads (SQL definitions may read them).
    pub leads: &'a DataFrame,
    /// Canonical deals.
    pub deals: &'a DataFrame,
    /// Canonical events.
    pub events: &'a DataFrame,
    /// The `[sources.tables]` tables by name.
    pub tables: &'a [(String, DataFrame)],
    /// The project's time zone (a SQL result's timestamps without a zone are local time).
    pub tz: Tz,
}

fn rate_expr(currency: &str, rates: &Rates) -> Expr {
    let code = col(currency).str().to_uppercase();
    let mut e: Option<Then> = None;
    let mut chain: Option<ChainedThen> = None;
    let mut all: Vec<(String, f64)> = vec![(rates.project().to_string(), 1.0)];
    all.extend(rates.rates().iter().map(|(k, v)| (k.clone(), *v)));
    for (k, v) in all {
        let cond = code.clone().eq(lit(k));
        match (e.take(), chain.take()) {
            (None, None) => e = Some(when(cond).then(lit(v))),
            (Some(t), _) => chain = Some(t.when(cond).then(lit(v))),
            (None, Some(ch)) => chain = Some(ch.when(cond).then(lit(v))),
        }
    }
    // A missing code means the project currency; an unknown one leaves the value empty.
    let known = match (e, chain) {
        (Some(t), _) => t.otherwise(lit(NULL).cast(DataType::Float64)),
        (None, Some(ch)) => ch.otherwise(lit(NULL).cast(DataType::Float64)),
        (None, None) => lit(NULL).cast(DataType::Float64),
    };
    when(col(currency).is_null()).then(lit(1.0)).otherwise(known)
}

fn matched(def: &ConversionDef, m: &Matcher, src: &Sources<'_>, rates: &Rates, run_start: i64) -> Result<LazyFrame> {
    let (frame, table, id) = match m.source {
        SourceKind::Events => (src.events, "events.parquet", events::EVENT_ID),
        _ => (src.deals, "deals.parquet", deals::DEAL_ID),
    };
    for column in conditions::columns_used(m) {
        if frame.get_column_index(column).is_none() {
            return Err(LabelsError::MissingColumn {
                table: table.into(),
                column: column.into(),
                definition: def.name.clone(),
                available: column_list(frame),
            });
        }
    }
    let mut value = col(m.value.as_str()).cast(DataType::Float64);
    if let Some(cur) = &m.currency {
        value = value * rate_expr(cur, rates);
    }
    let at_micros = col(m.at.as_str()).dt().timestamp(TimeUnit::Microseconds);
    Ok(frame
        .clone()
        .lazy()
        .filter(conditions::matcher_filter(m, events::NAME))
        .filter(at_micros.clone().is_not_null().and(at_micros.lt(lit(run_start))).and(col(c::USER_ID).is_not_null()))
        .select([
            col(c::USER_ID),
            col(m.at.as_str()).alias(c::AT),
            value.alias(c::VALUE),
            lit(m.source.name()).alias(c::SOURCE),
            col(id).alias(c::SOURCE_ID),
        ]))
}

/// A SQL definition's conversions: its query over the run's tables, computed here so that a
/// failure on the data is reported without polars' message (which may quote a value).
fn sql_matched(
    def: &ConversionDef,
    query: &str,
    src: &Sources<'_>,
    rates: &Rates,
    run_start: i64,
) -> Result<LazyFrame> {
    use leadscore_core::sql;
    let fail = |problem: String| LabelsError::Sql { definition: def.name.clone(), problem };
    let canonical = [("leads", src.leads), ("deals", src.deals), ("events", src.events)];
    let tables: Vec<(String, LazyFrame)> = canonical
        .into_iter()
        .map(|(n, df)| (n.to_string(), df.clone().lazy()))
        .chain(src.tables.iter().map(|(n, df)| (n.clone(), df.clone().lazy())))
        .collect();
    let lf = sql::conversions(query, &tables, src.tz).map_err(fail)?;
    let df = lf.collect().map_err(|e| {
        let kind = format!("{e:?}");
        let kind = kind.split('(').next().unwrap_or("error").to_string();
        fail(format!(
            "the query failed on the run's data ({kind}; polars' message is not shown, as it may quote a value). \
             Check the casts and comparisons of the query"
        ))
    })?;
    let at_micros = col(sql::AT).dt().timestamp(TimeUnit::Microseconds);
    Ok(df
        .lazy()
        .filter(
            at_micros
                .clone()
                .is_not_null()
                .and(at_micros.lt(lit(run_start)))
                .and(col(sql::USER_ID).is_not_null())
                .and(col(sql::ID).is_not_null()),
        )
        .select([
            col(sql::USER_ID).alias(c::USER_ID),
            col(sql::AT).alias(c::AT),
            (col(sql::VALUE) * rate_expr(sql::CURRENCY, rates)).alias(c::VALUE),
            lit("sql").alias(c::SOURCE),
            col(sql::ID).alias(c::SOURCE_ID),
        ]))
}

fn dedupe(lf: LazyFrame, how: Dedupe) -> Result<LazyFrame> {
    let sorted = lf.sort([c::AT, c::SOURCE, c::SOURCE_ID], SortMultipleOptions::default());
    Ok(match how {
        Dedupe::Id => {
            sorted.unique_stable_generic(Some(vec![col(c::SOURCE), col(c::SOURCE_ID)]), UniqueKeepStrategy::First)
        }
        Dedupe::FirstPerUser => sorted.unique_stable_generic(Some(vec![col(c::USER_ID)]), UniqueKeepStrategy::First),
        Dedupe::PerUserDays(days) => once_per_user_window(sorted, i64::from(days) * MICROS_PER_DAY)?,
    })
}

/// Keeps a user's conversion when it is the user's first, or comes `window` or more after the
/// last one kept: each counted conversion opens a window the next ones inside it fall into.
fn once_per_user_window(sorted: LazyFrame, window: i64) -> Result<LazyFrame> {
    let by_user =
        sorted.sort([c::USER_ID, c::AT, c::SOURCE, c::SOURCE_ID], SortMultipleOptions::default()).collect()?;
    let users = by_user.column(c::USER_ID)?.str()?.clone();
    let at = by_user.column(c::AT)?.cast(&DataType::Int64)?;
    let at = at.i64()?;
    let mut keep = Vec::with_capacity(by_user.height());
    let mut open: Option<(&str, i64)> = None;
    for (user, t) in users.iter().zip(at.iter()) {
        let kept = match (user, t, open) {
            (Some(u), Some(t), Some((ou, since))) if u == ou => t >= since + window,
            _ => true,
        };
        if kept {
            open = user.zip(t);
        }
        keep.push(kept);
    }
    let mask = BooleanChunked::from_slice("keep".into(), &keep);
    Ok(by_user.filter(&mask)?.lazy().sort([c::AT, c::SOURCE, c::SOURCE_ID], SortMultipleOptions::default()))
}

/// One definition's conversions (without the name and id columns), deduplicated.
fn definition_frame(
    name: &str,
    defs: &[ConversionDef],
    src: &Sources<'_>,
    rates: &Rates,
    run_start: i64,
    depth: usize,
) -> Result<LazyFrame> {
    let def = defs
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| LabelsError::Internal(format!("conversion `{name}` is not defined")))?;
    if depth > defs.len() {
        return Err(LabelsError::Internal(format!("combination cycle through `{name}`")));
    }
    let lf = match &def.kind {
        DefinitionKind::Match(m) => matched(def, m, src, rates, run_start)?,
        DefinitionKind::Sql(query) => sql_matched(def, query, src, rates, run_start)?,
        DefinitionKind::Combine(parts) => {
            let frames = parts
                .iter()
                .map(|p| definition_frame(p, defs, src, rates, run_start, depth + 1))
                .collect::<Result<Vec<_>>>()?;
            concat(frames, UnionArgs::default())?
        }
    };
    dedupe(lf, def.dedupe)
}

/// Conversions of the named definitions, with names and deterministic ids, sorted by name, time
/// and source id.
pub fn conversions(
    names: &[&str],
    defs: &[ConversionDef],
    src: &Sources<'_>,
    rates: &Rates,
    run_start: i64,
) -> Result<DataFrame> {
    let mut frames = Vec::new();
    for name in names {
        let lf = definition_frame(name, defs, src, rates, run_start, 0)?
            .with_columns([lit(*name).alias(c::CONVERSION_NAME)]);
        frames.push(lf);
    }
    let schema_only = frames.is_empty();
    let mut df = if schema_only { empty()? } else { concat(frames, UnionArgs::default())?.collect()? };
    let names = df.column(c::CONVERSION_NAME)?.str()?.clone();
    let sources = df.column(c::SOURCE)?.str()?.clone();
    let ids = df.column(c::SOURCE_ID)?.str()?.clone();
    let conversion_ids: StringChunked = names
        .iter()
        .zip(sources.iter())
        .zip(ids.iter())
        .map(|((n, s), i)| Some(stable_id(&[n.unwrap_or(""), s.unwrap_or(""), i.unwrap_or("")])))
        .collect();
    df.with_column(conversion_ids.with_name(c::CONVERSION_ID.into()).into_column())?;
    let df = df
        .select([c::CONVERSION_ID, c::CONVERSION_NAME, c::USER_ID, c::AT, c::VALUE, c::SOURCE, c::SOURCE_ID])?
        .sort([c::CONVERSION_NAME, c::AT, c::SOURCE_ID], SortMultipleOptions::default())?;
    Ok(df)
}

fn empty() -> Result<DataFrame> {
    Ok(DataFrame::new_infer_height(vec![
        Column::new(c::USER_ID.into(), Vec::<String>::new()),
        Column::full_null(c::AT.into(), 0, &DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))),
        Column::new(c::VALUE.into(), Vec::<f64>::new()),
        Column::new(c::SOURCE.into(), Vec::<String>::new()),
        Column::new(c::SOURCE_ID.into(), Vec::<String>::new()),
        Column::new(c::CONVERSION_NAME.into(), Vec::<String>::new()),
    ])?)
}

/// Conversions per definition whose value could not be converted (unknown currency code).
pub fn unconverted_values(df: &DataFrame) -> Result<BTreeMap<String, u64>> {
    let names = df.column(c::CONVERSION_NAME)?.str()?;
    let values = df.column(c::VALUE)?.f64()?;
    let mut out = BTreeMap::new();
    for (n, v) in names.iter().zip(values.iter()) {
        if v.is_none() {
            *out.entry(n.unwrap_or_default().to_string()).or_default() += 1;
        }
    }
    Ok(out)
}
