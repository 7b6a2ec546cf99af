//! `leadscore-cli`: the `leadscore` command line.
//!
//! This crate is responsible for parsing arguments, setting up logging (stderr; human or JSON),
//! wiring commands to the pipeline runner and the stage crates, printing summaries (stdout), and
//! mapping every error to the documented exit code. It holds no pipeline logic of its own.

mod args;
mod inspect;
mod logs;
mod progress;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{CommandFactory, Parser};
use leadscore_core::config::ConfigError;
use leadscore_core::layout::Partition;
use leadscore_core::{Classify, Config, CoreError, ExitKind, RunContext, Scope, Stage};
use leadscore_features::FeaturesError;
use leadscore_ingest::IngestError;
use leadscore_labels::LabelsError;
use leadscore_pipeline::dag::{DagError, Pipeline};
use leadscore_pipeline::{PipelineError, RunOptions};
use leadscore_synth::{Shape, SynthError, SynthOptions};

pub use args::{Cli, Command, DagArgs, LogFormat, RangeArgs, ReportCommand};
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
        if cause.downcast_ref::<ConfigError>().is_some()
            || cause.downcast_ref::<UsageError>().is_some()
            || cause.downcast_ref::<DagError>().is_some()
        {
            return ExitKind::Usage;
        }
        if cause.downcast_ref::<InspectError>().is_some() {
            return ExitKind::InputData;
        }
    }
    ExitKind::Internal
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
    let ctx = run_context(&config, run);
    Ok((config, ctx))
}

fn run_context(config: &Config, run: &args::RunArgs) -> RunContext {
    let run_date = run.date.unwrap_or_else(|| config.default_run_date());
    RunContext {
        run_date,
        config_hash: config.hash(),
        seed: run.seed,
        retrain: run.retrain,
        partition: None,
        scope: Scope::Full,
    }
}

fn parse_stage(name: &str) -> anyhow::Result<Stage> {
    Stage::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
        UsageError(format!("unknown stage `{name}`; the stages are: {}", names.join(", "))).into()
    })
}

/// The config with the pipeline's options applied, the stages to run in order, and how to run
/// them (`--force`, the stages only training needs).
fn plan(config_path: &Path, dag: &DagArgs) -> anyhow::Result<(Config, Vec<Stage>, RunOptions)> {
    let config = load_config(config_path)?;
    let pipeline = match &dag.pipeline {
        Some(p) => Pipeline::load(p)?,
        None => Pipeline::default_dag(),
    };
    let config = pipeline.config(config_path, config)?;
    let from = dag.from_stage.as_deref().map(parse_stage).transpose()?;
    let only = dag.only.iter().map(|s| parse_stage(s)).collect::<anyhow::Result<Vec<_>>>()?;
    let options = RunOptions {
        force: dag.force,
        training_only: pipeline.training_only(),
        merge: None,
        whole_history: dag.whole_history,
    };
    Ok((config, pipeline.select(from, &only)?, options))
}

/// Takes the output folder's lock for this process.
fn lock(config: &Config, wait_seconds: u64) -> anyhow::Result<leadscore_core::layout::RunLock> {
    part_lock(config, wait_seconds, None)
}

/// Takes the output folder's lock: shared with the other parts for a run on one part.
fn part_lock(
    config: &Config,
    wait_seconds: u64,
    part: Option<Partition>,
) -> anyhow::Result<leadscore_core::layout::RunLock> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let layout = leadscore_core::RunLayout::new(config.output_dir());
    let wait = std::time::Duration::from_secs(wait_seconds);
    Ok(if part.is_some() { layout.lock_shared(&command, wait)? } else { layout.lock(&command, wait)? })
}

/// Prints the summary, then fails with the run's error if it had one.
fn finish(
    summary: &leadscore_pipeline::RunSummary,
    result: Result<(), PipelineError>,
    as_json: bool,
) -> anyhow::Result<()> {
    print(&if as_json { json(summary)? } else { summary.render() })?;
    Ok(result?)
}

fn print(out: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes()).context("cannot write to stdout")?;
    Ok(())
}

fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

/// `leadscore run`: the pipeline's stages for one run date (its partitioned stages on one part,
/// with `--partition` and no stage selected).
fn run(
    run: &args::RunArgs,
    dag: &DagArgs,
    partition: Option<Partition>,
    as_json: bool,
    log_format: LogFormat,
) -> anyhow::Result<()> {
    let (config, mut stages, options) = plan(&run.config, dag)?;
    if partition.is_some() && dag.only.is_empty() && dag.from_stage.is_none() {
        stages.retain(|s| s.partitioned());
    }
    let ctx = RunContext { partition, ..run_context(&config, run) };
    tracing::info!(date = %ctx.run_date, config = %run.config.display(), "run");
    let _lock = part_lock(&config, run.lock_wait, partition)?;
    let mut progress = progress::Progress::new(stages.len(), log_format);
    let (summary, result) = leadscore_pipeline::run(&stages, &config, &ctx, &options, &mut progress);
    drop(progress);
    finish(&summary, result, as_json)
}

