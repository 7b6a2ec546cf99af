//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use leadscore_core::RunDate;
use leadscore_core::layout::Partition;

/// `leadscore --version`: the version and the commit built (see `build.rs`).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("LEADSCORE_COMMIT"), ")");

/// leadscore: lead scoring and predicted lead value as a nightly batch pipeline.
///
/// Exit codes: 0 success; 1 internal error (a bug); 2 usage or configuration error; 3 input data
/// error (nothing written); 4 not enough data for a trustworthy model; 99 nothing to do.
#[derive(Debug, Parser)]
#[command(name = "leadscore", version = VERSION, propagate_version = true)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, global = true, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    /// Log level filter (`error`, `warn`, `info`, `debug`, `trace`, or a tracing directive).
    /// Overridden by the `LEADSCORE_LOG` environment variable.
    #[arg(long, global = true, default_value = "info")]
    pub log_level: String,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Config and run date, shared by the commands that run stages.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Config file.
    #[arg(long, short, default_value = "leadscore.toml")]
    pub config: PathBuf,
    /// Run date (YYYY-MM-DD): data known before its midnight in the project time zone.
    /// Default: the config's `default_run_date`, else today.
    #[arg(long, short)]
    pub date: Option<RunDate>,
    /// Seed for every random choice of the run.
    #[arg(long, default_value_t = leadscore_core::config::train::DEFAULT_SEED)]
    pub seed: u64,
    /// Train a new model even when the champion is younger than `[train] retrain_after_days`.
    #[arg(long)]
    pub retrain: bool,
    /// Wait up to this many seconds for another run using the same output folder to finish
    /// (default: fail at once, naming the run that holds it).
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    pub lock_wait: u64,
}

