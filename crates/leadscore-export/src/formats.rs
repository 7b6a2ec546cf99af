//! The upload formats. Each checks the platform's rules, then writes its file(s).
//!
//! Formats as published (checked 2026-11):
//! - Google Ads offline click conversions, "Import conversions from ad clicks into Google Ads":
//!   <https://support.google.com/google-ads/answer/7014069> — a `Parameters:TimeZone=` row, the
//!   header `Google Click ID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency`,
//!   times `yyyy-MM-dd HH:mm:ss`; clicks older than 90 days cannot be attributed.
//! - Google Ads enhanced conversions for leads, `ClickConversion` of the Google Ads API (REST
//!   JSON field names): <https://developers.google.com/google-ads/api/reference/rpc/latest/ClickConversion>
//!   — `conversionAction` a resource name `customers/{customer_id}/conversionActions/{id}`,
//!   `conversionDateTime` as `yyyy-mm-dd hh:mm:ss+|-hh:mm`, `userIdentifiers` with
//!   `hashedEmail` / `hashedPhoneNumber`, `consent` (`adUserData`, `adPersonalization`: `GRANTED`
//!   or `DENIED`; required for users in the EEA:
//!   <https://developers.google.com/google-ads/api/docs/conversions/upload-identifiers>). A request
//!   of `UploadClickConversions` takes at most 2000 conversions
//!   (<https://developers.google.com/google-ads/api/docs/best-practices/quotas>), with
//!   `partialFailure: true` so that one bad conversion does not reject the rest
//!   (<https://developers.google.com/google-ads/api/reference/rpc/latest/UploadClickConversionsRequest>).
//!   Conversions more than the click-through window (90 days) after the lead are not accepted.
//! - Meta Conversions API for CRM (Conversion Leads), payload specification:
//!   <https://developers.facebook.com/docs/marketing-api/conversions-api/conversion-leads-integration/payload-specification>
//!   — `event_time` is when the lead reached the CRM stage (here: when leadscore qualified it,
//!   the start of the run date) and must be at most 7 days old when it is sent,
//!   `action_source: "system_generated"`, `custom_data.event_source: "crm"`,
//!   `custom_data.lead_event_source`, `user_data.lead_id` unhashed and 15 or 16 digits (an
//!   invalid one rejects the event, so it is dropped and counted); at most 1000 events per
//!   request (<https://developers.facebook.com/docs/marketing-api/conversions-api/using-the-api>);
//!   `fbc` as `fb.1.<creation time in ms>.<fbclid>`; location keys `country`, `ct`, `st`, `zp`
//!   hashed like the other customer information parameters.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, ListBuilder, RecordBatch, StringArray, StringBuilder, StructBuilder,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use leadscore_core::config::{ConsentStatus, ExportFormat, ExternalId};
use leadscore_core::currency::iso4217;
use leadscore_core::digest::stable_id;
use leadscore_core::schema::{files, identities as id};
use leadscore_core::time::MICROS_PER_DAY;
use leadscore_core::{Config, RunContext, Stage};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde::Serialize;

use crate::Lead;
use crate::adjust::{self, Adjustment, Change, Entry, Reason, State, money};
use crate::error::{ExportError, Result};
use crate::report::{ChangeCount, FormatReport, IDS_IN_REPORT, Refusal, RefusedCount};

/// Most events in one Meta batch file (one API request).
pub const META_BATCH: usize = 1000;
/// Most conversions in one Google Ads `UploadClickConversions` request file.
pub const GOOGLE_BATCH: usize = 2000;
/// Microseconds in an hour.
const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// What every format needs from the config and the run.
pub(crate) struct Settings<'a> {
    config: &'a Config,
    tz: Tz,
    /// The run date's start: when leadscore qualified the day's leads.
    run_start: i64,
    /// The latest moment the files are sent (`upload_within_hours` after the run date starts):
    /// the platforms' age limits are checked against it.
    send_by: i64,
    table_meta: Vec<(String, String)>,
    run_date: leadscore_core::RunDate,
}

impl<'a> Settings<'a> {
    pub(crate) fn new(config: &'a Config, ctx: &RunContext) -> Self {
        let tz = config.project.timezone;
        let run_start = ctx.run_date.start_micros(tz);
        let send_by = run_start + i64::from(config.export.upload_within_hours) * MICROS_PER_HOUR;
        Self {
            config,
            tz,
            run_start,
            send_by,
            table_meta: ctx.table_meta(Stage::Export).pairs(),
            run_date: ctx.run_date,
        }
    }

