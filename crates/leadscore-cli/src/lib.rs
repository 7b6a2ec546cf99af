//! `leadscore-cli`: the `leadscore` command line.
//!
//! This crate is responsible for parsing arguments, setting up logging (stderr; human or JSON),
//! wiring commands to the pipeline runner and the stage crates, printing summaries (stdout), and
//! mapping every error to the documented exit code. It holds no pipeline logic of its own.

mod args;
mod inspect;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use leadscore_core::config::ConfigError;
use leadscore_core::{Classify, Config, CoreError, ExitKind, RunContext, Stage};
use leadscore_features::FeaturesError;
use leadscore_ingest::IngestError;
use leadscore_labels::LabelsError;
use leadscore_pipeline::PipelineError;
use leadscore_synth::{Shape, SynthError, SynthOptions};
use tracing_subscriber::EnvFilter;

pub use args::{Cli, Command, LogFormat};
pub use inspect::{InspectError, Inspection, inspect};

/// A usage mistake the CLI itself detects (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The exit class of an error: the first error in its chain that knows its class decides.
pub fn exit_kind(err: &anyhow::Error) -> ExitKind {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<PipelineError>() {
            return e.exit_kind();
        }
        if let Some(e) = cause.downcast_ref::<IngestError>() {
            return e.exit_kind();
        }
        if let Some(e) = cause.downcast_ref::<LabelsError>() {
            return e.exit_kind();
        }
        if let Some(e) = cause.downcast_ref::<FeaturesError>() {
            return e.exit_kind();
        }
        if let Some(e) = cause.downcast_ref::<CoreError>() {
            return e.exit_kind();
        }
        if let Some(e) = cause.downcast_ref::<SynthError>() {
            return e.exit_kind();
        }
        if cause.downcast_ref::<ConfigError>().is_some() || cause.downcast_ref::<UsageError>().is_some() {
            return ExitKind::Usage;
        }
        if cause.downcast_ref::<InspectError>().is_some() {
            return ExitKind::InputData;
        }
    }
    ExitKind::Internal
}

fn init_logging(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_env("LEADSCORE_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter).with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
        LogFormat::Human => builder.with_ansi(std::io::stderr().is_terminal()).compact().try_init(),
    };
}

fn load_config(path: &Path) -> anyhow::Result<Config> {
    if !path.exists() {
        return Err(UsageError(format!(
            "config file {} not found: pass --config PATH, or run from the folder that holds leadscore.toml",
            path.display()
        ))
        .into());
    }
    Ok(Config::load(path)?)
}

fn context(run: &args::RunArgs) -> anyhow::Result<(Config, RunContext)> {
    let config = load_config(&run.config)?;
    let run_date = run.date.unwrap_or_else(|| config.default_run_date());
    let ctx = RunContext { run_date, config_hash: config.hash(), seed: run.seed, retrain: run.retrain };
    Ok((config, ctx))
}

fn print(out: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes()).context("cannot write to stdout")?;
    Ok(())
}

fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

