//! Export shapes: how HubSpot and Salesforce lay out the same simulated world, and the dirt that
//! real exports carry.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::generate::{Company, Deal, DealStage, Event, Lead};
use crate::world::COUNTRIES;

/// Which CRM's export to imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shape {
    /// `contacts.csv`, `deals.csv`, `events.csv`.
    #[default]
    Hubspot,
    /// `Lead.csv`, `Opportunity.csv`.
    Salesforce,
}

impl Shape {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hubspot => "hubspot",
            Self::Salesforce => "salesforce",
        }
    }

    /// File names: leads, deals, events (HubSpot only).
    pub fn files(self) -> (&'static str, &'static str, Option<&'static str>) {
        match self {
            Self::Hubspot => ("contacts.csv", "deals.csv", Some("events.csv")),
            Self::Salesforce => ("Lead.csv", "Opportunity.csv", None),
        }
    }

    /// Column header of the leads file.
    pub fn lead_header(self) -> &'static [&'static str] {
        match self {
            Self::Hubspot => &[
                "Record ID",
                "First Name",
                "Last Name",
                "Email",
                "Phone Number",
                "Create Date",
                "Last Modified Date",
                "Associated Company ID",
                "Company Name",
                "Job Title",
                "Industry",
                "Number of Employees",
                "Country/Region",
                "Original Source",
                "UTM Source",
                "UTM Medium",
                "UTM Campaign",
                "Google Ad Click ID",
                "Facebook Click ID",
                "Meta Lead ID",
                "GA Client ID",
                "Budget",
                "Timeline",
                "Product Interest",
                "Customer Tier",
            ],
            Self::Salesforce => &[
                "Id",
                "FirstName",
                "LastName",
                "Email",
                "Phone",
                "Company",
                "Title",
                "LeadSource",
                "Industry",
                "NumberOfEmployees",
                "Country",
                "CreatedDate",
                "LastModifiedDate",
                "Status",
                "IsConverted",
                "ConvertedAccountId",
                "GCLID__c",
                "FBCLID__c",
                "Meta_Lead_ID__c",
                "GA_Client_ID__c",
                "UTM_Source__c",
                "UTM_Medium__c",
                "UTM_Campaign__c",
                "Budget__c",
                "Timeline__c",
                "Product_Interest__c",
                "Customer_Tier__c",
            ],
        }
    }

    /// Column header of the deals file.
    pub fn deal_header(self) -> &'static [&'static str] {
        match self {
            Self::Hubspot => &[
                "Record ID",
                "Deal Name",
                "Associated Company ID",
                "Pipeline",
                "Deal Stage",
                "Deal Type",
                "Deal Probability",
                "Amount",
                "Deal Currency Code",
                "Create Date",
                "Close Date",
                "Last Modified Date",
            ],
            Self::Salesforce => &[
                "Id",
                "AccountId",
                "Name",
                "StageName",
                "Type",
                "Probability",
                "Amount",
                "CurrencyIsoCode",
                "CreatedDate",
                "CloseDate",
                "LastModifiedDate",
                "IsClosed",
                "IsWon",
            ],
        }
    }

    /// The id a lead gets in this export.
    pub fn lead_id(self, seq: u64) -> String {
        match self {
            Self::Hubspot => (1_000_001 + seq).to_string(),
            Self::Salesforce => sf_id("00Q", seq),
        }
    }

    /// The id a company (user) gets.
    pub fn company_id(self, seq: u64) -> String {
        match self {
            Self::Hubspot => (500_000_001 + seq).to_string(),
            Self::Salesforce => sf_id("001", seq),
        }
    }

    fn deal_id(self, idx: u64) -> String {
        match self {
            Self::Hubspot => (9_000_000_001 + idx).to_string(),
            Self::Salesforce => sf_id("006", idx),
        }
    }
}

/// A 15-character Salesforce-style id: key prefix, pod marker, then base-62 digits.
fn sf_id(prefix: &str, n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut tail = [b'0'; 9];
    let mut v = n;
    for slot in tail.iter_mut().rev() {
        *slot = DIGITS[(v % 62) as usize];
        v /= 62;
    }
    format!("{prefix}5g0{}", String::from_utf8_lossy(&tail))
}

/// Writes CSV rows, quoting fields that need it.
pub struct CsvSink<W: Write> {
    w: W,
    /// Rows written after the header.
    pub rows: u64,
}

