//! The ad-spend report of the generated paid campaigns (`ad_spend.csv`), in the shape of a Google
//! Ads campaign report download: a title line, the date range, the header `Day,Campaign,Currency
//! code,Cost`, one row per day and campaign, and a `Total` row.
//!
//! Each paid campaign's cost is its leads of the day times a planted cost per lead of its family
//! (brand search is cheap, competitor search dear; retargeting is cheap, lookalike audiences are
//! not), with noise. British campaigns are billed in GBP. One display campaign spends every day
//! and brings no lead, and the unpaid campaigns (newsletters, referrals) have no spend: the
//! channel report must list both sides of the join. The noise has a random stream of its own, so
//! the leads are the same with or without this file.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::NaiveDate;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::generate::Lead;
use crate::world;

/// The file's name.
pub const FILE: &str = "ad_spend.csv";
/// The campaign that spends without leads.
pub const AWARENESS: &str = "display_awareness";
/// Its cost per day (EUR).
const AWARENESS_PER_DAY: f64 = 120.0;
/// Seed offset of the spend noise.
const SPEND_STREAM: u64 = 0x7370_656e_6400_0001;

/// The planted cost per lead (EUR) of a paid campaign, by the family its name starts with.
pub fn cost_per_lead(campaign: &str) -> Option<f64> {
    [
        ("brand", 90.0),
        ("generic_crm", 320.0),
        ("competitor", 450.0),
        ("lead_scoring", 280.0),
        ("leadgen", 110.0),
        ("retargeting", 70.0),
        ("webinar_promo", 150.0),
        ("lookalike", 190.0),
    ]
    .into_iter()
    .find(|(family, _)| campaign.starts_with(family))
    .map(|(_, cpl)| cpl)
}

/// Paid leads per day and campaign, as they are generated.
#[derive(Debug, Default)]
pub struct SpendCounter {
    leads: BTreeMap<(NaiveDate, String), u32>,
}

impl SpendCounter {
    /// Counts `lead` (created on the local day `day`) when it came from a paid campaign.
    pub fn record(&mut self, lead: &Lead, day: NaiveDate) {
        if let Some((_, "cpc" | "paid_social", campaign)) = &lead.utm
            && cost_per_lead(campaign).is_some()
        {
            *self.leads.entry((day, campaign.clone())).or_default() += 1;
        }
    }

    /// Writes the report for the days from `start` to the day before `end`; returns its data
    /// rows (the total row included).
    pub fn write(&self, w: &mut impl Write, start: NaiveDate, end: NaiveDate, seed: u64) -> std::io::Result<u64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ SPEND_STREAM);
        let mut rows: BTreeMap<(NaiveDate, String), (&'static str, f64)> = BTreeMap::new();
        for ((day, campaign), n) in &self.leads {
            let cpl = cost_per_lead(campaign).unwrap_or(0.0);
            let eur = f64::from(*n) * cpl * rng.gen_range(0.8..1.25);
            let currency = if campaign.ends_with("_gb") { "GBP" } else { "EUR" };
            rows.insert((*day, campaign.clone()), (currency, eur / world::rate(currency)));
        }
        let mut day = start;
        while day < end {
            rows.insert((day, AWARENESS.to_string()), ("EUR", AWARENESS_PER_DAY * rng.gen_range(0.9..1.1)));
            day = day.succ_opt().unwrap_or(end);
        }
        writeln!(w, "Campaign report")?;
        writeln!(w, "\"{} - {}\"", start.format("%B %-d, %Y"), end.pred_opt().unwrap_or(end).format("%B %-d, %Y"))?;
        writeln!(w, "Day,Campaign,Currency code,Cost")?;
        for ((day, campaign), (currency, cost)) in &rows {
            writeln!(w, "{day},{campaign},{currency},{cost:.2}")?;
        }
        writeln!(w, "Total: Account,--,--,--")?;
        Ok(rows.len() as u64 + 1)
    }
}
