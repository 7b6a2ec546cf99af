//! Backtests: score past leads with the model that would have been champion then, and compare
//! with the outcomes known now.
//!
//! The days `from` to `to` (both included, as in a backfill) are cut into periods of
//! `[train] retrain_after_days` days (the cadence of the daily run). In the default *rolling* mode each period gets the model trained as of its
//! first day: ingest, labels, features and train run for that date in a separate folder
//! (`<output_dir>/backtest/<from>_<to>/`), so only data known then is used. With `--model ID` one
//! fixed model from the registry scores every period. The period's leads are scored and valued as
//! the daily stages would (features strictly before creation), then compared with the labels as
//! of `as_of`: only leads whose window has ended by then count, so the figures are not biased by
//! censoring.

use std::path::PathBuf;

use chrono::Duration;
use leadscore_core::artifact;
use leadscore_core::charts::{self as svg, esc};
use leadscore_core::schema::{labels as l, scores as s, values as v};
use leadscore_core::{Config, CoreError, RunContext, RunDate, RunLayout, Scope, Stage};
use leadscore_model::metrics;
use leadscore_model::registry::{self, LoadedModel};
use leadscore_qualify::{QualifyError, QualifyInputs};
use leadscore_value::ValueInputs;
use polars::prelude::*;
use serde::Serialize;

use crate::PipelineError;

/// What to backtest.
#[derive(Debug, Clone)]
pub struct BacktestOptions {
    /// First day whose leads are scored.
    pub from: RunDate,
    /// Last day whose leads are scored (included).
    pub to: RunDate,
    /// Outcomes are those known before this date (usually the latest run date).
    pub as_of: RunDate,
    /// A fixed model id instead of retraining per period.
    pub model: Option<String>,
}

/// One period of the backtest.
#[derive(Debug, Clone, Serialize)]
pub struct Period {
    /// First day.
    pub from: RunDate,
    /// Last day (included).
    pub to: RunDate,
    /// The model that scored it.
    pub model_id: String,
    /// Leads scored.
    pub leads: u64,
    /// Of which matured by `as_of` (the ones evaluated).
    pub matured: u64,
    /// Matured leads that converted.
    pub conversions: u64,
    /// Sum of their calibrated probabilities: the conversions the model expected.
    pub expected_conversions: f64,
    /// Matured leads qualified.
    pub qualified: u64,
    /// Precision of `qualified` (matured leads).
    pub precision: f64,
    /// Recall of `qualified`.
    pub recall: f64,
    /// What validation promised for the policy.
    pub promised_precision: f64,
    /// What validation promised for the policy.
    pub promised_recall: f64,
    /// ROC AUC of the probability (matured leads).
    pub auc: Option<f64>,
    /// Sum of predicted values of matured leads.
    pub predicted_value: f64,
    /// Sum of their actual values within the window.
    pub actual_value: f64,
}

/// `backtest.json`.
#[derive(Debug, Clone, Serialize)]
pub struct BacktestReport {
    /// `rolling` or `fixed`.
    pub mode: String,
    /// First day of the range.
    pub from: RunDate,
    /// Last day of the range (included).
    pub to: RunDate,
    /// Outcomes known before this date.
    pub as_of: RunDate,
    /// The policy evaluated.
    pub policy: String,
    /// Per period.
    pub periods: Vec<Period>,
    /// All periods together.
    pub total: Period,
    /// Where the files went.
    pub dir: String,
    /// Warnings.
    pub warnings: Vec<String>,
}

fn f64s(df: &DataFrame, c: &str) -> Result<Vec<f64>, PipelineError> {
    Ok(df
        .column(c)
        .map_err(pe)?
        .cast(&DataType::Float64)
        .map_err(pe)?
        .f64()
        .map_err(pe)?
        .iter()
        .map(|x| x.unwrap_or(0.0))
        .collect())
}

fn pe(e: PolarsError) -> PipelineError {
    PipelineError::Backtest(format!("internal: {e}"))
}

