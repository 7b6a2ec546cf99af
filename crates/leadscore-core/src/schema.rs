//! Canonical tables and their column names, declared once.
//!
//! Every stage refers to columns through these constants, never through loose string literals.
//! A [`SourceKind`] also lists the canonical fields a source mapping may fill
//! ([`SourceKind::fields`]), which config validation, ingest and the conversion definitions share.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Version of the canonical table layouts. Bumped whenever a column is added, removed or retyped;
/// written into every Parquet file's metadata so a reader can tell which layout it holds.
pub const SCHEMA_VERSION: u32 = 1;

/// Columns of the canonical `leads.parquet` (one row per lead, unique `lead_id`).
///
/// Attribute columns follow the canonical ones, named after each configured attribute.
pub mod leads {
    /// Unique lead identifier (string).
    pub const LEAD_ID: &str = "lead_id";
    /// When the lead was created (UTC instant, microseconds).
    pub const CREATED_AT: &str = "created_at";
    /// The person or account the lead belongs to; links leads to deals and events. May be null.
    pub const USER_ID: &str = "user_id";
    /// Web analytics client id (e.g. GA `1234567890.1690000000`).
    pub const CLIENT_ID: &str = "client_id";
    /// E-mail address as entered (trimmed). Personal data: read by ingest, which keeps it in
    /// `leads.parquet` only with `[privacy] keep_raw_identifiers`; never logged or exported raw.
    pub const EMAIL: &str = "email";
    /// Phone number as entered (trimmed). Personal data, kept like [`EMAIL`].
    pub const PHONE: &str = "phone";
    /// Given name. Personal data, kept like [`EMAIL`].
    pub const FIRST_NAME: &str = "first_name";
    /// Family name. Personal data, kept like [`EMAIL`].
    pub const LAST_NAME: &str = "last_name";
    /// The raw identity fields: written only with `[privacy] keep_raw_identifiers`.
    pub const RAW_IDENTITY: [&str; 4] = [EMAIL, PHONE, FIRST_NAME, LAST_NAME];
    /// Lowercased domain of a well-formed e-mail (`acme.io`); null otherwise.
    pub const EMAIL_DOMAIN: &str = "email_domain";
    /// `corporate`, `free`, `disposable`, `invalid` or `missing`.
    pub const EMAIL_CLASS: &str = "email_class";
    /// Country of the phone's international prefix: an ISO code, `NANP` (+1), `other`,
    /// `national` (no prefix) or `missing`.
    pub const PHONE_COUNTRY: &str = "phone_country";
    /// What ingest derives from the identity fields for every lead, in column order: all the
    /// features see of them. (The exports' digests are in [`super::identities`].)
    pub const DERIVED_IDENTITY: [&str; 3] = [EMAIL_DOMAIN, EMAIL_CLASS, PHONE_COUNTRY];
    /// Google Ads click identifier.
    pub const GCLID: &str = "gclid";
    /// Meta (Facebook) click identifier.
    pub const FBCLID: &str = "fbclid";
    /// Meta lead-ads lead identifier.
    pub const META_LEAD_ID: &str = "meta_lead_id";
}

