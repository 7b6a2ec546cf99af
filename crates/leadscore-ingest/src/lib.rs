//! `leadscore-ingest`: the first stage. CRM exports in; canonical tables and rejects out.
//!
//! [`run`] is responsible for turning the configured sources (leads, deals, optional events; CSV,
//! Parquet or JSON Lines; one file, a glob or a date-partitioned folder, of which a run reads the
//! days it uses; or a PostgreSQL query) into the canonical tables of
//! [`leadscore_core::schema`]:
//!
//! - maps file columns to canonical fields (config mapping over a preset);
//! - parses timestamps (RFC 3339, `YYYY-MM-DD HH:MM:SS` in the project time zone, Salesforce
//!   `2025-09-01T01:17:28.000+0000`, HubSpot epoch milliseconds, dates), trims text, parses
//!   amounts, converts them into the project currency;
//! - parses lead attributes by their declared or inferred kind;
//! - de-duplicates by id (newest `updated_at` wins; without one, the later row in the export);
//! - sends every row it cannot use to `rejects.parquet` with a reason, the file, the row number
//!   and the raw values.
//!
//! It writes `leads.parquet`, `deals.parquet`, `events.parquet`, `rejects.parquet`,
//! `identities.parquet` and `report.json` under `<output_dir>/runs/<date>/ingest/`.
//!
//! Personal data stops here ([`identity`]): `leads.parquet` keeps the e-mail's domain and class
//! and the phone's country, `identities.parquet` the SHA-256 digests the exports send (for the
//! leads created in the scoring range only), and no raw e-mail, phone or name is written unless
//! `[privacy] keep_raw_identifiers`.
//!
//! In a run without training ([`leadscore_core::Scope::Scoring`]) it keeps only the leads created
//! from the first day the run may export (every version of their ids) and all the deals and
//! events of their users; the CSV reader leaves the other rows out as it reads.
//!
//! Guarantee: for every source, rows read = rows accepted + rows rejected + rows left out (none
//! in a run of the whole history). Ingest keeps rows dated
//! after the run date (the report counts them); later stages apply the time rules.

mod attributes;
mod error;
mod ingest;
pub mod init;
mod parse;
mod read;
mod report;

use leadscore_core::artifact;
use leadscore_core::layout::{InputFile, Manifest, StageWriter, Timing};
use leadscore_core::{Config, Outputs, RunContext, RunLayout, Stage, StageRun};

pub use attributes::{CATEGORICAL_MAX_DISTINCT, INFER_SAMPLE, MIN_PARSED_SHARE};
pub use error::{IngestError, Result};
pub use ingest::{IngestOutputs, run, run_writing};
pub use read::{
    Input, RawFile, RawFrame, RawSources, RecordNumbers, RowFilter, SourceReader, Sources, TextTable, UnreadableRecord,
    file_format, query_digest, read_file, read_file_filtered, read_sources, read_sources_in, resolve_files,
    source_files,
};
pub use report::{AttributeReport, FileReport, IngestReport, SourceReport};

/// Runs ingest on the configured sources, read one source at a time ([`SourceReader`]: the leads
/// first, the deals and events once the leads are parsed and written, [`run_writing`]), and
/// writes its outputs and manifest for the run.
pub fn execute(config: &Config, ctx: &RunContext, layout: &RunLayout) -> Result<(IngestReport, Manifest)> {
    let read = |_: &mut StageRun| SourceReader::new(config, Some(ctx.run_date), ctx.scope).with_leads();
    StageRun::execute_writing((Stage::Ingest, "parse"), layout, ctx, read, |mut sources, w| {
        let mut out = run_writing(config, &mut sources, ctx, Some(w))?;
        out.inputs = sources.into_inputs();
        Ok(out)
    })
}

impl Outputs for IngestOutputs {
    type Report = IngestReport;
    fn write(mut self, w: &mut StageWriter) -> leadscore_core::error::Result<IngestReport> {
        if !self.leads_written {
            w.write_table(&artifact::LEADS, &mut self.leads)?;
            w.write_table(&artifact::IDENTITIES, &mut self.identities)?;
        }
        w.write_table(&artifact::DEALS, &mut self.deals)?;
        w.write_table(&artifact::EVENTS, &mut self.events)?;
        w.write_table(&artifact::REJECTS, &mut self.rejects)?;
        for (name, table) in &mut self.tables {
            w.write_member(&artifact::SOURCE_TABLES, name, table)?;
        }
        Ok(self.report)
    }
    fn take_timings(&mut self) -> Vec<Timing> {
        std::mem::take(&mut self.timings)
    }
    fn take_source_files(&mut self) -> Vec<InputFile> {
        std::mem::take(&mut self.inputs)
    }
}
