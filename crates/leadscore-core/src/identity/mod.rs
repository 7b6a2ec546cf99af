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
//!   `fn` / `ln`: lowercase, no punctuation, UTF-8 (`Valéry` → `valéry`: composed, NFC, so that a
//!   decomposed accent hashes like a composed one); `ct`: lowercase, no punctuation, no spaces;
//!   `st`: the 2-letter ANSI code in lowercase for US states, else lowercase with no punctuation
//!   and no spaces; `zp`: lowercase, no spaces or dashes, the first 5 digits of a US ZIP code;
//!   `country`: the ISO 3166-1 alpha-2 code in lowercase.
//! - Phone numbers are read with libphonenumber's rules and metadata (the `phonenumber` crate, a
//!   Rust port of Google's library): national trunk prefixes (`0`, Russia's `8`, Hungary's `06`),
//!   Italy's leading `0` that is part of the number, `(0)` after a country code, a country code
//!   written without `+`, and extensions are handled as the platforms' own tools do.

pub mod tables;

use crate::digest::sha256_hex;
use crate::schema::identities::DIGESTS;

use tables::{CALLING_CODES, COUNTRY_NAMES, DISPOSABLE_MAIL, FREE_MAIL};
use unicode_normalization::UnicodeNormalization as _;

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

/// An ISO 3166 alpha-2 code (uppercase) from a country attribute: a code (`nl`, `NL`) of a
/// country with phone numbering metadata, or an English name from [`COUNTRY_NAMES`].
pub fn country_iso(raw: &str) -> Option<String> {
    let t = raw.trim();
    let upper = t.to_ascii_uppercase();
    if upper.len() == 2 && upper.parse::<phonenumber::country::Id>().is_ok() {
        return Some(upper);
    }
    let lower = t.to_lowercase();
    COUNTRY_NAMES.iter().find(|(n, _)| *n == lower).map(|(_, iso)| (*iso).to_string())
}

/// How many compiled expressions of libphonenumber's metadata are kept (a few hundred are used on
/// exports from a few dozen countries).
const PHONE_REGEX_CACHE: usize = 4096;

/// Sizes the `phonenumber` crate's cache of compiled expressions once. The crate keeps the few
/// hundred expressions of libphonenumber's metadata in an LRU cache of only 100, so numbers from
/// more than a few countries recompile expressions all the time: 78 µs a number instead of 6 on
/// 20k leads of the synthetic export (measured), which made a daily run that rescores 54k leads
/// spend 13 s in ingest.
fn size_phone_cache() {
    static SIZED: std::sync::Once = std::sync::Once::new();
    SIZED.call_once(|| {
        if let Ok(mut cache) = phonenumber::metadata::DATABASE.cache().lock() {
            cache.set_capacity(PHONE_REGEX_CACHE);
        }
    });
}

/// A phone number in E.164 (`+16505551212`), read with libphonenumber's rules: international
/// numbers as written (`+…`, or `00…` without a country), national ones in `country` (ISO
/// alpha-2). `None` when it cannot be read, or is not 8 to 15 digits long.
pub fn phone_e164(raw: &str, country: Option<&str>) -> Option<String> {
    let t = raw.trim();
    if !t.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    size_phone_cache();
    let region = country.and_then(|c| c.parse::<phonenumber::country::Id>().ok());
    // Without a country, `00` can only be the international prefix.
    let t = match (region, t.strip_prefix("00")) {
        (None, Some(rest)) => format!("+{rest}"),
        _ => t.to_string(),
    };
    let number = phonenumber::parse(region, t).ok()?;
    // E.164 is `+`, the country code and the national number with its leading zeros: what the
    // crate's `Mode::E164` writes, written here because its formatter first matches the
    // number against its country's display formats (compiling and caching their expressions:
    // 20 MB and a quarter of ingest's `digests` step at 300k leads), which E.164 never uses, and
    // fails on a country code without metadata.
    let e164 = format!("+{}{}", number.code().value(), number.national());
    (9..=16).contains(&e164.len()).then_some(e164)
}