fn summarise(
    from: RunDate,
    to: RunDate,
    model_id: String,
    rows: &DataFrame,
    leads: u64,
    promised: (f64, f64),
) -> Result<Period, PipelineError> {
    let conv: Vec<bool> =
        rows.column(l::CONVERTED).map_err(pe)?.bool().map_err(pe)?.iter().map(|x| x == Some(true)).collect();
    let qual: Vec<bool> =
        rows.column(s::QUALIFIED).map_err(pe)?.bool().map_err(pe)?.iter().map(|x| x == Some(true)).collect();
    let p = f64s(rows, s::PROBABILITY)?;
    let pred = f64s(rows, v::PREDICTED_VALUE)?;
    let actual = f64s(rows, l::VALUE_IN_WINDOW)?;
    let tp = conv.iter().zip(&qual).filter(|(c, q)| **c && **q).count();
    let q = qual.iter().filter(|x| **x).count();
    let pos = conv.iter().filter(|x| **x).count();
    Ok(Period {
        from,
        to,
        model_id,
        leads,
        matured: rows.height() as u64,
        conversions: pos as u64,
        expected_conversions: p.iter().sum(),
        qualified: q as u64,
        precision: if q > 0 { tp as f64 / q as f64 } else { 0.0 },
        recall: if pos > 0 { tp as f64 / pos as f64 } else { 0.0 },
        promised_precision: promised.0,
        promised_recall: promised.1,
        auc: metrics::roc_auc(&p, &conv),
        predicted_value: pred.iter().sum(),
        actual_value: actual.iter().sum(),
    })
}

/// Runs a backtest and writes `backtest.json` and `backtest.html`.
pub fn backtest(config: &Config, opts: &BacktestOptions, seed: u64) -> Result<BacktestReport, PipelineError> {
    if opts.to < opts.from {
        return Err(PipelineError::Backtest(format!("--to {} is before --from {}", opts.to, opts.from)));
    }
    // The day after the last one: the periods are half-open ranges of days.
    let until = opts.to.succ();
    let window = config.labels.as_ref().map_or(0, |x| x.window_days);
    let folder = PathBuf::from("backtest").join(format!("{}_{}", opts.from, opts.to));
    let dir: PathBuf = config.output_dir().join(&folder);
    // The same folder as a config value: resolved against the config's folder, as `output_dir`
    // itself is (`dir` would be prefixed with that folder a second time when it is relative).
    let in_config = PathBuf::from(&config.project.output_dir).join(&folder);
    let mut warnings = Vec::new();
    let latest_matured = RunDate::new(opts.as_of.date() - Duration::days(i64::from(window)));
    if until > latest_matured {
        warnings.push(format!(
            "leads created from {latest_matured} on have not matured by {} (window {window} days): they are scored but not evaluated",
            opts.as_of
        ));
    }
    let known = Known::as_of(config, &in_config, opts, seed)?;

    let step = i64::from(config.train.retrain_after_days.max(1));
    let fixed = match &opts.model {
        Some(id) => Some(registry::load_model(&config.models_dir(), id)?),
        None => None,
    };
    let mut periods = Vec::new();
    let mut all = Vec::new();
    let mut start = opts.from;
    while start < until {
        let end = RunDate::new((start.date() + Duration::days(step)).min(until.date()));
        let rolling;
        let model: &LoadedModel = match &fixed {
            Some(m) => m,
            None => {
                rolling = train_as_of(config, &in_config, start, seed)?;
                &rolling
            }
        };
        let Some((joined, scored)) = known.score(config, model, start, end, seed)? else {
            warnings.push(format!("no leads created from {start} to {}", end.pred()));
            start = end;
            continue;
        };
        let t = model.thresholds.policy(config.qualify.policy);
        let promised = t.map_or((0.0, 0.0), |t| (t.precision, t.recall));
        let period = summarise(start, end.pred(), model.artifact.model_id.clone(), &joined, scored, promised)?;
        tracing::info!(from = %start, precision = period.precision, "backtest period");
        periods.push(period);
        all.push((joined, promised));
        start = end;
    }
    if periods.is_empty() {
        return Err(PipelineError::Backtest(format!("no leads were created from {} to {}", opts.from, opts.to)));
    }
    let (total, mut leads) = overall(opts, &periods, &all)?;
    let report = BacktestReport {
        mode: if opts.model.is_some() { "fixed".into() } else { "rolling".into() },
        from: opts.from,
        to: opts.to,
        as_of: opts.as_of,
        policy: config.qualify.policy.name().into(),
        periods,
        total,
        dir: dir.display().to_string(),
        warnings,
    };
    leadscore_core::io::create_dir_private(&dir).map_err(|source| CoreError::Write { path: dir.clone(), source })?;
    leadscore_core::io::write_json(&dir.join("backtest.json"), &report)?;
    leadscore_core::io::write_bytes(&dir.join("backtest.html"), render_html(&report).as_bytes())?;
    let meta =
        leadscore_core::io::TableMeta { stage: "backtest".into(), run_date: opts.as_of, config_hash: config.hash() };
    leadscore_core::io::write_parquet(&dir.join(LEADS_FILE), &mut leads, &meta)?;
    Ok(report)
}