/// Columns of `identities.parquet` (ingest): the SHA-256 digests (hex) of each lead's personal
/// data, normalised as the ad platforms specify, for the leads the run's exports may send (those
/// created in the scoring range: the run date's day before, and `[qualify] rescore_days` before
/// that). No raw value is kept anywhere after ingest.
pub mod identities {
    /// The lead.
    pub const LEAD_ID: &str = "lead_id";
    /// When it was created.
    pub const CREATED_AT: &str = "created_at";
    /// SHA-256 (hex) of the e-mail trimmed and lowercased (Meta's `em`).
    pub const EMAIL_SHA256: &str = "email_sha256";
    /// SHA-256 (hex) of the e-mail normalised for Google (Gmail dots and `+suffix` dropped).
    pub const EMAIL_SHA256_GOOGLE: &str = "email_sha256_google";
    /// SHA-256 (hex) of the phone's E.164 digits without `+` (Meta's `ph`).
    pub const PHONE_SHA256: &str = "phone_sha256";
    /// SHA-256 (hex) of the phone in E.164 with `+` (Google's `hashedPhoneNumber`).
    pub const PHONE_SHA256_GOOGLE: &str = "phone_sha256_google";
    /// SHA-256 (hex) of the normalised given name (Meta's `fn`).
    pub const FIRST_NAME_SHA256: &str = "first_name_sha256";
    /// SHA-256 (hex) of the normalised family name (Meta's `ln`).
    pub const LAST_NAME_SHA256: &str = "last_name_sha256";
    /// SHA-256 (hex) of the country's ISO code in lowercase (Meta's `country`).
    pub const COUNTRY_SHA256: &str = "country_sha256";
    /// SHA-256 (hex) of the normalised city (Meta's `ct`).
    pub const CITY_SHA256: &str = "city_sha256";
    /// SHA-256 (hex) of the normalised state (Meta's `st`).
    pub const STATE_SHA256: &str = "state_sha256";
    /// SHA-256 (hex) of the normalised ZIP code (Meta's `zp`).
    pub const ZIP_SHA256: &str = "zip_sha256";
    /// The digest columns, in order (after `lead_id` and `created_at`).
    pub const DIGESTS: [&str; 10] = [
        EMAIL_SHA256,
        EMAIL_SHA256_GOOGLE,
        PHONE_SHA256,
        PHONE_SHA256_GOOGLE,
        FIRST_NAME_SHA256,
        LAST_NAME_SHA256,
        COUNTRY_SHA256,
        CITY_SHA256,
        STATE_SHA256,
        ZIP_SHA256,
    ];
}

/// Columns of the canonical `deals.parquet` (one row per deal / opportunity, unique `deal_id`).
pub mod deals {
    /// Unique deal identifier.
    pub const DEAL_ID: &str = "deal_id";
    /// The person or account the deal belongs to (joins to `leads.user_id`).
    pub const USER_ID: &str = "user_id";
    /// When the deal was created (UTC instant).
    pub const CREATED_AT: &str = "created_at";
    /// When the deal was closed (UTC instant); null while open. For Salesforce this is `CloseDate`,
    /// which on open opportunities is the expected close date.
    pub const CLOSED_AT: &str = "closed_at";
    /// Pipeline stage as exported (e.g. `closedwon`, `Closed Won`).
    pub const STAGE: &str = "stage";
    /// Deal type as exported (e.g. `newbusiness`, `New Business`).
    pub const TYPE: &str = "type";
    /// Win probability in [0, 1] (percentages in the export are divided by 100).
    pub const PROBABILITY: &str = "probability";
    /// Amount converted into the project currency.
    pub const AMOUNT: &str = "amount";
    /// Amount as exported, in `currency`.
    pub const AMOUNT_ORIGINAL: &str = "amount_original";
    /// ISO 4217 code of the exported amount (the project currency when the export had none).
    pub const CURRENCY: &str = "currency";
}

/// Columns of the canonical `events.parquet` (one row per behavioural event, unique `event_id`).
pub mod events {
    /// Unique event identifier.
    pub const EVENT_ID: &str = "event_id";
    /// The person or account the event belongs to.
    pub const USER_ID: &str = "user_id";
    /// Event name (e.g. `Page View`, `Paid Subscription`).
    pub const NAME: &str = "name";
    /// When the event happened (UTC instant).
    pub const AT: &str = "at";
    /// Value attached to the event, converted into the project currency; null if none.
    pub const VALUE: &str = "value";
    /// ISO 4217 code of the exported value.
    pub const CURRENCY: &str = "currency";
}

/// Columns of `rejects.parquet`: every input row that did not make it into a canonical table.
pub mod rejects {
    /// Which source the row came from (`leads`, `deals`, `events`).
    pub const SOURCE: &str = "source";
    /// The file the row was read from.
    pub const FILE: &str = "file";
    /// 1-based record number within the file (the header is not counted).
    pub const ROW: &str = "row";
    /// The file column at fault, when one is.
    pub const COLUMN: &str = "column";
    /// Machine-readable reason code (see [`super::RejectReason`]).
    pub const REASON: &str = "reason";
    /// Human-readable explanation naming every problem found in the row.
    pub const DETAIL: &str = "detail";
    /// The row's raw values as a JSON object (file column name → value as text).
    pub const RAW: &str = "raw";
}