/// Meta's phone normalisation: E.164 digits without the `+` (`16505551212`).
pub fn phone_digits(raw: &str, country: Option<&str>) -> Option<String> {
    phone_e164(raw, country).map(|e| e.trim_start_matches('+').to_string())
}

/// Lowercase letters and digits only (Unicode composed first); `None` when nothing is left.
fn letters_and_digits(raw: &str) -> Option<String> {
    let n: String = raw.nfc().collect::<String>().to_lowercase().chars().filter(|c| c.is_alphanumeric()).collect();
    (!n.is_empty()).then_some(n)
}

/// Meta's city normalisation (`ct`): lowercase, no punctuation, no spaces (`Menlo Park` →
/// `menlopark`).
pub fn city_meta(raw: &str) -> Option<String> {
    letters_and_digits(raw)
}

/// Meta's state normalisation (`st`): a US state's 2-letter ANSI code in lowercase (`California`
/// or `CA` → `ca`); elsewhere lowercase, no punctuation, no spaces.
pub fn state_meta(raw: &str) -> Option<String> {
    let n = letters_and_digits(raw)?;
    Some(tables::US_STATES.iter().find(|(name, _)| *name == n).map_or(n, |(_, code)| (*code).to_string()))
}

/// Meta's ZIP code normalisation (`zp`): lowercase, no spaces or dashes; a US ZIP+4 keeps its
/// first 5 digits (`94035-1234` → `94035`; `M1 1AE` → `m11ae`).
pub fn zip_meta(raw: &str) -> Option<String> {
    let n: String = raw.trim().to_lowercase().chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    if n.is_empty() {
        return None;
    }
    let digits = n.len() == 9 && n.bytes().all(|b| b.is_ascii_digit());
    Some(if digits { n[..5].to_string() } else { n })
}

/// Meta's country normalisation (`country`): the ISO 3166-1 alpha-2 code in lowercase, from a
/// code or an English name.
pub fn country_meta(raw: &str) -> Option<String> {
    country_iso(raw).map(|c| c.to_ascii_lowercase())
}

/// Meta's name normalisation: composed (NFC), lowercase, letters and digits only (UTF-8 kept).
pub fn name_meta(raw: &str) -> Option<String> {
    letters_and_digits(raw)
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
/// [`crate::schema::identities::DIGESTS`]: e-mail for Meta and for Google, phone for
/// Meta and for Google, first and last name, then country, city, state and ZIP code (Meta's
/// location keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Digests(pub [Option<String>; 10]);

/// A lead's raw identity: what [`Digests::of`] normalises and hashes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Raw<'a> {
    /// E-mail.
    pub email: Option<&'a str>,
    /// Phone.
    pub phone: Option<&'a str>,
    /// Given name.
    pub first_name: Option<&'a str>,
    /// Family name.
    pub last_name: Option<&'a str>,
    /// ISO alpha-2 country for national phone numbers.
    pub phone_country: Option<&'a str>,
    /// Country (code or English name) of the address.
    pub country: Option<&'a str>,
    /// City.
    pub city: Option<&'a str>,
    /// State or region.
    pub state: Option<&'a str>,
    /// ZIP or postal code.
    pub zip: Option<&'a str>,
}

impl Digests {
    /// Normalises and hashes a lead's personal data.
    pub fn of(raw: &Raw<'_>) -> Self {
        let hash = |v: Option<String>| v.map(|v| sha256_hex(v.as_bytes()));
        let e164 = raw.phone.and_then(|p| phone_e164(p, raw.phone_country));
        let (meta, google) = (raw.email.and_then(email_meta), raw.email.and_then(email_google));
        // Outside Gmail both normalisations agree: hash once.
        let same = meta == google;
        let email_meta = hash(meta);
        let email_google = if same { email_meta.clone() } else { hash(google) };
        Self([
            email_meta,
            email_google,
            hash(e164.as_ref().map(|e| e.trim_start_matches('+').to_string())),
            hash(e164),
            hash(raw.first_name.and_then(name_meta)),
            hash(raw.last_name.and_then(name_meta)),
            hash(raw.country.and_then(country_meta)),
            hash(raw.city.and_then(city_meta)),
            hash(raw.state.and_then(state_meta)),
            hash(raw.zip.and_then(zip_meta)),
        ])
    }

