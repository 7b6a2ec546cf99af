//! `leadscore-synth`: realistic synthetic CRM exports with a known truth.
//!
//! [`write`] is responsible for producing, in a folder, a CRM export that looks and misbehaves like
//! a real one, the `leadscore.toml` that reads it, and `truth.parquet`: for every lead the exact
//! probability of converting within the conversion window and its expected value, so a trained
//! model can be measured against the best possible one. The same options and seed always give
//! byte-identical files.
//!
//! # Files
//!
//! HubSpot shape (`--shape hubspot`, the default):
//! - `contacts.csv`: `Record ID`, `First Name`, `Last Name`, `Email`, `Phone Number`,
//!   `Create Date` and `Last Modified Date` (epoch milliseconds), `Associated Company ID`,
//!   `Company Name`, `Job Title` (free text), `Industry`, `Number of Employees`, `Country/Region`,
//!   `Original Source`, `UTM Source`, `UTM Medium`, `UTM Campaign`, `Google Ad Click ID`,
//!   `Facebook Click ID`, `Meta Lead ID`, `GA Client ID`, `Budget`, `Timeline`,
//!   `Product Interest`, `Customer Tier`;
//! - `deals.csv`: `Record ID`, `Deal Name`, `Associated Company ID`, `Pipeline`, `Deal Stage`
//!   (`closedwon`, `closedlost`, open stages), `Deal Type` (`newbusiness`, `existingbusiness`),
//!   `Deal Probability` (0–1), `Amount`, `Deal Currency Code`, `Create Date`, `Close Date` and
//!   `Last Modified Date` (`YYYY-MM-DD HH:MM:SS`, local time);
//! - `events.csv`: `Event ID`, `Associated Company ID`, `Event Name`, `Timestamp` (RFC 3339),
//!   `Value`, `Currency`.
//!
//! Salesforce shape (`--shape salesforce`): `Lead.csv` (standard Lead fields plus `__c` custom
//! fields for click ids, UTM, form answers and the tier; `CreatedDate` as
//! `2025-09-01T01:17:28.000+0000`; `ConvertedAccountId` set once the lead has an opportunity) and
//! `Opportunity.csv` (`StageName` `Closed Won`/`Closed Lost`/open stages, `Type`
//! `New Business`/`Existing Business`, `Probability` 0–100, `CloseDate` as a date — the expected
//! date on open opportunities). The same seed gives the same world in both shapes.
//!
//! The user id leads, deals and events share is the company (account).
//!
//! # Planted effects (see [`model`])
//!
//! Conversion (a won new-business deal) is driven non-linearly by: seniority parsed from the free
//! job title (VP/director/C-level up, students far down; C-level at companies over 1000 people
//! only slightly up: an interaction), department (marketing buys), company size (an inverted U
//! peaking near 300 people), industry (software above 200 people is the sweet spot: industry ×
//! size), e-mail class (corporate up; free, invalid, disposable down), channel (referral and
//! events up; paid social down and *drifting down* over the period while its share grows), budget
//! and timeline answers, a latent intent that also drives web events before the lead (pricing-page
//! views), office-hour creation, phone given, and a mild seasonality.
//!
//! Timing: the lag to a won deal is gamma-distributed (shape 2, scale growing with company size),
//! so some conversions land beyond the window. Deals whose close falls after the export are still
//! open in it (censoring). Amounts are lognormal, grow with company size and product interest, and
//! are in the country's currency (EUR, GBP, USD, CHF, SEK, PLN). Closed-lost and open deals,
//! renewals a year after a win and upsells to existing customers (`existingbusiness`) must not
//! count. Leads from companies that already won are existing customers (truth probability 0).
//!
//! Traps: `Customer Tier` is filled in by sales only after a deal is won (a leaky attribute);
//! `Demo Booked` events mostly happen *after* the lead, for leads that will convert (a feature
//! looking past creation time would leak); Salesforce `Status`/`IsConverted` are sales outcomes.
//!
//! With `--dirty-rate R`, each row is corrupted with probability R: malformed timestamps, missing
//! ids, duplicate rows (a newer version appended), negative amounts, unknown currencies. The
//! summary counts each kind.

