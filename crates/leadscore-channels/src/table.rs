//! The channel table: the leads grouped by each dimension's channel and week, with their
//! qualified share, predicted and actual value and, for the spend's dimension, cost and return
//! on ad spend; and the same per channel over the whole range, ranked.
//!
//! The time rule of the whole product holds here too: the actual figures count only the leads
//! whose conversion window had ended by the outcomes' date (`matured`). A lead still inside its
//! window is neither a conversion nor a non-conversion of the table, so a recent week's actual
//! value is not understated, it is absent.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike as _, NaiveDate};
use leadscore_core::schema::channels as ch;
use polars::prelude::*;
use rayon::prelude::*;
use serde::Serialize;

use crate::error::Result;
use crate::spend::SpendTable;
use crate::stats::{Sample, wilson};

/// The channel of leads without a value for the dimension.
pub const NONE: &str = "(none)";
/// The dimension of leads with or without a Google click id.
pub const GOOGLE_CLICK: &str = "google_click";
/// The dimension of leads with or without a Meta click or lead-ads id.
pub const META_CLICK: &str = "meta_click";

/// The leads the table counts, one entry per lead in every column.
#[derive(Debug, Clone)]
pub struct Facts {
    /// Monday of the week of creation, in days since 1970-01-01.
    pub week: Vec<i32>,
    /// Each attribute dimension's values.
    pub dimensions: Vec<(String, StringChunked)>,
    /// Whether the lead has a Google click id.
    pub google_click: Vec<bool>,
    /// Whether the lead has a Meta click or lead-ads id.
    pub meta_click: Vec<bool>,
    /// Calibrated probability.
    pub probability: Vec<f64>,
    /// Whether it qualified.
    pub qualified: Vec<bool>,
    /// Predicted value within the window.
    pub predicted_value: Vec<f64>,
    /// Whether its window had ended by the outcomes' date.
    pub matured: Vec<bool>,
    /// Whether it converted within its window (meaningful when matured).
    pub converted: Vec<bool>,
    /// Value of its conversions within the window (meaningful when matured).
    pub actual_value: Vec<f64>,
}

impl Facts {
    /// How many leads.
    pub fn len(&self) -> usize {
        self.week.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.week.is_empty()
    }
}

/// How the table is made.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    /// Leads a channel needs to be ranked.
    pub min_leads: u32,
    /// The project currency.
    pub currency: &'a str,
    /// Seed of the bootstrap.
    pub seed: u64,
    /// Spend per campaign and week, and the dimension it joins on.
    pub spend: Option<(&'a SpendTable, &'a str)>,
}

/// One row of the table: a channel of a dimension in one week, or over the whole range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelRow {
    /// The dimension.
    pub dimension: String,
    /// The channel.
    pub channel: String,
    /// Monday of the week; `None` for the whole range.
    pub week: Option<NaiveDate>,
    /// Leads.
    pub leads: u64,
    /// Qualified leads.
    pub qualified: u64,
    /// Qualified share and its 95% Wilson interval.
    pub qualified_share: Option<Estimate>,
    /// Mean probability.
    pub mean_probability: Option<f64>,
    /// Sum of predicted values.
    pub predicted_value: f64,
    /// Predicted value per lead and its 95% interval.
    pub predicted_value_per_lead: Option<Estimate>,
    /// Matured leads.
    pub matured_leads: u64,
    /// Sum of the predicted values of the matured leads.
    pub matured_predicted_value: f64,
    /// Matured leads that converted.
    pub actual_conversions: u64,
    /// Their value within the window.
    pub actual_value: f64,
    /// Actual value per matured lead and its 95% interval.
    pub actual_value_per_lead: Option<Estimate>,
    /// Spend, for the spend's dimension.
    pub cost: Option<f64>,
    /// Cost / leads.
    pub cost_per_lead: Option<f64>,
    /// Cost / qualified leads.
    pub cost_per_qualified_lead: Option<f64>,
    /// Predicted value / cost.
    pub predicted_roas: Option<f64>,
    /// Actual value of the matured leads / their share of the cost (the cost in proportion to
    /// the matured leads).
    pub actual_roas: Option<f64>,
    /// Fewer leads than `min_leads`.
    pub too_small: bool,
    /// Rank within its dimension (whole-range rows of channels large enough to rank).
    pub rank: Option<u32>,
}