    /// The digest of one column of `identities.parquet` (one of
    /// [`crate::schema::identities::DIGESTS`]).
    pub fn get(&self, column: &str) -> Option<&str> {
        DIGESTS.iter().position(|c| *c == column).and_then(|k| self.0[k].as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::identities as id;

    fn raw<'a>(
        email: Option<&'a str>,
        phone: Option<&'a str>,
        first: Option<&'a str>,
        country: Option<&'a str>,
    ) -> Raw<'a> {
        Raw { email, phone, first_name: first, phone_country: country, ..Raw::default() }
    }

    #[test]
    fn meta_published_vectors() {
        let em = email_meta("John_Smith@gmail.com").unwrap_or_default();
        assert_eq!(sha256_hex(em.as_bytes()), "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f");
        let ph = phone_digits("(650)555-1212", Some("US")).unwrap_or_default();
        assert_eq!(ph, "16505551212");
        assert_eq!(sha256_hex(ph.as_bytes()), "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176");
        let name = name_meta("Mary").unwrap_or_default();
        assert_eq!(sha256_hex(name.as_bytes()), "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec");
        // Meta's examples of names in UTF-8.
        let hashed = |n: &str| name_meta(n).map(|n| sha256_hex(n.as_bytes()));
        assert_eq!(hashed("정").as_deref(), Some("8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14"));
        let valery = "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c";
        assert_eq!(hashed("Valéry").as_deref(), Some(valery));
        // Decomposed (`e` + combining acute) hashes as composed: accents are kept, not stripped.
        assert_eq!(hashed("Vale\u{301}ry").as_deref(), Some(valery));
        // A lead's digests and derived parts.
        let d = Digests::of(&raw(Some("John_Smith@gmail.com"), Some("(650)555-1212"), Some("Mary"), Some("US")));
        assert_eq!(d.get(id::EMAIL_SHA256), Some("62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"));
        assert_eq!(d.get(id::PHONE_SHA256), Some("e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"));
        assert_eq!(d.get(id::PHONE_SHA256_GOOGLE), Some(sha256_hex(b"+16505551212").as_str()));
        assert_eq!(d.get(id::EMAIL_SHA256_GOOGLE), Some(sha256_hex(b"john_smith@gmail.com").as_str()));
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
    fn phones_become_e164() {
        let cases = [
            // The cases a hand-written calling-code table got wrong.
            ("06 6982 1234", Some("IT"), Some("+390669821234")),
            ("+44 (0)20 7946 0958", None, Some("+442079460958")),
            ("+44 (0)20 7946 0958", Some("GB"), Some("+442079460958")),
            ("44 20 7946 0958", Some("GB"), Some("+442079460958")),
            ("020 7946 0958 ext. 3", Some("GB"), Some("+442079460958")),
            ("020 7946 0958 x3", Some("GB"), Some("+442079460958")),
            ("8 912 345 67 89", Some("RU"), Some("+79123456789")),
            ("06 30 123 4567", Some("HU"), Some("+36301234567")),
            ("+31 (0)6 1234 5678", None, Some("+31612345678")),
            // And those it got right.
            ("+31 6 1234 5678", None, Some("+31612345678")),
            ("0031 20 1234567", None, Some("+31201234567")),
            ("06-12345678", Some("NL"), Some("+31612345678")),
            ("06-12345678", None, None),
            ("07700 900123", Some("GB"), Some("+447700900123")),
            ("+1 415-555-0100", Some("NL"), Some("+14155550100")),
            ("1 415 555 0100", Some("US"), Some("+14155550100")),
            ("415.555.0100", Some("CA"), Some("+14155550100")),
            ("12", Some("NL"), None),
            ("n/a", Some("NL"), None),
            ("0123", Some("ZZ"), None),
        ];
        for (raw, country, want) in cases {
            assert_eq!(phone_e164(raw, country).as_deref(), want, "{raw} {country:?}");
            assert_eq!(phone_digits(raw, country), want.map(|w| w[1..].to_string()), "{raw} {country:?}");
        }
    }

    /// The E.164 written from the parsed number is the crate's own `Mode::E164` text, on numbers
    /// of every length from many countries (national and international, with leading zeros).
    #[test]
    fn e164_is_the_crates_own_formatting() {
        use std::fmt::Write;
        let regions = ["US", "GB", "IT", "NL", "DE", "FR", "RU", "HU", "BR", "IN", "JP", "AU", "MX", "ZA", "CI", "SM"];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut compared = 0;
        for i in 0..4000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let digits: String = format!("{state:020}").chars().take(6 + (i % 10)).collect();
            let region = regions[i % regions.len()];
            let raw = if i % 3 == 0 { format!("+{digits}") } else { format!("0{digits}") };
            let Ok(number) = phonenumber::parse(region.parse().ok(), &raw) else { continue };
            let mut theirs = String::new();
            if write!(theirs, "{}", number.format().mode(phonenumber::Mode::E164)).is_err() {
                continue;
            }
            let ours = phone_e164(&raw, Some(region));
            assert_eq!(ours, (9..=16).contains(&theirs.len()).then_some(theirs), "number {i} of region {region}");
            compared += 1;
        }
        assert!(compared > 2000, "only {compared} numbers parsed");
    }

