//! `leadscore report channels --from D1 --to D2`: the channel table over a range of days, from
//! the daily runs' `channel_leads.parquet` (each lead as its latest run scored it) and the
//! outcomes known on `--as-of`, with the spend file joined when there is one.

use std::path::{Path, PathBuf};

use leadscore_core::artifact::{CHANNEL_LEADS, LABELS};
use leadscore_core::config::Spend;
use leadscore_core::config::channels::DEFAULT_SPEND_JOIN_ON;
use leadscore_core::io::{self, TableMeta};
use leadscore_core::schema::{channel_leads as cl, files, labels as la};
use leadscore_core::{Config, CoreError, RunDate, RunLayout, Scope, Stage};
use polars::prelude::*;

use crate::error::{ChannelsError, Result};
use crate::report::{ChannelsReport, Coverage};
use crate::{gather, spend, table};

/// What to report on.
#[derive(Debug, Clone)]
pub struct RangeOptions {
    /// First day of creation counted.
    pub from: RunDate,
    /// Last day of creation counted (included).
    pub to: RunDate,
    /// Outcomes as known on this run date. Default: the latest run whose labels know the leads
    /// of the range (a day without training labels only the days it scored).
    pub as_of: Option<RunDate>,
    /// A spend file instead of `[channels.spend] path`.
    pub spend: Option<PathBuf>,
}

/// Makes the report and writes it into `<output_dir>/channels/<from>_<to>/`: `channels.parquet`,
/// `channels.csv`, `channels.html`, `report.json` and, with spend, `spend_unmatched.csv`.
pub fn report(config: &Config, opts: &RangeOptions, seed: u64) -> Result<ChannelsReport> {
    if opts.to < opts.from {
        return Err(ChannelsError::Range(format!("--to {} is before --from {}", opts.to, opts.from)));
    }
    let layout = RunLayout::for_config(config);
    let (as_of, latest) = outcomes_as_of(config, &layout, opts)?;
    let (labels, _) = layout.read_table(as_of, &LABELS)?;
    let tz = config.project.timezone;
    let (start, end) = (opts.from.start_micros(tz), opts.to.succ().start_micros(tz));
    let (leads, runs_read) = gathered(&layout, opts, as_of, (start, end))?;
    let created = labels
        .clone()
        .lazy()
        .filter(in_range(la::CREATED_AT, start, end))
        .select([col(la::LEAD_ID)])
        .collect()?
        .height() as u64;
    let scored = leads.height() as u64;
    let coverage = Coverage { runs_read, leads_created: created, scored, not_scored: created.saturating_sub(scored) };
    if leads.height() == 0 {
        return Err(ChannelsError::NothingScored(format!(
            "no daily run up to {as_of} scored a lead created from {} to {}: run the daily pipeline for those days \
             (`leadscore backfill --from {} --to {}`)",
            opts.from,
            opts.to,
            opts.from.succ(),
            opts.to.succ()
        )));
    }
    let dims = &config.channels.dimensions;
    let mut warnings = warnings(config, opts, as_of, &coverage, &leads);
    if let Some(last) = latest.filter(|_| opts.as_of.is_none()) {
        warnings.push(format!(
            "outcomes as known on {as_of}, the latest run that labelled leads from {} on (the runs up to {last} did \
             not train and kept only the days they scored; pass --as-of to choose)",
            opts.from
        ));
    }
    let facts = gather::facts(&leads, &labels, dims, Path::new(files::CHANNEL_LEADS))?;
    let spend_config = spend_config(config, opts);
    let spend_table = spend_table(config, opts, spend_config.as_ref(), &mut warnings)?;
    let settings = table::Settings {
        min_leads: config.channels.min_leads,
        currency: config.currency.project(),
        seed,
        spend: spend_table.as_ref().zip(spend_config.as_ref().map(|s| s.join_on.as_str())),
    };
    let mut rendered = crate::render(config, &facts, &settings, Some((opts.from, opts.to)), as_of, warnings)?;
    rendered.report.coverage = Some(coverage);
    let dir = config.output_dir().join("channels").join(format!("{}_{}", opts.from, opts.to));
    write(&dir, config, as_of, rendered)
}

