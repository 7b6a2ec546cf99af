//! `[export]`: the upload files, the platforms' names, limits, consent and match keys.

use std::collections::BTreeMap;

use serde::Serialize;

use super::raw::{RawConsent, RawExport};
use super::{Attribute, KeyPath, Preset, Validator, one_of};

/// `include_unqualified`.
pub const DEFAULT_INCLUDE_UNQUALIFIED: bool = false;
/// `conversion_name` (also `meta_event_name`'s default).
pub const DEFAULT_CONVERSION_NAME: &str = "Qualified lead";
/// `crm_name` without a preset (a preset names its CRM: [`Preset::crm_name`]).
pub const DEFAULT_CRM_NAME: &str = "CRM";
/// `google_click_window_days`: Google's click-through window for uploads.
pub const DEFAULT_GOOGLE_CLICK_WINDOW_DAYS: u32 = 90;
/// `meta_max_age_days`: Meta's limit, also the largest value accepted.
pub const DEFAULT_META_MAX_AGE_DAYS: u32 = 7;
/// `upload_within_hours`.
pub const DEFAULT_UPLOAD_WITHIN_HOURS: u32 = 24;
/// `adjustment_window_days`: how long a conversion already sent is kept true on the platforms.
pub const DEFAULT_ADJUSTMENT_WINDOW_DAYS: u32 = 30;
/// `send_late_conversions`.
pub const DEFAULT_SEND_LATE_CONVERSIONS: bool = false;
/// `meta_converted_event_name`: the CRM stage Meta is told of when the lead's deal closes.
pub const DEFAULT_META_CONVERTED_EVENT_NAME: &str = "Converted";
/// `crm_field_prefix`: the write-back files' property (HubSpot) and field (Salesforce, with
/// `__c` appended) names start with it.
pub const DEFAULT_CRM_FIELD_PREFIX: &str = "leadscore_";
/// `external_id`.
pub const DEFAULT_EXTERNAL_ID: ExternalId = ExternalId::LeadId;

/// An upload file the export stage can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// `qualified_leads.parquet` and `.csv`: the ad-analytics custom-conversion shape.
    Custom,
    /// `google_ads_click_conversions.csv`: Google Ads offline click conversions.
    GoogleClick,
    /// `google_ads_enhanced_conversions.jsonl`: Google Ads enhanced conversions for leads.
    GoogleEnhanced,
    /// `meta_capi_NNNN.json`: Meta Conversions API for CRM batches.
    MetaCapi,
    /// `hubspot_contacts_import.csv`: every scored lead's score for HubSpot's contact import.
    Hubspot,
    /// `salesforce_bulk_leads.csv`: every scored lead's score for a Salesforce Bulk API 2.0 update.
    Salesforce,
}

impl ExportFormat {
    /// Every format.
    pub const ALL: [ExportFormat; 6] =
        [Self::Custom, Self::GoogleClick, Self::GoogleEnhanced, Self::MetaCapi, Self::Hubspot, Self::Salesforce];

    /// The formats written by default: the platforms', and the preset's CRM write-back file.
    fn defaults(preset: Option<Preset>) -> Vec<ExportFormat> {
        let mut all = vec![Self::Custom, Self::GoogleClick, Self::GoogleEnhanced, Self::MetaCapi];
        match preset {
            Some(Preset::Hubspot) => all.push(Self::Hubspot),
            Some(Preset::Salesforce) => all.push(Self::Salesforce),
            Some(Preset::Dynamics365 | Preset::Pipedrive) | None => {}
        }
        all
    }

    /// Whether the platform is told of conversions (and their adjustments), as opposed to a CRM
    /// write-back of every scored lead.
    pub fn is_conversion(self) -> bool {
        !matches!(self, Self::Hubspot | Self::Salesforce)
    }

    /// The name used in the config and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Custom => "custom",
            Self::GoogleClick => "google_click",
            Self::GoogleEnhanced => "google_enhanced",
            Self::MetaCapi => "meta_capi",
            Self::Hubspot => "hubspot",
            Self::Salesforce => "salesforce",
        }
    }
}

/// A consent status sent to Google (`Consent` of the Google Ads API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    /// `GRANTED`.
    Granted,
    /// `DENIED`.
    Denied,
}