/// A figure and its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// The figure.
    pub value: f64,
    /// Low end.
    pub low: f64,
    /// High end.
    pub high: f64,
}

/// The channels of one dimension over the whole range, ranked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranking {
    /// The dimension.
    pub dimension: String,
    /// What the rank orders by.
    pub ranked_by: &'static str,
    /// Its channels: ranked ones first, by rank; then those too small to rank, by leads.
    pub channels: Vec<ChannelRow>,
}

/// Campaigns on one side of the spend join only: listed, never dropped.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Unmatched {
    /// Campaigns of the spend file no lead of the range came from, with their cost.
    pub spend_without_leads: Vec<(String, f64)>,
    /// Campaigns leads came from that have no spend in the range, with their leads.
    pub leads_without_spend: Vec<(String, u64)>,
}

/// The table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// One row per dimension x channel x week.
    pub weekly: Vec<ChannelRow>,
    /// Per dimension, the channels over the whole range, ranked.
    pub rankings: Vec<Ranking>,
    /// The spend join's unmatched campaigns, with a spend file.
    pub unmatched: Option<Unmatched>,
}

/// What one group adds up.
#[derive(Debug, Clone, Default)]
struct Acc {
    qualified: u64,
    probability: f64,
    predicted: Sample,
    matured_predicted: f64,
    conversions: u64,
    actual: Sample,
}

impl Acc {
    fn add(&mut self, f: &Facts, i: usize) {
        self.qualified += u64::from(f.qualified[i]);
        self.probability += f.probability[i];
        self.predicted.push(f.predicted_value[i]);
        if f.matured[i] {
            self.matured_predicted += f.predicted_value[i];
            self.conversions += u64::from(f.converted[i]);
            self.actual.push(f.actual_value[i]);
        }
    }
}

/// How a campaign name is matched between leads and spend: trimmed, case-blind.
pub fn campaign_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Makes the table.
pub fn build(facts: &Facts, s: &Settings<'_>) -> Table {
    let mut names: Vec<&str> = facts.dimensions.iter().map(|(d, _)| d.as_str()).collect();
    names.extend([GOOGLE_CLICK, META_CLICK]);
    let per_dimension: Vec<(Vec<ChannelRow>, Ranking, Option<Unmatched>)> =
        names.par_iter().enumerate().map(|(d, name)| dimension(facts, d, name, s)).collect();
    let mut table = Table { weekly: Vec::new(), rankings: Vec::new(), unmatched: None };
    for (weekly, ranking, unmatched) in per_dimension {
        table.weekly.extend(weekly);
        table.rankings.push(ranking);
        table.unmatched = table.unmatched.or(unmatched);
    }
    if let (None, Some((spend, _))) = (&table.unmatched, s.spend) {
        // The join dimension is not among the table's (the report warns): every campaign of the
        // spend is unmatched.
        table.unmatched =
            Some(Unmatched { spend_without_leads: spend.campaign_totals(), leads_without_spend: Vec::new() });
    }
    table
}

/// A dimension's channels by id: the key groups are matched by (trimmed; case-blind on the
/// spend's dimension, so that leads and spend meet) and the name each was first seen under. Each
/// distinct value is looked up once, so counting a lead allocates nothing.
struct ChannelIds<'a> {
    by_value: HashMap<&'a str, u32>,
    by_key: HashMap<String, u32>,
    keys: Vec<String>,
    names: Vec<String>,
    case_blind: bool,
}

impl<'a> ChannelIds<'a> {
    fn new(case_blind: bool) -> Self {
        Self { by_value: HashMap::new(), by_key: HashMap::new(), keys: Vec::new(), names: Vec::new(), case_blind }
    }