pub mod generate;
pub mod model;
pub mod shape;
pub mod spend;
pub mod world;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use chrono::{Months, NaiveDate};
use leadscore_core::io::{TableMeta, write_atomic, write_parquet};
use leadscore_core::{Classify, Config, CoreError, ExitKind, RunDate};
use polars::prelude::*;
use serde::Serialize;

pub use shape::Shape;

/// Errors of the generator.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// An option is out of range.
    #[error("invalid option: {0}")]
    Invalid(String),
    /// Writing failed.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A bug.
    #[error("internal error in synth (a bug, please report it): {0}")]
    Internal(String),
}

impl Classify for SynthError {
    fn exit_kind(&self) -> ExitKind {
        match self {
            Self::Invalid(_) => ExitKind::Usage,
            Self::Core(e) => e.exit_kind(),
            Self::Internal(_) => ExitKind::Internal,
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Number of leads.
    pub leads: u64,
    /// Months of history before `end`.
    pub months: u32,
    /// Seed: same seed, same bytes.
    pub seed: u64,
    /// Export shape.
    pub shape: Shape,
    /// Share of rows to corrupt, 0 to 0.5.
    pub dirty_rate: f64,
    /// Export date: leads are created before its midnight (the generated config's default run date).
    pub end: NaiveDate,
    /// Conversion window (days) the truth probabilities refer to.
    pub window_days: u32,
    /// Extra noise attributes (`Extra 1` … `Extra N`, numeric and categorical by turns), for
    /// benchmarks with many attributes. They carry no signal.
    pub extra_attributes: u32,
    /// Mean number of extra noise `Page View` events per lead (HubSpot shape), for benchmarks
    /// with a large events table. They carry no signal.
    pub extra_events: f64,
}

/// The default export date (fixed, so output never depends on when it is generated).
pub fn default_end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default()
}

/// Time zone of the synthetic business.
pub const TIMEZONE: &str = "Europe/Amsterdam";

/// What was generated.
#[derive(Debug, Clone, Serialize)]
pub struct SynthSummary {
    /// Export shape.
    pub shape: &'static str,
    /// Folder written.
    pub out: String,
    /// First day of the period.
    pub start: NaiveDate,
    /// Export date.
    pub end: NaiveDate,
    /// Leads generated (before dirt).
    pub leads: u64,
    /// Rows per file written (including dirt).
    pub rows: BTreeMap<String, u64>,
    /// Distinct companies.
    pub companies: u64,
    /// Won new-business deals in the export.
    pub won_new_business: u64,
    /// Mean true probability of converting within the window.
    pub mean_true_probability: f64,
    /// Leads the simulation converted within the window (observed or not yet).
    pub converted_within_window: u64,
    /// Corruptions injected, per file and kind.
    pub dirt: BTreeMap<String, u64>,
}

impl SynthSummary {
    /// A short human summary.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "synth {} → {} ({} to {}):", self.shape, self.out, self.start, self.end);
        for (f, n) in &self.rows {
            let _ = writeln!(s, "  {f:<18} {n:>10} rows");
        }
        let _ = writeln!(
            s,
            "  companies {} · won new-business deals {} · mean true p(window) {:.4} · converted within window {}",
            self.companies, self.won_new_business, self.mean_true_probability, self.converted_within_window
        );
        for (k, n) in &self.dirt {
            let _ = writeln!(s, "  dirt: {k}: {n}");
        }
        s
    }
}

