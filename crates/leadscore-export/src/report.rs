//! The export stage report.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use leadscore_core::RunDate;
use serde::Serialize;

/// Lead ids listed per refusal reason in `report.json` (all of them are in `refused.parquet`).
pub const IDS_IN_REPORT: usize = 50;

/// Why an export refused a lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// Meta accepts CRM events up to `meta_max_age_days` (7) days old.
    MetaEventTooOld,
    /// Google accepts conversions of clicks up to `google_click_window_days` (90) days old.
    GoogleClickTooOld,
    /// Google accepts enhanced conversions for leads up to `google_click_window_days` (90) days
    /// after the lead.
    GoogleConversionTooOld,
    /// Google adjusts conversions up to 54 days old.
    GoogleAdjustmentTooOld,
    /// The lead denied Google the use of its data (`adUserData`: `DENIED`).
    ConsentDenied,
    /// Nothing the platform can match the lead on (for Meta: no e-mail, phone, lead id or click
    /// id; for Google enhanced conversions: no e-mail or phone; for the custom shape: no client
    /// or user id).
    NoIdentifier,
    /// The currency is not an ISO 4217 code.
    InvalidCurrency,
    /// The value is missing, not finite or negative.
    InvalidValue,
}

impl Refusal {
    /// The reason as written in `refused.parquet`.
    pub fn name(self) -> &'static str {
        match self {
            Self::MetaEventTooOld => "meta_event_too_old",
            Self::GoogleClickTooOld => "google_click_too_old",
            Self::GoogleConversionTooOld => "google_conversion_too_old",
            Self::GoogleAdjustmentTooOld => "google_adjustment_too_old",
            Self::ConsentDenied => "consent_denied",
            Self::NoIdentifier => "no_identifier",
            Self::InvalidCurrency => "invalid_currency",
            Self::InvalidValue => "invalid_value",
        }
    }
}

/// Refused leads of one reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefusedCount {
    /// The reason.
    pub reason: Refusal,
    /// How many leads.
    pub leads: u64,
    /// The first [`IDS_IN_REPORT`] lead ids (all are in `refused.parquet`).
    pub lead_ids: Vec<String>,
}

/// Conversions already sent that one run changed, for one reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeCount {
    /// Why (`rescored`, `qualified`, `converted`: restated; `disqualified`, `deleted`: retracted).
    pub reason: crate::Reason,
    /// How many leads.
    pub leads: u64,
    /// The first [`IDS_IN_REPORT`] lead ids.
    pub lead_ids: Vec<String>,
}

/// What one export did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FormatReport {
    /// `custom`, `google_click`, `google_enhanced` or `meta_capi`.
    pub format: String,
    /// The files written.
    pub files: Vec<String>,
    /// Leads the export looked at (qualified leads; for the custom shape with
    /// `include_unqualified`, every scored lead).
    pub candidates: u64,
    /// Leads written.
    pub exported: u64,
    /// Candidates the export does not apply to (Google click conversions: no click id). Not an
    /// error: they are in the other exports.
    pub not_applicable: u64,
    /// Candidates refused, by reason.
    pub refused: Vec<RefusedCount>,
    /// Fields left out of exported events because the platform would reject them, by reason
    /// (`lead_id_not_15_or_16_digits`: a Meta lead id that is not one); the events were sent
    /// without them.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub dropped: BTreeMap<String, u64>,
    /// The first [`IDS_IN_REPORT`] leads sent as new conversions.
    pub new_lead_ids: Vec<String>,
    /// Conversions already sent that this run adjusted, by reason.
    pub changes: Vec<ChangeCount>,
    /// Conversions already sent (in the ledger) that this run left as they were.
    pub unchanged: u64,
}

/// `report.json` of the export stage.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// The run date.
    pub run_date: RunDate,
    /// Scored leads read.
    pub scored: u64,
    /// Of which qualified.
    pub qualified: u64,
    /// `[export] adjustment_window_days`.
    pub adjustment_window_days: u32,
    /// The run date of the ledger the run compared with (none before the first, or when
    /// adjustments are off).
    pub ledger_from: Option<RunDate>,
    /// Per export.
    pub formats: Vec<FormatReport>,
}

impl ExportReport {
    /// A short human summary.
    pub fn summary(&self) -> String {
        let mut s = format!("export {}: {} scored leads, {} qualified\n", self.run_date, self.scored, self.qualified);
        for f in &self.formats {
            let refused: u64 = f.refused.iter().map(|r| r.leads).sum();
            let _ = write!(s, "  {:<16} {:>7} exported of {:>7}", f.format, f.exported, f.candidates);
            if f.not_applicable > 0 {
                let _ = write!(s, ", {} without a click id", f.not_applicable);
            }
            let _ = write!(s, ", {refused} refused");
            if self.adjustment_window_days > 0 && f.format != "hubspot" && f.format != "salesforce" {
                let (mut restated, mut retracted) = (0, 0);
                for c in &f.changes {
                    match c.reason {
                        crate::Reason::Disqualified | crate::Reason::Deleted => retracted += c.leads,
                        _ => restated += c.leads,
                    }
                }
                let _ = write!(s, "; {restated} restated, {retracted} retracted, {} unchanged", f.unchanged);
            }
            let _ = writeln!(s);
            for r in &f.refused {
                let _ = writeln!(s, "    refused {:>7}  {}", r.leads, r.reason.name());
            }
            for (why, n) in &f.dropped {
                let _ = writeln!(s, "    field dropped {n:>7}  {why}");
            }
        }
        s
    }
}
