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
use crate::error::{ExportError, Result};
use crate::report::{FormatReport, IDS_IN_REPORT, Refusal, RefusedCount};

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
}

impl<'a> Settings<'a> {
    pub(crate) fn new(config: &'a Config, ctx: &RunContext) -> Self {
        let tz = config.project.timezone;
        let run_start = ctx.run_date.start_micros(tz);
        let send_by = run_start + i64::from(config.export.upload_within_hours) * MICROS_PER_HOUR;
        Self { config, tz, run_start, send_by, table_meta: ctx.table_meta(Stage::Export).pairs() }
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
}

impl FormatOutput {
    pub(crate) fn report(&self, format: ExportFormat) -> FormatReport {
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
        }
    }
}

/// Cents: every value is written with two decimals.
fn money(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
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

/// Runs one format over the scored leads.
pub(crate) fn write(format: ExportFormat, rows: &[Lead], s: &Settings<'_>) -> Result<FormatOutput> {
    match format {
        ExportFormat::Custom => custom(rows, s),
        ExportFormat::GoogleClick => google_click(rows, s),
        ExportFormat::GoogleEnhanced => google_enhanced(rows, s),
        ExportFormat::MetaCapi => meta_capi(rows, s),
    }
}

fn empty() -> FormatOutput {
    FormatOutput {
        files: Vec::new(),
        candidates: 0,
        exported: 0,
        not_applicable: 0,
        refused: Vec::new(),
        dropped: BTreeMap::new(),
    }
}

/// One row of the custom-conversion shape.
struct CustomRow<'a> {
    id: String,
    lead: &'a Lead,
    value: f64,
    currency: String,
    params: [(&'static str, String); 4],
}

fn custom(rows: &[Lead], s: &Settings<'_>) -> Result<FormatOutput> {
    let e = &s.config.export;
    let mut out = empty();
    let mut kept = Vec::new();
    for lead in rows.iter().filter(|r| r.qualified || e.include_unqualified) {
        out.candidates += 1;
        let checked = value_and_currency(lead).and_then(|vc| {
            if lead.client_id.is_none() && lead.user_id.is_none() { Err(Refusal::NoIdentifier) } else { Ok(vc) }
        });
        match checked {
            Err(r) => out.refused.push((lead.lead_id.clone(), r)),
            Ok((value, currency)) => kept.push(CustomRow {
                id: stable_id(&["leadscore", "custom", &e.conversion_name, &lead.lead_id]),
                lead,
                value,
                currency,
                params: [
                    ("score", format!("{:.0}", lead.score)),
                    ("segment", lead.segment.clone()),
                    ("model_id", lead.model_id.clone()),
                    ("conversion_name", e.conversion_name.clone()),
                ],
            }),
        }
    }
    out.exported = kept.len() as u64;
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
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.lead.created_at)).with_timezone("UTC"),
        ),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.value))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.currency.as_str()))),
        Arc::new(BooleanArray::from(rows.iter().map(|r| r.lead.qualified).collect::<Vec<_>>())),
        Arc::new(params),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.lead.user_id.as_deref()))),
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

fn csv_error(e: impl std::fmt::Display) -> ExportError {
    ExportError::Internal(format!("cannot encode CSV: {e}"))
}

fn custom_csv(rows: &[CustomRow<'_>]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["id", "client_id", "created", "value", "currency", "is_qualified", "params", "user_id"])
        .map_err(csv_error)?;
    for r in rows {
        let params: BTreeMap<&str, &str> = r.params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let params = serde_json::to_string(&params).map_err(csv_error)?;
        let created = local(r.lead.created_at, chrono_tz::UTC).format("%Y-%m-%dT%H:%M:%SZ").to_string();
        w.write_record([
            r.id.as_str(),
            r.lead.client_id.as_deref().unwrap_or(""),
            &created,
            &format!("{:.2}", r.value),
            &r.currency,
            if r.lead.qualified { "true" } else { "false" },
            &params,
            r.lead.user_id.as_deref().unwrap_or(""),
        ])
        .map_err(csv_error)?;
    }
    w.into_inner().map_err(csv_error)
}

fn google_click(rows: &[Lead], s: &Settings<'_>) -> Result<FormatOutput> {
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
            }
        }
    }
    out.files.push((files::GOOGLE_CLICK.to_string(), w.into_inner().map_err(csv_error)?, None));
    Ok(out)
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