    /// The id of the channel a lead's value belongs to.
    fn of_value(&mut self, value: &'a str) -> u32 {
        if let Some(id) = self.by_value.get(value) {
            return *id;
        }
        let key = if self.case_blind && value != NONE { campaign_key(value) } else { value.to_string() };
        let id = self.of_key(key, value);
        self.by_value.insert(value, id);
        id
    }

    /// The id of the channel with `key`, named `name` if it is new.
    fn of_key(&mut self, key: String, name: &str) -> u32 {
        if let Some(id) = self.by_key.get(&key) {
            return *id;
        }
        let id = self.keys.len() as u32;
        self.by_key.insert(key.clone(), id);
        self.keys.push(key);
        self.names.push(name.to_string());
        id
    }
}

/// The rows, the ranking and (for the spend's dimension) the unmatched campaigns of dimension
/// `d` (attributes first, then the two click dimensions).
fn dimension(facts: &Facts, d: usize, name: &str, s: &Settings<'_>) -> (Vec<ChannelRow>, Ranking, Option<Unmatched>) {
    let spend = s.spend.filter(|(_, on)| *on == name).map(|(t, _)| t);
    let mut ids = ChannelIds::new(spend.is_some());
    let mut groups: HashMap<(u32, Option<i32>), Acc> = HashMap::new();
    for i in 0..facts.len() {
        let channel: &str = match d.checked_sub(facts.dimensions.len()) {
            None => facts.dimensions[d].1.get(i).map(str::trim).filter(|v| !v.is_empty()).unwrap_or(NONE),
            Some(0) => yes_no(facts.google_click[i]),
            Some(_) => yes_no(facts.meta_click[i]),
        };
        let id = ids.of_value(channel);
        for week in [Some(facts.week[i]), None] {
            groups.entry((id, week)).or_default().add(facts, i);
        }
    }
    let unmatched = spend.map(|t| add_spend_only(&mut groups, &mut ids, t));
    let mut weekly = Vec::new();
    let mut totals = Vec::new();
    for ((id, week), acc) in groups {
        let key = &ids.keys[id as usize];
        let cost = spend.map(|t| match week {
            Some(w) => t.cost(key, w),
            None => t.campaign_cost(key),
        });
        let row = row((name, &ids.names[id as usize]), week, acc, cost, s);
        if row.week.is_some() { weekly.push(row) } else { totals.push(row) }
    }
    weekly.sort_by(|a, b| (a.week, &a.channel).cmp(&(b.week, &b.channel)));
    let ranked_by = if spend.is_some() { "predicted return on ad spend" } else { "predicted value per lead" };
    rank(&mut totals, spend.is_some());
    (weekly, Ranking { dimension: name.to_string(), ranked_by, channels: totals }, unmatched)
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Adds a row of no leads for every week a campaign spent in without leads, and lists the
/// campaigns found on one side only.
fn add_spend_only(
    groups: &mut HashMap<(u32, Option<i32>), Acc>,
    ids: &mut ChannelIds<'_>,
    spend: &SpendTable,
) -> Unmatched {
    // The campaigns leads came from, with their leads (a campaign keeps the name its leads gave
    // it; one that only spent takes the spend file's).
    let lead_campaigns: BTreeMap<String, (String, u64)> = groups
        .iter()
        .filter(|((id, week), _)| week.is_none() && ids.names[*id as usize] != NONE)
        .map(|((id, _), acc)| (ids.keys[*id as usize].clone(), (ids.names[*id as usize].clone(), acc.predicted.len())))
        .collect();
    for (key, week) in spend.keys() {
        let name = spend.name(&key).to_string();
        let id = ids.of_key(key, &name);
        for w in [Some(week), None] {
            groups.entry((id, w)).or_default();
        }
    }
    let spend_without_leads = spend
        .campaign_totals()
        .into_iter()
        .filter(|(name, _)| !lead_campaigns.contains_key(&campaign_key(name)))
        .collect();
    let leads_without_spend = lead_campaigns
        .into_iter()
        .filter(|(key, _)| !spend.has_campaign(key))
        .map(|(_, (name, leads))| (name, leads))
        .collect();
    Unmatched { spend_without_leads, leads_without_spend }
}

/// One row from its group's sums.
fn row(
    (dimension, channel): (&str, &str),
    week: Option<i32>,
    acc: Acc,
    cost: Option<f64>,
    s: &Settings<'_>,
) -> ChannelRow {
    let leads = acc.predicted.len();
    let seed = s.seed ^ fnv1a(&[dimension.as_bytes(), channel.as_bytes(), &week.unwrap_or(i32::MIN).to_le_bytes()]);
    let estimate = |sample: &Sample, seed: u64| {
        let (low, high) = sample.mean_interval(seed)?;
        Some(Estimate { value: sample.mean()?, low, high })
    };
    let qualified_share = wilson(acc.qualified, leads).map(|(low, high)| Estimate {
        value: acc.qualified as f64 / leads as f64,
        low,
        high,
    });
    let matured = acc.actual.len();
    let per = |num: f64, den: u64| (den > 0).then(|| num / den as f64);
    let cost = cost.filter(|c| *c > 0.0 || leads == 0);
    let roas = |value: f64| cost.filter(|c| *c > 0.0).map(|c| value / c);
    ChannelRow {
        dimension: dimension.to_string(),
        channel: channel.to_string(),
        week: week.and_then(day),
        leads,
        qualified: acc.qualified,
        qualified_share,
        mean_probability: per(acc.probability, leads),
        predicted_value: acc.predicted.sum(),
        predicted_value_per_lead: estimate(&acc.predicted, seed),
        matured_leads: matured,
        matured_predicted_value: acc.matured_predicted,
        actual_conversions: acc.conversions,
        actual_value: acc.actual.sum(),
        actual_value_per_lead: estimate(&acc.actual, seed.rotate_left(17)),
        cost,
        cost_per_lead: cost.and_then(|c| per(c, leads)),
        cost_per_qualified_lead: cost.and_then(|c| per(c, acc.qualified)),
        predicted_roas: roas(acc.predicted.sum()),
        // The matured leads' share of the cost, in proportion to their number.
        actual_roas: cost
            .filter(|c| *c > 0.0 && matured > 0)
            .map(|c| acc.actual.sum() / (c * matured as f64 / leads as f64)),
        too_small: leads < u64::from(s.min_leads),
        rank: None,
    }
}

/// Ranks the channels large enough to rank by predicted return on ad spend (with spend: a
/// channel without spend has no return to rank) or by predicted value per lead, highest first;
/// the others follow, unranked, by leads.
fn rank(rows: &mut [ChannelRow], by_roas: bool) {
    let key = |r: &ChannelRow| if by_roas { r.predicted_roas } else { r.predicted_value_per_lead.map(|e| e.value) };
    let ranked = |r: &ChannelRow| !r.too_small && key(r).is_some();
    let score = |r: &ChannelRow| key(r).unwrap_or(f64::NEG_INFINITY);
    rows.sort_by(|a, b| {
        ranked(b)
            .cmp(&ranked(a))
            .then_with(|| if ranked(a) { score(b).total_cmp(&score(a)) } else { b.leads.cmp(&a.leads) })
            .then_with(|| b.leads.cmp(&a.leads))
            .then_with(|| a.channel.cmp(&b.channel))
    });
    for (i, r) in rows.iter_mut().filter(|r| ranked(r)).enumerate() {
        r.rank = Some(i as u32 + 1);
    }
}

/// The date `days` after 1970-01-01.
pub fn day(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(719_163)?)
}