impl<W: Write> CsvSink<W> {
    /// Starts a file with its header.
    pub fn new(mut w: W, header: &[&str]) -> std::io::Result<Self> {
        write_row(&mut w, header.iter().copied())?;
        Ok(Self { w, rows: 0 })
    }

    /// Writes one row.
    pub fn row<'a>(&mut self, fields: impl IntoIterator<Item = &'a str>) -> std::io::Result<()> {
        self.rows += 1;
        write_row(&mut self.w, fields)
    }
}

fn write_row<'a>(w: &mut impl Write, fields: impl IntoIterator<Item = &'a str>) -> std::io::Result<()> {
    for (i, f) in fields.into_iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        if f.contains([',', '"', '\n', '\r']) {
            w.write_all(b"\"")?;
            w.write_all(f.replace('"', "\"\"").as_bytes())?;
            w.write_all(b"\"")?;
        } else {
            w.write_all(f.as_bytes())?;
        }
    }
    w.write_all(b"\n")
}

fn utc(micros: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or_default()
}

/// Timestamp text in the style of a shape's field.
#[derive(Debug, Clone, Copy)]
pub enum TimeStyle {
    /// Epoch milliseconds (HubSpot API-style exports).
    EpochMillis,
    /// `YYYY-MM-DD HH:MM:SS` local time.
    Local,
    /// RFC 3339 in UTC.
    Rfc3339,
    /// Salesforce `2025-09-01T01:17:28.000+0000`.
    Salesforce,
    /// `YYYY-MM-DD` local date.
    Date,
}

/// Formats an instant.
pub fn fmt_time(micros: i64, style: TimeStyle, tz: Tz) -> String {
    match style {
        TimeStyle::EpochMillis => (micros / 1000).to_string(),
        TimeStyle::Local => utc(micros).with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string(),
        TimeStyle::Rfc3339 => utc(micros).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        TimeStyle::Salesforce => utc(micros).format("%Y-%m-%dT%H:%M:%S.000+0000").to_string(),
        TimeStyle::Date => utc(micros).with_timezone(&tz).format("%Y-%m-%d").to_string(),
    }
}

/// Injects the corruptions of `--dirty-rate` and counts them per file and kind. It draws from its
/// own random stream, so the simulated world is the same with or without dirt.
#[derive(Debug, Clone)]
pub struct Dirt {
    rate: f64,
    rng: ChaCha8Rng,
    /// "file: kind" → rows.
    pub counts: BTreeMap<String, u64>,
}

impl Dirt {
    /// Corrupts rows with probability `rate`.
    pub fn new(rate: f64, seed: u64) -> Self {
        Self { rate, rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_D127), counts: BTreeMap::new() }
    }

    /// Which of `kinds` corruptions to apply to the next row, if any.
    fn roll(&mut self, kinds: usize) -> Option<usize> {
        (self.rate > 0.0 && self.rng.gen_bool(self.rate)).then(|| self.rng.gen_range(0..kinds))
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.gen_range(0..items.len())]
    }

    fn note(&mut self, file: &str, kind: &str) {
        *self.counts.entry(format!("{file}: {kind}")).or_default() += 1;
    }

    /// Maybe corrupts row `f` of `file` in place with one of `kinds`. A duplicate is returned, to be
    /// appended at the end of the file, as a second export appended to the first would be.
    fn apply(&mut self, file: &str, f: &mut [String], kinds: &[Corruption<'_>]) -> Option<Vec<String>> {
        let kind = kinds.get(self.roll(kinds.len())?)?;
        match kind {
            Corruption::BadTime(col) => {
                f[*col] = self.pick(BAD_TIMES).to_string();
                self.note(file, "malformed timestamp");
            }
            Corruption::MissingId(col) => {
                f[*col] = String::new();
                self.note(file, "missing id");
            }
            Corruption::Negative(col) => {
                f[*col] = format!("-{}", f[*col]);
                self.note(file, "negative amount");
            }
            Corruption::BadCurrency(col) => {
                f[*col] = self.pick(BAD_CURRENCIES).to_string();
                self.note(file, "unknown currency");
            }
            Corruption::Duplicate(newer) => {
                let mut dup = f.to_vec();
                if let Some((col, value)) = newer {
                    dup[*col] = value();
                }
                self.note(file, "duplicate row");
                return Some(dup);
            }
        }
        None
    }
}

