//! `report.json` of the channels stage and of `leadscore report channels`, and its summary in
//! words.

use std::fmt::Write as _;

use chrono::NaiveDate;
use leadscore_core::RunDate;
use serde::Serialize;

use crate::spend::SpendAccounting;
use crate::table::{ChannelRow, Ranking, Unmatched};

/// What the channel table covers and what it found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelsReport {
    /// First day whose leads are counted.
    pub from: Option<NaiveDate>,
    /// Last such day.
    pub to: Option<NaiveDate>,
    /// The outcomes are those known on this run date.
    pub as_of: RunDate,
    /// The project currency.
    pub currency: String,
    /// The conversion window (days): a lead has matured once it has passed.
    pub window_days: u32,
    /// Leads counted.
    pub leads: u64,
    /// Of which matured.
    pub matured_leads: u64,
    /// Leads a channel needs to be ranked.
    pub min_leads: u32,
    /// Per dimension, the channels over the whole range, ranked.
    pub dimensions: Vec<Ranking>,
    /// How the spend file's rows were accounted for, with one.
    pub spend: Option<SpendAccounting>,
    /// Campaigns on one side of the spend join only, with a spend file.
    pub unmatched: Option<Unmatched>,
    /// For a range: which runs were read and which leads no run scored.
    pub coverage: Option<Coverage>,
    /// What the reader should know.
    pub warnings: Vec<String>,
    /// Files written.
    pub files: Vec<String>,
}

/// Which leads of a range the daily runs scored.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Coverage {
    /// Run dates whose `channel_leads.parquet` was read.
    pub runs_read: Vec<RunDate>,
    /// Leads created in the range (by the outcomes' labels).
    pub leads_created: u64,
    /// Of which scored by a run read (counted in the table).
    pub scored: u64,
    /// Of which no run scored (left out of the table, counted here).
    pub not_scored: u64,
}

impl ChannelsReport {
    /// A short human summary: the top channels of each dimension.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let range = match (self.from, self.to) {
            (Some(f), Some(t)) if f == t => f.to_string(),
            (Some(f), Some(t)) => format!("{f} … {t}"),
            _ => "no leads".into(),
        };
        let _ = writeln!(
            s,
            "channels {range}: {} leads ({} matured by {}), {}",
            self.leads, self.matured_leads, self.as_of, self.currency
        );
        for d in &self.dimensions {
            let _ = writeln!(s, "  by {} (ranked by {}):", d.dimension, d.ranked_by);
            for r in d.channels.iter().take(SHOWN) {
                let _ = writeln!(s, "    {}", line(r));
            }
            if d.channels.len() > SHOWN {
                let _ = writeln!(s, "    … {} more", d.channels.len() - SHOWN);
            }
        }
        if let Some(u) = &self.unmatched {
            let _ = writeln!(
                s,
                "  spend: {} campaign(s) with spend but no leads, {} campaign(s) with leads but no spend",
                u.spend_without_leads.len(),
                u.leads_without_spend.len()
            );
        }
        for w in &self.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
        if !self.files.is_empty() {
            let _ = writeln!(s, "  written: {}", self.files.join(", "));
        }
        s
    }
}

/// Channels of a dimension the summary shows.
const SHOWN: usize = 3;

fn line(r: &ChannelRow) -> String {
    let rank = r.rank.map_or("  -".to_string(), |k| format!("{k:>3}"));
    let share = r.qualified_share.map_or("-".into(), |e| format!("{:.1}%", 100.0 * e.value));
    let value = r.predicted_value_per_lead.map_or("-".into(), |e| format!("{:.2}", e.value));
    let roas = r.predicted_roas.map_or(String::new(), |v| format!(", predicted ROAS {v:.2}"));
    let small = if r.too_small { " (too few leads to rank)" } else { "" };
    let leads = if r.leads == 1 { "lead" } else { "leads" };
    format!("{rank} {}: {} {leads}, {share} qualified, predicted value/lead {value}{roas}{small}", r.channel, r.leads)
}
