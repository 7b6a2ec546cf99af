//! The ad-spend file: cost per day and campaign, as Google Ads and Meta export their reports,
//! converted into the project currency and summed per campaign and week.
//!
//! A Google Ads campaign report download has the columns `Day`, `Campaign`, `Currency code` and
//! `Cost`, often below a title and a date-range line and above `Total:` rows; a Meta Ads Manager
//! export has `Reporting starts`, `Campaign name` and `Amount spent (EUR)` (the currency in the
//! header). These are the downloads' names as commonly seen, not a published specification (the
//! platforms document their API report fields, not the UI downloads' headers), so every column
//! can also be named in `[channels.spend]`. The header is the first of the first lines that
//! names a date, a campaign and a cost column, and `Total` rows are counted and left out. Every
//! other row is used, outside the report's range (counted), or an error naming its row and
//! column. A cell's content is never written into an error or a log line.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use leadscore_core::config::Spend;
use leadscore_core::currency::{Rates, iso4217};
use polars::prelude::*;
use serde::Serialize;

use crate::error::{ChannelsError, Result};
use crate::table::{campaign_key, days_since_epoch};

/// Header names recognised for each column when the config names none (compared case-blind).
const DATE_NAMES: &[&str] = &["date", "day", "reporting starts", "reporting_starts", "date_start"];
const CAMPAIGN_NAMES: &[&str] = &["campaign", "campaign name", "campaign_name"];
const COST_NAMES: &[&str] = &["cost", "spend", "amount spent", "amount_spent", "cost (converted)"];
const CURRENCY_NAMES: &[&str] = &["currency", "currency code", "currency_code", "account currency"];
/// Lines searched for the header.
const HEADER_LINES: usize = 10;

/// Spend per campaign and week, in the project currency.
#[derive(Debug, Clone, Default)]
pub struct SpendTable {
    cost: HashMap<(String, i32), f64>,
    /// Per campaign key: the name the file first wrote and the cost over the range.
    campaigns: BTreeMap<String, (String, f64)>,
    /// How the file's rows were accounted for.
    pub accounting: SpendAccounting,
}

/// Every row of the spend file, accounted for.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SpendAccounting {
    /// The file.
    pub file: String,
    /// Data rows read (below the header).
    pub rows: u64,
    /// Rows in the range, summed.
    pub used: u64,
    /// Rows dated outside the range.
    pub outside_range: u64,
    /// `Total` rows of the report left out.
    pub total_rows: u64,
    /// Cost of the rows used (project currency).
    pub cost: f64,
}

impl SpendTable {
    /// Every (campaign key, week) with spend.
    pub fn keys(&self) -> Vec<(String, i32)> {
        let mut k: Vec<(String, i32)> = self.cost.keys().cloned().collect();
        k.sort();
        k
    }

    /// The cost of a campaign (by [`campaign_key`]) in a week.
    pub fn cost(&self, key: &str, week: i32) -> f64 {
        self.cost.get(&(key.to_string(), week)).copied().unwrap_or(0.0)
    }

    /// The cost of a campaign over the range.
    pub fn campaign_cost(&self, key: &str) -> f64 {
        self.campaigns.get(key).map_or(0.0, |c| c.1)
    }

    /// Whether the campaign spent in the range.
    pub fn has_campaign(&self, key: &str) -> bool {
        self.campaigns.contains_key(key)
    }

    /// The campaign's name as the file first wrote it.
    pub fn name<'a>(&'a self, key: &'a str) -> &'a str {
        self.campaigns.get(key).map_or(key, |c| c.0.as_str())
    }

    /// Every campaign with its cost over the range, by name.
    pub fn campaign_totals(&self) -> Vec<(String, f64)> {
        self.campaigns.values().cloned().collect()
    }
}

