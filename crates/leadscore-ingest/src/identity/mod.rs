//! Personal data at the door: ingest turns e-mails, phones and names into what later stages need
//! and nothing more.
//!
//! Later stages never see a raw identifier (unless `[privacy] keep_raw_identifiers`): the
//! features use the e-mail's domain and class and the phone's country ([`Derived`], for every
//! lead); the exports send SHA-256 digests of the values normalised the way each platform
//! specifies, so that it can match them ([`Digests`], for the leads an export may send).
//!
//! Normalisation, as published (checked 2026-11):
//! - Google Ads, enhanced conversions for leads, "Normalize and hash user-provided data":
//!   <https://developers.google.com/google-ads/api/docs/conversions/upload-identifiers> —
//!   e-mail: trim, lowercase, and for `gmail.com` / `googlemail.com` remove every `.` and any
//!   `+suffix` from the local part; phone: E.164 with the leading `+`.
//! - Meta, Conversions API customer information parameters:
//!   <https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/customer-information-parameters> —
//!   `em`: trim, lowercase; `ph`: digits only, with the country code, no leading zeros or `+`;
//!   `fn` / `ln`: lowercase, no punctuation, UTF-8.

pub mod tables;

use leadscore_core::digest::sha256_hex;

use tables::{CALLING_CODES, COUNTRY_NAMES, DISPOSABLE_MAIL, FREE_MAIL};

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

/// E-mail class (`corporate`, `free`, `disposable`, `invalid`, `missing`) and the lowercased
/// domain of a well-formed address.
pub fn email_class(email: Option<&str>) -> (&'static str, Option<String>) {
    let Some(e) = email.map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty()) else {
        return ("missing", None);
    };
    let mut parts = e.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return ("invalid", None);
    };
    let labels: Vec<&str> = domain.split('.').collect();
    let valid_label = |l: &&str| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-');
    if local.is_empty() || labels.len() < 2 || !labels.iter().all(valid_label) {
        return ("invalid", None);
    }
    let class = if DISPOSABLE_MAIL.contains(&domain) {
        "disposable"
    } else if FREE_MAIL.contains(&domain) {
        "free"
    } else {
        "corporate"
    };
    (class, Some(domain.to_string()))
}

/// Country of a phone number from its international prefix (`+31…`, `0031…`): an ISO code,
/// `NANP` for +1, `other` for an unknown code, `national` without a prefix, `missing` if empty.
pub fn phone_country(phone: Option<&str>) -> &'static str {
    let Some(p) = phone.map(str::trim).filter(|p| !p.is_empty()) else { return "missing" };
    let digits: String = p.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return "missing";
    }
    let international = if p.starts_with('+') { Some(digits.as_str()) } else { digits.strip_prefix("00") };
    let Some(num) = international else { return "national" };
    CALLING_CODES
        .iter()
        .filter(|(code, _)| num.starts_with(code))
        .max_by_key(|(code, _)| code.len())
        .map_or("other", |(_, c)| c)
}

/// The calling code of an ISO 3166 alpha-2 country (`US` → `1`).
pub fn calling_code(iso: &str) -> Option<&'static str> {
    if iso == "US" || iso == "CA" {
        return Some("1");
    }
    CALLING_CODES.iter().find(|(_, c)| *c == iso).map(|(code, _)| *code)
}

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

/// What the features see of a lead's identity: the e-mail's class and domain and the phone's
/// country. No field holds a raw value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Derived {
    /// Lowercased domain of a well-formed e-mail.
    pub email_domain: Option<String>,
    /// `corporate`, `free`, `disposable`, `invalid` or `missing`.
    pub email_class: &'static str,
    /// Country of the phone's international prefix (see [`phone_country`]).
    pub phone_country: &'static str,
}

impl Derived {
    /// The derived parts of a lead's e-mail and phone.
    pub fn of(email: Option<&str>, phone: Option<&str>) -> Self {
        let (email_class, email_domain) = email_class(email);
        Self { email_domain, email_class, phone_country: phone_country(phone) }
    }
}

