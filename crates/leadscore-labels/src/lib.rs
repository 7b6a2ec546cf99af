//! `leadscore-labels`: conversion definitions become per-lead window labels.
//!
//! [`run`] is responsible for turning the team's conversion definitions (`[[conversions]]`, plus a
//! preset's ready-made `closed_won` and `open_opp`) into:
//!
//! - `conversions.parquet`: every conversion of every definition known before the run date
//!   (`conversion_id`, `conversion_name`, `user_id`, `at`, `value` in the project currency,
//!   `source`, `source_id`), deduplicated per the definition;
//! - `labels.parquet`: one row per lead created before the run date with `matured`, `converted`,
//!   `first_conversion_at`, `days_to_convert`, `value_in_window`, `conversions_in_window` and
//!   `existing_customer`, by the rules of [`window`];
//! - `report.json`: the definitions in words, conversions per month for every definition, label
//!   counts per month, the distribution of days to convert, and volume warnings.
//!
//! It reads ingest's `leads.parquet`, `deals.parquet` and `events.parquet` for the same run date.
//!
//! Guarantees: only conversions dated before the run date are used; an unmatured lead is never a
//! negative (`converted` is null until it converts or matures); the output does not depend on the
//! order of input rows.

mod conditions;
mod conversions;
mod error;
mod report;
pub mod window;

use std::collections::BTreeMap;

use chrono_tz::Tz;
use leadscore_core::artifact;
use leadscore_core::config::{DefinitionKind, Labels};
use leadscore_core::layout::{Manifest, StageWriter};
use leadscore_core::schema::{conversions as c, labels as l, leads};
use leadscore_core::time::{local_month, polars_time_zone};
use leadscore_core::{Config, Outputs, RunContext, RunDate, RunLayout, Stage, StageRun};
use polars::prelude::*;

pub use conversions::Sources;
pub use error::{LabelsError, Result};
pub use report::{
    DateRange, DefinitionSummary, LabelCounts, LabelsReport, MonthLabels, MonthVolume, TimeToConvert, quantile,
};

/// The tables labels reads.
#[derive(Debug, Clone)]
pub struct LabelsInputs {
    /// Canonical leads.
    pub leads: DataFrame,
    /// Canonical deals.
    pub deals: DataFrame,
    /// Canonical events.
    pub events: DataFrame,
    /// The `[sources.tables]` tables by name (SQL definitions may read them).
    pub tables: Vec<(String, DataFrame)>,
}

/// What labels produces.
#[derive(Debug, Clone)]
pub struct LabelsOutputs {
    /// Conversions of every definition.
    pub conversions: DataFrame,
    /// Per-lead labels for the target.
    pub labels: DataFrame,
    /// The report.
    pub report: LabelsReport,
}

/// The label settings a config implies.
pub fn settings(config: &Config) -> Result<&Labels> {
    config.labels.as_ref().ok_or(LabelsError::NoLabels)
}

/// The training window ([`Labels::training_window`]) as the report shows it.
pub fn training_window(run_date: RunDate, labels: &Labels) -> DateRange {
    let (from, to) = labels.training_window(run_date);
    DateRange { from: from.date(), to: to.date() }
}

fn counts(df: &DataFrame) -> Result<LabelCounts> {
    Ok(counts_by(df, |_| Some(0), 1)?.pop().unwrap_or_default())
}

/// [`counts`] of the rows of each of `groups` groups, in one pass: row `i` counts in group
/// `group(i)` (in none when `None`).
fn counts_by(df: &DataFrame, group: impl Fn(usize) -> Option<usize>, groups: usize) -> Result<Vec<LabelCounts>> {
    let b = |name: &str| -> Result<Vec<Option<bool>>> { Ok(df.column(name)?.bool()?.iter().collect()) };
    let matured = b(l::MATURED)?;
    let converted = b(l::CONVERTED)?;
    let existing = b(l::EXISTING_CUSTOMER)?;
    let days = df.column(l::DAYS_TO_CONVERT)?.f64()?;
    let mut out = vec![LabelCounts::default(); groups];
    // Eligible leads and the converted among them, and days to convert, a group each.
    let mut eligible = vec![(0u64, 0u64); groups];
    let mut lag: Vec<Vec<f64>> = vec![Vec::new(); groups];
    for i in 0..df.height() {
        let Some(g) = group(i).filter(|g| *g < groups) else { continue };
        let (m, conv, ex) = (matured[i] == Some(true), converted[i] == Some(true), existing[i] == Some(true));
        let o = &mut out[g];
        o.leads += 1;
        o.matured += u64::from(m);
        o.converted += u64::from(conv);
        o.converted_matured += u64::from(m && conv);
        o.existing_customers += u64::from(ex);
        if m && !ex {
            eligible[g].0 += 1;
            eligible[g].1 += u64::from(conv);
        }
        if let (true, Some(d)) = (conv, days.get(i)) {
            lag[g].push(d);
        }
    }
    for ((o, (n, pos)), mut lag) in out.iter_mut().zip(eligible).zip(lag) {
        o.conversion_rate = (n > 0).then(|| pos as f64 / n as f64);
        lag.sort_by(f64::total_cmp);
        o.median_days_to_convert = quantile(&lag, 0.5);
    }
    Ok(out)
}

