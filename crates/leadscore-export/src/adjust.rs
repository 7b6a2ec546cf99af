//! The closed loop: what every destination was told of a lead (the ledger) against what is true
//! of it now, for the leads of the adjustment window.
//!
//! The state machine, per destination and lead (a destination is an export format):
//!
//! ```text
//!             qualified by a run (or converted, with send_late_conversions)
//!   (none) ──────────────────────────────────────────────────────────────▶ sent
//!   sent / restated ── re-scored, value changed ─────────────────────────▶ restated
//!   sent / restated / converted ── target conversion, deal value ────────▶ converted
//!   sent / restated / converted ── disqualified by a re-score ───────────▶ retracted
//!   sent / restated / converted ── deleted or merged in the CRM ─────────▶ retracted
//!   retracted: final (Google ignores adjustments of a retracted conversion)
//! ```
//!
//! Meta has no retraction or restatement: it is told of the next CRM stage instead (the
//! `meta_converted_event_name` event with the deal's value, once). The custom shape is upserted by
//! `id`, so its rows also go from unqualified to qualified (`include_unqualified`). Leads leave
//! the ledger when they are older than the adjustment window (and the scoring range).

use std::collections::{BTreeMap, HashMap};

use leadscore_core::RunDate;
use leadscore_core::config::ExportFormat;
use leadscore_core::schema::ledger as lg;
use polars::prelude::*;
use serde::Serialize;

use crate::error::{ExportError, Result};
use crate::{Lead, Text, bools, floats, instants};

/// Where a conversion stands on its platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Sent as a new conversion.
    Sent,
    /// Its value restated after a re-score.
    Restated,
    /// Its value restated to the deal's (Meta: told of the conversion stage).
    Converted,
    /// Retracted: the platform holds no conversion (value 0).
    Retracted,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Restated => "restated",
            Self::Converted => "converted",
            Self::Retracted => "retracted",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Sent, Self::Restated, Self::Converted, Self::Retracted].into_iter().find(|x| x.name() == s)
    }
}

/// Why a conversion changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A new conversion of a qualified lead.
    New,
    /// A new conversion of a lead that converted without being qualified (`send_late_conversions`).
    LateConversion,
    /// A re-score changed its predicted value.
    Rescored,
    /// A re-score qualified a lead the custom shape held as unqualified.
    Qualified,
    /// Its target conversion happened: the value is the deal's.
    Converted,
    /// A re-score disqualified it.
    Disqualified,
    /// It left the CRM (deleted or merged).
    Deleted,
}

impl Reason {
    /// The reason as the files write it.
    pub fn name(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::LateConversion => "late_conversion",
            Self::Rescored => "rescored",
            Self::Qualified => "qualified",
            Self::Converted => "converted",
            Self::Disqualified => "disqualified",
            Self::Deleted => "deleted",
        }
    }
}

/// What one destination holds of one lead.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub destination: String,
    pub lead_id: String,
    pub lead_created_at: i64,
    pub conversion_id: String,
    pub conversion_at: i64,
    pub value: f64,
    pub currency: String,
    pub qualified: bool,
    pub state: State,
    pub sent_on: String,
    pub changed_on: String,
    pub adjusted_at: Option<i64>,
    pub gclid: Option<String>,
}

/// What every destination holds of the leads of the adjustment window: by destination, by lead.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    entries: BTreeMap<String, HashMap<String, Entry>>,
}

