//! `leadscore-core`: the contracts every leadscore stage shares.
//!
//! This crate is responsible for what must agree across stages and therefore lives in one place:
//!
//! - [`artifact`]: every table and document passed between stages (producer, file, columns) and
//!   what each stage reads, from which the DAG's edges are derived;
//! - [`schema`]: the canonical tables (leads, deals, events, rejects) and their column names;
//! - [`config`]: `leadscore.toml`, parsed raw → validated, every problem reported at once;
//! - [`error`]: error types and the exit-code classes the CLI maps them to;
//! - [`io`]: Parquet read/write through polars with leadscore metadata and atomic writes;
//! - [`layout`]: the run layout `<output_dir>/runs/<date>/<stage>/`, the one stage runner,
//!   staging and manifests, freshness, the output folder's lock;
//! - [`time`]: run dates and the timestamp formats CRM exports use;
//! - [`currency`]: ISO 4217 codes and conversion into the project currency;
//! - [`digest`]: SHA-256 content hashes and deterministic ids;
//! - [`identity`]: personal data normalised as the ad platforms specify, and the digests ingest
//!   makes of it for the exports (the contract of `identities.parquet`);
//! - [`memory`]: the process's resident memory, and returning what a stage freed;
//! - [`charts`]: the style sheet and inline SVG charts of the HTML reports, so that every page
//!   looks alike.
//!
//! Stage crates depend on this crate and never on each other.

pub mod artifact;
pub mod charts;
pub mod config;
pub mod currency;
pub mod digest;
pub mod error;
pub mod frame;
pub mod identity;
pub mod io;
pub mod layout;
pub mod memory;
pub mod schema;
pub mod sql;
pub mod time;

pub use config::Config;
pub use error::{Classify, CoreError, ExitKind};
pub use layout::{Outputs, RunContext, RunLayout, Scope, Stage, StageRun};
pub use time::RunDate;