impl ConsentStatus {
    /// From `granted`/`denied`, or a boolean word (`yes`, `true`, `1` …), any case.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "granted" | "true" | "yes" | "y" | "1" => Some(Self::Granted),
            "denied" | "false" | "no" | "n" | "0" => Some(Self::Denied),
            _ => None,
        }
    }

    /// The Google Ads API's value.
    pub fn api_name(self) -> &'static str {
        match self {
            Self::Granted => "GRANTED",
            Self::Denied => "DENIED",
        }
    }
}

/// Consent for Google's user data and ad personalisation: a status, or an attribute per lead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GoogleConsent {
    /// `adUserData` for every lead, unless its attribute says otherwise.
    pub ad_user_data: Option<ConsentStatus>,
    /// `adPersonalization` for every lead, unless its attribute says otherwise.
    pub ad_personalization: Option<ConsentStatus>,
    /// The attribute with each lead's `adUserData`.
    pub ad_user_data_attribute: Option<String>,
    /// The attribute with each lead's `adPersonalization`.
    pub ad_personalization_attribute: Option<String>,
}

/// What Meta's `external_id` is the SHA-256 of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExternalId {
    /// The lead's id: one person, one id.
    LeadId,
    /// The lead's user id (the account in the presets: colleagues share it).
    UserId,
}

/// Lead attributes sent to Meta as location match keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MetaMatchKeys {
    /// `country`.
    pub country: Option<String>,
    /// `ct`.
    pub city: Option<String>,
    /// `st`.
    pub state: Option<String>,
    /// `zp`.
    pub zip: Option<String>,
}

/// Whether a Google Ads resource name is `customers/<digits>/conversionActions/<digits>`.
pub fn is_conversion_action(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    parts.len() == 4
        && parts[0] == "customers"
        && digits(parts[1])
        && parts[2] == "conversionActions"
        && digits(parts[3])
}

/// Validated `[export]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Export {
    /// The files to write, in [`ExportFormat::ALL`] order.
    pub formats: Vec<ExportFormat>,
    /// Also write unqualified scored leads in the custom shape.
    pub include_unqualified: bool,
    /// Conversion name.
    pub conversion_name: String,
    /// Google Ads conversion action of enhanced conversions (a checked resource name); set
    /// whenever `formats` holds `google_enhanced`.
    pub google_conversion_action: Option<String>,
    /// Meta event name.
    pub meta_event_name: String,
    /// Meta `lead_event_source`.
    pub crm_name: String,
    /// Oldest accepted Google click, in days before the run date.
    pub google_click_window_days: u32,
    /// Oldest accepted Meta event, in days before the run date.
    pub meta_max_age_days: u32,
    /// Default phone country (ISO alpha-2, uppercase).
    pub default_phone_country: Option<String>,
    /// The attribute with the lead's country.
    pub phone_country_attribute: Option<String>,
    /// Hours after the run date starts within which the files are sent.
    pub upload_within_hours: u32,
    /// Consent sent with Google enhanced conversions.
    pub google_consent: GoogleConsent,
    /// What Meta's `external_id` hashes.
    pub external_id: ExternalId,
    /// Location match keys sent to Meta.
    pub meta_match_keys: MetaMatchKeys,
    /// Days after a lead is created during which what the platforms were told of it is kept
    /// true (0: no adjustments, every run sends its qualified leads anew).
    pub adjustment_window_days: u32,
    /// Send a lead that converts within the adjustment window without ever being qualified as a
    /// new conversion with its deal value.
    pub send_late_conversions: bool,
    /// Meta `event_name` of the stage reached when the lead's deal closes.
    pub meta_converted_event_name: String,
    /// Start of the CRM write-back files' property and field names.
    pub crm_field_prefix: String,
}

impl Export {
    /// The first day whose leads the run for `run_date` may still adjust.
    pub fn first_adjusted_day(&self, run_date: crate::RunDate) -> crate::RunDate {
        let days = i64::from(self.adjustment_window_days);
        crate::RunDate::new(run_date.date().checked_sub_signed(chrono::Duration::days(days)).unwrap_or(run_date.date()))
    }
}