/// Columns of `conversions.parquet`: one row per conversion of every definition, known before the
/// run date.
pub mod conversions {
    /// Deterministic id: a hash of the definition name, the source and the source record id.
    pub const CONVERSION_ID: &str = "conversion_id";
    /// The definition's name.
    pub const CONVERSION_NAME: &str = "conversion_name";
    /// The user who converted.
    pub const USER_ID: &str = "user_id";
    /// When the conversion happened (the definition's `at` field).
    pub const AT: &str = "at";
    /// Its value in the project currency (null when the record has none).
    pub const VALUE: &str = "value";
    /// `deals` or `events`; `sql` for a SQL definition's conversions.
    pub const SOURCE: &str = "source";
    /// The deal or event id it came from (a SQL definition's `id`).
    pub const SOURCE_ID: &str = "source_id";
}

/// Columns of `labels.parquet`: one row per lead created before the run date.
pub mod labels {
    /// The lead.
    pub const LEAD_ID: &str = "lead_id";
    /// Its user (null when the lead has none: it can never convert).
    pub const USER_ID: &str = "user_id";
    /// When it was created.
    pub const CREATED_AT: &str = "created_at";
    /// Whether its window has ended by the run date (`created_at + window <= run date`).
    pub const MATURED: &str = "matured";
    /// True if a target conversion of its user fell in `[created_at, created_at + window)`;
    /// false only for matured leads without one; null while unmatured and not yet converted.
    pub const CONVERTED: &str = "converted";
    /// The first such conversion.
    pub const FIRST_CONVERSION_AT: &str = "first_conversion_at";
    /// Days from creation to that conversion.
    pub const DAYS_TO_CONVERT: &str = "days_to_convert";
    /// Sum of the values of the conversions in the window (project currency); 0 for matured
    /// leads without one, null while unknown.
    pub const VALUE_IN_WINDOW: &str = "value_in_window";
    /// How many target conversions fell in the window.
    pub const CONVERSIONS_IN_WINDOW: &str = "conversions_in_window";
    /// Whether the user had a target conversion before the lead was created.
    pub const EXISTING_CUSTOMER: &str = "existing_customer";
}

/// Columns of `features.parquet` besides the derived feature columns (which follow them, named
/// after the features of the spec).
pub mod features {
    /// The lead.
    pub const LEAD_ID: &str = "lead_id";
    /// When it was created.
    pub const CREATED_AT: &str = "created_at";
    /// `train`, `validation` or `pending`.
    pub const SPLIT: &str = "split";
    /// From labels (null while unknown).
    pub const CONVERTED: &str = "converted";
    /// From labels (null while unknown).
    pub const VALUE_IN_WINDOW: &str = "value_in_window";
    /// Split value: matured training leads before the validation cut.
    pub const TRAIN: &str = "train";
    /// Split value: the most recent matured training leads, held out.
    pub const VALIDATION: &str = "validation";
    /// Split value: leads created after the training window and before the run date's day before, whose
    /// conversion window is still open; `converted` is what is known so far (true or null). Used
    /// only to correct the model's level for drift since its training window (never as negatives).
    pub const PENDING: &str = "pending";
    /// From labels: days from creation to the first target conversion (null without one).
    pub const DAYS_TO_CONVERT: &str = "days_to_convert";
}

/// Columns of `scores.parquet` (the qualify stage).
pub mod scores {
    /// The lead.
    pub const LEAD_ID: &str = "lead_id";
    /// Its user (person or account).
    pub const USER_ID: &str = "user_id";
    /// Its web-analytics client id.
    pub const CLIENT_ID: &str = "client_id";
    /// When it was created.
    pub const CREATED_AT: &str = "created_at";
    /// The model that scored it.
    pub const MODEL_ID: &str = "model_id";
    /// Calibrated probability of converting within the window.
    pub const PROBABILITY: &str = "probability";
    /// 0-100: the share of validation leads with a lower probability.
    pub const SCORE: &str = "score";
    /// `very good`, `good`, `medium` or `low`.
    pub const SEGMENT: &str = "segment";
    /// Whether the lead passes the configured policy's threshold.
    pub const QUALIFIED: &str = "qualified";
    /// The strongest signed contributions, readable (`reason_1` is the strongest).
    pub const REASONS: [&str; 3] = ["reason_1", "reason_2", "reason_3"];
}

