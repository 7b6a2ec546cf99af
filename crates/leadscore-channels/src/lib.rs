//! `leadscore-channels`: which traffic sources bring valuable leads.
//!
//! The channels stage runs every day after value. It reads the day's scored leads (qualify's
//! `scores.parquet`, value's `values.parquet`), where each came from (ingest's `leads.parquet`:
//! the attributes named in `[channels] dimensions`, and the Google and Meta click ids) and what
//! is known of their outcomes (labels' `labels.parquet`). It writes `channel_leads.parquet` (one
//! row per scored lead: its channels and predictions) and `channels.parquet` / `.csv` / `.html`:
//! per dimension, channel and week, the leads, the qualified share, the mean probability, the
//! predicted value, and for matured leads the actual conversions and value beside the predicted
//! value of the same leads; small channels carry intervals and are flagged rather than ranked.
//!
//! `leadscore report channels --from D1 --to D2` ([`range::report`]) gathers the daily runs'
//! `channel_leads.parquet` over a range of days, joins the outcomes known on `--as-of` and, with a
//! spend file (`[channels.spend]`), the cost per campaign and week: cost per lead, cost per
//! qualified lead, predicted and actual return on ad spend, and the campaigns found on one side
//! of the join only.
//!
//! Guarantees: every scored lead is counted once per dimension; an actual figure counts only
//! leads whose conversion window has ended; every spend row is used, outside the range or a
//! report total (counted), or an error with its row and column.

mod error;
mod gather;
mod html;
pub mod range;
mod report;
pub mod spend;
mod stats;
pub mod table;

use std::path::Path;

use leadscore_core::layout::{Manifest, StageWriter};
use leadscore_core::schema::{channel_leads as cl, files, labels as la, leads as le};
use leadscore_core::{Config, Outputs, RunContext, RunDate, RunLayout, Stage, StageRun};
use leadscore_core::{artifact, frame};
use polars::prelude::*;

pub use error::{ChannelsError, Result};
pub use report::{ChannelsReport, Coverage};
pub use spend::SpendAccounting;
pub use table::{ChannelRow, Estimate, Ranking, Unmatched};

/// Inputs of the stage.
#[derive(Debug, Clone)]
pub struct ChannelsInputs {
    /// ingest's leads (their attributes and click ids).
    pub leads: DataFrame,
    /// labels' outcomes.
    pub labels: DataFrame,
    /// qualify's scores.
    pub scores: DataFrame,
    /// value's predicted values.
    pub values: DataFrame,
}

/// What the stage produces.
#[derive(Debug, Clone)]
pub struct ChannelsOutputs {
    /// `channel_leads.parquet`.
    pub channel_leads: DataFrame,
    /// The channel table and its renderings.
    pub table: Rendered,
}

/// The channel table as `channels.parquet`, `.csv` and `.html`, with its report.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// `channels.parquet`.
    pub channels: DataFrame,
    /// `channels.csv`.
    pub csv: Vec<u8>,
    /// `channels.html`.
    pub html: String,
    /// `spend_unmatched.csv`, with a spend file.
    pub unmatched_csv: Option<Vec<u8>>,
    /// The report.
    pub report: ChannelsReport,
}

/// Counts the run's scored leads by channel and week.
pub fn run(config: &Config, inputs: &ChannelsInputs, ctx: &RunContext) -> Result<ChannelsOutputs> {
    let dims = &config.channels.dimensions;
    let tz = config.project.timezone;
    let channel_leads = gather::channel_leads(&inputs.scores, &inputs.values, &inputs.leads, dims, tz)?;
    let facts = gather::facts(&channel_leads, &inputs.labels, dims, Path::new(files::CHANNEL_LEADS))?;
    let days = created_days(&channel_leads, tz)?;
    let settings = table::Settings {
        min_leads: config.channels.min_leads,
        currency: config.currency.project(),
        seed: ctx.seed,
        spend: None,
    };
    let table = render(config, &facts, &settings, days, ctx.run_date, Vec::new())?;
    Ok(ChannelsOutputs { channel_leads, table })
}

/// The first and last local day of creation of the leads (`None` without leads).
fn created_days(channel_leads: &DataFrame, tz: chrono_tz::Tz) -> Result<Option<(RunDate, RunDate)>> {
    let created = channel_leads.column(cl::CREATED_AT)?.datetime()?.physical().clone();
    let day = |t: Option<i64>| t.and_then(|t| RunDate::of_instant(t, tz));
    Ok(day(created.min()).zip(day(created.max())))
}