    /// What a destination holds once a new conversion of `lead` is sent.
    fn sent(&self, format: ExportFormat, lead: &Lead, id: String, at: i64, value: f64, currency: &str) -> Entry {
        Entry {
            destination: format.name().to_string(),
            lead_id: lead.lead_id.clone(),
            lead_created_at: lead.created_at,
            conversion_id: id,
            conversion_at: at,
            value,
            currency: currency.to_string(),
            qualified: lead.qualified,
            state: if lead.late { State::Converted } else { State::Sent },
            sent_on: self.run_date.to_string(),
            changed_on: self.run_date.to_string(),
            adjusted_at: None,
            gclid: lead.gclid.clone(),
        }
    }

    /// Google's time format with the offset (`yyyy-mm-dd hh:mm:ss+|-hh:mm`).
    fn google_time(&self, micros: i64) -> String {
        local(micros, self.tz).format("%Y-%m-%d %H:%M:%S%:z").to_string()
    }

    /// The oldest instant that is at most `days` old when the files are sent.
    fn days_before_sending(&self, days: u32) -> i64 {
        self.send_by - i64::from(days) * MICROS_PER_DAY
    }
}

/// What one format did.
pub(crate) struct FormatOutput {
    /// Name, bytes, and rows for a table (the custom shape's Parquet file).
    pub files: Vec<(String, Vec<u8>, Option<u64>)>,
    pub candidates: u64,
    pub exported: u64,
    pub not_applicable: u64,
    pub refused: Vec<(String, Refusal)>,
    /// Fields left out of exported events, by reason.
    pub dropped: BTreeMap<String, u64>,
    /// What the destination holds of each lead sent or adjusted now.
    pub ledger: Vec<Entry>,
    /// Conversions changed, by reason, with their lead ids.
    pub changed: BTreeMap<Reason, Vec<String>>,
}

impl FormatOutput {
    /// The format's report; `held`: the conversions the destination held before the run.
    pub(crate) fn report(&self, format: ExportFormat, held: usize) -> FormatReport {
        let mut by: BTreeMap<Refusal, Vec<&str>> = BTreeMap::new();
        for (id, r) in &self.refused {
            by.entry(*r).or_default().push(id);
        }
        FormatReport {
            format: format.name().to_string(),
            files: self.files.iter().map(|(n, _, _)| n.clone()).collect(),
            candidates: self.candidates,
            exported: self.exported,
            not_applicable: self.not_applicable,
            refused: by
                .into_iter()
                .map(|(reason, ids)| RefusedCount {
                    reason,
                    leads: ids.len() as u64,
                    lead_ids: ids.into_iter().take(IDS_IN_REPORT).map(str::to_string).collect(),
                })
                .collect(),
            dropped: self.dropped.clone(),
            changes: self
                .changed
                .iter()
                .map(|(reason, ids)| ChangeCount {
                    reason: *reason,
                    leads: ids.len() as u64,
                    lead_ids: ids.iter().take(IDS_IN_REPORT).cloned().collect(),
                })
                .collect(),
            new_lead_ids: self
                .ledger
                .iter()
                .filter(|e| e.adjusted_at.is_none())
                .take(IDS_IN_REPORT)
                .map(|e| e.lead_id.clone())
                .collect(),
            unchanged: (held - self.changed.values().map(Vec::len).sum::<usize>()) as u64,
        }
    }

    /// Records an adjustment written now; what the destination holds after it.
    fn adjusted(&mut self, a: &Adjustment<'_>, s: &Settings<'_>) -> &Entry {
        self.changed.entry(a.change.reason()).or_default().push(a.lead.lead_id.clone());
        self.ledger.push(adjust::after(a, s.run_date, s.run_start));
        &self.ledger[self.ledger.len() - 1]
    }
}

/// The value and currency every platform needs, or why not.
fn value_and_currency(lead: &Lead) -> std::result::Result<(f64, String), Refusal> {
    let value = lead.value.filter(|v| v.is_finite() && *v >= 0.0).ok_or(Refusal::InvalidValue)?;
    let currency = lead.currency.as_deref().and_then(iso4217).ok_or(Refusal::InvalidCurrency)?;
    Ok((money(value), currency))
}

fn local(micros: i64, tz: Tz) -> DateTime<Tz> {
    DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or_default().with_timezone(&tz)
}

