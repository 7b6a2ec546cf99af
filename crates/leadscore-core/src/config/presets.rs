//! Presets: the standard column names of HubSpot, Salesforce, Microsoft Dynamics 365 and Pipedrive
//! exports ([`Preset`]), and of the behavioural-event exports of Segment, Mixpanel and Amplitude
//! ([`EventPreset`]).
//!
//! `[sources] preset = "hubspot"` fills every source's mapping with these names, and
//! `[sources.events] preset = "segment"` the events'; entries in a source's own `mapping` table
//! override them. Optional columns a preset names but the file does not have are left empty (with
//! a note in the log); required ones must exist. A preset whose export writes times without an
//! offset in UTC also sets the source's `timezone` to UTC, unless the source sets one.

use chrono_tz::Tz;

use crate::schema::{SourceKind, UPDATED_AT, deals, events, leads};

/// A named set of default mappings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// HubSpot CRM exports: contacts, deals, custom behavioural events.
    Hubspot,
    /// Salesforce exports: Lead and Opportunity objects.
    Salesforce,
    /// Microsoft Dynamics 365 Sales (Dataverse) tables `lead` and `opportunity`, by their
    /// logical column names, as Dataverse exports and sync tools (Azure Synapse Link, Fivetran,
    /// Airbyte) write them. Column names from Microsoft's table references:
    /// <https://learn.microsoft.com/dynamics365/sales/developer/entities/lead> and
    /// <https://learn.microsoft.com/dynamics365/sales/developer/entities/opportunity>.
    #[serde(rename = "dynamics365")]
    Dynamics365,
    /// Pipedrive persons and deals, by the field names of Pipedrive's API, which sync tools
    /// mirror into tables. Field names from Pipedrive's API models:
    /// <https://github.com/pipedrive/client-php/blob/master/docs/Model/BasePersonItem.md> and
    /// <https://github.com/pipedrive/client-php/blob/master/docs/Model/DealCollectionResponseObject.md>.
    Pipedrive,
}

impl Preset {
    /// Every preset, for messages.
    pub const ALL: [Preset; 4] = [Preset::Hubspot, Preset::Salesforce, Preset::Dynamics365, Preset::Pipedrive];

    /// Parses a preset name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "hubspot" => Some(Self::Hubspot),
            "salesforce" => Some(Self::Salesforce),
            "dynamics365" => Some(Self::Dynamics365),
            "pipedrive" => Some(Self::Pipedrive),
            _ => None,
        }
    }

    /// The name used in the config.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hubspot => "hubspot",
            Self::Salesforce => "salesforce",
            Self::Dynamics365 => "dynamics365",
            Self::Pipedrive => "pipedrive",
        }
    }

    /// The CRM's name as its users write it (Meta's `lead_event_source` by default).
    pub fn crm_name(self) -> &'static str {
        match self {
            Self::Hubspot => "HubSpot",
            Self::Salesforce => "Salesforce",
            Self::Dynamics365 => "Dynamics 365",
            Self::Pipedrive => "Pipedrive",
        }
    }

    /// The time zone of the export's times that carry no offset, when it is not the project's:
    /// Pipedrive's API gives UTC `YYYY-MM-DD HH:MM:SS`.
    pub fn timezone(self) -> Option<Tz> {
        (self == Self::Pipedrive).then_some(Tz::UTC)
    }

    /// Canonical field → export column for one source.
    pub fn mapping(self, kind: SourceKind) -> &'static [(&'static str, &'static str)] {
        match (self, kind) {
            (Self::Hubspot, SourceKind::Leads) => HUBSPOT_LEADS,
            (Self::Hubspot, SourceKind::Deals) => HUBSPOT_DEALS,
            (Self::Hubspot, SourceKind::Events) => HUBSPOT_EVENTS,
            (Self::Salesforce, SourceKind::Leads) => SALESFORCE_LEADS,
            (Self::Salesforce, SourceKind::Deals) => SALESFORCE_DEALS,
            (Self::Dynamics365, SourceKind::Leads) => DYNAMICS365_LEADS,
            (Self::Dynamics365, SourceKind::Deals) => DYNAMICS365_DEALS,
            (Self::Pipedrive, SourceKind::Leads) => PIPEDRIVE_LEADS,
            (Self::Pipedrive, SourceKind::Deals) => PIPEDRIVE_DEALS,
            // Salesforce, Dynamics 365 and Pipedrive have no standard behavioural-event object.
            (Self::Salesforce | Self::Dynamics365 | Self::Pipedrive, SourceKind::Events) => &[],
        }
    }
}

/// HubSpot's leads export: canonical field → column.
const HUBSPOT_LEADS: &[(&str, &str)] = &[
    (leads::LEAD_ID, "Record ID"),
    (leads::CREATED_AT, "Create Date"),
    (leads::USER_ID, "Associated Company ID"),
    (leads::CLIENT_ID, "GA Client ID"),
    (leads::EMAIL, "Email"),
    (leads::PHONE, "Phone Number"),
    (leads::FIRST_NAME, "First Name"),
    (leads::LAST_NAME, "Last Name"),
    (leads::GCLID, "Google Ad Click ID"),
    (leads::FBCLID, "Facebook Click ID"),
    (leads::META_LEAD_ID, "Meta Lead ID"),
    (UPDATED_AT, "Last Modified Date"),
];