/// Columns of `ledger.parquet` (export): one row per destination and lead of the adjustment
/// window that a destination was told of.
pub mod ledger {
    /// The export format (`custom`, `google_click`, `google_enhanced`, `meta_capi`).
    pub const DESTINATION: &str = "destination";
    /// The lead.
    pub const LEAD_ID: &str = "lead_id";
    /// When the lead was created (the window is counted from it).
    pub const LEAD_CREATED_AT: &str = "lead_created_at";
    /// The conversion's id on the platform (order id, event id, row id).
    pub const CONVERSION_ID: &str = "conversion_id";
    /// The conversion's time as sent.
    pub const CONVERSION_AT: &str = "conversion_at";
    /// The value the platform holds now (0 after a retraction).
    pub const VALUE: &str = "value";
    /// Its currency.
    pub const CURRENCY: &str = "currency";
    /// Whether the platform holds the lead as qualified.
    pub const QUALIFIED: &str = "qualified";
    /// `sent`, `restated`, `converted` or `retracted`.
    pub const STATE: &str = "state";
    /// The run date that first sent it.
    pub const SENT_ON: &str = "sent_on";
    /// The run date that last changed it.
    pub const CHANGED_ON: &str = "changed_on";
    /// The time of its last adjustment (null before any).
    pub const ADJUSTED_AT: &str = "adjusted_at";
    /// The Google click id it was sent with (click conversions are adjusted by it).
    pub const GCLID: &str = "gclid";
}

/// Columns of `values.parquet` (the value stage).
pub mod values {
    /// The lead.
    pub const LEAD_ID: &str = "lead_id";
    /// When it was created.
    pub const CREATED_AT: &str = "created_at";
    /// The model that valued it.
    pub const MODEL_ID: &str = "model_id";
    /// Calibrated probability (from qualify).
    pub const PROBABILITY: &str = "probability";
    /// E[value | converted within the window], project currency.
    pub const CONDITIONAL_VALUE: &str = "conditional_value";
    /// probability x conditional value.
    pub const PREDICTED_VALUE: &str = "predicted_value";
    /// 10th percentile of the conditional value.
    pub const VALUE_P10: &str = "value_p10";
    /// 90th percentile of the conditional value.
    pub const VALUE_P90: &str = "value_p90";
    /// ISO 4217 code of the project currency.
    pub const CURRENCY: &str = "currency";
}

/// Columns of `channel_leads.parquet` (the channels stage): one row per lead the run scored,
/// with where it came from and what was predicted for it. The channel columns follow, one per
/// configured dimension, named [`DIMENSION_PREFIX`] + the attribute (`by_utm_source`).
pub mod channel_leads {
    /// The lead.
    pub const LEAD_ID: &str = "lead_id";
    /// When it was created.
    pub const CREATED_AT: &str = "created_at";
    /// Monday of its week of creation, in the project time zone.
    pub const WEEK: &str = "week";
    /// Whether it carries a Google click id (`gclid`).
    pub const GOOGLE_CLICK: &str = "google_click";
    /// Whether it carries a Meta click id or lead-ads id (`fbclid`, `meta_lead_id`).
    pub const META_CLICK: &str = "meta_click";
    /// The model that scored it.
    pub const MODEL_ID: &str = "model_id";
    /// Calibrated probability of converting within the window.
    pub const PROBABILITY: &str = "probability";
    /// Whether it qualified.
    pub const QUALIFIED: &str = "qualified";
    /// Predicted value within the window (project currency).
    pub const PREDICTED_VALUE: &str = "predicted_value";
    /// Start of the name of a channel column.
    pub const DIMENSION_PREFIX: &str = "by_";
}