/// Runs one format over the new conversions and the adjustments of those already sent.
pub(crate) fn write(
    format: ExportFormat,
    rows: &[Cow<'_, Lead>],
    adjustments: &[Adjustment<'_>],
    s: &Settings<'_>,
) -> Result<FormatOutput> {
    let rows: Vec<&Lead> = rows.iter().map(AsRef::as_ref).collect();
    match format {
        ExportFormat::Custom => custom(&rows, adjustments, s),
        ExportFormat::GoogleClick => google_click(&rows, adjustments, s),
        ExportFormat::GoogleEnhanced => google_enhanced(&rows, adjustments, s),
        ExportFormat::MetaCapi => meta_capi(&rows, adjustments, s),
        ExportFormat::Hubspot | ExportFormat::Salesforce => {
            Err(ExportError::Internal("a CRM file as conversions".into()))
        }
    }
}

pub(crate) fn empty() -> FormatOutput {
    FormatOutput {
        files: Vec::new(),
        candidates: 0,
        exported: 0,
        not_applicable: 0,
        refused: Vec::new(),
        dropped: BTreeMap::new(),
        ledger: Vec::new(),
        changed: BTreeMap::new(),
    }
}

/// A new conversion's reason.
fn new_reason(lead: &Lead) -> Reason {
    if lead.late { Reason::LateConversion } else { Reason::New }
}

/// One row of the custom-conversion shape: a new conversion or the new state of one already
/// sent (upserted by `id`).
struct CustomRow<'a> {
    id: String,
    lead: &'a Lead,
    created: i64,
    value: f64,
    currency: String,
    qualified: bool,
    reason: Reason,
    adjusted_at: Option<i64>,
    params: [(&'static str, String); 4],
}

fn custom_params(lead: &Lead, name: &str) -> [(&'static str, String); 4] {
    [
        ("score", format!("{:.0}", lead.score)),
        ("segment", lead.segment.clone()),
        ("model_id", lead.model_id.clone()),
        ("conversion_name", name.to_string()),
    ]
}

fn custom<'a>(rows: &[&'a Lead], adjustments: &[Adjustment<'a>], s: &Settings<'_>) -> Result<FormatOutput> {
    let e = &s.config.export;
    let mut out = empty();
    let mut kept = Vec::new();
    for &lead in rows.iter().filter(|r| r.qualified || e.include_unqualified) {
        out.candidates += 1;
        let checked = value_and_currency(lead).and_then(|vc| {
            if lead.client_id.is_none() && lead.user_id.is_none() { Err(Refusal::NoIdentifier) } else { Ok(vc) }
        });
        match checked {
            Err(r) => out.refused.push((lead.lead_id.clone(), r)),
            Ok((value, currency)) => {
                let id = stable_id(&["leadscore", "custom", &e.conversion_name, &lead.lead_id]);
                out.ledger.push(s.sent(ExportFormat::Custom, lead, id.clone(), lead.created_at, value, &currency));
                kept.push(CustomRow {
                    id,
                    lead,
                    created: lead.created_at,
                    value,
                    currency,
                    qualified: lead.qualified,
                    reason: new_reason(lead),
                    adjusted_at: None,
                    params: custom_params(lead, &e.conversion_name),
                });
            }
        }
    }
    out.exported = kept.len() as u64;
    for a in adjustments {
        let now = out.adjusted(a, s);
        kept.push(CustomRow {
            id: now.conversion_id.clone(),
            lead: a.lead,
            created: now.lead_created_at,
            value: now.value,
            currency: now.currency.clone(),
            qualified: now.qualified,
            reason: a.change.reason(),
            adjusted_at: now.adjusted_at,
            params: custom_params(a.lead, &e.conversion_name),
        });
    }
    let rows = Some(kept.len() as u64);
    out.files.push((files::QUALIFIED_LEADS.to_string(), custom_parquet(&kept, &s.table_meta)?, rows));
    out.files.push((files::QUALIFIED_LEADS_CSV.to_string(), custom_csv(&kept)?, None));
    Ok(out)
}

fn custom_parquet(rows: &[CustomRow<'_>], meta: &[(String, String)]) -> Result<Vec<u8>> {
    let kv = Fields::from(vec![Field::new("key", DataType::Utf8, false), Field::new("value", DataType::Utf8, false)]);
    let mut params = ListBuilder::new(StructBuilder::from_fields(kv.clone(), rows.len() * 4)).with_field(Field::new(
        "item",
        DataType::Struct(kv),
        false,
    ));
    for r in rows {
        let b = params.values();
        for (k, v) in &r.params {
            b.field_builder::<StringBuilder>(0)
                .ok_or_else(|| ExportError::Internal("params key builder".into()))?
                .append_value(k);
            b.field_builder::<StringBuilder>(1)
                .ok_or_else(|| ExportError::Internal("params value builder".into()))?
                .append_value(v);
            b.append(true);
        }
        params.append(true);
    }
    let params = params.finish();
    let params_type = params.data_type().clone();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.id.as_str()))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.lead.client_id.as_deref()))),
        Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.created)).with_timezone("UTC")),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.value))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.currency.as_str()))),
        Arc::new(BooleanArray::from(rows.iter().map(|r| r.qualified).collect::<Vec<_>>())),
        Arc::new(params),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.lead.user_id.as_deref()))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.reason.name()))),
        Arc::new(TimestampMicrosecondArray::from_iter(rows.iter().map(|r| r.adjusted_at)).with_timezone("UTC")),
    ];
    let schema = Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("client_id", DataType::Utf8, true),
        Field::new("created", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        Field::new("value", DataType::Float64, false),
        Field::new("currency", DataType::Utf8, false),
        Field::new("is_qualified", DataType::Boolean, false),
        Field::new("params", params_type, false),
        Field::new("user_id", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, false),
        Field::new("adjusted_at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
    ]);
    let batch = RecordBatch::try_new(Arc::new(schema), columns)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(Some(meta.iter().map(|(k, v)| KeyValue::new(k.clone(), v.clone())).collect()))
        .build();
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))?;
    w.write(&batch)?;
    w.close()?;
    Ok(buf)
}