fn validate(opts: &SynthOptions) -> Result<NaiveDate, SynthError> {
    if opts.leads == 0 {
        return Err(SynthError::Invalid("--leads must be at least 1".into()));
    }
    if !(1..=120).contains(&opts.months) {
        return Err(SynthError::Invalid(format!("--months must be between 1 and 120, found {}", opts.months)));
    }
    if !(0.0..=0.5).contains(&opts.dirty_rate) {
        return Err(SynthError::Invalid(format!("--dirty-rate must be between 0 and 0.5, found {}", opts.dirty_rate)));
    }
    if !(0.0..=50.0).contains(&opts.extra_events) {
        return Err(SynthError::Invalid(format!(
            "--extra-events must be between 0 and 50 per lead, found {}",
            opts.extra_events
        )));
    }
    if opts.extra_events > 0.0 && opts.shape.files().2.is_none() {
        return Err(SynthError::Invalid(format!(
            "--extra-events needs an export shape with events (hubspot), found {:?}",
            opts.shape
        )));
    }
    if !(1..=365).contains(&opts.window_days) {
        return Err(SynthError::Invalid(format!(
            "--window-days must be between 1 and 365, found {}",
            opts.window_days
        )));
    }
    opts.end
        .checked_sub_months(Months::new(opts.months))
        .ok_or_else(|| SynthError::Invalid(format!("--end {} minus {} months is out of range", opts.end, opts.months)))
}

/// The config's `[[attributes]]`: the generated extra columns, then the shape's own.
fn write_attributes(s: &mut String, opts: &SynthOptions) {
    let attrs: &[(&str, Option<&str>, Option<&str>)] = match opts.shape {
        Shape::Hubspot => &[
            ("Job Title", None, Some("text")),
            ("Industry", None, Some("categorical")),
            ("Number of Employees", Some("company_size"), Some("numeric")),
            ("Country/Region", Some("country"), Some("categorical")),
            ("Original Source", Some("lead_source"), Some("categorical")),
            ("UTM Source", None, None),
            ("UTM Medium", None, None),
            ("UTM Campaign", None, None),
            ("Budget", None, None),
            ("Timeline", None, None),
            ("Product Interest", None, None),
            ("Customer Tier", None, None),
        ],
        Shape::Salesforce => &[
            ("Title", Some("job_title"), Some("text")),
            ("Industry", None, Some("categorical")),
            ("NumberOfEmployees", Some("company_size"), Some("numeric")),
            ("Country", None, Some("categorical")),
            ("LeadSource", Some("lead_source"), Some("categorical")),
            ("UTM_Source__c", Some("utm_source"), None),
            ("UTM_Medium__c", Some("utm_medium"), None),
            ("UTM_Campaign__c", Some("utm_campaign"), None),
            ("Budget__c", Some("budget"), None),
            ("Timeline__c", Some("timeline"), None),
            ("Product_Interest__c", Some("product_interest"), None),
            ("Customer_Tier__c", Some("customer_tier"), None),
        ],
    };
    let _ = writeln!(s, "# Lead attributes used as features. A kind left out is inferred at ingest.");
    for (k, name) in shape::extra_names(opts.extra_attributes).iter().enumerate() {
        let kind = if k.is_multiple_of(2) { "numeric" } else { "categorical" };
        let _ = writeln!(s, "[[attributes]]\ncolumn = \"{name}\"\nkind = \"{kind}\"\n");
    }
    for (column, name, kind) in attrs {
        let _ = writeln!(s, "[[attributes]]\ncolumn = \"{column}\"");
        if let Some(n) = name {
            let _ = writeln!(s, "name = \"{n}\"");
        }
        if let Some(k) = kind {
            let _ = writeln!(s, "kind = \"{k}\"");
        }
        let _ = writeln!(s);
    }
}