/// What is known as of the backtest's `as_of`: every lead and event, and the outcomes of the
/// leads (labels run as of then).
struct Known {
    leads: DataFrame,
    events: DataFrame,
    outcomes: DataFrame,
}

impl Known {
    fn as_of(config: &Config, dir: &std::path::Path, opts: &BacktestOptions, seed: u64) -> Result<Self, PipelineError> {
        let as_of = opts.as_of;
        let mut outcome_cfg = config.clone();
        outcome_cfg.project.output_dir = dir.join("outcomes").display().to_string();
        // The leads scored from `from` on, and the events before them, from partitioned sources.
        outcome_cfg.sources.read_from = Some(opts.from);
        let outcome_ctx = RunContext {
            run_date: as_of,
            config_hash: config.hash(),
            seed,
            retrain: false,
            partition: None,
            scope: Scope::Full,
        };
        crate::run_through(&[Stage::Ingest, Stage::Labels], &outcome_cfg, &outcome_ctx, &crate::RunOptions::default())?;
        let layout = RunLayout::for_config(&outcome_cfg);
        let (leads, _) = layout.read_table(as_of, &artifact::LEADS)?;
        let (events, _) = layout.read_table(as_of, &artifact::EVENTS)?;
        let (labels, _) = layout.read_table(as_of, &artifact::LABELS)?;
        let outcomes = labels
            .select([l::LEAD_ID, l::MATURED, l::CONVERTED, l::VALUE_IN_WINDOW, l::EXISTING_CUSTOMER])
            .map_err(pe)?;
        Ok(Self { leads, events, outcomes })
    }