pub(crate) fn csv_error(e: impl std::fmt::Display) -> ExportError {
    ExportError::Internal(format!("cannot encode CSV: {e}"))
}

fn custom_csv(rows: &[CustomRow<'_>]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "id",
        "client_id",
        "created",
        "value",
        "currency",
        "is_qualified",
        "params",
        "user_id",
        "reason",
        "adjusted_at",
    ])
    .map_err(csv_error)?;
    let utc = |t: i64| local(t, chrono_tz::UTC).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    for r in rows {
        let params: BTreeMap<&str, &str> = r.params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let params = serde_json::to_string(&params).map_err(csv_error)?;
        let created = utc(r.created);
        w.write_record([
            r.id.as_str(),
            r.lead.client_id.as_deref().unwrap_or(""),
            &created,
            &format!("{:.2}", r.value),
            &r.currency,
            if r.qualified { "true" } else { "false" },
            &params,
            r.lead.user_id.as_deref().unwrap_or(""),
            r.reason.name(),
            &r.adjusted_at.map(utc).unwrap_or_default(),
        ])
        .map_err(csv_error)?;
    }
    w.into_inner().map_err(csv_error)
}

fn google_click(rows: &[&Lead], adjustments: &[Adjustment<'_>], s: &Settings<'_>) -> Result<FormatOutput> {
    let e = &s.config.export;
    let oldest = s.days_before_sending(e.google_click_window_days);
    let mut out = empty();
    // The parameters row has one field, the records five.
    let mut w = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
    w.write_record([format!("Parameters:TimeZone={}", s.tz.name())]).map_err(csv_error)?;
    w.write_record([
        "Google Click ID",
        "Conversion Name",
        "Conversion Time",
        "Conversion Value",
        "Conversion Currency",
    ])
    .map_err(csv_error)?;
    for lead in rows.iter().filter(|r| r.qualified) {
        out.candidates += 1;
        let Some(gclid) = &lead.gclid else {
            out.not_applicable += 1;
            continue;
        };
        let checked = value_and_currency(lead)
            .and_then(|vc| if lead.created_at < oldest { Err(Refusal::GoogleClickTooOld) } else { Ok(vc) });
        match checked {
            Err(r) => out.refused.push((lead.lead_id.clone(), r)),
            Ok((value, currency)) => {
                let time = local(lead.created_at, s.tz).format("%Y-%m-%d %H:%M:%S").to_string();
                w.write_record([gclid.as_str(), &e.conversion_name, &time, &format!("{value:.2}"), &currency])
                    .map_err(csv_error)?;
                out.exported += 1;
                let id = stable_id(&["leadscore", "google_click", &e.conversion_name, &lead.lead_id]);
                out.ledger.push(s.sent(ExportFormat::GoogleClick, lead, id, lead.created_at, value, &currency));
            }
        }
    }
    out.files.push((files::GOOGLE_CLICK.to_string(), w.into_inner().map_err(csv_error)?, None));
    if s.config.export.adjustment_window_days > 0 {
        let adjustments = unexpired(adjustments, s, &mut out);
        let adjusted = adjustments_csv(&adjustments, s, &mut out, true)?;
        out.files.push((files::GOOGLE_CLICK_ADJUSTMENTS.to_string(), adjusted, None));
    }
    Ok(out)
}

/// Google adjusts conversions up to 54 days old (`CONVERSION_EXPIRED`,
/// <https://developers.google.com/google-ads/api/reference/rpc/latest/ConversionAdjustmentUploadErrorEnum.ConversionAdjustmentUploadError>).
const GOOGLE_ADJUSTABLE_DAYS: u32 = 54;

/// The adjustments Google still takes when the files are sent; the others are refused.
fn unexpired<'a>(adjustments: &[Adjustment<'a>], s: &Settings<'_>, out: &mut FormatOutput) -> Vec<Adjustment<'a>> {
    let oldest = s.days_before_sending(GOOGLE_ADJUSTABLE_DAYS);
    let (kept, expired): (Vec<_>, Vec<_>) = adjustments.iter().cloned().partition(|a| a.before.conversion_at >= oldest);
    out.refused.extend(expired.into_iter().map(|a| (a.lead.lead_id.clone(), Refusal::GoogleAdjustmentTooOld)));
    kept
}