/// The table of `facts` with its renderings and report.
fn render(
    config: &Config,
    facts: &table::Facts,
    settings: &table::Settings<'_>,
    days: Option<(RunDate, RunDate)>,
    as_of: RunDate,
    warnings: Vec<String>,
) -> Result<Rendered> {
    let t = table::build(facts, settings);
    let mut channels = table::frame(&t.weekly, settings.currency)?;
    let mut csv = Vec::new();
    CsvWriter::new(&mut csv).finish(&mut channels)?;
    let mut report = ChannelsReport {
        from: days.map(|d| d.0.date()),
        to: days.map(|d| d.1.date()),
        as_of,
        currency: settings.currency.to_string(),
        window_days: config.labels.as_ref().map_or(0, |l| l.window_days),
        leads: facts.len() as u64,
        matured_leads: facts.matured.iter().filter(|m| **m).count() as u64,
        min_leads: settings.min_leads,
        dimensions: t.rankings,
        spend: settings.spend.map(|(s, _)| s.accounting.clone()),
        unmatched: t.unmatched,
        coverage: None,
        warnings,
        files: vec![files::CHANNELS.into(), files::CHANNELS_CSV.into(), files::CHANNELS_HTML.into()],
    };
    let unmatched_csv = report.unmatched.as_ref().map(unmatched_csv).transpose()?;
    if unmatched_csv.is_some() {
        report.files.push(files::SPEND_UNMATCHED_CSV.into());
    }
    let html = html::render(&report, &t.weekly, &config.project.name, settings.spend.map(|s| s.1))?;
    Ok(Rendered { channels, csv, html, unmatched_csv, report })
}

/// `spend_unmatched.csv`: `side,campaign,cost,leads`.
fn unmatched_csv(u: &Unmatched) -> Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    let io = |e: csv::Error| ChannelsError::Internal(e.to_string());
    w.write_record(["side", "campaign", "cost", "leads"]).map_err(io)?;
    for (campaign, cost) in &u.spend_without_leads {
        w.write_record(["spend without leads", campaign, &format!("{cost:.2}"), "0"]).map_err(io)?;
    }
    for (campaign, leads) in &u.leads_without_spend {
        w.write_record(["leads without spend", campaign, "", &leads.to_string()]).map_err(io)?;
    }
    w.into_inner().map_err(|e| ChannelsError::Internal(e.to_string()))
}

/// Reads the inputs, counts the scored leads by channel and week and writes
/// `channel_leads.parquet`, `channels.parquet`, `channels.csv`, `channels.html`, `report.json`
/// and the manifest for the run.
pub fn execute(config: &Config, ctx: &RunContext, layout: &RunLayout) -> Result<(ChannelsReport, Manifest)> {
    let read = |stage: &mut StageRun| -> Result<_> {
        // Only the scored leads' rows are used: those created from the first scored day on.
        let from = config.qualify.first_scored_day(ctx.run_date).start_micros(config.project.timezone);
        let leads = stage.table_where(&artifact::LEADS, frame::at_or_after(le::CREATED_AT, from))?;
        let labels = stage.table_where(&artifact::LABELS, frame::at_or_after(la::CREATED_AT, from))?;
        let (scores, values) = (stage.table(&artifact::SCORES)?, stage.table(&artifact::VALUES)?);
        Ok(ChannelsInputs { leads, labels, scores, values })
    };
    StageRun::execute((Stage::Channels, "count"), layout, ctx, read, |inputs| run(config, &inputs, ctx))
}

impl Outputs for ChannelsOutputs {
    type Report = ChannelsReport;
    fn write(mut self, w: &mut StageWriter) -> leadscore_core::error::Result<ChannelsReport> {
        w.write_table(&artifact::CHANNEL_LEADS, &mut self.channel_leads)?;
        let mut report = self.table.write(w)?;
        report.files.insert(0, files::CHANNEL_LEADS.into());
        Ok(report)
    }
}

impl Rendered {
    /// Writes the table's files and returns the report.
    fn write(mut self, w: &mut StageWriter) -> leadscore_core::error::Result<ChannelsReport> {
        w.write_table(&artifact::CHANNELS, &mut self.channels)?;
        w.write_table_bytes(files::CHANNELS_CSV, &self.csv, self.channels.height() as u64)?;
        w.write_bytes(files::CHANNELS_HTML, self.html.as_bytes())?;
        if let Some(bytes) = &self.unmatched_csv {
            w.write_bytes(files::SPEND_UNMATCHED_CSV, bytes)?;
        }
        Ok(self.report)
    }
}
