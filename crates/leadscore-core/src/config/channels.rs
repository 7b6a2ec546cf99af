//! `[channels]`: which attributes say where a lead came from, when a channel is too small to
//! rank, and the optional ad-spend file joined on campaign.

use serde::Serialize;

use super::raw::{RawChannels, RawSpend};
use super::{Attribute, KeyPath, Validator, one_of};

/// `dimensions`: these of them that are configured attributes.
pub const DEFAULT_DIMENSIONS: [&str; 4] = ["lead_source", "utm_source", "utm_medium", "utm_campaign"];
/// `min_leads`.
pub const DEFAULT_MIN_LEADS: u32 = 30;
/// `spend.join_on`.
pub const DEFAULT_SPEND_JOIN_ON: &str = "utm_campaign";

/// Validated `[channels]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Channels {
    /// Attributes reported as channels, each on its own (the click ids always are).
    pub dimensions: Vec<String>,
    /// Leads a channel needs to be ranked.
    pub min_leads: u32,
    /// The spend file, if any.
    pub spend: Option<Spend>,
}

/// Validated `[channels.spend]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spend {
    /// The file, as written in the config (resolve it with [`super::Config::resolve`]).
    pub path: String,
    /// The dimension whose values are the campaign names.
    pub join_on: String,
    /// Column of the day, when set.
    pub date_column: Option<String>,
    /// Column of the campaign, when set.
    pub campaign_column: Option<String>,
    /// Column of the cost, when set.
    pub cost_column: Option<String>,
    /// Column of the currency, when set.
    pub currency_column: Option<String>,
    /// The currency of costs when the file names none.
    pub currency: Option<String>,
}

impl Validator<'_> {
    pub(super) fn channels(&mut self, attributes: Option<&[Attribute]>) -> Option<Channels> {
        let path = KeyPath::root().key("channels");
        let raw: RawChannels = match self.get(&path) {
            None => RawChannels::default(),
            Some(v) => self.deser(&path, v)?,
        };
        let names: Vec<&str> = attributes.unwrap_or_default().iter().map(|a| a.name.as_str()).collect();
        let mut ok = true;
        let dimensions = match raw.dimensions {
            None => DEFAULT_DIMENSIONS.iter().filter(|d| names.contains(d)).map(|d| (*d).to_string()).collect(),
            Some(dims) => {
                for (i, d) in dims.iter().enumerate() {
                    if attributes.is_some() && !names.contains(&d.as_str()) {
                        let message = format!("unknown attribute `{d}`, expected one of {}", one_of(&names));
                        self.problem(&path.key("dimensions").index(i), message);
                        ok = false;
                    } else if dims[..i].contains(d) {
                        self.problem(&path.key("dimensions").index(i), format!("`{d}` is listed twice"));
                        ok = false;
                    }
                }
                dims
            }
        };
        let min_leads = self.in_range(
            &path.key("min_leads"),
            raw.min_leads,
            DEFAULT_MIN_LEADS,
            |n| (1..=1_000_000).contains(&n),
            "between 1 and 1000000",
        );
        let spend = match raw.spend {
            None => Some(None),
            Some(s) => self.spend(&path.key("spend"), s, &dimensions).map(Some),
        };
        if !ok {
            return None;
        }
        Some(Channels { dimensions, min_leads: min_leads?, spend: spend? })
    }

    fn spend(&mut self, path: &KeyPath, raw: RawSpend, dimensions: &[String]) -> Option<Spend> {
        let mut ok = true;
        if raw.path.trim().is_empty() {
            self.problem(&path.key("path"), "must name a CSV or Parquet file");
            ok = false;
        }
        let join_on = raw.join_on.unwrap_or_else(|| DEFAULT_SPEND_JOIN_ON.to_string());
        if !dimensions.contains(&join_on) {
            let message = format!(
                "the spend joins on a channel dimension; `{join_on}` is not one of [channels] dimensions ({})",
                if dimensions.is_empty() { "none".to_string() } else { one_of(dimensions) }
            );
            self.problem(&path.key("join_on"), message);
            ok = false;
        }
        let currency = match raw.currency.as_deref() {
            None => None,
            Some(c) => {
                let code = crate::currency::iso4217(c);
                if code.is_none() {
                    self.problem(
                        &path.key("currency"),
                        format!("expected an ISO 4217 code such as `EUR`, found `{c}`"),
                    );
                    ok = false;
                }
                code
            }
        };
        let columns = [
            ("date_column", &raw.date_column),
            ("campaign_column", &raw.campaign_column),
            ("cost_column", &raw.cost_column),
            ("currency_column", &raw.currency_column),
        ];
        for (key, column) in columns {
            if column.as_deref().is_some_and(|c| c.trim().is_empty()) {
                self.problem(&path.key(key), "must name a column of the spend file");
                ok = false;
            }
        }
        ok.then_some(Spend {
            path: raw.path.trim().to_string(),
            join_on,
            date_column: raw.date_column,
            campaign_column: raw.campaign_column,
            cost_column: raw.cost_column,
            currency_column: raw.currency_column,
            currency,
        })
    }
}