/// Reads the spend file, keeping the days from `from` to `to` (both included).
pub fn read(path: &Path, spend: &Spend, rates: &Rates, (from, to): (NaiveDate, NaiveDate)) -> Result<SpendTable> {
    let rows = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet")) {
        parquet_rows(path)?
    } else {
        csv_rows(path)?
    };
    let err = |message: String| ChannelsError::Spend { path: path.to_path_buf(), message };
    let (header_at, header) = find_header(&rows, spend).ok_or_else(|| {
        err(format!(
            "no header found in its first {HEADER_LINES} lines naming a date, a campaign and a cost column; \
             name them in [channels.spend] date_column, campaign_column and cost_column"
        ))
    })?;
    let mut table = SpendTable {
        accounting: SpendAccounting { file: path.display().to_string(), ..Default::default() },
        ..Default::default()
    };
    for (i, row) in rows.iter().enumerate().skip(header_at + 1) {
        let line = i + 1;
        let cell = |c: usize| row.get(c).map_or("", |v| v.trim());
        table.accounting.rows += 1;
        let at = |column: &str, what: &str| err(format!("record {line}, column `{column}`: {what}"));
        let Some(date) = parse_date(cell(header.date)) else {
            if is_total(row) {
                table.accounting.total_rows += 1;
                continue;
            }
            return Err(at(&header.names[0], "expected a date such as 2026-10-31"));
        };
        if date < from || date > to {
            table.accounting.outside_range += 1;
            continue;
        }
        let campaign = cell(header.campaign);
        if campaign.is_empty() {
            return Err(at(&header.names[1], "the campaign is empty"));
        }
        let cost = parse_cost(cell(header.cost))
            .ok_or_else(|| at(&header.names[2], "expected a cost such as 1234.56 (not negative)"))?;
        let currency = match header.currency {
            Some(c) => iso4217(cell(c)).ok_or_else(|| at(&header.names[3], "expected an ISO 4217 currency code"))?,
            None => header
                .currency_code
                .clone()
                .or_else(|| spend.currency.clone())
                .unwrap_or_else(|| rates.project().to_string()),
        };
        let rate = rates.rate(&currency).ok_or_else(|| {
            err(format!(
                "record {line}: the cost's currency {currency} has no rate in [currency] rates (into {})",
                rates.project()
            ))
        })?;
        let key = campaign_key(campaign);
        let week = days_since_epoch(date) - date.weekday().num_days_from_monday() as i32;
        *table.cost.entry((key.clone(), week)).or_default() += cost * rate;
        table.campaigns.entry(key).or_insert_with(|| (campaign.to_string(), 0.0)).1 += cost * rate;
        table.accounting.used += 1;
        table.accounting.cost += cost * rate;
    }
    Ok(table)
}

/// Where the columns are.
struct Header {
    date: usize,
    campaign: usize,
    cost: usize,
    currency: Option<usize>,
    /// The currency the cost column's header names (`Amount spent (EUR)`).
    currency_code: Option<String>,
    /// The header names of date, campaign, cost and currency, for messages.
    names: [String; 4],
}

fn find_header(rows: &[Vec<String>], spend: &Spend) -> Option<(usize, Header)> {
    rows.iter().take(HEADER_LINES).enumerate().find_map(|(i, row)| header(row, spend).map(|h| (i, h)))
}

fn header(row: &[String], spend: &Spend) -> Option<Header> {
    let find = |configured: &Option<String>, names: &[&str], prefix: Option<&str>| -> Option<usize> {
        match configured {
            Some(c) => row.iter().position(|h| h.trim() == c.trim()),
            None => row.iter().position(|h| {
                let h = h.trim().to_ascii_lowercase();
                names.contains(&h.as_str()) || prefix.is_some_and(|p| h.starts_with(p))
            }),
        }
    };
    let date = find(&spend.date_column, DATE_NAMES, None)?;
    let campaign = find(&spend.campaign_column, CAMPAIGN_NAMES, None)?;
    let cost = find(&spend.cost_column, COST_NAMES, Some("amount spent ("))?;
    let currency = find(&spend.currency_column, CURRENCY_NAMES, None);
    if spend.currency_column.is_some() && currency.is_none() {
        return None;
    }
    let currency_code =
        row[cost].trim().rsplit_once('(').and_then(|(_, rest)| rest.strip_suffix(')')).and_then(iso4217);
    let name = |i: Option<usize>| i.map_or(String::new(), |i| row[i].trim().to_string());
    let names = [name(Some(date)), name(Some(campaign)), name(Some(cost)), name(currency)];
    Some(Header { date, campaign, cost, currency, currency_code, names })
}