/// Which stages of the DAG to run.
#[derive(Debug, Args)]
pub struct DagArgs {
    /// The DAG file (stages, dependencies, per-stage options, stages run only when training),
    /// e.g. `pipelines/daily.toml`. Default: every stage in DAG order with the config as it is.
    #[arg(long, value_name = "FILE")]
    pub pipeline: Option<PathBuf>,
    /// Run this stage and every stage after it in the DAG.
    #[arg(long, value_name = "STAGE", conflicts_with = "only")]
    pub from_stage: Option<String>,
    /// Run only these stages (repeat the option or separate them with commas).
    #[arg(long, value_name = "STAGE", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Recompute stages whose outputs are up to date (same inputs, config and build); with the
    /// same inputs the tables come out identical. Stages marked `when = "training"` still run
    /// only when train trains (add `--retrain` to recompute them too).
    #[arg(long)]
    pub force: bool,
    /// Ingest and labels keep the whole history even on a day training is not due. By default,
    /// when train will not train and every stage that reads the whole history is marked
    /// `when = "training"`, they keep only the rows the day's scoring, export and channel
    /// stages read (the leads created from the first day the run may export, their users'
    /// deals and events): on a 1M-lead history, 40% of the time and a third of the memory.
    #[arg(long)]
    pub whole_history: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the pipeline's stages in DAG order for one run date. A stage whose outputs for the date
    /// are up to date (its manifest shows success with the same inputs, config and build) is
    /// skipped.
    Run {
        /// Config and date.
        #[command(flatten)]
        run: RunArgs,
        /// Stages and pipeline file.
        #[command(flatten)]
        dag: DagArgs,
        /// Run the partitioned stages (qualify, value) on part I of N of the day's leads, split
        /// by a stable hash of the lead id, into `<stage>.part-I-of-N/`; `leadscore merge` then
        /// writes the stages' own outputs. Without `--only`, runs the pipeline's partitioned
        /// stages.
        #[arg(long, value_name = "I/N")]
        partition: Option<Partition>,
        /// Print the run summary as JSON on stdout instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run one stage for one run date (its inputs must exist), even when its outputs are up to
    /// date.
    Stage {
        /// The stage: `ingest`, `labels`, `features`, `train`, `qualify`, `value`, `export` or
        /// `channels`.
        name: String,
        /// Config and date.
        #[command(flatten)]
        run: RunArgs,
        /// Run it on part I of N of the day's leads (qualify and value only; see `run
        /// --partition`).
        #[arg(long, value_name = "I/N")]
        partition: Option<Partition>,
        /// Print the stage summary as JSON on stdout instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Merge the parts of partitioned stages (`--partition I/N` runs of qualify and value) into
    /// the stages' own outputs: the tables an unpartitioned run writes, byte for byte, with its
    /// report and a manifest of the inputs the parts read. Every part must have run, with this
    /// config, on the same inputs.
    Merge {
        /// The partitioned stages to merge (they are merged in DAG order: qualify, then value).
        #[arg(default_values_t = ["qualify".to_string(), "value".to_string()])]
        stages: Vec<String>,
        /// How many parts each stage ran in (the N of `--partition I/N`).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(leadscore_core::layout::MAX_PARTS)))]
        parts: u32,
        /// The DAG file the parts ran with (its per-stage options are part of the config).
        #[arg(long, value_name = "FILE")]
        pipeline: Option<PathBuf>,
        /// Config and date.
        #[command(flatten)]
        run: RunArgs,
        /// Print the summary as JSON on stdout instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Train a model now (as `run --retrain`, for data scientists): runs the stages before train
    /// whose outputs for the date are not up to date, then trains, writes `<models_dir>/<model-id>/`
    /// with `report.html`, and moves the champion if the new model earns it.
    Train {
        /// Config and date.
        #[command(flatten)]
        run: RunArgs,
        /// Print the summary as JSON on stdout instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Score past leads with the model that would have been champion then (retrained every
    /// `[train] retrain_after_days` with the data known then, or one fixed `--model`) and compare
    /// with the outcomes known now: precision and recall of `qualified`, AUC, predicted against
    /// actual value per period. Writes backtest.json and backtest.html.
    Backtest {
        /// Config file and the days whose leads are scored.
        #[command(flatten)]
        range: RangeArgs,
        /// Outcomes known before this date. Default: the config's `default_run_date`, else today.
        #[arg(long)]
        as_of: Option<RunDate>,
        /// Score every period with this model of the registry instead of retraining.
        #[arg(long)]
        model: Option<String>,
        /// Seed for every random choice.
        #[arg(long, default_value_t = leadscore_core::config::train::DEFAULT_SEED)]
        seed: u64,
        /// Print the report as JSON on stdout instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Reports over a range of days, from the daily runs' outputs.
    Report {
        /// Which report.
        #[command(subcommand)]
        report: ReportCommand,
    },
    /// Run the DAG for every run date from `--from` to `--to` (both included), in order; stop at
    /// the first failing date unless `--continue-on-error`. A date with nothing to do (exit 99)
    /// is not a failure. Prints a table of the dates.
    Backfill {
        /// Config file.
        #[arg(long, short, default_value = "leadscore.toml")]
        config: PathBuf,
        /// First run date (YYYY-MM-DD).
        #[arg(long)]
        from: RunDate,
        /// Last run date (YYYY-MM-DD), included.
        #[arg(long)]
        to: RunDate,
        /// Go on with the next dates after a failure; the exit code is the first failure's.
        #[arg(long)]
        continue_on_error: bool,
        /// Seed for every random choice.
        #[arg(long, default_value_t = leadscore_core::config::train::DEFAULT_SEED)]
        seed: u64,
        /// Wait up to this many seconds for another run using the same output folder.
        #[arg(long, default_value_t = 0, value_name = "SECONDS")]
        lock_wait: u64,
        /// Stages and pipeline file.
        #[command(flatten)]
        dag: DagArgs,
        /// Print the summary as JSON on stdout instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check the config, read every source, show the conversion definitions and their monthly
    /// volumes, without writing anything.
    Validate {
        /// Config and date.
        #[command(flatten)]
        run: RunArgs,
    },
    /// Propose a commented leadscore.toml from the exports themselves: recognises the HubSpot
    /// and Salesforce preset columns (or finds each field's column by its usual names), proposes
    /// the other lead columns as attributes with inferred kinds, flagging those that look filled
    /// in after the lead is created, and writes the file for `validate` to check.
    Init {
        /// The leads (contacts) export: .csv, .parquet or .jsonl.
        #[arg(long)]
        leads: PathBuf,
        /// The deals (opportunities) export.
        #[arg(long)]
        deals: PathBuf,
        /// The behavioural events export, if any.
        #[arg(long)]
        events: Option<PathBuf>,
        /// Where to write the config; paths in it are relative to its folder.
        #[arg(long, default_value = "leadscore.toml")]
        out: PathBuf,
        /// Replace the file when it exists.
        #[arg(long)]
        force: bool,
    },
    /// Generate a synthetic CRM export, its leadscore.toml and a truth file.
    Synth(SynthArgs),
    /// Show a Parquet file's schema, rows, row groups and leadscore metadata.
    Inspect {
        /// The Parquet file.
        file: PathBuf,
        /// Also print the first N rows.
        #[arg(long, default_value_t = 0)]
        head: usize,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script on stdout: `leadscore completions bash >
    /// ~/.local/share/bash-completion/completions/leadscore`, `leadscore completions zsh >
    /// "${fpath[1]}/_leadscore"`, `leadscore completions fish >
    /// ~/.config/fish/completions/leadscore.fish`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout: `leadscore man > leadscore.1`, then `man
    /// ./leadscore.1`; with `--out-dir`, write it and a page per command (`leadscore-run.1`, …)
    /// into a folder such as `/usr/local/share/man/man1`.
    Man {
        /// Write `leadscore.1` and a page per command into this folder instead.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
}

/// CRM shapes synth can imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShapeArg {
    /// contacts.csv, deals.csv, events.csv.
    Hubspot,
    /// Lead.csv, Opportunity.csv.
    Salesforce,
}

/// `leadscore synth` arguments.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Output folder (created if needed).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of leads.
    #[arg(long, default_value_t = 20_000)]
    pub leads: u64,
    /// Months of history.
    #[arg(long, default_value_t = 12)]
    pub months: u32,
    /// Seed: the same seed gives byte-identical files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Export shape.
    #[arg(long, value_enum, default_value_t = ShapeArg::Hubspot)]
    pub shape: ShapeArg,
    /// Share of rows to corrupt (malformed timestamps, missing ids, duplicates, negative amounts,
    /// unknown currencies), 0 to 0.5.
    #[arg(long, default_value_t = 0.0)]
    pub dirty_rate: f64,
    /// Export date: leads are created before its midnight. Default 2026-11-01.
    #[arg(long)]
    pub end: Option<RunDate>,
    /// Conversion window (days) the truth file refers to.
    #[arg(long, default_value_t = 40)]
    pub window_days: u32,
    /// Extra noise attributes (`Extra 1` … `Extra N`, numeric and categorical by turns) for
    /// benchmarks with many attributes; they carry no signal.
    #[arg(long, default_value_t = 0)]
    pub extra_attributes: u32,
    /// Mean number of extra noise `Page View` events per lead (HubSpot shape), for benchmarks
    /// with a large events table; they carry no signal.
    #[arg(long, default_value_t = 0.0)]
    pub extra_events: f64,
}

/// A config file and the days of creation of the leads a command looks at.
#[derive(Debug, Args)]
pub struct RangeArgs {
    /// Config file.
    #[arg(long, short, default_value = "leadscore.toml")]
    pub config: PathBuf,
    /// First day of creation (YYYY-MM-DD).
    #[arg(long)]
    pub from: RunDate,
    /// Last day of creation (YYYY-MM-DD), included.
    #[arg(long)]
    pub to: RunDate,
}

/// The reports of `leadscore report`.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Which traffic sources bring valuable leads: per channel of each `[channels] dimensions`
    /// attribute (and Google/Meta click ids) and per week, the leads created from `--from` to
    /// `--to`, their qualified share, predicted value and, once matured, actual conversions and
    /// value; with ad spend (`--spend` or `[channels.spend]`), cost per (qualified) lead and
    /// predicted and actual return on ad spend. Reads the daily runs' `channel_leads.parquet`;
    /// writes `<output_dir>/channels/<from>_<to>/` (channels.parquet, .csv, .html, report.json).
    Channels {
        /// Config file and the days whose leads are counted.
        #[command(flatten)]
        range: RangeArgs,
        /// Outcomes as known on this run date. Default: the latest run with labels.
        #[arg(long)]
        as_of: Option<RunDate>,
        /// Ad spend per day and campaign (CSV or Parquet, as Google Ads or Meta export it),
        /// instead of `[channels.spend] path`.
        #[arg(long)]
        spend: Option<PathBuf>,
        /// Seed of the bootstrap intervals.
        #[arg(long, default_value_t = leadscore_core::config::train::DEFAULT_SEED)]
        seed: u64,
        /// Print the report as JSON on stdout instead of a summary.
        #[arg(long)]
        json: bool,
    },
}