/// The SHA-256 digests (hex) the exports send for one lead, in the order of
/// [`leadscore_core::schema::identities::DIGESTS`]: e-mail for Meta and for Google, phone for
/// Meta and for Google, first and last name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Digests(pub [Option<String>; 6]);

impl Digests {
    /// Normalises and hashes a lead's e-mail, phone and names; `country` (ISO alpha-2) places
    /// national phone numbers.
    pub fn of(
        email: Option<&str>,
        phone: Option<&str>,
        first_name: Option<&str>,
        last_name: Option<&str>,
        country: Option<&str>,
    ) -> Self {
        let hash = |v: Option<String>| v.map(|v| sha256_hex(v.as_bytes()));
        let digits = phone.and_then(|p| phone_digits(p, country));
        let (meta, google) = (email.and_then(email_meta), email.and_then(email_google));
        // Outside Gmail both normalisations agree: hash once.
        let same = meta == google;
        let email_meta = hash(meta);
        let email_google = if same { email_meta.clone() } else { hash(google) };
        Self([
            email_meta,
            email_google,
            hash(digits.clone()),
            hash(digits.map(|d| format!("+{d}"))),
            hash(first_name.and_then(name_meta)),
            hash(last_name.and_then(name_meta)),
        ])
    }

    /// The digest of the e-mail for Meta.
    pub fn email_meta(&self) -> Option<&str> {
        self.0[0].as_deref()
    }

    /// The digest of the e-mail for Google.
    pub fn email_google(&self) -> Option<&str> {
        self.0[1].as_deref()
    }

    /// The digest of the phone for Meta.
    pub fn phone_meta(&self) -> Option<&str> {
        self.0[2].as_deref()
    }

    /// The digest of the phone for Google.
    pub fn phone_google(&self) -> Option<&str> {
        self.0[3].as_deref()
    }
}

#[cfg(test)]
mod tests {
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
        // A lead's digests and derived parts.
        let d = Digests::of(Some("John_Smith@gmail.com"), Some("(650)555-1212"), Some("Mary"), None, Some("US"));
        assert_eq!(d.email_meta(), Some("62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"));
        assert_eq!(d.phone_meta(), Some("e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"));
        assert_eq!(d.phone_google(), Some(sha256_hex(b"+16505551212").as_str()));
        assert_eq!(d.email_google(), Some(sha256_hex(b"john_smith@gmail.com").as_str()));
        let p = Derived::of(Some("John_Smith@gmail.com"), Some("(650)555-1212"));
        assert_eq!(
            (p.email_class, p.email_domain.as_deref(), p.phone_country),
            ("free", Some("gmail.com"), "national")
        );
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

    #[test]
    fn email_classes() {
        let cases = [
            (Some("John.Doe@acme.io"), "corporate", Some("acme.io")),
            (Some(" jane@GMAIL.com "), "free", Some("gmail.com")),
            (Some("x@mailinator.com"), "disposable", Some("mailinator.com")),
            (Some("n/a"), "invalid", None),
            (Some("x@"), "invalid", None),
            (Some("a@b@c.com"), "invalid", None),
            (Some("a@localhost"), "invalid", None),
            (Some("a@shop.co.uk"), "corporate", Some("shop.co.uk")),
            (None, "missing", None),
            (Some("  "), "missing", None),
        ];
        for (e, c, d) in cases {
            assert_eq!(email_class(e), (c, d.map(str::to_string)), "{e:?}");
        }
    }

    #[test]
    fn phone_countries() {
        let cases = [
            ("+31 6 1234 5678", "NL"),
            ("0031 20 1234567", "NL"),
            ("+1 415-555-0123", "NANP"),
            ("+353 1 234 5678", "IE"),
            ("+999 12345", "other"),
            ("+351 912 345 678", "PT"),
            ("06-12345678", "national"),
            ("(415) 555-0123", "national"),
            ("", "missing"),
            ("n/a", "missing"),
        ];
        for (p, c) in cases {
            assert_eq!(phone_country(Some(p)), c, "{p}");
        }
    }
}