/// A report's total row: its first filled cell starts with `Total` (Google Ads writes
/// `Total: Account`, `Total: Campaigns`).
fn is_total(row: &[String]) -> bool {
    row.iter().map(|v| v.trim()).find(|v| !v.is_empty()).is_some_and(|v| v.to_ascii_lowercase().starts_with("total"))
}

/// A day: `2026-10-31`, or the day of a timestamp that starts with one.
fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()
}

/// A cost: `1234.56`, `1,234.56` (thousands separators), `1234,56` (a decimal comma); Google's
/// `--` for none is 0.
fn parse_cost(s: &str) -> Option<f64> {
    let s = s.trim();
    if s == "--" {
        return Some(0.0);
    }
    let normalised = match (s.contains(','), s.contains('.')) {
        (true, true) => s.replace(',', ""),
        (true, false) if s.rsplit_once(',').is_some_and(|(_, d)| d.len() <= 2) && s.matches(',').count() == 1 => {
            s.replace(',', ".")
        }
        (true, false) => s.replace(',', ""),
        _ => s.to_string(),
    };
    normalised.parse::<f64>().ok().filter(|c| c.is_finite() && *c >= 0.0)
}

fn csv_rows(path: &Path) -> Result<Vec<Vec<String>>> {
    let bytes =
        std::fs::read(path).map_err(|source| leadscore_core::CoreError::Read { path: path.to_path_buf(), source })?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let delimiter = sniff_delimiter(bytes);
    let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(bytes);
    let mut rows = Vec::new();
    for (i, rec) in r.byte_records().enumerate() {
        let rec = rec.map_err(|e| spend_error(path, format!("line {}: not valid CSV ({})", i + 1, csv_kind(&e))))?;
        let row: Option<Vec<String>> = rec.iter().map(|f| std::str::from_utf8(f).ok().map(str::to_string)).collect();
        rows.push(
            row.ok_or_else(|| spend_error(path, format!("line {}: not UTF-8 text; save the file as UTF-8", i + 1)))?,
        );
    }
    Ok(rows)
}

/// What went wrong reading CSV, without the content.
fn csv_kind(e: &csv::Error) -> &'static str {
    match e.kind() {
        csv::ErrorKind::Io(_) => "the file could not be read",
        csv::ErrorKind::Utf8 { .. } => "not UTF-8",
        csv::ErrorKind::UnequalLengths { .. } => "a row has another number of fields",
        _ => "malformed",
    }
}

/// Tab, semicolon or comma: whichever the first line has most of.
fn sniff_delimiter(bytes: &[u8]) -> u8 {
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    [b'\t', b';', b',']
        .into_iter()
        .max_by_key(|d| (first.iter().filter(|b| *b == d).count(), *d == b','))
        .unwrap_or(b',')
}

fn spend_error(path: &Path, message: String) -> ChannelsError {
    ChannelsError::Spend { path: PathBuf::from(path), message }
}

/// A Parquet spend table as rows of text, the column names first.
fn parquet_rows(path: &Path) -> Result<Vec<Vec<String>>> {
    let df = leadscore_core::io::read_parquet(path)?;
    let mut columns = Vec::new();
    for c in df.columns() {
        let text = c.cast(&DataType::String)?;
        columns.push(text.str()?.iter().map(|v| v.unwrap_or("").to_string()).collect::<Vec<_>>());
    }
    let mut rows = vec![df.get_column_names().iter().map(|n| n.to_string()).collect::<Vec<_>>()];
    rows.extend((0..df.height()).map(|i| columns.iter().map(|c| c[i].clone()).collect()));
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_are_read_as_the_exports_write_them() {
        assert_eq!(parse_cost("1234.56"), Some(1234.56));
        assert_eq!(parse_cost("1,234.56"), Some(1234.56));
        assert_eq!(parse_cost("1234,56"), Some(1234.56));
        assert_eq!(parse_cost("1,234,567"), Some(1_234_567.0));
        assert_eq!(parse_cost("--"), Some(0.0));
        assert_eq!(parse_cost("-5"), None);
        assert_eq!(parse_cost("abc"), None);
        assert_eq!(parse_date("2026-10-31"), NaiveDate::from_ymd_opt(2026, 10, 31));
        assert_eq!(parse_date("2026-10-31 00:00:00"), NaiveDate::from_ymd_opt(2026, 10, 31));
        assert_eq!(parse_date("31/10/2026"), None);
    }
}