fn google_enhanced(rows: &[Lead], s: &Settings<'_>) -> Result<FormatOutput> {
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
        // Digests of the e-mail and phone normalised as Google specifies (made by ingest).
        let mut ids = Vec::new();
        if let Some(em) = lead.digests.get(id::EMAIL_SHA256_GOOGLE) {
            ids.push(UserIdentifier::HashedEmail(em.to_string()));
        }
        if let Some(ph) = lead.digests.get(id::PHONE_SHA256_GOOGLE) {
            ids.push(UserIdentifier::HashedPhoneNumber(ph.to_string()));
        }
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
            Ok((value, currency)) => conversions.push(ClickConversion {
                order_id: stable_id(&["leadscore", "google_enhanced", &e.conversion_name, &lead.lead_id]),
                conversion_action: action,
                conversion_date_time: local(lead.created_at, s.tz).format("%Y-%m-%d %H:%M:%S%:z").to_string(),
                conversion_value: value,
                currency_code: currency,
                gclid: lead.gclid.as_deref(),
                user_identifiers: ids,
                consent: (ad_user_data.is_some() || ad_personalization.is_some()).then(|| Consent {
                    ad_user_data: ad_user_data.map(ConsentStatus::api_name),
                    ad_personalization: ad_personalization.map(ConsentStatus::api_name),
                }),
            }),
        }
    }
    out.exported = conversions.len() as u64;
    let json = |e: serde_json::Error| ExportError::Internal(e.to_string());
    let mut lines = Vec::new();
    for c in &conversions {
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
    Ok(out)
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

fn meta_capi(rows: &[Lead], s: &Settings<'_>) -> Result<FormatOutput> {
    let e = &s.config.export;
    // The CRM stage's time: leadscore qualified the day's leads at the start of the run date.
    let event_time = s.run_start.div_euclid(1_000_000);
    let too_old = s.run_start < s.days_before_sending(e.meta_max_age_days);
    let mut out = empty();
    let mut events = Vec::new();
    for lead in rows.iter().filter(|r| r.qualified) {
        out.candidates += 1;
        // Digests of the values normalised as Meta specifies (made by ingest).
        let hashed = |column: &str| lead.digests.get(column).map(str::to_string).into_iter().collect::<Vec<_>>();
        let lead_id = lead.meta_lead_id.as_deref().and_then(|raw| {
            let id = meta_lead_id(raw);
            if id.is_none() {
                *out.dropped.entry(LEAD_ID_DROPPED.to_string()).or_default() += 1;
            }
            id
        });
        let external = match e.external_id {
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
        let usable = !user_data.em.is_empty()
            || !user_data.ph.is_empty()
            || user_data.lead_id.is_some()
            || user_data.fbc.is_some();
        let checked = value_and_currency(lead).and_then(|vc| {
            if too_old {
                Err(Refusal::MetaEventTooOld)
            } else if !usable {
                Err(Refusal::NoIdentifier)
            } else {
                Ok(vc)
            }
        });
        match checked {
            Err(r) => out.refused.push((lead.lead_id.clone(), r)),
            Ok((value, currency)) => events.push(MetaEvent {
                event_name: &e.meta_event_name,
                event_time,
                // Stable across re-sends: Meta de-duplicates on it.
                event_id: stable_id(&["leadscore", "meta_capi", &e.meta_event_name, &lead.lead_id]),
                action_source: "system_generated",
                user_data,
                custom_data: MetaCustomData { event_source: "crm", lead_event_source: &e.crm_name, value, currency },
            }),
        }
    }
    out.exported = events.len() as u64;
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
