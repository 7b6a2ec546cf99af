//! Write-back to the CRM: every scored lead's score, segment, probability, predicted value and
//! top reasons, as files the CRMs import onto the lead records (the fields MadKudu and the CRMs'
//! own predictive scoring show).
//!
//! - HubSpot contact import ("Import records", <https://knowledge.hubspot.com/import-and-export/import-objects>):
//!   a CSV whose `Record ID` column matches existing contacts (the lead id is the HubSpot record
//!   id in the HubSpot preset), then one column per contact property. The properties must exist
//!   in HubSpot (number properties for score, probability and value; single-line text for the
//!   others).
//! - Salesforce Bulk API 2.0 update job ("Prepare CSV Files",
//!   <https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/datafiles_prepare_csv.htm>):
//!   UTF-8, comma-separated, a header of field API names with `Id` first (the Lead record id),
//!   numbers with a `.` decimal point, `true`/`false`, line ends `LF`. Custom fields end in `__c`.

use leadscore_core::Config;
use leadscore_core::config::ExportFormat;
use leadscore_core::schema::files;

use crate::Lead;
use crate::error::Result;
use crate::formats::{FormatOutput, csv_error, empty};

/// The fields written back, after the record id, without the configured prefix.
pub const FIELDS: [&str; 6] = ["score", "segment", "probability", "predicted_value", "qualified", "reasons"];

/// The header of `format`'s file.
pub fn header(format: ExportFormat, prefix: &str) -> Vec<String> {
    let (id, suffix) = match format {
        ExportFormat::Salesforce => ("Id", "__c"),
        _ => ("Record ID", ""),
    };
    std::iter::once(id.to_string()).chain(FIELDS.iter().map(|f| format!("{prefix}{f}{suffix}"))).collect()
}

/// Writes every scored lead of `rows` in `format` (HubSpot or Salesforce).
pub(crate) fn write(format: ExportFormat, rows: &[Lead], config: &Config) -> Result<FormatOutput> {
    let mut out = empty();
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    w.write_record(header(format, &config.export.crm_field_prefix)).map_err(csv_error)?;
    for lead in rows.iter().filter(|l| l.scored) {
        out.candidates += 1;
        w.write_record([
            lead.lead_id.clone(),
            format!("{:.0}", lead.score),
            lead.segment.clone(),
            lead.probability.map(|p| format!("{p:.4}")).unwrap_or_default(),
            lead.value.filter(|v| v.is_finite()).map(|v| format!("{v:.2}")).unwrap_or_default(),
            lead.qualified.to_string(),
            lead.reasons.join("; "),
        ])
        .map_err(csv_error)?;
        out.exported += 1;
    }
    let name = if format == ExportFormat::Salesforce { files::SALESFORCE } else { files::HUBSPOT };
    let bytes = w.into_inner().map_err(csv_error)?;
    out.files.push((name.to_string(), bytes, None));
    Ok(out)
}