/// One kind of dirt, with the column it hits.
pub enum Corruption<'a> {
    /// A malformed timestamp in this column.
    BadTime(usize),
    /// An empty id in this column.
    MissingId(usize),
    /// A negative amount in this column.
    Negative(usize),
    /// An unknown currency code in this column.
    BadCurrency(usize),
    /// The row again (later in the file), optionally with a newer value in an update-time column.
    Duplicate(Option<(usize, &'a dyn Fn() -> String)>),
}

const BAD_TIMES: &[&str] = &["31/02/2025 10:00", "not a date", "2025-13-45T25:61:00Z", "yesterday", "2025-02-30"];
const BAD_CURRENCIES: &[&str] = &["EURO", "ZZZ", "US$", "JPY"];

/// Names of the extra attributes: `Extra 1`, `Extra 2`, … (odd ones numeric, even ones
/// categorical).
pub fn extra_names(n: u32) -> Vec<String> {
    (1..=n).map(|k| format!("Extra {k}")).collect()
}

/// The value of extra attribute `k` (0-based) of lead `seq`: pure noise from a hash of the seed,
/// the lead and `k`, so adding extras changes no other column. Numbers have 10% missing values;
/// categories have 8 levels and 10% missing values.
pub fn extra_value(seed: u64, seq: u64, k: u32) -> String {
    let mut z = seed ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(k).wrapping_mul(0xD1B5_4A32_D192_ED03);
    for _ in 0..2 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    if z.is_multiple_of(10) {
        return String::new();
    }
    let u = (z >> 11) as f64 / (1u64 << 53) as f64;
    if k.is_multiple_of(2) { format!("{:.2}", 100.0 * u) } else { format!("level_{}", (z >> 7) % 8) }
}

/// Lays out leads in the shape's leads file, injecting dirt. Duplicates are held back and written
/// by [`LeadWriter::finish`] at the end of the file, as a second export appended to the first would.
pub struct LeadWriter<W: Write> {
    shape: Shape,
    tz: Tz,
    extra: u32,
    seed: u64,
    csv: CsvSink<W>,
    held: Vec<Vec<String>>,
    file: &'static str,
}

impl<W: Write> LeadWriter<W> {
    /// Starts the leads file, with `extra` noise attributes after the shape's columns.
    pub fn new(shape: Shape, tz: Tz, w: W, extra: u32, seed: u64) -> std::io::Result<Self> {
        let names = extra_names(extra);
        let header: Vec<&str> = shape.lead_header().iter().copied().chain(names.iter().map(String::as_str)).collect();
        Ok(Self { shape, tz, extra, seed, csv: CsvSink::new(w, &header)?, held: Vec::new(), file: shape.files().0 })
    }

    fn fields(&self, l: &Lead, c: &Company) -> Vec<String> {
        let s = |o: &Option<String>| o.clone().unwrap_or_default();
        let so = |o: Option<&str>| o.unwrap_or_default().to_string();
        let (utm_source, utm_medium, utm_campaign) = match &l.utm {
            Some((a, b, c)) => ((*a).to_string(), (*b).to_string(), c.clone()),
            None => Default::default(),
        };
        let employees = l.employees_reported.map(|e| e.to_string()).unwrap_or_default();
        let country = COUNTRIES[c.country].name.to_string();
        let industry = crate::world::INDUSTRIES[c.industry].name.to_string();
        match self.shape {
            Shape::Hubspot => vec![
                self.shape.lead_id(l.seq),
                l.first_name.to_string(),
                l.last_name.to_string(),
                s(&l.email),
                s(&l.phone),
                fmt_time(l.created, TimeStyle::EpochMillis, self.tz),
                fmt_time(l.updated, TimeStyle::EpochMillis, self.tz),
                self.shape.company_id(c.seq),
                c.name.clone(),
                s(&l.title),
                industry,
                employees,
                country,
                l.channel.hubspot().to_string(),
                utm_source,
                utm_medium,
                utm_campaign,
                s(&l.gclid),
                s(&l.fbclid),
                s(&l.meta_lead_id),
                s(&l.client_id),
                so(l.budget),
                so(l.timeline),
                so(l.product),
                so(l.customer_tier),
            ],
            Shape::Salesforce => vec![
                self.shape.lead_id(l.seq),
                l.first_name.to_string(),
                l.last_name.to_string(),
                s(&l.email),
                s(&l.phone),
                c.name.clone(),
                s(&l.title),
                l.channel.salesforce().to_string(),
                industry,
                employees,
                country,
                fmt_time(l.created, TimeStyle::Salesforce, self.tz),
                fmt_time(l.updated, TimeStyle::Salesforce, self.tz),
                l.status.to_string(),
                if l.has_opportunity { "true" } else { "false" }.to_string(),
                if l.has_opportunity { self.shape.company_id(c.seq) } else { String::new() },
                s(&l.gclid),
                s(&l.fbclid),
                s(&l.meta_lead_id),
                s(&l.client_id),
                utm_source,
                utm_medium,
                utm_campaign,
                so(l.budget),
                so(l.timeline),
                so(l.product),
                so(l.customer_tier),
            ],
        }
    }

    /// Writes one lead (maybe corrupted).
    pub fn write(&mut self, l: &Lead, c: &Company, dirt: &mut Dirt) -> std::io::Result<()> {
        let mut f = self.fields(l, c);
        f.extend((0..self.extra).map(|k| extra_value(self.seed, l.seq, k)));
        let (created_col, updated_col) = match self.shape {
            Shape::Hubspot => (5, 6),
            Shape::Salesforce => (11, 12),
        };
        // A duplicate is a newer version of the same record, exported again later.
        let style = if self.shape == Shape::Hubspot { TimeStyle::EpochMillis } else { TimeStyle::Salesforce };
        let newer = || fmt_time(l.updated + 3_600_000_000, style, self.tz);
        let kinds = [
            Corruption::BadTime(created_col),
            Corruption::MissingId(0),
            Corruption::Duplicate(Some((updated_col, &newer))),
        ];
        if let Some(dup) = dirt.apply(self.file, &mut f, &kinds) {
            self.held.push(dup);
        }
        self.csv.row(f.iter().map(String::as_str))
    }

    /// Appends held-back duplicates; returns the rows written.
    pub fn finish(mut self) -> std::io::Result<u64> {
        for row in std::mem::take(&mut self.held) {
            self.csv.row(row.iter().map(String::as_str))?;
        }
        Ok(self.csv.rows)
    }
}

fn hubspot_stage(s: DealStage) -> &'static str {
    match s {
        DealStage::Won => "closedwon",
        DealStage::Lost => "closedlost",
        DealStage::Open(0) => "appointmentscheduled",
        DealStage::Open(1) => "qualifiedtobuy",
        DealStage::Open(2) => "presentationscheduled",
        DealStage::Open(3) => "decisionmakerboughtin",
        DealStage::Open(_) => "contractsent",
    }
}