fn month_of(df: &DataFrame, column: &str, tz: Tz) -> Result<Vec<String>> {
    let m = df.clone().lazy().select([local_month(column, tz).alias("m")]).collect()?;
    Ok(m.column("m")?.str()?.iter().map(|s| s.unwrap_or_default().to_string()).collect())
}

/// Each definition with how many conversions it found and how many of them have no value.
fn definition_summaries(config: &Config, all: &DataFrame) -> Result<Vec<DefinitionSummary>> {
    let without_value = conversions::unconverted_values(all)?;
    let mut per_def: BTreeMap<&str, u64> = BTreeMap::new();
    for n in all.column(c::CONVERSION_NAME)?.str()?.iter().flatten() {
        *per_def.entry(n).or_default() += 1;
    }
    Ok(config
        .conversions
        .iter()
        .map(|d| DefinitionSummary {
            name: d.name.clone(),
            builtin: d.builtin,
            description: d.describe(),
            conversions: per_def.get(d.name.as_str()).copied().unwrap_or(0),
            without_value: without_value.get(&d.name).copied().unwrap_or(0),
        })
        .collect())
}

/// Conversions per month (local, from `first_month` on) and definition.
fn monthly_volumes(all: &DataFrame, tz: Tz, first_month: &str) -> Result<BTreeMap<String, BTreeMap<String, u64>>> {
    let names = all.column(c::CONVERSION_NAME)?.str()?;
    let mut volumes: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (month, name) in month_of(all, c::AT, tz)?.into_iter().zip(names.iter()) {
        if month.as_str() >= first_month {
            *volumes.entry(month).or_default().entry(name.unwrap_or_default().to_string()).or_default() += 1;
        }
    }
    Ok(volumes)
}

/// The label counts of the leads created in each month (local, from `first_month` on).
fn monthly_labels(labels: &DataFrame, tz: Tz, first_month: &str) -> Result<Vec<MonthLabels>> {
    // Months as numbers (12 × year + month − 1): no text a lead.
    let t = col(l::CREATED_AT).dt().convert_time_zone(polars_time_zone(tz));
    let number = t.clone().dt().year() * lit(12) + t.dt().month().cast(DataType::Int32) - lit(1);
    let numbers = labels.clone().lazy().select([number.alias("m")]).collect()?;
    let numbers: Vec<Option<i32>> = numbers.column("m")?.i32()?.iter().collect();
    let name = |m: i32| format!("{:04}-{:02}", m.div_euclid(12), m.rem_euclid(12) + 1);
    let mut months: Vec<i32> = numbers.iter().flatten().copied().collect();
    months.sort_unstable();
    months.dedup();
    months.retain(|m| name(*m).as_str() >= first_month);
    let slot: std::collections::HashMap<i32, usize> = months.iter().enumerate().map(|(k, m)| (*m, k)).collect();
    let counts = counts_by(labels, |i| numbers[i].and_then(|m| slot.get(&m).copied()), months.len())?;
    Ok(months.into_iter().zip(counts).map(|(m, counts)| MonthLabels { month: name(m), counts }).collect())
}

/// What the report warns about: a history shorter than configured or advised, months with few
/// target conversions, and a training window below the volume gate. `training` is the target
/// conversions and the leads of the training window.
fn history_warnings(
    settings: &Labels,
    tw: &DateRange,
    tz: Tz,
    first_lead: Option<i64>,
    volumes: &BTreeMap<String, BTreeMap<String, u64>>,
    (training_conversions, training_leads): (u64, usize),
) -> Vec<String> {
    let from_us = RunDate::new(tw.from).start_micros(tz);
    let mut warnings = Vec::new();
    if let Some(first) = first_lead.filter(|f| *f > from_us) {
        let first_day = RunDate::of_instant(first, tz).map(|d| d.to_string()).unwrap_or_default();
        warnings.push(format!(
            "the training window starts {} but the first lead was created {first_day}: the history is shorter than `history_months` = {}",
            tw.from, settings.history_months
        ));
    }
    if settings.history_months < leadscore_core::config::conversions::RECOMMENDED_HISTORY_MONTHS {
        warnings.push(format!(
            "history of {} months is short; 6 or more are recommended so models see seasonality and enough conversions",
            settings.history_months
        ));
    }
    let train_to_month = tw.to.format("%Y-%m").to_string();
    for (month, by_name) in volumes {
        let n = by_name.get(&settings.target).copied().unwrap_or(0);
        if *month < train_to_month && n < u64::from(settings.warn_below_per_month) {
            warnings.push(format!(
                "{month}: {n} `{}` conversions, below {} a month; estimates for this period are noisy",
                settings.target, settings.warn_below_per_month
            ));
        }
    }
    if training_conversions < u64::from(settings.min_conversions) {
        warnings.push(format!(
            "only {training_conversions} `{}` conversions among {} matured training leads ({} to {}); training needs at least {} \
             (`[labels] min_conversions`) and will refuse",
            settings.target,
            training_leads,
            tw.from,
            tw.to,
            settings.min_conversions
        ));
    }
    warnings
}