/// The adjustment type of Google's upload template and of its API.
fn google_adjustment(change: Change) -> (&'static str, &'static str, Option<f64>) {
    match change {
        Change::Restate(v, _) => ("RESTATE", "RESTATEMENT", Some(v)),
        Change::Retract(_) => ("RETRACT", "RETRACTION", None),
    }
}

/// Google's conversion adjustment upload file ("Upload conversion adjustments",
/// <https://support.google.com/google-ads/answer/7686280>): the `Parameters:TimeZone=` row, then
/// the conversion's identifier (`Order ID`, or `by_click` the `Google Click ID` with the
/// `Conversion Time` after the `Conversion Name`), `Conversion Name`, `Adjustment Time`,
/// `Adjustment Type` (`RETRACT`/`RESTATE`), `Adjusted Value` and `Adjusted Value Currency` (empty
/// for a retraction). Separate from the new conversions, as Google requires. The adjustment time
/// is the run date's start: after the conversion (the lead was created before it) and after
/// every earlier adjustment (made by earlier run dates), so that Google takes a second
/// restatement.
fn adjustments_csv(
    adjustments: &[Adjustment<'_>],
    s: &Settings<'_>,
    out: &mut FormatOutput,
    by_click: bool,
) -> Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
    w.write_record([format!("Parameters:TimeZone={}", s.tz.name())]).map_err(csv_error)?;
    let mut header = vec![if by_click { "Google Click ID" } else { "Order ID" }, "Conversion Name"];
    if by_click {
        header.push("Conversion Time");
    }
    header.extend(["Adjustment Time", "Adjustment Type", "Adjusted Value", "Adjusted Value Currency"]);
    w.write_record(&header).map_err(csv_error)?;
    let time = |micros: i64| local(micros, s.tz).format("%Y-%m-%d %H:%M:%S").to_string();
    for a in adjustments {
        let (kind, _, value) = google_adjustment(a.change);
        let id = if by_click { a.before.gclid.clone().unwrap_or_default() } else { a.before.conversion_id.clone() };
        let mut record = vec![id, s.config.export.conversion_name.clone()];
        if by_click {
            record.push(time(a.before.conversion_at));
        }
        record.extend([
            time(s.run_start),
            kind.to_string(),
            value.map(|v| format!("{v:.2}")).unwrap_or_default(),
            if value.is_some() { a.before.currency.clone() } else { String::new() },
        ]);
        w.write_record(&record).map_err(csv_error)?;
        out.adjusted(a, s);
    }
    w.into_inner().map_err(csv_error)
}

/// One user identifier of a Google conversion.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum UserIdentifier {
    HashedEmail(String),
    HashedPhoneNumber(String),
}

/// Google's `Consent` of a conversion.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Consent {
    #[serde(skip_serializing_if = "Option::is_none")]
    ad_user_data: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ad_personalization: Option<&'static str>,
}

/// A Google Ads `ClickConversion` (enhanced conversions for leads).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClickConversion<'a> {
    order_id: String,
    conversion_action: &'a str,
    conversion_date_time: String,
    conversion_value: f64,
    currency_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    gclid: Option<&'a str>,
    user_identifiers: Vec<UserIdentifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consent: Option<Consent>,
}