/// HubSpot's deals export: canonical field → column.
const HUBSPOT_DEALS: &[(&str, &str)] = &[
    (deals::DEAL_ID, "Record ID"),
    (deals::USER_ID, "Associated Company ID"),
    (deals::CREATED_AT, "Create Date"),
    (deals::CLOSED_AT, "Close Date"),
    (deals::STAGE, "Deal Stage"),
    (deals::TYPE, "Deal Type"),
    (deals::PROBABILITY, "Deal Probability"),
    (deals::AMOUNT, "Amount"),
    (deals::CURRENCY, "Deal Currency Code"),
    (UPDATED_AT, "Last Modified Date"),
];

/// HubSpot's events export: canonical field → column.
const HUBSPOT_EVENTS: &[(&str, &str)] = &[
    (events::EVENT_ID, "Event ID"),
    (events::USER_ID, "Associated Company ID"),
    (events::NAME, "Event Name"),
    (events::AT, "Timestamp"),
    (events::VALUE, "Value"),
    (events::CURRENCY, "Currency"),
];

/// Salesforce's leads export: canonical field → column.
const SALESFORCE_LEADS: &[(&str, &str)] = &[
    (leads::LEAD_ID, "Id"),
    (leads::CREATED_AT, "CreatedDate"),
    (leads::USER_ID, "ConvertedAccountId"),
    (leads::CLIENT_ID, "GA_Client_ID__c"),
    (leads::EMAIL, "Email"),
    (leads::PHONE, "Phone"),
    (leads::FIRST_NAME, "FirstName"),
    (leads::LAST_NAME, "LastName"),
    (leads::GCLID, "GCLID__c"),
    (leads::FBCLID, "FBCLID__c"),
    (leads::META_LEAD_ID, "Meta_Lead_ID__c"),
    (UPDATED_AT, "LastModifiedDate"),
];

/// Salesforce's deals export: canonical field → column.
const SALESFORCE_DEALS: &[(&str, &str)] = &[
    (deals::DEAL_ID, "Id"),
    (deals::USER_ID, "AccountId"),
    (deals::CREATED_AT, "CreatedDate"),
    (deals::CLOSED_AT, "CloseDate"),
    (deals::STAGE, "StageName"),
    (deals::TYPE, "Type"),
    (deals::PROBABILITY, "Probability"),
    (deals::AMOUNT, "Amount"),
    (deals::CURRENCY, "CurrencyIsoCode"),
    (UPDATED_AT, "LastModifiedDate"),
];

/// Dynamics 365's leads export: canonical field → column. A lead is its own user: an opportunity
/// qualified from it names it in `originatingleadid` (the lead's account, `parentaccountid`, is
/// often empty until then).
const DYNAMICS365_LEADS: &[(&str, &str)] = &[
    (leads::LEAD_ID, "leadid"),
    (leads::CREATED_AT, "createdon"),
    (leads::USER_ID, "leadid"),
    (leads::EMAIL, "emailaddress1"),
    (leads::PHONE, "telephone1"),
    (leads::FIRST_NAME, "firstname"),
    (leads::LAST_NAME, "lastname"),
    (UPDATED_AT, "modifiedon"),
];

/// Dynamics 365's opportunities export: canonical field → column. `statecode`: 0 open, 1 won, 2
/// lost. `actualvalue` is in the record's transaction currency (`transactioncurrencyid` is a
/// lookup, not an ISO code, so no currency is mapped): in a multi-currency organisation map
/// `amount = "actualvalue_base"`, the organisation's base currency, and make it the project
/// currency.
const DYNAMICS365_DEALS: &[(&str, &str)] = &[
    (deals::DEAL_ID, "opportunityid"),
    (deals::USER_ID, "originatingleadid"),
    (deals::CREATED_AT, "createdon"),
    (deals::CLOSED_AT, "actualclosedate"),
    (deals::STAGE, "statecode"),
    (deals::PROBABILITY, "closeprobability"),
    (deals::AMOUNT, "actualvalue"),
    (UPDATED_AT, "modifiedon"),
];

/// Pipedrive's persons export: canonical field → column. A person is the lead and its own user; a
/// deal names it in `person_id`. The API gives `email` and `phone` as lists of objects, so they are
/// not mapped: map a column that holds one address (a sync tool's `primary_email`, or a query's
/// `email->0->>'value'`). Times are UTC `YYYY-MM-DD HH:MM:SS`.
const PIPEDRIVE_LEADS: &[(&str, &str)] =
    &[(leads::LEAD_ID, "id"), (leads::CREATED_AT, "add_time"), (leads::USER_ID, "id"), (UPDATED_AT, "update_time")];