/// `leadscore stage NAME`: one stage, recomputed (on one part, with `--partition`).
fn stage(name: &str, run: &args::RunArgs, partition: Option<Partition>, as_json: bool) -> anyhow::Result<()> {
    let stage = parse_stage(name)?;
    let (config, ctx) = context(run)?;
    let ctx = RunContext { partition, ..ctx };
    let _lock = part_lock(&config, run.lock_wait, partition)?;
    let options = RunOptions { force: true, ..RunOptions::default() };
    let (summary, result) = leadscore_pipeline::run(&[stage], &config, &ctx, &options, &mut leadscore_pipeline::Quiet);
    finish(&summary, result, as_json)
}

/// `leadscore merge STAGE… --parts N`: the parts of partitioned stages merged, in DAG order.
fn merge(
    names: &[String],
    parts: u32,
    pipeline: Option<std::path::PathBuf>,
    run: &args::RunArgs,
    as_json: bool,
) -> anyhow::Result<()> {
    let mut stages = names.iter().map(|n| parse_stage(n)).collect::<anyhow::Result<Vec<_>>>()?;
    stages.sort();
    stages.dedup();
    let dag = DagArgs { pipeline, from_stage: None, only: Vec::new(), force: false, whole_history: false };
    let (config, _, _) = plan(&run.config, &dag)?;
    let ctx = run_context(&config, run);
    let _lock = lock(&config, run.lock_wait)?;
    let options = RunOptions { merge: Some(parts), ..RunOptions::default() };
    let (summary, result) = leadscore_pipeline::run(&stages, &config, &ctx, &options, &mut leadscore_pipeline::Quiet);
    finish(&summary, result, as_json)
}

/// `leadscore train`: the stages up to train, training whether or not it is due.
fn train(run: &args::RunArgs, as_json: bool, log_format: LogFormat) -> anyhow::Result<()> {
    let (config, mut ctx) = context(run)?;
    ctx.retrain = true;
    let _lock = lock(&config, run.lock_wait)?;
    // Upstream stages run only when their outputs for the date are not up to date.
    let stages: Vec<Stage> = Stage::ALL.into_iter().filter(|s| *s <= Stage::Train).collect();
    let mut progress = progress::Progress::new(stages.len(), log_format);
    let (summary, result) = leadscore_pipeline::run(&stages, &config, &ctx, &RunOptions::default(), &mut progress);
    drop(progress);
    finish(&summary, result, as_json)
}

/// `leadscore validate`: the config, ingest's accounting and the labels' volumes, nothing written;
/// exits as a run would.
fn validate(run: &args::RunArgs) -> anyhow::Result<()> {
    let (config, ctx) = context(run)?;
    let (sources, _) = leadscore_ingest::read_sources(&config, None)?;
    let ingested = leadscore_ingest::run(&config, sources, &ctx)?;
    let mut text =
        format!("{}: configuration is valid (config hash {}).\n", run.config.display(), &ctx.config_hash[..12]);
    text.push_str(&ingested.report.summary());
    if config.labels.is_none() {
        text.push_str("no [labels]: add one (or a preset) to define what the models learn.\n");
        text.push_str("nothing was written.\n");
        return print(&text);
    }
    let inputs = leadscore_labels::LabelsInputs {
        leads: ingested.leads,
        deals: ingested.deals,
        events: ingested.events,
        tables: ingested.tables,
    };
    let labels = leadscore_labels::run(&config, &inputs, &ctx)?;
    text.push_str("conversion definitions:\n");
    text.push_str(&labels.report.definitions_text());
    text.push_str("conversions per month (known before the run date):\n");
    text.push_str(&labels.report.volumes_table());
    text.push_str(&labels.report.summary());
    text.push_str("nothing was written.\n");
    print(&text)?;
    // Exit as a run would: the volume gate refuses to train (4).
    let settings = leadscore_labels::settings(&config)?;
    Ok(leadscore_labels::volume_gate(&labels.report, settings)?)
}