fn salesforce_stage(s: DealStage) -> &'static str {
    match s {
        DealStage::Won => "Closed Won",
        DealStage::Lost => "Closed Lost",
        DealStage::Open(0) => "Prospecting",
        DealStage::Open(1) => "Qualification",
        DealStage::Open(2) => "Needs Analysis",
        DealStage::Open(3) => "Proposal/Price Quote",
        DealStage::Open(_) => "Negotiation/Review",
    }
}

fn probability(s: DealStage) -> f64 {
    match s {
        DealStage::Won => 1.0,
        DealStage::Lost => 0.0,
        DealStage::Open(k) => [0.1, 0.2, 0.4, 0.6, 0.8][usize::from(k.min(4))],
    }
}

/// Writes the deals file; returns the rows written.
pub fn write_deals(
    shape: Shape,
    tz: Tz,
    w: impl Write,
    deals: &[Deal],
    companies: &[Company],
    dirt: &mut Dirt,
) -> std::io::Result<u64> {
    let file = shape.files().1;
    let mut csv = CsvSink::new(w, shape.deal_header())?;
    let mut held: Vec<Vec<String>> = Vec::new();
    for (i, d) in deals.iter().enumerate() {
        let c = &companies[d.company];
        let amount = format!("{:.2}", d.amount);
        let name = format!("{} - {}", c.name, if d.new_business { "New" } else { "Renewal" });
        let mut f: Vec<String> = match shape {
            Shape::Hubspot => vec![
                shape.deal_id(i as u64),
                name,
                shape.company_id(c.seq),
                "default".into(),
                hubspot_stage(d.stage).into(),
                if d.new_business { "newbusiness" } else { "existingbusiness" }.into(),
                format!("{}", probability(d.stage)),
                amount,
                d.currency.into(),
                fmt_time(d.created, TimeStyle::Local, tz),
                d.closed.map(|t| fmt_time(t, TimeStyle::Local, tz)).unwrap_or_default(),
                fmt_time(d.updated, TimeStyle::Local, tz),
            ],
            Shape::Salesforce => vec![
                shape.deal_id(i as u64),
                shape.company_id(c.seq),
                name,
                salesforce_stage(d.stage).into(),
                if d.new_business { "New Business" } else { "Existing Business" }.into(),
                format!("{}", (probability(d.stage) * 100.0).round()),
                amount,
                d.currency.into(),
                fmt_time(d.created, TimeStyle::Salesforce, tz),
                // Salesforce always has a CloseDate: the expected one while open.
                fmt_time(d.closed.unwrap_or(d.expected_close), TimeStyle::Date, tz),
                fmt_time(d.updated, TimeStyle::Salesforce, tz),
                d.closed.is_some().to_string(),
                (d.stage == DealStage::Won).to_string(),
            ],
        };
        let (amount_col, currency_col, created_col) = match shape {
            Shape::Hubspot => (7, 8, 9),
            Shape::Salesforce => (6, 7, 8),
        };
        let kinds = [
            Corruption::Negative(amount_col),
            Corruption::BadCurrency(currency_col),
            Corruption::BadTime(created_col),
            Corruption::MissingId(0),
            Corruption::Duplicate(None),
        ];
        held.extend(dirt.apply(file, &mut f, &kinds));
        csv.row(f.iter().map(String::as_str))?;
    }
    for row in held {
        csv.row(row.iter().map(String::as_str))?;
    }
    Ok(csv.rows)
}