    /// Scores the leads created from `start` to the day before `end` as qualify and value would
    /// on that last day, and joins the matured ones (not existing customers) to their outcomes;
    /// with the number of leads scored. `None` when no lead was created then.
    fn score(
        &self,
        config: &Config,
        model: &LoadedModel,
        start: RunDate,
        end: RunDate,
        seed: u64,
    ) -> Result<Option<(DataFrame, u64)>, PipelineError> {
        let mut cfg = config.clone();
        cfg.qualify.rescore_days = u32::try_from((end.date() - start.date()).num_days() - 1).unwrap_or(0);
        let ctx = RunContext {
            run_date: end,
            config_hash: config.hash(),
            seed,
            retrain: false,
            partition: None,
            scope: Scope::Full,
        };
        let q_inputs = QualifyInputs { leads: self.leads.clone(), events: self.events.clone() };
        let scored = match leadscore_qualify::run(&cfg, &q_inputs, &ctx, model) {
            Ok(o) => o,
            Err(QualifyError::NoLeads { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let v_inputs = ValueInputs { scores: scored.scores.clone(), features: scored.features.clone() };
        let valued = leadscore_value::run(&cfg, &v_inputs, &ctx, model)?;
        let joined = scored
            .scores
            .select([s::LEAD_ID, s::PROBABILITY, s::QUALIFIED])
            .map_err(pe)?
            .hstack(&[valued.values.column(v::PREDICTED_VALUE).map_err(pe)?.clone()])
            .map_err(pe)?
            .lazy()
            .join(self.outcomes.clone().lazy(), [col(s::LEAD_ID)], [col(l::LEAD_ID)], JoinArgs::new(JoinType::Inner))
            .filter(col(l::MATURED).and(col(l::EXISTING_CUSTOMER).not()))
            .collect()
            .map_err(pe)?;
        Ok(Some((joined, scored.scores.height() as u64)))
    }
}

/// Trains the model a rolling backtest scores the period from `start` with: the DAG up to train,
/// as of `start`, in the backtest's own folders and registry.
fn train_as_of(
    config: &Config,
    dir: &std::path::Path,
    start: RunDate,
    seed: u64,
) -> Result<LoadedModel, PipelineError> {
    let mut cfg = config.clone();
    cfg.project.output_dir = dir.join("rolling").display().to_string();
    cfg.project.models_dir = dir.join("models").join(start.to_string()).display().to_string();
    let ctx = RunContext {
        run_date: start,
        config_hash: config.hash(),
        seed,
        retrain: true,
        partition: None,
        scope: Scope::Full,
    };
    tracing::info!(as_of = %start, "backtest: training");
    let through = [Stage::Ingest, Stage::Labels, Stage::Features, Stage::Train];
    crate::run_through(&through, &cfg, &ctx, &crate::RunOptions::default())?;
    Ok(leadscore_qualify::load_champion(&cfg)?)
}

/// The evaluated leads of every period (`backtest_leads.parquet` in the backtest's folder): each
/// matured lead's id, calibrated probability, `qualified`, predicted value, and its outcome as of
/// `--as-of` (converted, value in the window), for figures the table does not give.
pub const LEADS_FILE: &str = "backtest_leads.parquet";

/// The whole range: every period's scored leads together, against the periods' mean promise;
/// with those leads.
fn overall(
    opts: &BacktestOptions,
    periods: &[Period],
    all: &[(DataFrame, (f64, f64))],
) -> Result<(Period, DataFrame), PipelineError> {
    let mut stacked = all[0].0.clone();
    for (df, _) in &all[1..] {
        stacked.vstack_mut(df).map_err(pe)?;
    }
    let n = all.len() as f64;
    let promised = (all.iter().map(|a| a.1.0).sum::<f64>() / n, all.iter().map(|a| a.1.1).sum::<f64>() / n);
    let leads: u64 = periods.iter().map(|p| p.leads).sum();
    let model_ids: Vec<&str> = periods.iter().map(|p| p.model_id.as_str()).collect();
    let total_model =
        if model_ids.windows(2).all(|w| w[0] == w[1]) { model_ids[0].to_string() } else { "rolling".into() };
    let total = summarise(opts.from, opts.to, total_model, &stacked, leads, promised)?;
    let columns = [s::LEAD_ID, s::PROBABILITY, s::QUALIFIED, v::PREDICTED_VALUE, l::CONVERTED, l::VALUE_IN_WINDOW];
    Ok((total, stacked.select(columns).map_err(pe)?))
}

impl BacktestReport {
    /// The table for the terminal.
    pub fn render(&self) -> String {
        let mut out = format!(
            "backtest {} … {} ({} mode, outcomes as of {}, policy {})\n{:<23} {:>7} {:>7} {:>6} {:>8} {:>6} {:>10} {:>10} {:>7} {:>10} {:>7} {:>12} {:>12} {:>6}\n",
            self.from,
            self.to,
            self.mode,
            self.as_of,
            self.policy,
            "period",
            "leads",
            "matured",
            "conv",
            "expected",
            "qual",
            "precision",
            "promised",
            "recall",
            "promised",
            "AUC",
            "pred value",
            "actual value",
            "ratio"
        );
        for p in self.periods.iter().chain(std::iter::once(&self.total)) {
            let label =
                if std::ptr::eq(p, &self.total) { "total".to_string() } else { format!("{} … {}", p.from, p.to) };
            out.push_str(&format!(
                "{label:<23} {:>7} {:>7} {:>6} {:>8.1} {:>6} {:>9.1}% {:>9.1}% {:>9.1}% {:>6.1}% {:>7} {:>12.0} {:>12.0} {:>6.3}\n",
                p.leads,
                p.matured,
                p.conversions,
                // `+ 0.0` turns a negative zero (an empty sum) into 0, never printed "-0.0".
                p.expected_conversions + 0.0,
                p.qualified,
                100.0 * p.precision,
                100.0 * p.promised_precision,
                100.0 * p.recall,
                100.0 * p.promised_recall,
                p.auc.map_or("-".into(), |a| format!("{a:.4}")),
                p.predicted_value + 0.0,
                p.actual_value + 0.0,
                if p.actual_value > 0.0 { p.predicted_value / p.actual_value } else { 0.0 },
            ));
        }
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        out.push_str(&format!("written: {}/backtest.json, backtest.html\n", self.dir));
        out
    }
}

/// A self-contained page: the table and two inline SVG charts (precision against the promise,
/// predicted against actual value per period).
fn render_html(r: &BacktestReport) -> String {
    let n = r.periods.len().max(1) as f64;
    // Periods sit at the centres of equal slices of the x axis, oldest first, labelled with their
    // first day. Periods without a matured lead have no outcome: they are left out of the lines.
    let x = |i: usize| (i as f64 + 0.5) / n;
    let points = |f: &dyn Fn(&Period) -> f64| -> Vec<(f64, f64)> {
        r.periods.iter().enumerate().filter(|(_, p)| p.matured > 0).map(|(i, p)| (x(i), f(p))).collect()
    };
    let labels: Vec<(f64, String)> = r.periods.iter().enumerate().map(|(i, p)| (x(i), p.from.to_string())).collect();
    let chart = |title: &str, a: (&str, Vec<(f64, f64)>), b: (&str, Vec<(f64, f64)>), y_label: &str| {
        let svg = svg::lines_over(
            &[(a.0, "#1f77b4", &a.1), (b.0, "#ff7f0e", &b.1)],
            &labels,
            "first day of the period",
            y_label,
        );
        format!("<figure>{svg}<figcaption>{}</figcaption></figure>", esc(title))
    };
    let precision = chart(
        "Precision of qualified leads per period, against what validation promised",
        ("observed precision", points(&|p| p.precision)),
        ("promised precision", points(&|p| p.promised_precision)),
        "precision",
    );
    let value = chart(
        "Predicted against actual value per period (matured leads)",
        ("predicted value", points(&|p| p.predicted_value)),
        ("actual value", points(&|p| p.actual_value)),
        "value",
    );
    let mut rows = String::new();
    for p in r.periods.iter().chain(std::iter::once(&r.total)) {
        rows.push_str(&format!(
            "<tr><td class=\"nw\">{} … {}</td><td class=\"nw\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{:.1}%</td><td>{:.1}%</td><td>{:.1}%</td><td>{:.1}%</td><td>{}</td><td>{:.0}</td><td>{:.0}</td><td>{}</td></tr>\n",
            p.from, p.to, esc(&p.model_id), p.leads, p.matured, p.conversions, p.expected_conversions + 0.0, p.qualified,
            100.0 * p.precision, 100.0 * p.promised_precision, 100.0 * p.recall, 100.0 * p.promised_recall,
            p.auc.map_or("-".into(), |a| format!("{a:.4}")), p.predicted_value + 0.0, p.actual_value + 0.0,
            if p.actual_value > 0.0 { format!("{:.3}", p.predicted_value / p.actual_value) } else { "-".into() }
        ));
    }
    let warnings: String = r.warnings.iter().map(|w| format!("<li>{}</li>", esc(w))).collect();
    format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>leadscore backtest {from} … {to}</title>
<style>{css}</style></head><body>
<h1>Backtest {from} … {to}</h1><p>{mode} mode: {mode_text}. Outcomes as of {as_of}; only leads whose window had ended by then are evaluated. Policy <b>{policy}</b>.</p><ul>{warnings}</ul>
<div class="wide"><table><tr><th class="nw">period</th><th>model</th><th>leads</th><th>matured</th><th>conversions</th><th>expected</th><th>qualified</th><th>precision</th><th>promised</th><th>recall</th><th>promised</th><th>AUC</th><th>predicted value</th><th>actual value</th><th>ratio</th></tr>
{rows}</table></div><div class="grid">{precision}{value}</div></body></html>
"#,
        from = r.from,
        to = r.to,
        mode = r.mode,
        mode_text = if r.mode == "rolling" {
            "each period is scored by the model trained with the data known on its first day"
        } else {
            "one model scores every period"
        },
        as_of = r.as_of,
        policy = r.policy,
        css = svg::CSS,
    )
}