/// Runs a parsed command line.
pub fn execute(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run { run, json: as_json } => {
            let (config, ctx) = context(&run)?;
            tracing::info!(date = %ctx.run_date, config = %run.config.display(), "run");
            let summary = leadscore_pipeline::run(&leadscore_pipeline::all_stages(), &config, &ctx)?;
            print(&if as_json { json(&summary)? } else { summary.render() })
        }
        Command::Stage { name, run, json: as_json } => {
            let stage = Stage::from_name(&name).ok_or_else(|| {
                let names: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
                UsageError(format!("unknown stage `{name}`; the stages are: {}", names.join(", ")))
            })?;
            let (config, ctx) = context(&run)?;
            let summary = leadscore_pipeline::run(&[stage], &config, &ctx)?;
            print(&if as_json { json(&summary)? } else { summary.render() })
        }
        Command::Train { run, json: as_json } => {
            let (config, mut ctx) = context(&run)?;
            ctx.retrain = true;
            let layout = leadscore_core::RunLayout::new(config.output_dir());
            // Upstream outputs are reused when they exist for this date and config; from the
            // first missing or stale one on, the stages run again.
            let upstream: Vec<Stage> = Stage::ALL.into_iter().filter(|s| *s < Stage::Train).collect();
            let stale = upstream
                .iter()
                .position(|s| layout.manifest(ctx.run_date, *s).is_none_or(|m| m.config_hash != ctx.config_hash));
            let mut stages: Vec<Stage> = stale.map(|i| upstream[i..].to_vec()).unwrap_or_default();
            stages.push(Stage::Train);
            let summary = leadscore_pipeline::run(&stages, &config, &ctx)?;
            print(&if as_json { json(&summary)? } else { summary.render() })
        }
        Command::Backtest { config, from, to, as_of, model, seed, json: as_json } => {
            let cfg = load_config(&config)?;
            let as_of = as_of.unwrap_or_else(|| cfg.default_run_date());
            let opts = leadscore_pipeline::backtest::BacktestOptions { from, to, as_of, model };
            let report = leadscore_pipeline::backtest::backtest(&cfg, &opts, seed)?;
            print(&if as_json { json(&report)? } else { report.render() })
        }
        Command::Validate { run } => {
            let (config, ctx) = context(&run)?;
            let (sources, _) = leadscore_ingest::read_sources(&config)?;
            let ingested = leadscore_ingest::run(&config, &sources, &ctx)?;
            let mut text =
                format!("{}: configuration is valid (config hash {}).\n", run.config.display(), &ctx.config_hash[..12]);
            text.push_str(&ingested.report.summary());
            if config.labels.is_some() {
                let inputs = leadscore_labels::LabelsInputs {
                    leads: ingested.leads,
                    deals: ingested.deals,
                    events: ingested.events,
                };
                let labels = leadscore_labels::run(&config, &inputs, &ctx)?;
                text.push_str("conversion definitions:\n");
                text.push_str(&labels.report.definitions_text());
                text.push_str("conversions per month (known before the run date):\n");
                text.push_str(&labels.report.volumes_table());
                text.push_str(&labels.report.summary());
            } else {
                text.push_str("no [labels]: add one (or a preset) to define what the models learn.\n");
            }
            text.push_str("nothing was written.\n");
            print(&text)
        }
        Command::Synth(a) => {
            let opts = SynthOptions {
                leads: a.leads,
                months: a.months,
                seed: a.seed,
                shape: match a.shape {
                    args::ShapeArg::Hubspot => Shape::Hubspot,
                    args::ShapeArg::Salesforce => Shape::Salesforce,
                },
                dirty_rate: a.dirty_rate,
                end: a.end.map_or_else(leadscore_synth::default_end, |d| d.date()),
                window_days: a.window_days,
                extra_attributes: a.extra_attributes,
                extra_events: a.extra_events,
            };
            let summary = leadscore_synth::write(&a.out, &opts)?;
            print(&summary.render())
        }
        Command::Inspect { file, head, json: as_json } => {
            let i = inspect(&file, head)?;
            print(&if as_json { json(&i)? } else { i.render() })
        }
    }
}

/// The whole program: parse arguments, run, map errors to exit codes.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { ExitKind::Usage.code() } else { 0 });
        }
    };
    let format = cli.log_format;
    init_logging(format, &cli.log_level);
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let kind = exit_kind(&err);
            let mut msg = err.to_string();
            for cause in err.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg.push_str(&format!("\n  caused by: {c}"));
                }
            }
            match format {
                LogFormat::Json => tracing::error!(exit_code = kind.code(), "{msg}"),
                LogFormat::Human => {
                    let _ = writeln!(std::io::stderr(), "error: {msg}");
                }
            }
            ExitCode::from(kind.code())
        }
    }
}