impl Ledger {
    /// The ledger a run read (`df`), without the leads created before `first_kept`.
    pub(crate) fn read(df: &DataFrame, first_kept: i64) -> Result<Self> {
        let t = |name: &str| Text::of(df, name);
        let (destination, lead_id, conversion_id, currency) =
            (t(lg::DESTINATION)?, t(lg::LEAD_ID)?, t(lg::CONVERSION_ID)?, t(lg::CURRENCY)?);
        let (state, sent_on, changed_on, gclid) = (t(lg::STATE)?, t(lg::SENT_ON)?, t(lg::CHANGED_ON)?, t(lg::GCLID)?);
        let created = instants(df, lg::LEAD_CREATED_AT)?;
        let conversion_at = instants(df, lg::CONVERSION_AT)?;
        let adjusted_at = instants(df, lg::ADJUSTED_AT)?;
        let (value, qualified) = (floats(df, lg::VALUE)?, bools(df, lg::QUALIFIED)?);
        let mut ledger = Self::default();
        for i in 0..df.height() {
            let bad = |column: &str| ExportError::BadLedger { row: i + 1, column: column.to_string() };
            let st = state.get_str(i).and_then(State::parse).ok_or_else(|| bad(lg::STATE))?;
            let created = created[i].ok_or_else(|| bad(lg::LEAD_CREATED_AT))?;
            if created < first_kept {
                continue;
            }
            let e = Entry {
                destination: destination.get(i).ok_or_else(|| bad(lg::DESTINATION))?,
                lead_id: lead_id.get(i).ok_or_else(|| bad(lg::LEAD_ID))?,
                lead_created_at: created,
                conversion_id: conversion_id.get(i).ok_or_else(|| bad(lg::CONVERSION_ID))?,
                conversion_at: conversion_at[i].ok_or_else(|| bad(lg::CONVERSION_AT))?,
                value: value[i].ok_or_else(|| bad(lg::VALUE))?,
                currency: currency.get(i).unwrap_or_default(),
                qualified: qualified[i].unwrap_or(false),
                state: st,
                sent_on: sent_on.get(i).unwrap_or_default(),
                changed_on: changed_on.get(i).unwrap_or_default(),
                adjusted_at: adjusted_at[i],
                gclid: gclid.get(i),
            };
            ledger.put(e);
        }
        Ok(ledger)
    }

    /// What `format` holds of `lead_id`.
    pub(crate) fn get(&self, format: ExportFormat, lead_id: &str) -> Option<&Entry> {
        self.entries.get(format.name())?.get(lead_id)
    }

    /// What `format` holds (in no particular order).
    pub(crate) fn of(&self, format: ExportFormat) -> impl Iterator<Item = &Entry> {
        self.entries.get(format.name()).into_iter().flat_map(HashMap::values)
    }

    /// Every lead of the ledger with its creation time.
    pub(crate) fn leads(&self) -> BTreeMap<String, i64> {
        self.entries.values().flat_map(HashMap::values).map(|e| (e.lead_id.clone(), e.lead_created_at)).collect()
    }

    /// Records what a destination holds now.
    pub(crate) fn put(&mut self, e: Entry) {
        let by_lead = self.entries.entry(e.destination.clone()).or_default();
        by_lead.insert(e.lead_id.clone(), e);
    }

    /// `ledger.parquet`, ordered by destination and lead.
    pub(crate) fn to_frame(&self) -> Result<DataFrame> {
        let mut e: Vec<&Entry> = self.entries.values().flat_map(HashMap::values).collect();
        e.sort_unstable_by(|a, b| (&a.destination, &a.lead_id).cmp(&(&b.destination, &b.lead_id)));
        let utc = DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
        let instant = |name: &str, f: fn(&Entry) -> Option<i64>| {
            Series::new(name.into(), e.iter().map(|x| f(x)).collect::<Vec<_>>()).cast(&utc).map(Column::from)
        };
        let text = |name: &str, f: fn(&Entry) -> Option<&str>| {
            Column::new(name.into(), e.iter().map(|x| f(x)).collect::<Vec<_>>())
        };
        Ok(DataFrame::new(
            e.len(),
            vec![
                text(lg::DESTINATION, |x| Some(&x.destination)),
                text(lg::LEAD_ID, |x| Some(&x.lead_id)),
                instant(lg::LEAD_CREATED_AT, |x| Some(x.lead_created_at))?,
                text(lg::CONVERSION_ID, |x| Some(&x.conversion_id)),
                instant(lg::CONVERSION_AT, |x| Some(x.conversion_at))?,
                Column::new(lg::VALUE.into(), e.iter().map(|x| x.value).collect::<Vec<_>>()),
                text(lg::CURRENCY, |x| Some(&x.currency)),
                Column::new(lg::QUALIFIED.into(), e.iter().map(|x| x.qualified).collect::<Vec<_>>()),
                text(lg::STATE, |x| Some(x.state.name())),
                text(lg::SENT_ON, |x| Some(&x.sent_on)),
                text(lg::CHANGED_ON, |x| Some(&x.changed_on)),
                instant(lg::ADJUSTED_AT, |x| x.adjusted_at)?,
                text(lg::GCLID, |x| x.gclid.as_deref()),
            ],
        )?)
    }
}