/// Columns of `channels.parquet`: one row per dimension x channel x week.
pub mod channels {
    /// What the leads are grouped by: an attribute (`utm_source`), `google_click` or `meta_click`.
    pub const DIMENSION: &str = "dimension";
    /// The group: the attribute's value (`(none)` when empty), or `yes`/`no` for a click id.
    pub const CHANNEL: &str = "channel";
    /// Monday of the week the leads were created in (project time zone).
    pub const WEEK: &str = "week";
    /// Leads.
    pub const LEADS: &str = "leads";
    /// Qualified leads.
    pub const QUALIFIED: &str = "qualified";
    /// Qualified leads / leads.
    pub const QUALIFIED_SHARE: &str = "qualified_share";
    /// Low end of the 95% Wilson interval of the qualified share.
    pub const QUALIFIED_SHARE_LOW: &str = "qualified_share_low";
    /// High end of that interval.
    pub const QUALIFIED_SHARE_HIGH: &str = "qualified_share_high";
    /// Mean probability of converting within the window.
    pub const MEAN_PROBABILITY: &str = "mean_probability";
    /// Sum of the predicted values.
    pub const PREDICTED_VALUE: &str = "predicted_value";
    /// Predicted value per lead.
    pub const PREDICTED_VALUE_PER_LEAD: &str = "predicted_value_per_lead";
    /// Low end of the 95% interval of the predicted value per lead (bootstrap).
    pub const PREDICTED_VALUE_PER_LEAD_LOW: &str = "predicted_value_per_lead_low";
    /// High end of that interval.
    pub const PREDICTED_VALUE_PER_LEAD_HIGH: &str = "predicted_value_per_lead_high";
    /// Leads whose conversion window has ended (by the outcomes' date).
    pub const MATURED_LEADS: &str = "matured_leads";
    /// Sum of the predicted values of the matured leads (to set beside the actual value).
    pub const MATURED_PREDICTED_VALUE: &str = "matured_predicted_value";
    /// Matured leads that converted within their window.
    pub const ACTUAL_CONVERSIONS: &str = "actual_conversions";
    /// Value of those conversions within the window (project currency).
    pub const ACTUAL_VALUE: &str = "actual_value";
    /// Actual value per matured lead.
    pub const ACTUAL_VALUE_PER_LEAD: &str = "actual_value_per_lead";
    /// Low end of the 95% interval of the actual value per matured lead (bootstrap).
    pub const ACTUAL_VALUE_PER_LEAD_LOW: &str = "actual_value_per_lead_low";
    /// High end of that interval.
    pub const ACTUAL_VALUE_PER_LEAD_HIGH: &str = "actual_value_per_lead_high";
    /// Ad spend (project currency); null without a spend file or outside the spend's dimension.
    pub const COST: &str = "cost";
    /// Cost / leads.
    pub const COST_PER_LEAD: &str = "cost_per_lead";
    /// Cost / qualified leads.
    pub const COST_PER_QUALIFIED_LEAD: &str = "cost_per_qualified_lead";
    /// Predicted value / cost.
    pub const PREDICTED_ROAS: &str = "predicted_roas";
    /// Actual value of the matured leads / their share of the cost (the cost times matured leads
    /// / leads); null before any lead matured.
    pub const ACTUAL_ROAS: &str = "actual_roas";
    /// Fewer leads than `[channels] min_leads`: shown, not ranked.
    pub const TOO_SMALL: &str = "too_small";
    /// ISO 4217 code of the project currency.
    pub const CURRENCY: &str = "currency";
}

/// Why an input row was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// A required identifier (lead, deal, event or user id) is empty.
    MissingId,
    /// A required timestamp is empty.
    MissingTimestamp,
    /// A timestamp could not be parsed in any supported format.
    UnparsableTimestamp,
    /// An amount or value is not a number.
    UnparsableAmount,
    /// An amount or value is negative.
    NegativeAmount,
    /// A currency code is not ISO 4217 or has no exchange rate.
    UnknownCurrency,
    /// Another row with the same id was kept (newer update time, or later in the export).
    DuplicateId,
    /// An amount is a number, but converted into the project currency it is not finite.
    NonFiniteAmount,
    /// A CSV record has more or fewer fields than the header.
    WrongFieldCount,
    /// A value's bytes are not UTF-8 text, or hold a NUL byte.
    InvalidEncoding,
    /// A JSON Lines line is not a JSON object.
    InvalidJson,
    /// A CSV line opens a quoted value it does not close (the lines after it are read on their
    /// own).
    UnbalancedQuote,
    /// A value of a `[sources.tables]` column is not of the column's declared kind.
    UnparsableValue,
}

