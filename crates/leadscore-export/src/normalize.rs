//! Normalising and hashing personal data the way each platform specifies, so that the platform
//! can match it. Raw values never leave this module: callers get SHA-256 hex digests.
//!
//! Sources (checked 2026-11):
//! - Google Ads, enhanced conversions for leads, "Normalize and hash user-provided data":
//!   <https://developers.google.com/google-ads/api/docs/conversions/upload-identifiers> —
//!   e-mail: trim, lowercase, and for `gmail.com` / `googlemail.com` remove every `.` and any
//!   `+suffix` from the local part; phone: E.164 with the leading `+`.
//! - Meta, Conversions API customer information parameters:
//!   <https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/customer-information-parameters> —
//!   `em`: trim, lowercase; `ph`: digits only, with the country code, no leading zeros or `+`;
//!   `fn` / `ln`: lowercase, no punctuation, UTF-8.

use leadscore_model::rules::CALLING_CODES;

/// Trimmed, lowercased e-mail with exactly one `@` and something on both sides; `None` otherwise.
fn email_parts(raw: &str) -> Option<(String, String)> {
    let e = raw.trim().to_lowercase();
    let (local, domain) = e.split_once('@')?;
    if local.is_empty() || domain.is_empty() || domain.contains('@') || e.chars().any(char::is_whitespace) {
        return None;
    }
    Some((local.to_string(), domain.to_string()))
}

/// Meta's e-mail normalisation: trim, lowercase.
pub fn email_meta(raw: &str) -> Option<String> {
    email_parts(raw).map(|(l, d)| format!("{l}@{d}"))
}

/// Google's e-mail normalisation: trim, lowercase; for Gmail addresses also drop the dots and any
/// `+suffix` of the local part.
pub fn email_google(raw: &str) -> Option<String> {
    let (local, domain) = email_parts(raw)?;
    if domain == "gmail.com" || domain == "googlemail.com" {
        let base = local.split('+').next().unwrap_or_default().replace('.', "");
        return (!base.is_empty()).then(|| format!("{base}@{domain}"));
    }
    Some(format!("{local}@{domain}"))
}

/// The calling code of an ISO 3166 alpha-2 country (`US` → `1`), from the feature rules' table.
pub fn calling_code(iso: &str) -> Option<&'static str> {
    if iso == "US" || iso == "CA" {
        return Some("1");
    }
    CALLING_CODES.iter().find(|(_, c)| *c == iso).map(|(code, _)| *code)
}

/// English names of the countries in the calling-code table, for a country attribute that holds
/// names rather than codes.
const COUNTRY_NAMES: &[(&str, &str)] = &[
    ("united states", "US"),
    ("united states of america", "US"),
    ("usa", "US"),
    ("canada", "CA"),
    ("russia", "RU"),
    ("egypt", "EG"),
    ("south africa", "ZA"),
    ("greece", "GR"),
    ("netherlands", "NL"),
    ("the netherlands", "NL"),
    ("belgium", "BE"),
    ("france", "FR"),
    ("spain", "ES"),
    ("hungary", "HU"),
    ("italy", "IT"),
    ("romania", "RO"),
    ("switzerland", "CH"),
    ("austria", "AT"),
    ("united kingdom", "GB"),
    ("uk", "GB"),
    ("great britain", "GB"),
    ("denmark", "DK"),
    ("sweden", "SE"),
    ("norway", "NO"),
    ("poland", "PL"),
    ("germany", "DE"),
    ("mexico", "MX"),
    ("argentina", "AR"),
    ("brazil", "BR"),
    ("australia", "AU"),
    ("new zealand", "NZ"),
    ("singapore", "SG"),
    ("japan", "JP"),
    ("south korea", "KR"),
    ("china", "CN"),
    ("turkey", "TR"),
    ("india", "IN"),
    ("portugal", "PT"),
    ("luxembourg", "LU"),
    ("ireland", "IE"),
    ("iceland", "IS"),
    ("finland", "FI"),
    ("lithuania", "LT"),
    ("latvia", "LV"),
    ("estonia", "EE"),
    ("croatia", "HR"),
    ("slovenia", "SI"),
    ("czech republic", "CZ"),
    ("czechia", "CZ"),
    ("slovakia", "SK"),
    ("hong kong", "HK"),
    ("united arab emirates", "AE"),
    ("israel", "IL"),
    ("qatar", "QA"),
];