/// How a conversion already sent changes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Change {
    /// To this value (project currency).
    Restate(f64, Reason),
    /// Removed.
    Retract(Reason),
}

impl Change {
    /// Why.
    pub(crate) fn reason(self) -> Reason {
        match self {
            Self::Restate(_, r) | Self::Retract(r) => r,
        }
    }
}

/// One change of one conversion: the ledger's entry before it, and the lead now.
#[derive(Debug, Clone)]
pub(crate) struct Adjustment<'a> {
    pub before: Entry,
    pub lead: &'a Lead,
    pub change: Change,
}

/// Cents: every value is compared and written with two decimals.
pub(crate) fn money(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Whether two values differ on the platform (by a cent or more).
fn differs(a: f64, b: f64) -> bool {
    (money(a) - money(b)).abs() >= 0.005
}

/// What must change of `e` given the lead now.
fn decide(format: ExportFormat, e: &Entry, lead: &Lead) -> Option<Change> {
    if e.state == State::Retracted {
        return None;
    }
    let meta = format == ExportFormat::MetaCapi;
    if !lead.in_crm {
        return (!meta).then_some(Change::Retract(Reason::Deleted));
    }
    if let Some((_, deal)) = lead.converted {
        let changed = e.state != State::Converted || (!meta && differs(deal, e.value));
        return changed.then_some(Change::Restate(money(deal), Reason::Converted));
    }
    if meta || !lead.scored {
        return None;
    }
    if !lead.qualified {
        return (e.qualified).then_some(Change::Retract(Reason::Disqualified));
    }
    let value = money(lead.value.filter(|v| v.is_finite() && *v >= 0.0)?);
    if !e.qualified {
        Some(Change::Restate(value, Reason::Qualified))
    } else {
        differs(value, e.value).then_some(Change::Restate(value, Reason::Rescored))
    }
}

/// The changes of `format`'s conversions, by lead creation then id. `leads` holds every lead of
/// the ledger (one that left the CRM export too, as not `in_crm`).
pub(crate) fn plan<'a>(
    format: ExportFormat,
    ledger: &Ledger,
    leads: &'a HashMap<&str, &'a Lead>,
) -> Vec<Adjustment<'a>> {
    let mut out: Vec<Adjustment<'a>> = ledger
        .of(format)
        .filter_map(|e| {
            let lead = *leads.get(e.lead_id.as_str())?;
            Some(Adjustment { before: e.clone(), lead, change: decide(format, e, lead)? })
        })
        .collect();
    out.sort_by(|a, b| {
        (a.before.lead_created_at, &a.before.lead_id).cmp(&(b.before.lead_created_at, &b.before.lead_id))
    });
    out
}

/// The entry after `a`, made by the run of `run_date` at `adjusted_at`.
pub(crate) fn after(a: &Adjustment<'_>, run_date: RunDate, adjusted_at: i64) -> Entry {
    let mut e = a.before.clone();
    match a.change {
        Change::Restate(value, reason) => {
            e.value = value;
            e.qualified = true;
            e.state = if reason == Reason::Converted { State::Converted } else { State::Restated };
        }
        Change::Retract(_) => {
            e.value = 0.0;
            e.qualified = false;
            e.state = State::Retracted;
        }
    }
    e.changed_on = run_date.to_string();
    e.adjusted_at = Some(adjusted_at);
    e
}