/// Pipedrive's deals export: canonical field → column. `status`: open, won, lost or deleted;
/// `close_time` is when it was won or lost.
const PIPEDRIVE_DEALS: &[(&str, &str)] = &[
    (deals::DEAL_ID, "id"),
    (deals::USER_ID, "person_id"),
    (deals::CREATED_AT, "add_time"),
    (deals::CLOSED_AT, "close_time"),
    (deals::STAGE, "status"),
    (deals::PROBABILITY, "probability"),
    (deals::AMOUNT, "value"),
    (deals::CURRENCY, "currency"),
    (UPDATED_AT, "update_time"),
];

/// The behavioural-event exports of product-analytics tools, read as JSON Lines; nested objects
/// are read as dotted columns (`properties.revenue`). `user_id` must hold the id that links
/// events to leads and deals (the tool's user id set to the CRM's contact or company id), as for
/// any events source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventPreset {
    /// Segment `track` calls, as its S3 and Data Lakes destinations and its warehouse raw
    /// tables store them: `messageId`, `userId`, `event`, `timestamp` (ISO 8601 with its offset)
    /// and the spec's `revenue` and `currency` properties. The Track spec and its common fields:
    /// <https://segment.com/docs/connections/spec/track/>,
    /// <https://segment.com/docs/connections/spec/common/>. Other calls (`page`, `identify`)
    /// have no `event` and would be rejected (`missing_id`): keep track calls only (a `query`
    /// with `WHERE type = 'track'`, or the destination's track tables).
    Segment,
    /// Mixpanel's raw event export (`GET https://data.mixpanel.com/api/2.0/export`): one
    /// `{"event": …, "properties": {…}}` object per line, with `properties.$insert_id`,
    /// `properties.distinct_id` and `properties.time` (epoch seconds, or milliseconds as the
    /// import API takes them). Mixpanel has no standard revenue property: map `value` to yours.
    /// <https://developer.mixpanel.com/reference/raw-event-export>,
    /// <https://developer.mixpanel.com/reference/import-events>.
    Mixpanel,
    /// Amplitude's Export API (`GET https://amplitude.com/api/2/export`, gzipped JSON lines): a
    /// row's `uuid`, `user_id`, `event_type`, `event_time` (`2015-08-10 12:00:00.000000`, in UTC:
    /// "The Export API returns events timestamped in UTC", so the source's time zone is UTC) and
    /// the revenue property `event_properties.$revenue`.
    /// <https://amplitude.com/docs/apis/analytics/export>,
    /// <https://amplitude.com/docs/cdp/track-revenue>.
    Amplitude,
}

impl EventPreset {
    /// Every event preset, for messages.
    pub const ALL: [EventPreset; 3] = [EventPreset::Segment, EventPreset::Mixpanel, EventPreset::Amplitude];

    /// Parses an event preset name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The name used in the config.
    pub fn name(self) -> &'static str {
        match self {
            Self::Segment => "segment",
            Self::Mixpanel => "mixpanel",
            Self::Amplitude => "amplitude",
        }
    }

    /// The tool's name as its users write it.
    pub fn tool_name(self) -> &'static str {
        match self {
            Self::Segment => "Segment",
            Self::Mixpanel => "Mixpanel",
            Self::Amplitude => "Amplitude",
        }
    }

    /// The time zone of the export's times without an offset, when it is not the project's.
    pub fn timezone(self) -> Option<Tz> {
        (self == Self::Amplitude).then_some(Tz::UTC)
    }

    /// Canonical event field → column (dotted for a nested key).
    pub fn mapping(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Segment => &[
                (events::EVENT_ID, "messageId"),
                (events::USER_ID, "userId"),
                (events::NAME, "event"),
                (events::AT, "timestamp"),
                (events::VALUE, "properties.revenue"),
                (events::CURRENCY, "properties.currency"),
            ],
            Self::Mixpanel => &[
                (events::EVENT_ID, "properties.$insert_id"),
                (events::USER_ID, "properties.distinct_id"),
                (events::NAME, "event"),
                (events::AT, "properties.time"),
            ],
            Self::Amplitude => &[
                (events::EVENT_ID, "uuid"),
                (events::USER_ID, "user_id"),
                (events::NAME, "event_type"),
                (events::AT, "event_time"),
                (events::VALUE, "event_properties.$revenue"),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_only_name_canonical_fields_and_cover_required_ones() {
        for preset in Preset::ALL {
            for kind in SourceKind::ALL {
                let map = preset.mapping(kind);
                for (field, _) in map {
                    assert!(kind.field(field).is_some(), "{} {kind}: {field}", preset.name());
                }
                if map.is_empty() {
                    continue;
                }
                for spec in kind.fields().iter().filter(|f| f.required) {
                    assert!(
                        map.iter().any(|(f, _)| *f == spec.name),
                        "{} {kind} lacks required {}",
                        preset.name(),
                        spec.name
                    );
                }
            }
        }
        for preset in EventPreset::ALL {
            for (field, _) in preset.mapping() {
                assert!(SourceKind::Events.field(field).is_some(), "{}: {field}", preset.name());
            }
            for spec in SourceKind::Events.fields().iter().filter(|f| f.required) {
                assert!(preset.mapping().iter().any(|(f, _)| *f == spec.name), "{} lacks {}", preset.name(), spec.name);
            }
            assert_eq!(EventPreset::from_name(preset.name()), Some(preset));
        }
    }
}
