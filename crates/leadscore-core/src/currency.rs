//! Currencies: ISO 4217 validation and conversion into the project currency.

use std::collections::BTreeMap;

use serde::Serialize;

/// Normalises `raw` (trim, uppercase) and checks it is an ISO 4217 code.
pub fn iso4217(raw: &str) -> Option<String> {
    let code = raw.trim().to_ascii_uppercase();
    iso_currency::Currency::from_code(&code).map(|_| code)
}

/// Exchange rates into the project currency.
///
/// A rate says how many units of the project currency one unit of the foreign currency is worth
/// (`USD = 0.92` with project currency EUR: 1 USD = 0.92 EUR). The project currency itself always
/// converts at 1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rates {
    project: String,
    rates: BTreeMap<String, f64>,
}

impl Rates {
    /// Rates for `project` (an ISO 4217 code); further currencies come from `rates`.
    pub fn new(project: impl Into<String>, rates: BTreeMap<String, f64>) -> Self {
        Self { project: project.into(), rates }
    }

    /// The project currency code.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// The configured foreign rates.
    pub fn rates(&self) -> &BTreeMap<String, f64> {
        &self.rates
    }

    /// Units of project currency per unit of `code`; `None` when no rate is known.
    /// `code` must already be normalised (see [`iso4217`]).
    pub fn rate(&self, code: &str) -> Option<f64> {
        if code == self.project { Some(1.0) } else { self.rates.get(code).copied() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_iso_codes() {
        assert_eq!(iso4217(" eur "), Some("EUR".to_string()));
        assert_eq!(iso4217("USD"), Some("USD".to_string()));
        assert_eq!(iso4217("EURO"), None);
        assert_eq!(iso4217("XYZ"), None);
        assert_eq!(iso4217(""), None);
    }

    #[test]
    fn converts_through_rates() {
        let r = Rates::new("EUR", BTreeMap::from([("USD".to_string(), 0.9)]));
        assert_eq!(r.rate("EUR"), Some(1.0));
        assert_eq!(r.rate("USD"), Some(0.9));
        assert_eq!(r.rate("GBP"), None);
    }
}