/// `leadscore synth`: a synthetic CRM export.
fn synth(a: &args::SynthArgs) -> anyhow::Result<()> {
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

/// `leadscore init`: proposes a config from the exports and writes it (never over an existing
/// file without `--force`).
fn init(files: leadscore_ingest::init::InitFiles, out: &std::path::Path, force: bool) -> anyhow::Result<()> {
    if out.exists() && !force {
        return Err(UsageError(format!("{} exists; pass --force to replace it", out.display())).into());
    }
    let proposal = leadscore_ingest::init::propose(&files, out)?;
    leadscore_core::io::write_bytes(out, proposal.toml.as_bytes())?;
    let mut preset = proposal
        .preset
        .map_or_else(|| "no preset (columns matched by name)".to_string(), |p| format!("the {} preset", p.crm_name()));
    if let Some(e) = proposal.event_preset {
        preset.push_str(&format!(", events from {}", e.tool_name()));
    }
    let flagged = if proposal.flagged.is_empty() {
        String::new()
    } else {
        format!("; kept out of the features as filled in after creation: {}", proposal.flagged.join(", "))
    };
    let rates = if proposal.rates_to_fill.is_empty() {
        String::new()
    } else {
        format!(
            "\nThe deals are in {} too: replace the placeholder rates (1.0) in [currency] with real ones.",
            proposal.rates_to_fill.join(", ")
        )
    };
    print(&format!(
        "wrote {}: {preset}, {} attributes{flagged}.{rates}\nCheck it, then: leadscore validate --config {}\n",
        out.display(),
        proposal.attributes.len(),
        out.display()
    ))
}

/// Runs a parsed command line.
pub fn execute(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run { run: r, dag, partition, json } => run(&r, &dag, partition, json, cli.log_format),
        Command::Stage { name, run, partition, json } => stage(&name, &run, partition, json),
        Command::Merge { stages, parts, pipeline, run, json } => merge(&stages, parts, pipeline, &run, json),
        Command::Train { run, json } => train(&run, json, cli.log_format),
        Command::Backfill { config: path, from, to, continue_on_error, seed, lock_wait, dag, json: as_json } => {
            if to < from {
                return Err(UsageError(format!("--to {to} is before --from {from}")).into());
            }
            let (config, stages, options) = plan(&path, &dag)?;
            let dates: Vec<leadscore_core::RunDate> =
                from.date().iter_days().take_while(|d| *d <= to.date()).map(leadscore_core::RunDate::new).collect();
            let _lock = lock(&config, lock_wait)?;
            let mut progress = progress::Progress::new(stages.len(), cli.log_format);
            let (summary, result) = leadscore_pipeline::backfill(
                &dates,
                &stages,
                &config,
                seed,
                &options,
                continue_on_error,
                &mut progress,
            );
            drop(progress);
            print(&if as_json { json(&summary)? } else { summary.render() })?;
            Ok(result?)
        }
        Command::Backtest { range: RangeArgs { config, from, to }, as_of, model, seed, json: as_json } => {
            let cfg = load_config(&config)?;
            let as_of = as_of.unwrap_or_else(|| cfg.default_run_date());
            let opts = leadscore_pipeline::backtest::BacktestOptions { from, to, as_of, model };
            let report = leadscore_pipeline::backtest::backtest(&cfg, &opts, seed)?;
            print(&if as_json { json(&report)? } else { report.render() })
        }
        Command::Report {
            report: ReportCommand::Channels { range: RangeArgs { config, from, to }, as_of, spend, seed, json: as_json },
        } => {
            let cfg = load_config(&config)?;
            let opts = leadscore_channels::range::RangeOptions { from, to, as_of, spend };
            let report = leadscore_channels::range::report(&cfg, &opts, seed).map_err(PipelineError::from)?;
            print(&if as_json { json(&report)? } else { report.render() })
        }
        Command::Validate { run } => validate(&run),
        Command::Synth(a) => synth(&a),
        Command::Init { leads, deals, events, out, force } => {
            init(leadscore_ingest::init::InitFiles { leads, deals, events }, &out, force)
        }
        Command::Inspect { file, head, json: as_json } => {
            let i = inspect(&file, head)?;
            print(&if as_json { json(&i)? } else { i.render() })
        }
        Command::Completions { shell } => print(&completions(shell)?),
        Command::Man { out_dir } => man(out_dir.as_deref()),
    }
}

/// The completion script of `shell` for the whole command line.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<String> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "leadscore", &mut out);
    Ok(String::from_utf8(out)?)
}

/// The manual pages (roff), named as `man` finds them: `leadscore.1` first, then one per command
/// and nested command (`leadscore-run.1`, `leadscore-report-channels.1`).
pub fn man_pages() -> anyhow::Result<Vec<(String, String)>> {
    fn walk(cmd: &clap::Command, pages: &mut Vec<(String, String)>) -> anyhow::Result<()> {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
        let name = cmd.get_display_name().unwrap_or_else(|| cmd.get_name());
        pages.push((format!("{name}.1"), String::from_utf8(out)?));
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            walk(sub, pages)?;
        }
        Ok(())
    }
    let mut cmd = Cli::command();
    cmd.build();
    let mut pages = Vec::new();
    walk(&cmd, &mut pages)?;
    Ok(pages)
}

/// `leadscore man`: the top-level page on stdout, or every page written into `out_dir`.
fn man(out_dir: Option<&Path>) -> anyhow::Result<()> {
    let pages = man_pages()?;
    let Some(dir) = out_dir else {
        return print(pages.first().map_or("", |(_, page)| page.as_str()));
    };
    std::fs::create_dir_all(dir).map_err(|source| CoreError::Write { path: dir.to_path_buf(), source })?;
    for (name, page) in &pages {
        let path = dir.join(name);
        std::fs::write(&path, page).map_err(|source| CoreError::Write { path, source })?;
    }
    print(&format!("wrote {} manual pages into {}\n", pages.len(), dir.display()))
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
    logs::init(format, &cli.log_level);
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
