//! `[currency]`: exchange rates into the project currency, inline or from a CSV file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::raw::RawCurrency;
use super::{KeyPath, Validator};
use crate::currency::{Rates, iso4217};

impl Validator<'_> {
    pub(super) fn currency(&mut self, project_currency: Option<&str>) -> Option<Rates> {
        let path = KeyPath::root().key("currency");
        let raw: RawCurrency = match self.get(&path) {
            None => RawCurrency::default(),
            Some(v) => self.deser(&path, v)?,
        };
        let mut rates = BTreeMap::new();
        let mut ok = true;
        if let Some(file) = &raw.file {
            let fp = path.key("file");
            let full = if Path::new(file).is_absolute() { PathBuf::from(file) } else { self.base_dir.join(file) };
            match std::fs::read_to_string(&full) {
                Err(e) => {
                    self.problem(&fp, format!("cannot read rates file {}: {e}", full.display()));
                    ok = false;
                }
                Ok(text) => match parse_rates_csv(&text) {
                    Ok(r) => rates.extend(r),
                    Err(msg) => {
                        self.problem(&fp, format!("{}: {msg}", full.display()));
                        ok = false;
                    }
                },
            }
        }
        for (code, rate) in raw.rates {
            let rp = path.key("rates").key(&code);
            match iso4217(&code) {
                None => {
                    self.problem(&rp, format!("`{code}` is not an ISO 4217 currency code"));
                    ok = false;
                }
                Some(c) => {
                    rates.insert(c, rate);
                }
            }
        }
        for (code, rate) in &rates {
            if !(rate.is_finite() && *rate > 0.0) {
                self.problem(&path.key("rates").key(code), format!("rate must be a positive number, found {rate}"));
                ok = false;
            }
            if Some(code.as_str()) == project_currency && (*rate - 1.0).abs() > 1e-12 {
                self.problem(&path.key("rates").key(code), format!("the project currency converts at 1, found {rate}"));
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        Some(Rates::new(project_currency.unwrap_or_default(), rates))
    }
}

/// Parses a rates CSV: a header `currency,rate`, then one row per currency.
fn parse_rates_csv(text: &str) -> Result<BTreeMap<String, f64>, String> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        Some((_, h)) if h.trim().eq_ignore_ascii_case("currency,rate") => {}
        Some((_, h)) => {
            return Err(format!("expected the header `currency,rate`, found `{}`", h.trim()));
        }
        None => {
            return Err("empty file; expected the header `currency,rate` and one row per currency".into());
        }
    }
    let mut out = BTreeMap::new();
    for (i, line) in lines {
        let mut parts = line.split(',');
        let (Some(c), Some(r), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("line {}: expected `CODE,rate`, found `{}`", i + 1, line.trim()));
        };
        let code = iso4217(c).ok_or_else(|| format!("line {}: `{}` is not an ISO 4217 code", i + 1, c.trim()))?;
        let rate: f64 = r.trim().parse().map_err(|_| format!("line {}: rate `{}` is not a number", i + 1, r.trim()))?;
        out.insert(code, rate);
    }
    Ok(out)
}