/// The `leadscore.toml` that reads the generated export from its own folder.
pub fn config_toml(opts: &SynthOptions) -> String {
    let (leads, deals, events) = opts.shape.files();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Generated by `leadscore synth --leads {} --months {} --seed {} --shape {}`.",
        opts.leads,
        opts.months,
        opts.seed,
        opts.shape.name()
    );
    let _ = writeln!(s, "# Paths are relative to this file's folder.\n");
    let _ = writeln!(
        s,
        "[project]\nname = \"synthetic-{}\"\ncurrency = \"EUR\"\ntimezone = \"{TIMEZONE}\"",
        opts.shape.name()
    );
    let _ = writeln!(s, "# Run outputs go to ./runs/<date>/<stage>/.\noutput_dir = \".\"");
    let _ = writeln!(s, "# The day after the last generated lead.\ndefault_run_date = \"{}\"\n", opts.end);
    let _ = writeln!(s, "[sources]\npreset = \"{}\"\n", opts.shape.name());
    let _ = writeln!(s, "[sources.leads]\npath = \"{leads}\"\n");
    let _ = writeln!(s, "[sources.deals]\npath = \"{deals}\"");
    if opts.shape == Shape::Hubspot {
        let _ = writeln!(s, "extra = {{ pipeline = \"Pipeline\" }}");
    }
    let _ = writeln!(s);
    if let Some(events) = events {
        let _ = writeln!(s, "[sources.events]\npath = \"{events}\"\n");
    }
    write_attributes(&mut s, opts);
    let _ = writeln!(s, "[currency]\n# 1 unit of each currency in EUR.");
    let rates = world::RATES.iter().map(|(c, r)| format!("{c} = {r}")).collect::<Vec<_>>().join(", ");
    let _ = writeln!(s, "rates = {{ {rates} }}");
    let _ = writeln!(
        s,
        "\n[channels]\n# Ad spend per day and campaign, joined to the leads' UTM campaign (`leadscore report channels`).\n\
         spend = {{ path = \"{}\" }}",
        spend::FILE
    );
    let _ = writeln!(
        s,
        "\n[export]\n# Enhanced conversions for leads are uploaded to this Google Ads conversion action: replace the\n\
         # example ids with your account's (the action's resource name, under Goals > Conversions).\n\
         google_conversion_action = \"customers/1234567890/conversionActions/987654321\""
    );
    s
}

/// `truth.parquet`'s columns, a lead at a time.
struct TruthColumns {
    ids: Vec<String>,
    p: Vec<f64>,
    value: Vec<f64>,
    converted: Vec<bool>,
    existing: Vec<bool>,
}