impl RejectReason {
    /// The snake_case code written to `rejects.parquet`.
    pub fn code(self) -> &'static str {
        match self {
            Self::MissingId => "missing_id",
            Self::MissingTimestamp => "missing_timestamp",
            Self::UnparsableTimestamp => "unparsable_timestamp",
            Self::UnparsableAmount => "unparsable_amount",
            Self::NegativeAmount => "negative_amount",
            Self::UnknownCurrency => "unknown_currency",
            Self::DuplicateId => "duplicate_id",
            Self::NonFiniteAmount => "non_finite_amount",
            Self::WrongFieldCount => "wrong_field_count",
            Self::InvalidEncoding => "invalid_encoding",
            Self::InvalidJson => "invalid_json",
            Self::UnbalancedQuote => "unbalanced_quote",
            Self::UnparsableValue => "unparsable_value",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The three kinds of CRM source a config can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Leads / contacts (required).
    Leads,
    /// Deals / opportunities (required).
    Deals,
    /// Behavioural events (optional).
    Events,
}

/// How a canonical field's raw text is interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// An identifier: trimmed text, empty means missing.
    Id,
    /// Free text: trimmed, empty means null.
    Text,
    /// A point in time (see `time::parse_timestamp` for the accepted formats).
    Timestamp,
    /// A non-negative money amount.
    Amount,
    /// An ISO 4217 currency code.
    Currency,
    /// A probability in [0, 1] or a percentage in (1, 100].
    Probability,
}

/// One canonical field a source mapping can fill.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// Canonical name, also the output column name.
    pub name: &'static str,
    /// How the raw value is parsed.
    pub ty: FieldType,
    /// A row whose value is empty is rejected; a mapping without the field is a config error.
    pub required: bool,
    /// Kept in the output table (false only for ingest-internal fields such as `updated_at`).
    pub output: bool,
    /// What the field means (shown in errors and docs).
    pub doc: &'static str,
}

/// The canonical field that orders versions of the same record during de-duplication.
pub const UPDATED_AT: &str = "updated_at";

const fn field(name: &'static str, ty: FieldType, required: bool, doc: &'static str) -> FieldSpec {
    FieldSpec { name, ty, required, output: true, doc }
}

const UPDATED_AT_FIELD: FieldSpec = FieldSpec {
    name: UPDATED_AT,
    ty: FieldType::Timestamp,
    required: false,
    output: false,
    doc: "last modification time; the newest version of a duplicated id wins",
};

const LEAD_FIELDS: &[FieldSpec] = &[
    field(leads::LEAD_ID, FieldType::Id, true, "unique lead id"),
    field(leads::CREATED_AT, FieldType::Timestamp, true, "lead creation time"),
    field(leads::USER_ID, FieldType::Text, false, "person/account id shared with deals and events"),
    field(leads::CLIENT_ID, FieldType::Text, false, "web analytics client id"),
    field(leads::EMAIL, FieldType::Text, false, "e-mail address"),
    field(leads::PHONE, FieldType::Text, false, "phone number"),
    field(leads::FIRST_NAME, FieldType::Text, false, "given name"),
    field(leads::LAST_NAME, FieldType::Text, false, "family name"),
    field(leads::GCLID, FieldType::Text, false, "Google Ads click id"),
    field(leads::FBCLID, FieldType::Text, false, "Meta click id"),
    field(leads::META_LEAD_ID, FieldType::Text, false, "Meta lead-ads lead id"),
    UPDATED_AT_FIELD,
];

const DEAL_FIELDS: &[FieldSpec] = &[
    field(deals::DEAL_ID, FieldType::Id, true, "unique deal id"),
    field(deals::USER_ID, FieldType::Id, true, "person/account id shared with leads"),
    field(deals::CREATED_AT, FieldType::Timestamp, true, "deal creation time"),
    field(deals::CLOSED_AT, FieldType::Timestamp, false, "close time; empty while open"),
    field(deals::STAGE, FieldType::Text, false, "pipeline stage"),
    field(deals::TYPE, FieldType::Text, false, "deal type (new business, renewal, ...)"),
    field(deals::PROBABILITY, FieldType::Probability, false, "win probability"),
    field(deals::AMOUNT, FieldType::Amount, false, "deal amount"),
    field(deals::CURRENCY, FieldType::Currency, false, "ISO 4217 code of the amount"),
    UPDATED_AT_FIELD,
];