/// Runs labelling on in-memory tables: the stage's logic, free of file I/O.
pub fn run(config: &Config, inputs: &LabelsInputs, ctx: &RunContext) -> Result<LabelsOutputs> {
    let settings = settings(config)?;
    let tz = config.project.timezone;
    let run_start = ctx.run_date.start_micros(tz);
    let names: Vec<&str> = config.conversions.iter().map(|d| d.name.as_str()).collect();
    let src =
        Sources { leads: &inputs.leads, deals: &inputs.deals, events: &inputs.events, tables: &inputs.tables, tz };
    let all = conversions::conversions(&names, &config.conversions, &src, &config.currency, run_start)?;
    let target = all.clone().lazy().filter(col(c::CONVERSION_NAME).eq(lit(settings.target.clone()))).collect()?;
    let known_leads = inputs
        .leads
        .clone()
        .lazy()
        .filter(col(leads::CREATED_AT).dt().timestamp(TimeUnit::Microseconds).lt(lit(run_start)))
        .collect()?;
    let leads_after_run_date = (inputs.leads.height() - known_leads.height()) as u64;
    let (labels, lags) = window::label(&known_leads, &target, settings.window_micros(), run_start)?;

    // Report.
    let tw = training_window(ctx.run_date, settings);
    let first_month = tw.from.format("%Y-%m").to_string();
    let definitions = definition_summaries(config, &all)?;
    let volumes = monthly_volumes(&all, tz, &first_month)?;
    let months = monthly_labels(&labels, tz, &first_month)?;
    let training = labels.clone().lazy().filter(settings.is_training_lead(ctx.run_date, tz)).collect()?;
    let training_conversions =
        training.column(l::CONVERTED)?.bool()?.iter().filter(|x| *x == Some(true)).count() as u64;
    let first_lead = known_leads.column(leads::CREATED_AT)?.datetime()?.physical().min();
    let warnings = history_warnings(settings, &tw, tz, first_lead, &volumes, (training_conversions, training.height()));
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let report = LabelsReport {
        run_date: ctx.run_date,
        target: settings.target.clone(),
        window_days: settings.window_days,
        history_months: settings.history_months,
        training_window: tw,
        definitions,
        volumes: volumes.into_iter().map(|(month, conversions)| MonthVolume { month, conversions }).collect(),
        totals: counts(&labels)?,
        months,
        leads_after_run_date,
        training_conversions,
        training_leads: training.height() as u64,
        time_to_convert: TimeToConvert::from_days(lags, settings.window_days),
        warnings,
    };
    Ok(LabelsOutputs { conversions: all, labels, report })
}

/// The volume gate train applies, on the labels report: fewer target conversions in the
/// training window than `[labels] min_conversions` (what `leadscore validate` checks, so that it
/// exits as a run would).
pub fn volume_gate(report: &LabelsReport, settings: &Labels) -> Result<()> {
    if report.training_conversions >= u64::from(settings.min_conversions) {
        return Ok(());
    }
    Err(LabelsError::NotEnoughData {
        what: format!(
            "the training window ({} to {}) holds {} `{}` conversions among {} matured leads, below the floor \
             `[labels] min_conversions` = {}",
            report.training_window.from,
            report.training_window.to,
            report.training_conversions,
            report.target,
            report.training_leads,
            settings.min_conversions
        ),
    })
}

/// Reads ingest's outputs, labels, and writes `conversions.parquet`, `labels.parquet`,
/// `report.json` and the manifest for the run.
pub fn execute(config: &Config, ctx: &RunContext, layout: &RunLayout) -> Result<(LabelsReport, Manifest)> {
    // Without a definition in SQL (which may read any column of the leads), labelling needs the
    // leads' id, user and creation time, not their attributes.
    let sql = config.conversions.iter().any(|d| matches!(d.kind, DefinitionKind::Sql(_)));
    let read = |stage: &mut StageRun| -> Result<_> {
        let leads = if sql {
            stage.table(&artifact::LEADS)?
        } else {
            stage.table_columns(&artifact::LEADS, &[leads::LEAD_ID, leads::USER_ID, leads::CREATED_AT])?
        };
        let (deals, events) = (stage.table(&artifact::DEALS)?, stage.table(&artifact::EVENTS)?);
        let mut tables = Vec::with_capacity(config.sources.tables.len());
        for t in &config.sources.tables {
            tables.push((t.name.clone(), stage.member_table(&artifact::SOURCE_TABLES, &t.name)?));
        }
        Ok(LabelsInputs { leads, deals, events, tables })
    };
    StageRun::execute((Stage::Labels, "label"), layout, ctx, read, |inputs| run(config, &inputs, ctx))
}

impl Outputs for LabelsOutputs {
    type Report = LabelsReport;
    fn write(mut self, w: &mut StageWriter) -> leadscore_core::error::Result<LabelsReport> {
        w.write_table(&artifact::CONVERSIONS, &mut self.conversions)?;
        w.write_table(&artifact::LABELS, &mut self.labels)?;
        Ok(self.report)
    }
}
