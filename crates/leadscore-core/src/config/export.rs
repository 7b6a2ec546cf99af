//! `[export]`: the upload files, the platforms' names, limits, consent and match keys.

use serde::Serialize;

use super::raw::RawExport;
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
}

impl ExportFormat {
    /// Every format.
    pub const ALL: [ExportFormat; 4] = [Self::Custom, Self::GoogleClick, Self::GoogleEnhanced, Self::MetaCapi];

    /// The name used in the config and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Custom => "custom",
            Self::GoogleClick => "google_click",
            Self::GoogleEnhanced => "google_enhanced",
            Self::MetaCapi => "meta_capi",
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
}

impl Validator<'_> {
    pub(super) fn export(&mut self, preset: Option<Preset>, attributes: Option<&[Attribute]>) -> Option<Export> {
        let path = KeyPath::root().key("export");
        let raw: RawExport = match self.get(&path) {
            None => RawExport::default(),
            Some(v) => self.deser(&path, v)?,
        };
        let mut ok = true;
        // Google rejects an upload whose conversion action is not a resource name (a conversion
        // name, say): checked here, once, rather than discovered by every upload.
        // <https://developers.google.com/google-ads/api/reference/rpc/latest/ClickConversion>
        let action = raw.google_conversion_action.as_deref().map(str::trim);
        let action_ok = action.is_some_and(is_conversion_action);
        if let Some(a) = action.filter(|_| !action_ok) {
            self.problem(
                &path.key("google_conversion_action"),
                format!(
                    "expected a Google Ads resource name `customers/<customer id>/conversionActions/<conversion action \
                     id>` (digits, as in `customers/1234567890/conversionActions/987654321`), found `{a}`"
                ),
            );
            ok = false;
        }
        let formats = match &raw.formats {
            // Without a conversion action there are no enhanced conversions to write.
            None => ExportFormat::ALL.into_iter().filter(|f| *f != ExportFormat::GoogleEnhanced || action_ok).collect(),
            Some(names) => {
                let mut v = Vec::new();
                for n in names {
                    match ExportFormat::ALL.into_iter().find(|f| f.name() == n.trim()) {
                        Some(f) => v.push(f),
                        None => {
                            let all: Vec<&str> = ExportFormat::ALL.iter().map(|f| f.name()).collect();
                            self.problem(
                                &path.key("formats"),
                                format!("unknown export format `{n}`, expected one of {}", one_of(&all)),
                            );
                            ok = false;
                        }
                    }
                }
                v.sort();
                v.dedup();
                v
            }
        };
        let mut text = |key: &str, value: Option<String>, default: &str| -> String {
            match value.map(|v| v.trim().to_string()) {
                Some(v) if v.is_empty() => {
                    self.problem(&path.key(key), "must not be empty");
                    ok = false;
                    String::new()
                }
                Some(v) => v,
                None => default.to_string(),
            }
        };
        let conversion_name = text("conversion_name", raw.conversion_name, DEFAULT_CONVERSION_NAME);
        let meta_event_name = text("meta_event_name", raw.meta_event_name, &conversion_name);
        let crm_default = preset.map_or(DEFAULT_CRM_NAME, Preset::crm_name);
        let crm_name = text("crm_name", raw.crm_name, crm_default);
        if formats.contains(&ExportFormat::GoogleEnhanced) && action.is_none() {
            self.problem(
                &path.key("formats"),
                "`google_enhanced` needs `google_conversion_action`: the resource name \
                 `customers/<customer id>/conversionActions/<conversion action id>` of the conversion action the \
                 enhanced conversions are uploaded to",
            );
            ok = false;
        }
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
        let mut status = |key: &str, v: Option<String>| -> Option<ConsentStatus> {
            let v = v?;
            let parsed = ConsentStatus::parse(&v);
            if parsed.is_none() {
                self.problem(
                    &path.key("google_consent").key(key),
                    format!("expected `granted` or `denied`, found `{v}`"),
                );
                ok = false;
            }
            parsed
        };
        let consent = raw.google_consent.unwrap_or_default();
        let consent_attrs = raw.google_consent_attributes.unwrap_or_default();
        let google_consent = GoogleConsent {
            ad_user_data: status("ad_user_data", consent.ad_user_data),
            ad_personalization: status("ad_personalization", consent.ad_personalization),
            ad_user_data_attribute: consent_attrs.ad_user_data,
            ad_personalization_attribute: consent_attrs.ad_personalization,
        };
        let external_id = match raw.external_id.as_deref().map(str::trim) {
            None => DEFAULT_EXTERNAL_ID,
            Some("lead_id") => ExternalId::LeadId,
            Some("user_id") => ExternalId::UserId,
            Some(other) => {
                self.problem(&path.key("external_id"), format!("expected `lead_id` or `user_id`, found `{other}`"));
                ok = false;
                ExternalId::LeadId
            }
        };
        let mut meta_match_keys = MetaMatchKeys::default();
        for (key, attribute) in raw.meta_match_keys.unwrap_or_default() {
            let slot = match key.as_str() {
                "country" => &mut meta_match_keys.country,
                "ct" => &mut meta_match_keys.city,
                "st" => &mut meta_match_keys.state,
                "zp" => &mut meta_match_keys.zip,
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
        let default_phone_country = raw.default_phone_country.map(|c| c.trim().to_ascii_uppercase());
        if let Some(c) = &default_phone_country
            && (c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_uppercase()))
        {
            self.problem(
                &path.key("default_phone_country"),
                format!("expected an ISO 3166 alpha-2 code such as `NL`, found `{c}`"),
            );
            ok = false;
        }
        if let Some(attrs) = attributes {
            let names: Vec<&str> = attrs.iter().map(|x| x.name.as_str()).collect();
            let named = [
                (path.key("phone_country_attribute"), raw.phone_country_attribute.as_deref()),
                (
                    path.key("google_consent_attributes").key("ad_user_data"),
                    google_consent.ad_user_data_attribute.as_deref(),
                ),
                (
                    path.key("google_consent_attributes").key("ad_personalization"),
                    google_consent.ad_personalization_attribute.as_deref(),
                ),
                (path.key("meta_match_keys").key("country"), meta_match_keys.country.as_deref()),
                (path.key("meta_match_keys").key("ct"), meta_match_keys.city.as_deref()),
                (path.key("meta_match_keys").key("st"), meta_match_keys.state.as_deref()),
                (path.key("meta_match_keys").key("zp"), meta_match_keys.zip.as_deref()),
            ];
            for (key, a) in named {
                if let Some(a) = a.filter(|a| !names.contains(a)) {
                    self.problem(&key, format!("unknown attribute `{a}`, expected one of {}", one_of(&names)));
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        Some(Export {
            formats,
            include_unqualified: raw.include_unqualified.unwrap_or(DEFAULT_INCLUDE_UNQUALIFIED),
            conversion_name,
            google_conversion_action: action.filter(|_| action_ok).map(str::to_string),
            meta_event_name,
            crm_name,
            google_click_window_days: google_click_window_days?,
            meta_max_age_days: meta_max_age_days?,
            default_phone_country,
            phone_country_attribute: raw.phone_country_attribute,
            upload_within_hours: upload_within_hours?,
            google_consent,
            external_id,
            meta_match_keys,
        })
    }
}