    #[test]
    fn countries_from_codes_and_names() {
        assert_eq!(country_iso("Netherlands").as_deref(), Some("NL"));
        assert_eq!(country_iso(" united kingdom ").as_deref(), Some("GB"));
        assert_eq!(country_iso("us").as_deref(), Some("US"));
        assert_eq!(country_iso("de").as_deref(), Some("DE"));
        // Any country with numbering metadata, not only those of the name table.
        assert_eq!(country_iso("KE").as_deref(), Some("KE"));
        assert_eq!(country_iso("Atlantis"), None);
        assert_eq!(country_iso("ZZ"), None);
    }

    #[test]
    fn names_lose_case_space_and_punctuation_not_accents() {
        assert_eq!(name_meta(" Mary-Ann ").as_deref(), Some("maryann"));
        assert_eq!(name_meta("Müller").as_deref(), Some("müller"));
        assert_eq!(name_meta("Mu\u{308}ller").as_deref(), Some("müller"));
        assert_eq!(name_meta(" .. "), None);
    }

    #[test]
    fn meta_location_keys() {
        assert_eq!(city_meta("Menlo Park").as_deref(), Some("menlopark"));
        assert_eq!(city_meta("São Paulo").as_deref(), Some("sãopaulo"));
        assert_eq!(state_meta("California").as_deref(), Some("ca"));
        assert_eq!(state_meta("CA").as_deref(), Some("ca"));
        assert_eq!(state_meta("New York").as_deref(), Some("ny"));
        assert_eq!(state_meta("Noord-Holland").as_deref(), Some("noordholland"));
        assert_eq!(zip_meta("94035").as_deref(), Some("94035"));
        assert_eq!(zip_meta("94035-1234").as_deref(), Some("94035"));
        assert_eq!(zip_meta("M1 1AE").as_deref(), Some("m11ae"));
        assert_eq!(zip_meta("1012 AB").as_deref(), Some("1012ab"));
        assert_eq!(country_meta("United States").as_deref(), Some("us"));
        assert_eq!(country_meta("NL").as_deref(), Some("nl"));
        assert_eq!(zip_meta(" "), None);
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