const EVENT_FIELDS: &[FieldSpec] = &[
    field(events::EVENT_ID, FieldType::Id, false, "unique event id (derived from the row if unmapped)"),
    field(events::USER_ID, FieldType::Id, true, "person/account id shared with leads"),
    field(events::NAME, FieldType::Id, true, "event name"),
    field(events::AT, FieldType::Timestamp, true, "event time"),
    field(events::VALUE, FieldType::Amount, false, "value attached to the event"),
    field(events::CURRENCY, FieldType::Currency, false, "ISO 4217 code of the value"),
    UPDATED_AT_FIELD,
];

impl SourceKind {
    /// All kinds, in the order stages process them.
    pub const ALL: [SourceKind; 3] = [SourceKind::Leads, SourceKind::Deals, SourceKind::Events];

    /// The lowercase name used in config sections, reports and the rejects table.
    pub fn name(self) -> &'static str {
        match self {
            Self::Leads => "leads",
            Self::Deals => "deals",
            Self::Events => "events",
        }
    }

    /// The canonical fields a mapping for this source may fill.
    pub fn fields(self) -> &'static [FieldSpec] {
        match self {
            Self::Leads => LEAD_FIELDS,
            Self::Deals => DEAL_FIELDS,
            Self::Events => EVENT_FIELDS,
        }
    }

    /// Looks up one canonical field by name.
    pub fn field(self, name: &str) -> Option<&'static FieldSpec> {
        self.fields().iter().find(|f| f.name == name)
    }

    /// The field that identifies a record of this source.
    pub fn id_field(self) -> &'static str {
        match self {
            Self::Leads => leads::LEAD_ID,
            Self::Deals => deals::DEAL_ID,
            Self::Events => events::EVENT_ID,
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// File names of the tables stages pass to each other.
pub mod files {
    /// Canonical leads, written by ingest.
    pub const LEADS: &str = "leads.parquet";
    /// Canonical deals, written by ingest.
    pub const DEALS: &str = "deals.parquet";
    /// Canonical events, written by ingest.
    pub const EVENTS: &str = "events.parquet";
    /// Rejected input rows, written by ingest.
    pub const REJECTS: &str = "rejects.parquet";
    /// The folder of the extra tables of `[sources.tables]` (`tables/<name>.parquet`), written by
    /// ingest.
    pub const SOURCE_TABLES: &str = "tables";
    /// Digests of the personal data of the leads the exports may send, written by ingest.
    pub const IDENTITIES: &str = "identities.parquet";
    /// Conversions of every definition, written by labels.
    pub const CONVERSIONS: &str = "conversions.parquet";
    /// Per-lead window labels, written by labels.
    pub const LABELS: &str = "labels.parquet";
    /// Derived features of the training, validation and pending leads, written by features.
    pub const FEATURES: &str = "features.parquet";
    /// The fitted feature spec, written by features.
    pub const FEATURE_SPEC: &str = "feature_spec.json";
    /// The leakage audit's verdict on every attribute, written by features.
    pub const LEAKAGE_AUDIT: &str = "leakage_audit.json";
    /// Scored leads of the run date, written by qualify.
    pub const SCORES: &str = "scores.parquet";
    /// The scored leads' derived features, written by qualify.
    pub const SCORED_FEATURES: &str = "scored_features.parquet";
    /// Predicted values of the scored leads, written by value.
    pub const VALUES: &str = "values.parquet";
    /// Conversions in the custom-conversion shape, written by export (also as CSV).
    pub const QUALIFIED_LEADS: &str = "qualified_leads.parquet";
    /// [`QUALIFIED_LEADS`] as CSV.
    pub const QUALIFIED_LEADS_CSV: &str = "qualified_leads.csv";
    /// Google Ads offline click conversions, written by export.
    pub const GOOGLE_CLICK: &str = "google_ads_click_conversions.csv";
    /// Google Ads enhanced conversions for leads (JSON Lines), written by export.
    pub const GOOGLE_ENHANCED: &str = "google_ads_enhanced_conversions.jsonl";
    /// Prefix of the Google Ads `UploadClickConversions` request bodies
    /// (`google_ads_enhanced_conversions_0001.json`, …), written by export.
    pub const GOOGLE_ENHANCED_BATCH_PREFIX: &str = "google_ads_enhanced_conversions_";
    /// Prefix of the Meta Conversions API batches (`meta_capi_0001.json`, …), written by export.
    pub const META_CAPI_PREFIX: &str = "meta_capi_";
    /// Leads an export refused, with the export and the reason, written by export.
    pub const REFUSED: &str = "refused.parquet";
    /// What every destination was last told of every lead of the adjustment window, written by
    /// export.
    pub const LEDGER: &str = "ledger.parquet";
    /// Google Ads conversion adjustments of click conversions (Google Click ID + Conversion
    /// Time), written by export.
    pub const GOOGLE_CLICK_ADJUSTMENTS: &str = "google_ads_click_adjustments.csv";
    /// Google Ads conversion adjustments of enhanced conversions (Order ID), written by export.
    pub const GOOGLE_ENHANCED_ADJUSTMENTS: &str = "google_ads_enhanced_adjustments.csv";
    /// Prefix of the Google Ads `UploadConversionAdjustments` request bodies
    /// (`google_ads_enhanced_adjustments_0001.json`, …), written by export.
    pub const GOOGLE_ADJUSTMENTS_BATCH_PREFIX: &str = "google_ads_enhanced_adjustments_";
    /// HubSpot contact import of every scored lead's score, written by export.
    pub const HUBSPOT: &str = "hubspot_contacts_import.csv";
    /// Salesforce Bulk API 2.0 update of every scored lead's score, written by export.
    pub const SALESFORCE: &str = "salesforce_bulk_leads.csv";
    /// Every lead a run scored, with its channels and predictions, written by channels.
    pub const CHANNEL_LEADS: &str = "channel_leads.parquet";
    /// Leads, predictions, outcomes (and spend) per dimension x channel x week, written by
    /// channels and `leadscore report channels`.
    pub const CHANNELS: &str = "channels.parquet";
    /// [`CHANNELS`] as CSV.
    pub const CHANNELS_CSV: &str = "channels.csv";
    /// The channel report's page.
    pub const CHANNELS_HTML: &str = "channels.html";
    /// Campaigns of the spend file without leads, and campaigns of leads without spend.
    pub const SPEND_UNMATCHED_CSV: &str = "spend_unmatched.csv";
    /// A stage's typed report.
    pub const REPORT: &str = "report.json";
    /// A stage's manifest (inputs, outputs, timings); written last, marks success.
    pub const MANIFEST: &str = "manifest.json";
}

/// Names of the columns of a source's canonical table, in order (attribute columns of leads
/// excluded). For leads these include the raw identity fields ([`leads::RAW_IDENTITY`]), which
/// ingest writes only when the config keeps them, then the parts derived from them
/// ([`leads::DERIVED_IDENTITY`]).
pub fn canonical_columns(kind: SourceKind) -> Vec<&'static str> {
    let mut cols: Vec<&'static str> = kind.fields().iter().filter(|f| f.output).map(|f| f.name).collect();
    match kind {
        SourceKind::Deals => {
            // The converted amount and the original amount are both kept.
            let pos = cols.iter().position(|c| *c == deals::AMOUNT).map_or(cols.len(), |p| p + 1);
            cols.insert(pos, deals::AMOUNT_ORIGINAL);
        }
        SourceKind::Leads => cols.extend(leads::DERIVED_IDENTITY),
        SourceKind::Events => {}
    }
    cols
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_has_its_id_field_and_required_fields() {
        for kind in SourceKind::ALL {
            assert!(kind.field(kind.id_field()).is_some(), "{kind} lacks its id field");
            let names: Vec<_> = kind.fields().iter().map(|f| f.name).collect();
            let mut dedup = names.clone();
            dedup.sort_unstable();
            dedup.dedup();
            assert_eq!(names.len(), dedup.len(), "{kind} declares a field twice");
        }
        assert!(SourceKind::Leads.field(leads::CREATED_AT).is_some_and(|f| f.required));
        assert!(SourceKind::Events.field(events::EVENT_ID).is_some_and(|f| !f.required));
    }

    #[test]
    fn deal_columns_keep_original_amount_next_to_converted() {
        let cols = canonical_columns(SourceKind::Deals);
        let a = cols.iter().position(|c| *c == deals::AMOUNT);
        let o = cols.iter().position(|c| *c == deals::AMOUNT_ORIGINAL);
        assert_eq!(a.map(|a| a + 1), o);
        assert!(!cols.contains(&UPDATED_AT));
    }
}