/// The run whose labels give the outcomes: `--as-of`, or the latest run whose labels know every
/// lead of the range; with the latest labelled run when it is later than that.
fn outcomes_as_of(config: &Config, layout: &RunLayout, opts: &RangeOptions) -> Result<(RunDate, Option<RunDate>)> {
    // A day without training labels only the leads from the first day it may export: its labels
    // know the outcomes of a range that starts there or later.
    let first_labelled = |d: RunDate| match layout.manifest(d, Stage::Labels) {
        Some(m) if m.scope == Scope::Scoring => Some(config.first_exported_day(d)),
        _ => None,
    };
    let uncovered = |d: RunDate| first_labelled(d).filter(|first| *first > opts.from);
    let labelled = layout.committed(&LABELS);
    let as_of = match opts.as_of {
        Some(d) => match uncovered(d) {
            Some(first) => {
                return Err(ChannelsError::Range(format!(
                    "the labels of {d} know only the leads created from {first} on (its daily run did not train, so \
                     it kept only the days it scored): pass an --as-of whose run labelled the whole history, or \
                     label it again with `leadscore run --date {d} --only ingest,labels --whole-history`"
                )));
            }
            None => d,
        },
        None => *labelled.iter().rev().find(|d| uncovered(**d).is_none()).ok_or_else(|| {
            ChannelsError::Range(match labelled.last() {
                None => format!(
                    "no run under {} has labels yet: run `leadscore run` (or `leadscore backfill`) first",
                    layout.root().display()
                ),
                Some(last) => format!(
                    "no run labelled the leads created from {}: the runs up to {last} kept only the days they \
                     scored; run `leadscore run --date {last} --only ingest,labels --whole-history`",
                    opts.from
                ),
            })
        })?,
    };
    let latest = labelled.last().copied().filter(|last| *last > as_of);
    Ok((as_of, latest))
}

/// The spend file of the range, if one is configured or passed; warnings when it cannot be joined
/// or holds no day of the range.
fn spend_table(
    config: &Config,
    opts: &RangeOptions,
    spend_config: Option<&Spend>,
    warnings: &mut Vec<String>,
) -> Result<Option<spend::SpendTable>> {
    let spend_table = match spend_config {
        Some(s) => {
            Some(spend::read(&config.resolve(&s.path), s, &config.currency, (opts.from.date(), opts.to.date()))?)
        }
        None => None,
    };
    if let (Some(s), Some(t)) = (spend_config, &spend_table) {
        if !config.channels.dimensions.contains(&s.join_on) {
            warnings.push(format!(
                "the spend joins on `{}`, which is not among [channels] dimensions: no cost is joined",
                s.join_on
            ));
        }
        if t.accounting.used == 0 {
            warnings.push(format!("no row of the spend file is dated from {} to {}", opts.from, opts.to));
        }
    }
    Ok(spend_table)
}

/// Every lead created in `[start, end)` that a run from `from` to `as_of` scored, as the latest
/// of them scored it; and the run dates read.
fn gathered(
    layout: &RunLayout,
    opts: &RangeOptions,
    as_of: RunDate,
    (start, end): (i64, i64),
) -> Result<(DataFrame, Vec<RunDate>)> {
    let runs: Vec<RunDate> =
        layout.committed(&CHANNEL_LEADS).into_iter().filter(|d| *d > opts.from && *d <= as_of).collect();
    let mut frames = Vec::new();
    for (k, date) in runs.iter().enumerate() {
        let (df, _) = layout.read_table(*date, &CHANNEL_LEADS)?;
        let df = df
            .lazy()
            .filter(in_range(cl::CREATED_AT, start, end))
            .with_column(lit(k as u32).alias("__run"))
            .collect()?;
        frames.push(df.lazy());
    }
    if frames.is_empty() {
        return Ok((DataFrame::empty(), runs));
    }
    let all = concat(frames, UnionArgs { rechunk: true, diagonal: true, ..Default::default() })?
        .sort(["__run"], SortMultipleOptions::default().with_order_descending(true))
        .unique_stable(Some(cols([cl::LEAD_ID])), UniqueKeepStrategy::First)
        .sort([cl::CREATED_AT, cl::LEAD_ID], SortMultipleOptions::default())
        .collect()?
        .drop("__run")?;
    Ok((all, runs))
}