/// The body of an `UploadClickConversions` request.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UploadClickConversions<'a> {
    conversions: &'a [ClickConversion<'a>],
    partial_failure: bool,
}

/// A Google Ads `ConversionAdjustment`
/// (<https://developers.google.com/google-ads/api/reference/rpc/latest/ConversionAdjustment>):
/// identified by the order id the new conversion carried.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConversionAdjustment<'a> {
    order_id: &'a str,
    conversion_action: &'a str,
    adjustment_type: &'static str,
    adjustment_date_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    restatement_value: Option<RestatementValue<'a>>,
}

/// `RestatementValue` of a restatement.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RestatementValue<'a> {
    adjusted_value: f64,
    currency_code: &'a str,
}

/// The body of an `UploadConversionAdjustments` request
/// (<https://developers.google.com/google-ads/api/reference/rpc/latest/UploadConversionAdjustmentsRequest>).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UploadConversionAdjustments<'a> {
    conversion_adjustments: &'a [ConversionAdjustment<'a>],
    partial_failure: bool,
}

/// Digests of the lead's e-mail and phone normalised as Google specifies (made by ingest).
fn google_identifiers(lead: &Lead) -> Vec<UserIdentifier> {
    let mut ids = Vec::new();
    if let Some(em) = lead.digests.get(id::EMAIL_SHA256_GOOGLE) {
        ids.push(UserIdentifier::HashedEmail(em.to_string()));
    }
    if let Some(ph) = lead.digests.get(id::PHONE_SHA256_GOOGLE) {
        ids.push(UserIdentifier::HashedPhoneNumber(ph.to_string()));
    }
    ids
}