/// FNV-1a over the parts: a stable seed per group, so that intervals are the same run to run.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|p| p.iter().chain(&[0xff])) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The weekly rows as `channels.parquet`.
pub fn frame(rows: &[ChannelRow], currency: &str) -> Result<DataFrame> {
    let est = |f: fn(&ChannelRow) -> Option<Estimate>, part: fn(Estimate) -> f64| -> Vec<Option<f64>> {
        rows.iter().map(|r| f(r).map(part)).collect()
    };
    type Part = fn(Estimate) -> f64;
    let (value, low, high): (Part, Part, Part) = (|e| e.value, |e| e.low, |e| e.high);
    let opt = |f: fn(&ChannelRow) -> Option<f64>| -> Vec<Option<f64>> { rows.iter().map(f).collect() };
    let weeks: Vec<Option<i32>> = rows.iter().map(|r| r.week.map(days_since_epoch)).collect();
    let columns = vec![
        Column::new(ch::DIMENSION.into(), rows.iter().map(|r| r.dimension.as_str()).collect::<Vec<_>>()),
        Column::new(ch::CHANNEL.into(), rows.iter().map(|r| r.channel.as_str()).collect::<Vec<_>>()),
        Column::new(ch::WEEK.into(), weeks).cast(&DataType::Date)?,
        Column::new(ch::LEADS.into(), rows.iter().map(|r| r.leads).collect::<Vec<_>>()),
        Column::new(ch::QUALIFIED.into(), rows.iter().map(|r| r.qualified).collect::<Vec<_>>()),
        Column::new(ch::QUALIFIED_SHARE.into(), est(|r| r.qualified_share, value)),
        Column::new(ch::QUALIFIED_SHARE_LOW.into(), est(|r| r.qualified_share, low)),
        Column::new(ch::QUALIFIED_SHARE_HIGH.into(), est(|r| r.qualified_share, high)),
        Column::new(ch::MEAN_PROBABILITY.into(), opt(|r| r.mean_probability)),
        Column::new(ch::PREDICTED_VALUE.into(), rows.iter().map(|r| r.predicted_value).collect::<Vec<_>>()),
        Column::new(ch::PREDICTED_VALUE_PER_LEAD.into(), est(|r| r.predicted_value_per_lead, value)),
        Column::new(ch::PREDICTED_VALUE_PER_LEAD_LOW.into(), est(|r| r.predicted_value_per_lead, low)),
        Column::new(ch::PREDICTED_VALUE_PER_LEAD_HIGH.into(), est(|r| r.predicted_value_per_lead, high)),
        Column::new(ch::MATURED_LEADS.into(), rows.iter().map(|r| r.matured_leads).collect::<Vec<_>>()),
        Column::new(
            ch::MATURED_PREDICTED_VALUE.into(),
            rows.iter().map(|r| r.matured_predicted_value).collect::<Vec<_>>(),
        ),
        Column::new(ch::ACTUAL_CONVERSIONS.into(), rows.iter().map(|r| r.actual_conversions).collect::<Vec<_>>()),
        Column::new(ch::ACTUAL_VALUE.into(), rows.iter().map(|r| r.actual_value).collect::<Vec<_>>()),
        Column::new(ch::ACTUAL_VALUE_PER_LEAD.into(), est(|r| r.actual_value_per_lead, value)),
        Column::new(ch::ACTUAL_VALUE_PER_LEAD_LOW.into(), est(|r| r.actual_value_per_lead, low)),
        Column::new(ch::ACTUAL_VALUE_PER_LEAD_HIGH.into(), est(|r| r.actual_value_per_lead, high)),
        Column::new(ch::COST.into(), opt(|r| r.cost)),
        Column::new(ch::COST_PER_LEAD.into(), opt(|r| r.cost_per_lead)),
        Column::new(ch::COST_PER_QUALIFIED_LEAD.into(), opt(|r| r.cost_per_qualified_lead)),
        Column::new(ch::PREDICTED_ROAS.into(), opt(|r| r.predicted_roas)),
        Column::new(ch::ACTUAL_ROAS.into(), opt(|r| r.actual_roas)),
        Column::new(ch::TOO_SMALL.into(), rows.iter().map(|r| r.too_small).collect::<Vec<_>>()),
        Column::new(ch::CURRENCY.into(), vec![currency; rows.len()]),
    ];
    Ok(DataFrame::new_infer_height(columns)?)
}

/// Days from 1970-01-01 to `d`.
pub fn days_since_epoch(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - 719_163
}