impl TruthColumns {
    fn with_capacity(n: usize) -> Self {
        Self {
            ids: Vec::with_capacity(n),
            p: Vec::with_capacity(n),
            value: Vec::with_capacity(n),
            converted: Vec::with_capacity(n),
            existing: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, id: String, truth: &generate::Truth) {
        self.ids.push(id);
        self.p.push(truth.p_window);
        self.value.push(truth.expected_value);
        self.converted.push(truth.converted_in_window);
        self.existing.push(truth.existing_customer);
    }

    fn into_frame(self) -> Result<DataFrame, SynthError> {
        DataFrame::new_infer_height(vec![
            Column::new("lead_id".into(), self.ids),
            Column::new("true_probability".into(), self.p),
            Column::new("true_expected_value".into(), self.value),
            Column::new("converted_within_window".into(), self.converted),
            Column::new("existing_customer".into(), self.existing),
        ])
        .map_err(|e| SynthError::Internal(e.to_string()))
    }
}

/// Generates the export into `out` (created if needed) and returns what was written.
pub fn write(out: &Path, opts: &SynthOptions) -> Result<SynthSummary, SynthError> {
    let start = validate(opts)?;
    let tz: chrono_tz::Tz = TIMEZONE.parse().map_err(|_| SynthError::Internal("bad time zone".into()))?;
    leadscore_core::io::create_dir_private(out)
        .map_err(|source| CoreError::Write { path: out.to_path_buf(), source })?;
    let config_text = config_toml(opts);
    let config = Config::from_toml(&config_text, "leadscore.toml", out)
        .map_err(|e| SynthError::Internal(format!("the generated config is invalid: {e}")))?;
    let sim = generate::Simulation {
        leads: opts.leads,
        start,
        end: opts.end,
        seed: opts.seed,
        window_days: opts.window_days,
        tz,
        extra_events: opts.extra_events,
    };
    let leads_file = opts.shape.files().0;
    let mut dirt = shape::Dirt::new(opts.dirty_rate, opts.seed);
    let mut rows = BTreeMap::new();
    let mut truth = TruthColumns::with_capacity(opts.leads as usize);
    let mut generated = generate::Generated::default();
    let mut paid = spend::SpendCounter::default();
    let leads_path = out.join(leads_file);
    write_atomic(&leads_path, |w| {
        let werr = |source| CoreError::Write { path: leads_path.clone(), source };
        let mut lw = shape::LeadWriter::new(opts.shape, tz, w, opts.extra_attributes, opts.seed).map_err(werr)?;
        let mut failed: Option<std::io::Error> = None;
        generated = generate::simulate(&sim, |lead, company| {
            truth.push(opts.shape.lead_id(lead.seq), &lead.truth);
            if let Some(day) = leadscore_core::RunDate::of_instant(lead.created, tz) {
                paid.record(lead, day.date());
            }
            if let (None, Err(e)) = (&failed, lw.write(lead, company, &mut dirt)) {
                failed = Some(e);
            }
        });
        if let Some(e) = failed {
            return Err(werr(e));
        }
        let n = lw.finish().map_err(werr)?;
        rows.insert(leads_file.to_string(), n);
        Ok(())
    })?;
    write_deals_and_events(out, opts, tz, &generated, &mut dirt, &mut rows)?;
    let spend_path = out.join(spend::FILE);
    write_atomic(&spend_path, |w| {
        let n = paid
            .write(w, start, opts.end, opts.seed)
            .map_err(|source| CoreError::Write { path: spend_path.clone(), source })?;
        rows.insert(spend::FILE.to_string(), n);
        Ok(())
    })?;
    let config_path = out.join("leadscore.toml");
    write_atomic(&config_path, |w| {
        w.write_all(config_text.as_bytes()).map_err(|source| CoreError::Write { path: config_path.clone(), source })
    })?;
    let mean_p = truth.p.iter().sum::<f64>() / truth.p.len().max(1) as f64;
    let converted = truth.converted.iter().filter(|c| **c).count() as u64;
    let mut truth = truth.into_frame()?;
    let meta = TableMeta { stage: "synth".into(), run_date: RunDate::new(opts.end), config_hash: config.hash() };
    write_parquet(&out.join("truth.parquet"), &mut truth, &meta)?;
    rows.insert("truth.parquet".into(), opts.leads);
    let won = generated.deals.iter().filter(|d| d.new_business && d.stage == generate::DealStage::Won).count() as u64;
    Ok(SynthSummary {
        shape: opts.shape.name(),
        out: out.display().to_string(),
        start,
        end: opts.end,
        leads: opts.leads,
        rows,
        companies: generated.companies.len() as u64,
        won_new_business: won,
        mean_true_probability: mean_p,
        converted_within_window: converted,
        dirt: dirt.counts,
    })
}

/// Writes the deals and (for shapes with one) the events file, counting their rows in `rows`.
fn write_deals_and_events(
    out: &Path,
    opts: &SynthOptions,
    tz: chrono_tz::Tz,
    generated: &generate::Generated,
    dirt: &mut shape::Dirt,
    rows: &mut BTreeMap<String, u64>,
) -> Result<(), SynthError> {
    let (_, deals_file, events_file) = opts.shape.files();
    let deals_path = out.join(deals_file);
    write_atomic(&deals_path, |w| {
        let n = shape::write_deals(opts.shape, tz, w, &generated.deals, &generated.companies, dirt)
            .map_err(|source| CoreError::Write { path: deals_path.clone(), source })?;
        rows.insert(deals_file.to_string(), n);
        Ok(())
    })?;
    if let Some(events_file) = events_file {
        let events_path = out.join(events_file);
        write_atomic(&events_path, |w| {
            let n = shape::write_events(opts.shape, w, &generated.events, &generated.companies, dirt)
                .map_err(|source| CoreError::Write { path: events_path.clone(), source })?;
            rows.insert(events_file.to_string(), n);
            Ok(())
        })?;
    }
    Ok(())
}