/// The click conversions as JSON Lines, and as `UploadClickConversions` request bodies of at
/// most [`GOOGLE_BATCH`] conversions each.
fn click_conversion_files(conversions: &[ClickConversion<'_>], out: &mut FormatOutput) -> Result<()> {
    let json = |e: serde_json::Error| ExportError::Internal(e.to_string());
    let mut lines = Vec::new();
    for c in conversions {
        serde_json::to_writer(&mut lines, c).map_err(json)?;
        lines.push(b'\n');
    }
    out.files.push((files::GOOGLE_ENHANCED.to_string(), lines, None));
    for (i, chunk) in conversions.chunks(GOOGLE_BATCH).enumerate() {
        let mut bytes =
            serde_json::to_vec(&UploadClickConversions { conversions: chunk, partial_failure: true }).map_err(json)?;
        bytes.push(b'\n');
        out.files.push((format!("{}{:04}.json", files::GOOGLE_ENHANCED_BATCH_PREFIX, i + 1), bytes, None));
    }
    Ok(())
}

fn google_enhanced(rows: &[&Lead], adjustments: &[Adjustment<'_>], s: &Settings<'_>) -> Result<FormatOutput> {
    let e = &s.config.export;
    let action = e
        .google_conversion_action
        .as_deref()
        .ok_or_else(|| ExportError::Internal("google_enhanced without a conversion action".into()))?;
    let oldest = s.days_before_sending(e.google_click_window_days);
    let mut out = empty();
    let mut conversions = Vec::new();
    for lead in rows.iter().filter(|r| r.qualified) {
        out.candidates += 1;
        let ids = google_identifiers(lead);
        // The lead's own consent wins over the configured one.
        let ad_user_data = lead.ad_user_data.or(e.google_consent.ad_user_data);
        let ad_personalization = lead.ad_personalization.or(e.google_consent.ad_personalization);
        let checked = value_and_currency(lead).and_then(|vc| {
            if ids.is_empty() {
                Err(Refusal::NoIdentifier)
            } else if lead.created_at < oldest {
                Err(Refusal::GoogleConversionTooOld)
            } else if ad_user_data == Some(ConsentStatus::Denied) {
                Err(Refusal::ConsentDenied)
            } else {
                Ok(vc)
            }
        });
        match checked {
            Err(r) => out.refused.push((lead.lead_id.clone(), r)),
            Ok((value, currency)) => {
                let id = stable_id(&["leadscore", "google_enhanced", &e.conversion_name, &lead.lead_id]);
                out.ledger.push(s.sent(
                    ExportFormat::GoogleEnhanced,
                    lead,
                    id.clone(),
                    lead.created_at,
                    value,
                    &currency,
                ));
                conversions.push(ClickConversion {
                    order_id: id,
                    conversion_action: action,
                    conversion_date_time: s.google_time(lead.created_at),
                    conversion_value: value,
                    currency_code: currency,
                    gclid: lead.gclid.as_deref(),
                    user_identifiers: ids,
                    consent: (ad_user_data.is_some() || ad_personalization.is_some()).then(|| Consent {
                        ad_user_data: ad_user_data.map(ConsentStatus::api_name),
                        ad_personalization: ad_personalization.map(ConsentStatus::api_name),
                    }),
                });
            }
        }
    }
    out.exported = conversions.len() as u64;
    click_conversion_files(&conversions, &mut out)?;
    if e.adjustment_window_days > 0 {
        let adjustments = unexpired(adjustments, s, &mut out);
        enhanced_adjustments(&adjustments, action, s, &mut out)?;
    }
    Ok(out)
}

/// The adjustments of enhanced conversions: the upload template, and the API's request bodies.
fn enhanced_adjustments(
    adjustments: &[Adjustment<'_>],
    action: &str,
    s: &Settings<'_>,
    out: &mut FormatOutput,
) -> Result<()> {
    let json = |e: serde_json::Error| ExportError::Internal(e.to_string());
    let adjusted = adjustments_csv(adjustments, s, out, false)?;
    out.files.push((files::GOOGLE_ENHANCED_ADJUSTMENTS.to_string(), adjusted, None));
    let requests: Vec<ConversionAdjustment<'_>> = adjustments
        .iter()
        .map(|a| {
            let (_, kind, value) = google_adjustment(a.change);
            ConversionAdjustment {
                order_id: &a.before.conversion_id,
                conversion_action: action,
                adjustment_type: kind,
                adjustment_date_time: s.google_time(s.run_start),
                restatement_value: value
                    .map(|v| RestatementValue { adjusted_value: v, currency_code: &a.before.currency }),
            }
        })
        .collect();
    for (i, chunk) in requests.chunks(GOOGLE_BATCH).enumerate() {
        let body = UploadConversionAdjustments { conversion_adjustments: chunk, partial_failure: true };
        let mut bytes = serde_json::to_vec(&body).map_err(json)?;
        bytes.push(b'\n');
        out.files.push((format!("{}{:04}.json", files::GOOGLE_ADJUSTMENTS_BATCH_PREFIX, i + 1), bytes, None));
    }
    Ok(())
}

/// Meta `user_data`.
#[derive(Serialize)]
struct MetaUserData {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    em: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ph: Vec<String>,
    #[serde(rename = "fn", skip_serializing_if = "Vec::is_empty")]
    first_name: Vec<String>,
    #[serde(rename = "ln", skip_serializing_if = "Vec::is_empty")]
    last_name: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ct: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    st: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    zp: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    country: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lead_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fbc: Option<String>,
    external_id: Vec<String>,
}

/// Meta `custom_data`.
#[derive(Serialize)]
struct MetaCustomData<'a> {
    event_source: &'static str,
    lead_event_source: &'a str,
    value: f64,
    currency: String,
}

/// One Meta server event.
#[derive(Serialize)]
struct MetaEvent<'a> {
    event_name: &'a str,
    event_time: i64,
    event_id: String,
    action_source: &'static str,
    user_data: MetaUserData,
    custom_data: MetaCustomData<'a>,
}

/// A Meta lead-ads lead id: 15 or 16 digits (the payload specification), sent as a number.
fn meta_lead_id(raw: &str) -> Option<u64> {
    Some(raw)
        .filter(|r| (15..=16).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|r| r.parse().ok())
}

/// Why a lead id was left out of an event.
const LEAD_ID_DROPPED: &str = "lead_id_not_15_or_16_digits";

/// Meta's `user_data` of a lead, and whether Meta can match the lead on it.
fn meta_user_data(lead: &Lead, s: &Settings<'_>, out: &mut FormatOutput) -> (MetaUserData, bool) {
    // Digests of the values normalised as Meta specifies (made by ingest).
    let hashed = |column: &str| lead.digests.get(column).map(str::to_string).into_iter().collect::<Vec<_>>();
    let lead_id = lead.meta_lead_id.as_deref().and_then(|raw| {
        let id = meta_lead_id(raw);
        if id.is_none() {
            *out.dropped.entry(LEAD_ID_DROPPED.to_string()).or_default() += 1;
        }
        id
    });
    let external = match s.config.export.external_id {
        ExternalId::LeadId => &lead.lead_id,
        ExternalId::UserId => lead.user_id.as_ref().unwrap_or(&lead.lead_id),
    };
    let user_data = MetaUserData {
        em: hashed(id::EMAIL_SHA256),
        ph: hashed(id::PHONE_SHA256),
        first_name: hashed(id::FIRST_NAME_SHA256),
        last_name: hashed(id::LAST_NAME_SHA256),
        ct: hashed(id::CITY_SHA256),
        st: hashed(id::STATE_SHA256),
        zp: hashed(id::ZIP_SHA256),
        country: hashed(id::COUNTRY_SHA256),
        lead_id,
        fbc: lead.fbclid.as_ref().map(|f| format!("fb.1.{}.{f}", lead.created_at.div_euclid(1000))),
        external_id: vec![leadscore_core::digest::sha256_hex(external.as_bytes())],
    };
    let usable =
        !user_data.em.is_empty() || !user_data.ph.is_empty() || user_data.lead_id.is_some() || user_data.fbc.is_some();
    (user_data, usable)
}

/// One Meta CRM event of a lead: the stage `name` reached at `at` (microseconds), with its value.
struct MetaStage<'a> {
    name: &'a str,
    at: i64,
    value: std::result::Result<(f64, String), Refusal>,
}