fn in_range(column: &str, start: i64, end: i64) -> Expr {
    let t = col(column).dt().timestamp(TimeUnit::Microseconds);
    t.clone().gt_eq(lit(start)).and(t.lt(lit(end)))
}

/// The spend to join: `--spend` (with `[channels.spend]`'s settings, or the defaults), else
/// `[channels.spend]`.
fn spend_config(config: &Config, opts: &RangeOptions) -> Option<Spend> {
    let configured = config.channels.spend.clone();
    match (&opts.spend, configured) {
        (Some(path), Some(s)) => Some(Spend { path: path.display().to_string(), ..s }),
        (Some(path), None) => Some(Spend {
            path: path.display().to_string(),
            join_on: DEFAULT_SPEND_JOIN_ON.into(),
            date_column: None,
            campaign_column: None,
            cost_column: None,
            currency_column: None,
            currency: None,
        }),
        (None, s) => s,
    }
}

/// What the reader should know about the range.
fn warnings(config: &Config, opts: &RangeOptions, as_of: RunDate, c: &Coverage, leads: &DataFrame) -> Vec<String> {
    let mut w = Vec::new();
    if c.not_scored > 0 {
        w.push(format!(
            "{} of the {} leads created in the range were never scored by a daily run and are not in the table: \
             run `leadscore backfill --from {} --to {}` to score them",
            c.not_scored,
            c.leads_created,
            opts.from.succ(),
            opts.to.succ()
        ));
    }
    let window = config.labels.as_ref().map_or(0, |l| l.window_days);
    let matured_before = as_of.date() - chrono::Duration::days(i64::from(window));
    if opts.to.date() >= matured_before {
        w.push(format!(
            "leads created from {} on had not matured by {as_of} (window {window} days): their actual figures are empty",
            matured_before.max(opts.from.date())
        ));
    }
    for d in &config.channels.dimensions {
        let column = gather::dimension_column(d);
        if leads.column(&column).map_or(true, |c| c.null_count() == c.len()) {
            w.push(format!(
                "no run recorded `{d}` for these leads (it was added to [channels] dimensions later?): its channel is `{}`",
                table::NONE
            ));
        }
    }
    w
}

/// Writes the report's files into `dir`.
fn write(dir: &Path, config: &Config, as_of: RunDate, mut r: crate::Rendered) -> Result<ChannelsReport> {
    io::create_dir_private(dir).map_err(|source| CoreError::Write { path: dir.to_path_buf(), source })?;
    let meta = TableMeta { stage: "report channels".into(), run_date: as_of, config_hash: config.hash() };
    io::write_parquet(&dir.join(files::CHANNELS), &mut r.channels, &meta)?;
    io::write_bytes(&dir.join(files::CHANNELS_CSV), &r.csv)?;
    io::write_bytes(&dir.join(files::CHANNELS_HTML), r.html.as_bytes())?;
    if let Some(bytes) = &r.unmatched_csv {
        io::write_bytes(&dir.join(files::SPEND_UNMATCHED_CSV), bytes)?;
    }
    r.report.files = r.report.files.iter().map(|f| dir.join(f).display().to_string()).collect();
    r.report.files.push(dir.join(files::REPORT).display().to_string());
    io::write_json(&dir.join(files::REPORT), &r.report)?;
    Ok(r.report)
}