/// An ISO alpha-2 code from a country attribute: a known code (`nl`, `NL`) or English name.
pub fn country_iso(raw: &str) -> Option<&'static str> {
    let t = raw.trim();
    let upper = t.to_ascii_uppercase();
    if let Some(iso) = ["US", "CA"].into_iter().find(|c| *c == upper) {
        return Some(iso);
    }
    if let Some((_, iso)) = CALLING_CODES.iter().find(|(_, c)| *c == upper) {
        return Some(iso);
    }
    let lower = t.to_lowercase();
    COUNTRY_NAMES.iter().find(|(n, _)| *n == lower).map(|(_, iso)| *iso)
}

/// A phone number as E.164 digits without the `+` (`16505551212`): international numbers
/// (`+…`, `00…`) as written; national numbers get the calling code of `country` (ISO alpha-2)
/// after their trunk `0` is dropped. `None` when the number is empty, national without a known
/// country, or not 8 to 15 digits long.
pub fn phone_digits(raw: &str, country: Option<&str>) -> Option<String> {
    let t = raw.trim();
    let digits: String = t.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    let full = if t.starts_with('+') {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_string()
    } else {
        let cc = calling_code(country?)?;
        if cc == "1" && digits.len() == 11 && digits.starts_with('1') {
            digits
        } else {
            format!("{cc}{}", digits.trim_start_matches('0'))
        }
    };
    let full = full.trim_start_matches('0').to_string();
    (8..=15).contains(&full.len()).then_some(full)
}

/// Meta's name normalisation: trim, lowercase, letters and digits only (UTF-8 kept).
pub fn name_meta(raw: &str) -> Option<String> {
    let n: String = raw.trim().to_lowercase().chars().filter(|c| c.is_alphanumeric()).collect();
    (!n.is_empty()).then_some(n)
}

#[cfg(test)]
mod tests {
    use leadscore_core::digest::sha256_hex;

    use super::*;

    #[test]
    fn meta_published_vectors() {
        let em = email_meta("John_Smith@gmail.com").unwrap_or_default();
        assert_eq!(sha256_hex(em.as_bytes()), "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f");
        let ph = phone_digits("(650)555-1212", Some("US")).unwrap_or_default();
        assert_eq!(ph, "16505551212");
        assert_eq!(sha256_hex(ph.as_bytes()), "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176");
        let name = name_meta("Mary").unwrap_or_default();
        assert_eq!(sha256_hex(name.as_bytes()), "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec");
    }

    #[test]
    fn google_published_vectors() {
        assert_eq!(
            email_google("cloudy.sanfrancisco+shopping@gmail.com").as_deref(),
            Some("cloudysanfrancisco@gmail.com")
        );
        assert_eq!(email_google("user.name+NYC@Example.com").as_deref(), Some("user.name+nyc@example.com"));
        assert_eq!(email_google("  A.B@GoogleMail.com ").as_deref(), Some("ab@googlemail.com"));
        // Meta keeps Gmail dots.
        assert_eq!(email_meta("A.B@gmail.com").as_deref(), Some("a.b@gmail.com"));
    }

    #[test]
    fn invalid_emails_are_not_identifiers() {
        for bad in ["", "   ", "no-at-sign", "@example.com", "a@", "a@b@c", "a b@c.com", "+x@gmail.com"] {
            assert_eq!(email_google(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn phones_become_e164_digits() {
        let cases = [
            ("+31 6 1234 5678", None, Some("31612345678")),
            ("0031 20 1234567", None, Some("31201234567")),
            ("06-12345678", Some("NL"), Some("31612345678")),
            ("06-12345678", None, None),
            ("07700 900123", Some("GB"), Some("447700900123")),
            ("+1 415-555-0100", Some("NL"), Some("14155550100")),
            ("1 415 555 0100", Some("US"), Some("14155550100")),
            ("415.555.0100", Some("CA"), Some("14155550100")),
            ("12", Some("NL"), None),
            ("n/a", Some("NL"), None),
            ("0123", Some("ZZ"), None),
        ];
        for (raw, country, want) in cases {
            assert_eq!(phone_digits(raw, country).as_deref(), want, "{raw} {country:?}");
        }
    }

    #[test]
    fn countries_from_codes_and_names() {
        assert_eq!(country_iso("Netherlands"), Some("NL"));
        assert_eq!(country_iso(" united kingdom "), Some("GB"));
        assert_eq!(country_iso("us"), Some("US"));
        assert_eq!(country_iso("de"), Some("DE"));
        assert_eq!(country_iso("Atlantis"), None);
        assert_eq!(calling_code("CH"), Some("41"));
        assert_eq!(calling_code("ZZ"), None);
    }

    #[test]
    fn names_lose_case_space_and_punctuation() {
        assert_eq!(name_meta(" Mary-Ann ").as_deref(), Some("maryann"));
        assert_eq!(name_meta("Müller").as_deref(), Some("müller"));
        assert_eq!(name_meta(" .. "), None);
    }
}
