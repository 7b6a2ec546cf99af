//! The ingest stage report (`report.json`): every input row accounted for.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use leadscore_core::RunDate;
use leadscore_core::config::AttributeKind;
use polars::prelude::{ChunkAgg, Int64Chunked};
use serde::Serialize;

/// What ingest read, kept and rejected, per source and per attribute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngestReport {
    /// The run date.
    pub run_date: RunDate,
    /// One entry per configured source, in order leads, deals, events.
    pub sources: Vec<SourceReport>,
    /// One entry per configured attribute.
    pub attributes: Vec<AttributeReport>,
    /// Rows in `rejects.parquet`.
    pub rejected_total: u64,
    /// Warnings worth a look (also logged).
    pub warnings: Vec<String>,
}

/// One source's accounting: `read == accepted + rejected + left_out` always holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceReport {
    /// Which source: its config section (`leads`, `tables.opportunities`).
    pub source: String,
    /// Each file read and its data rows.
    pub files: Vec<FileReport>,
    /// Data rows read from all files.
    pub read: u64,
    /// Rows written to the canonical table.
    pub accepted: u64,
    /// Rows written to `rejects.parquet`.
    pub rejected: u64,
    /// Rejected rows per reason code.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Values of optional fields that could not be used and were left empty (per field), e.g. a
    /// probability outside [0, 100].
    pub values_left_empty: BTreeMap<String, u64>,
    /// Preset columns absent from the files; their fields are empty.
    pub preset_columns_missing: Vec<String>,
    /// Earliest timestamp of the source's main time field among accepted rows (RFC 3339).
    pub first_at: Option<String>,
    /// Latest such timestamp.
    pub last_at: Option<String>,
    /// Accepted rows dated on or after the run date (kept; stages apply their own time rules).
    pub on_or_after_run_date: u64,
    /// Rows read but not kept by a run without training (`scope = "scoring"` in the manifest):
    /// leads created before the first day the run may export, events of other users. Neither
    /// parsed nor checked.
    #[serde(skip_serializing_if = "is_zero")]
    pub left_out: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl SourceReport {
    /// The accounting of a source before any row is read.
    pub(crate) fn new(source: String, preset_columns_missing: Vec<String>) -> Self {
        Self {
            source,
            files: Vec::new(),
            read: 0,
            accepted: 0,
            rejected: 0,
            rejected_by_reason: BTreeMap::new(),
            values_left_empty: BTreeMap::new(),
            preset_columns_missing,
            first_at: None,
            last_at: None,
            on_or_after_run_date: 0,
            left_out: 0,
        }
    }

    /// Records the span of the accepted rows' main `times` and how many are dated from
    /// `run_start` on.
    pub(crate) fn record_span(&mut self, times: &Int64Chunked, run_start: i64) {
        self.first_at = times.min().map(leadscore_core::time::format_micros);
        self.last_at = times.max().map(leadscore_core::time::format_micros);
        self.on_or_after_run_date = times.iter().filter(|t| t.is_some_and(|t| t >= run_start)).count() as u64;
    }
}

/// One file of a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileReport {
    /// The file.
    pub path: String,
    /// Its data rows.
    pub rows: u64,
}

/// One attribute: its resolved kind and how full it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributeReport {
    /// Attribute name (column in `leads.parquet`).
    pub name: String,
    /// Column in the leads file.
    pub column: String,
    /// Resolved kind.
    pub kind: AttributeKind,
    /// Whether the kind was inferred (not declared).
    pub inferred: bool,
    /// Whether the attribute is known at lead creation.
    pub available_at_creation: bool,
    /// Accepted leads with a value.
    pub filled: u64,
    /// Values that could not be parsed as `kind` and were left empty.
    pub unparsable: u64,
}

impl IngestReport {
    /// A short human summary for the terminal.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "ingest {}", self.run_date);
        // Wide enough for a table's section (`tables.opportunities`).
        let w = self.sources.iter().map(|src| src.source.len()).max().unwrap_or(0).max(8);
        let _ =
            writeln!(s, "  {:<w$} {:>10} {:>10} {:>10}  rejected because", "source", "read", "accepted", "rejected");
        for src in &self.sources {
            let mut reasons =
                src.rejected_by_reason.iter().map(|(r, n)| format!("{r} {n}")).collect::<Vec<_>>().join(", ");
            if src.left_out > 0 {
                let sep = if reasons.is_empty() { "" } else { "; " };
                let _ = write!(reasons, "{sep}{} left out (not needed without training)", src.left_out);
            }
            let _ = writeln!(
                s,
                "  {:<w$} {:>10} {:>10} {:>10}  {reasons}",
                src.source, src.read, src.accepted, src.rejected
            );
        }
        for w in &self.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
        s
    }
}