fn meta_event<'a>(
    lead: &Lead,
    stage: MetaStage<'a>,
    s: &Settings<'a>,
    out: &mut FormatOutput,
) -> Option<MetaEvent<'a>> {
    let e = &s.config.export;
    let too_old = stage.at < s.days_before_sending(e.meta_max_age_days);
    let (user_data, usable) = meta_user_data(lead, s, out);
    let checked = stage.value.and_then(|vc| {
        if too_old {
            Err(Refusal::MetaEventTooOld)
        } else if !usable {
            Err(Refusal::NoIdentifier)
        } else {
            Ok(vc)
        }
    });
    match checked {
        Err(r) => {
            out.refused.push((lead.lead_id.clone(), r));
            None
        }
        Ok((value, currency)) => Some(MetaEvent {
            event_name: stage.name,
            event_time: stage.at.div_euclid(1_000_000),
            // Stable across re-sends: Meta de-duplicates on it.
            event_id: stable_id(&["leadscore", "meta_capi", stage.name, &lead.lead_id]),
            action_source: "system_generated",
            user_data,
            custom_data: MetaCustomData { event_source: "crm", lead_event_source: &e.crm_name, value, currency },
        }),
    }
}

/// Meta has no retraction or restatement: the lead's deal closing is sent as the next CRM stage
/// (`meta_converted_event_name`, at the conversion's time, with the deal's value), once.
fn meta_capi<'a>(rows: &[&Lead], adjustments: &[Adjustment<'_>], s: &Settings<'a>) -> Result<FormatOutput> {
    let e = &s.config.export;
    let mut out = empty();
    let mut events = Vec::new();
    for lead in rows.iter().filter(|r| r.qualified) {
        out.candidates += 1;
        // The CRM stage's time: leadscore qualified the day's leads at the start of the run date;
        // a late conversion's is its deal's.
        let (name, at) = match (lead.late, lead.converted) {
            (true, Some((at, _))) => (e.meta_converted_event_name.as_str(), at),
            _ => (e.meta_event_name.as_str(), s.run_start),
        };
        let stage = MetaStage { name, at, value: value_and_currency(lead) };
        let at = stage.at;
        if let Some(event) = meta_event(lead, stage, s, &mut out) {
            let (value, currency) = (event.custom_data.value, event.custom_data.currency.clone());
            out.ledger.push(s.sent(ExportFormat::MetaCapi, lead, event.event_id.clone(), at, value, &currency));
            events.push(event);
        }
    }
    out.exported = events.len() as u64;
    for a in adjustments {
        let (Change::Restate(value, Reason::Converted), Some((at, _))) = (a.change, a.lead.converted) else { continue };
        let stage = MetaStage { name: &e.meta_converted_event_name, at, value: Ok((value, a.before.currency.clone())) };
        if let Some(event) = meta_event(a.lead, stage, s, &mut out) {
            events.push(event);
            out.adjusted(a, s);
        }
    }
    #[derive(Serialize)]
    struct Batch<'a> {
        data: &'a [MetaEvent<'a>],
    }
    for (i, chunk) in events.chunks(META_BATCH).enumerate() {
        let mut bytes = serde_json::to_vec(&Batch { data: chunk }).map_err(|e| ExportError::Internal(e.to_string()))?;
        bytes.push(b'\n');
        out.files.push((format!("{}{:04}.json", files::META_CAPI_PREFIX, i + 1), bytes, None));
    }
    Ok(out)
}