/// Writes the (HubSpot) events file; returns the rows written.
pub fn write_events(
    shape: Shape,
    w: impl Write,
    events: &[Event],
    companies: &[Company],
    dirt: &mut Dirt,
) -> std::io::Result<u64> {
    let file = shape.files().2.unwrap_or("events");
    let mut csv =
        CsvSink::new(w, &["Event ID", "Associated Company ID", "Event Name", "Timestamp", "Value", "Currency"])?;
    let mut held: Vec<Vec<String>> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let value = e.value.map(|v| format!("{v:.2}")).unwrap_or_default();
        let currency = if e.value.is_some() { "EUR" } else { "" };
        let mut f = vec![
            format!("evt-{:08}", i + 1),
            shape.company_id(companies[e.company].seq),
            e.name.to_string(),
            fmt_time(e.at, TimeStyle::Rfc3339, chrono_tz::UTC),
            value,
            currency.to_string(),
        ];
        held.extend(dirt.apply(
            file,
            &mut f,
            &[Corruption::BadTime(3), Corruption::MissingId(1), Corruption::Duplicate(None)],
        ));
        csv.row(f.iter().map(String::as_str))?;
    }
    for row in held {
        csv.row(row.iter().map(String::as_str))?;
    }
    Ok(csv.rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_when_needed() -> std::io::Result<()> {
        let mut buf = Vec::new();
        let mut csv = CsvSink::new(&mut buf, &["a", "b"])?;
        csv.row(["plain", "with, comma"])?;
        csv.row(["say \"hi\"", ""])?;
        assert_eq!(String::from_utf8_lossy(&buf), "a,b\nplain,\"with, comma\"\n\"say \"\"hi\"\"\",\n");
        Ok(())
    }

    #[test]
    fn salesforce_ids_look_like_salesforce_ids() {
        let id = sf_id("00Q", 61);
        assert_eq!(id.len(), 15);
        assert!(id.starts_with("00Q5g0"));
        assert!(id.ends_with("00000000z"));
        assert_ne!(sf_id("00Q", 1), sf_id("00Q", 2));
    }

    #[test]
    fn time_styles() {
        let t = 1_756_689_448_000_000; // 2025-09-01T01:17:28Z
        let tz = chrono_tz::Europe::Amsterdam;
        assert_eq!(fmt_time(t, TimeStyle::EpochMillis, tz), "1756689448000");
        assert_eq!(fmt_time(t, TimeStyle::Local, tz), "2025-09-01 03:17:28");
        assert_eq!(fmt_time(t, TimeStyle::Rfc3339, tz), "2025-09-01T01:17:28Z");
        assert_eq!(fmt_time(t, TimeStyle::Salesforce, tz), "2025-09-01T01:17:28.000+0000");
        assert_eq!(fmt_time(t, TimeStyle::Date, tz), "2025-09-01");
    }
}