impl Validator<'_> {
    pub(super) fn export(&mut self, preset: Option<Preset>, attributes: Option<&[Attribute]>) -> Option<Export> {
        let path = KeyPath::root().key("export");
        let mut raw: RawExport = match self.get(&path) {
            None => RawExport::default(),
            Some(v) => self.deser(&path, v)?,
        };
        let action = self.conversion_action(&path, raw.google_conversion_action.as_deref());
        let (formats, formats_ok) =
            self.formats(&path, raw.formats.as_deref(), matches!(action, Some(Some(_))), preset);
        let enhanced_ok = self.enhanced_has_action(&path, &formats, raw.google_conversion_action.is_some());
        let conversion_name = self.non_empty(&path, "conversion_name", raw.conversion_name, DEFAULT_CONVERSION_NAME);
        let meta_event_name =
            self.non_empty(&path, "meta_event_name", raw.meta_event_name, conversion_name.as_deref().unwrap_or(""));
        let crm_default = preset.map_or(DEFAULT_CRM_NAME, Preset::crm_name);
        let crm_name = self.non_empty(&path, "crm_name", raw.crm_name, crm_default);
        let google_click_window_days = self.in_range(
            &path.key("google_click_window_days"),
            raw.google_click_window_days,
            DEFAULT_GOOGLE_CLICK_WINDOW_DAYS,
            |d| (1..=540).contains(&d),
            "between 1 and 540",
        );
        // Meta accepts events up to 7 days old: a larger value would only write events Meta drops.
        // <https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/server-event>
        let meta_max_age_days = self.in_range(
            &path.key("meta_max_age_days"),
            raw.meta_max_age_days,
            DEFAULT_META_MAX_AGE_DAYS,
            |d| (1..=7).contains(&d),
            "between 1 and 7 (Meta's limit)",
        );
        let upload_within_hours = self.in_range(
            &path.key("upload_within_hours"),
            raw.upload_within_hours,
            DEFAULT_UPLOAD_WITHIN_HOURS,
            |h| (1..=168).contains(&h),
            "between 1 and 168",
        );
        let closed_loop = self.closed_loop(
            &path,
            raw.adjustment_window_days,
            raw.meta_converted_event_name.take(),
            raw.crm_field_prefix.take(),
        );
        let google_consent = self.google_consent(&path, raw.google_consent, raw.google_consent_attributes);
        let external_id = self.external_id(&path, raw.external_id.as_deref());
        let meta_match_keys = self.meta_match_keys(&path, raw.meta_match_keys.unwrap_or_default());
        let default_phone_country = self.phone_country(&path, raw.default_phone_country.as_deref());
        let attributes_known = self.attributes_exist(
            &path,
            raw.phone_country_attribute.as_deref(),
            google_consent.as_ref(),
            meta_match_keys.as_ref(),
            attributes,
        );
        if !(formats_ok && enhanced_ok && attributes_known) {
            return None;
        }
        Some(Export {
            formats,
            include_unqualified: raw.include_unqualified.unwrap_or(DEFAULT_INCLUDE_UNQUALIFIED),
            conversion_name: conversion_name?,
            google_conversion_action: action?,
            meta_event_name: meta_event_name?,
            crm_name: crm_name?,
            google_click_window_days: google_click_window_days?,
            meta_max_age_days: meta_max_age_days?,
            default_phone_country: default_phone_country?,
            phone_country_attribute: raw.phone_country_attribute,
            upload_within_hours: upload_within_hours?,
            google_consent: google_consent?,
            external_id: external_id?,
            meta_match_keys: meta_match_keys?,
            adjustment_window_days: closed_loop.0?,
            send_late_conversions: raw.send_late_conversions.unwrap_or(DEFAULT_SEND_LATE_CONVERSIONS),
            meta_converted_event_name: closed_loop.1?,
            crm_field_prefix: closed_loop.2?,
        })
    }

    /// `google_enhanced` uploads to a conversion action, so it needs one.
    fn enhanced_has_action(&mut self, path: &KeyPath, formats: &[ExportFormat], has_action: bool) -> bool {
        if has_action || !formats.contains(&ExportFormat::GoogleEnhanced) {
            return true;
        }
        self.problem(
            &path.key("formats"),
            "`google_enhanced` needs `google_conversion_action`: the resource name \
             `customers/<customer id>/conversionActions/<conversion action id>` of the conversion action the \
             enhanced conversions are uploaded to",
        );
        false
    }

    /// The Google Ads conversion action, checked as a resource name: `Some(None)` when unset,
    /// `None` when malformed (recorded). Google rejects an upload whose conversion action is not
    /// a resource name (a conversion name, say): checked here, once, rather than by every upload.
    /// <https://developers.google.com/google-ads/api/reference/rpc/latest/ClickConversion>
    fn conversion_action(&mut self, path: &KeyPath, raw: Option<&str>) -> Option<Option<String>> {
        let Some(action) = raw.map(str::trim) else { return Some(None) };
        if is_conversion_action(action) {
            return Some(Some(action.to_string()));
        }
        self.problem(
            &path.key("google_conversion_action"),
            format!(
                "expected a Google Ads resource name `customers/<customer id>/conversionActions/<conversion action \
                 id>` (digits, as in `customers/1234567890/conversionActions/987654321`), found `{action}`"
            ),
        );
        None
    }

    /// The files to write, in [`ExportFormat::ALL`] order, and whether every name was known. By
    /// default every format, except enhanced conversions when there is no (valid) conversion
    /// action to upload them to.
    fn formats(
        &mut self,
        path: &KeyPath,
        names: Option<&[String]>,
        action_ok: bool,
        preset: Option<Preset>,
    ) -> (Vec<ExportFormat>, bool) {
        let Some(names) = names else {
            let all =
                ExportFormat::defaults(preset).into_iter().filter(|f| *f != ExportFormat::GoogleEnhanced || action_ok);
            return (all.collect(), true);
        };
        let mut ok = true;
        let mut formats = Vec::new();
        for n in names {
            match ExportFormat::ALL.into_iter().find(|f| f.name() == n.trim()) {
                Some(f) => formats.push(f),
                None => {
                    let all: Vec<&str> = ExportFormat::ALL.iter().map(|f| f.name()).collect();
                    let message = format!("unknown export format `{n}`, expected one of {}", one_of(&all));
                    self.problem(&path.key("formats"), message);
                    ok = false;
                }
            }
        }
        formats.sort();
        formats.dedup();
        (formats, ok)
    }

    /// The closed loop's keys: the adjustment window, Meta's conversion stage, the write-back
    /// files' name prefix (each `None` when wrong, recorded).
    fn closed_loop(
        &mut self,
        path: &KeyPath,
        window: Option<u32>,
        converted_event: Option<String>,
        prefix: Option<String>,
    ) -> (Option<u32>, Option<String>, Option<String>) {
        // Google adjusts conversions up to 54 days old (`CONVERSION_EXPIRED`); a wider window would
        // only write adjustments Google refuses.
        let window = self.in_range(
            &path.key("adjustment_window_days"),
            window,
            DEFAULT_ADJUSTMENT_WINDOW_DAYS,
            |d| d <= 53,
            "between 0 (no adjustments) and 53 (Google adjusts conversions up to 54 days old)",
        );
        let converted_event =
            self.non_empty(path, "meta_converted_event_name", converted_event, DEFAULT_META_CONVERTED_EVENT_NAME);
        let prefix = self
            .non_empty(path, "crm_field_prefix", prefix, DEFAULT_CRM_FIELD_PREFIX)
            .and_then(|p| self.field_prefix(&path.key("crm_field_prefix"), p));
        (window, converted_event, prefix)
    }

    /// A prefix both CRMs take in a property or field API name: HubSpot's internal names are
    /// lowercase letters, digits and underscores; Salesforce's start with a letter and hold no
    /// double underscore (its `__c` suffix is added).
    fn field_prefix(&mut self, path: &KeyPath, prefix: String) -> Option<String> {
        let ok = prefix.starts_with(|c: char| c.is_ascii_lowercase())
            && prefix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !prefix.contains("__");
        if ok {
            return Some(prefix);
        }
        self.problem(
            path,
            format!(
                "expected a lowercase letter, then lowercase letters, digits and single underscores (HubSpot \
                 property and Salesforce field names), found `{prefix}`"
            ),
        );
        None
    }

    /// A text that may be left out (its default) but not empty.
    fn non_empty(&mut self, path: &KeyPath, key: &str, value: Option<String>, default: &str) -> Option<String> {
        match value.map(|v| v.trim().to_string()) {
            Some(v) if v.is_empty() => {
                self.problem(&path.key(key), "must not be empty");
                None
            }
            Some(v) => Some(v),
            None => Some(default.to_string()),
        }
    }

    /// Consent statuses for every lead, and the attributes holding each lead's own.
    fn google_consent(
        &mut self,
        path: &KeyPath,
        statuses: Option<RawConsent>,
        attributes: Option<RawConsent>,
    ) -> Option<GoogleConsent> {
        let mut ok = true;
        let mut status = |key: &str, v: Option<String>| -> Option<ConsentStatus> {
            let v = v?;
            let parsed = ConsentStatus::parse(&v);
            if parsed.is_none() {
                let message = format!("expected `granted` or `denied`, found `{v}`");
                self.problem(&path.key("google_consent").key(key), message);
                ok = false;
            }
            parsed
        };
        let statuses = statuses.unwrap_or_default();
        let attributes = attributes.unwrap_or_default();
        let consent = GoogleConsent {
            ad_user_data: status("ad_user_data", statuses.ad_user_data),
            ad_personalization: status("ad_personalization", statuses.ad_personalization),
            ad_user_data_attribute: attributes.ad_user_data,
            ad_personalization_attribute: attributes.ad_personalization,
        };
        ok.then_some(consent)
    }

    /// What Meta's `external_id` hashes.
    fn external_id(&mut self, path: &KeyPath, raw: Option<&str>) -> Option<ExternalId> {
        match raw.map(str::trim) {
            None => Some(DEFAULT_EXTERNAL_ID),
            Some("lead_id") => Some(ExternalId::LeadId),
            Some("user_id") => Some(ExternalId::UserId),
            Some(other) => {
                self.problem(&path.key("external_id"), format!("expected `lead_id` or `user_id`, found `{other}`"));
                None
            }
        }
    }

    /// Meta's location match keys (`country`, `ct`, `st`, `zp`) → attribute names.
    fn meta_match_keys(&mut self, path: &KeyPath, raw: BTreeMap<String, String>) -> Option<MetaMatchKeys> {
        let mut ok = true;
        let mut keys = MetaMatchKeys::default();
        for (key, attribute) in raw {
            let slot = match key.as_str() {
                "country" => &mut keys.country,
                "ct" => &mut keys.city,
                "st" => &mut keys.state,
                "zp" => &mut keys.zip,
                other => {
                    self.problem(
                        &path.key("meta_match_keys").key(other),
                        format!("unknown Meta match key `{other}`, expected one of `country`, `ct`, `st`, `zp`"),
                    );
                    ok = false;
                    continue;
                }
            };
            *slot = Some(attribute);
        }
        ok.then_some(keys)
    }

    /// The default country of phone numbers, an ISO 3166 alpha-2 code (uppercased).
    fn phone_country(&mut self, path: &KeyPath, raw: Option<&str>) -> Option<Option<String>> {
        let Some(c) = raw.map(|c| c.trim().to_ascii_uppercase()) else { return Some(None) };
        if c.len() == 2 && c.chars().all(|ch| ch.is_ascii_uppercase()) {
            return Some(Some(c));
        }
        let message = format!("expected an ISO 3166 alpha-2 code such as `NL`, found `{c}`");
        self.problem(&path.key("default_phone_country"), message);
        None
    }

    /// Whether every attribute a key of `[export]` names is a configured attribute (each unknown
    /// one recorded): the phone country, the consent attributes and Meta's location keys.
    fn attributes_exist(
        &mut self,
        path: &KeyPath,
        phone_country: Option<&str>,
        consent: Option<&GoogleConsent>,
        keys: Option<&MetaMatchKeys>,
        attributes: Option<&[Attribute]>,
    ) -> bool {
        let Some(attrs) = attributes else { return true };
        let named = [
            (path.key("phone_country_attribute"), phone_country),
            (
                path.key("google_consent_attributes").key("ad_user_data"),
                consent.and_then(|c| c.ad_user_data_attribute.as_deref()),
            ),
            (
                path.key("google_consent_attributes").key("ad_personalization"),
                consent.and_then(|c| c.ad_personalization_attribute.as_deref()),
            ),
            (path.key("meta_match_keys").key("country"), keys.and_then(|k| k.country.as_deref())),
            (path.key("meta_match_keys").key("ct"), keys.and_then(|k| k.city.as_deref())),
            (path.key("meta_match_keys").key("st"), keys.and_then(|k| k.state.as_deref())),
            (path.key("meta_match_keys").key("zp"), keys.and_then(|k| k.zip.as_deref())),
        ];
        let names: Vec<&str> = attrs.iter().map(|x| x.name.as_str()).collect();
        let mut ok = true;
        for (key, a) in named {
            if let Some(a) = a.filter(|a| !names.contains(a)) {
                self.problem(&key, format!("unknown attribute `{a}`, expected one of {}", one_of(&names)));
                ok = false;
            }
        }
        ok
    }
}
