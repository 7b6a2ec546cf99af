//! The simulation: leads arrive over the period, each from a company, with a person, a channel and
//! form answers; outcomes (deals, events) are drawn from the truth model.
//!
//! Leads are produced in creation order and handed to a sink one at a time, so memory stays flat
//! however many leads are generated. Deals and events are collected and returned sorted.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, LogNormal, Poisson, StandardNormal};

use crate::model::{self, Drivers, EmailClass};
use crate::world::{self, COUNTRIES, Channel, Department, INDUSTRIES, Seniority};

/// Microseconds per day.
pub const DAY: i64 = 86_400_000_000;

/// A company (the `user_id` leads, deals and events share).
#[derive(Debug, Clone)]
pub struct Company {
    /// 0-based sequence number.
    pub seq: u64,
    /// Display name.
    pub name: String,
    /// Web domain (corporate e-mail addresses use it).
    pub domain: String,
    /// Index into [`INDUSTRIES`].
    pub industry: usize,
    /// True headcount.
    pub employees: u32,
    /// Index into [`COUNTRIES`].
    pub country: usize,
    /// When the company first won a new-business deal (it is a customer from then on).
    pub won_at: Option<i64>,
}

/// What the truth model says about a lead.
#[derive(Debug, Clone, Copy)]
pub struct Truth {
    /// P(new-business deal won within the window).
    pub p_window: f64,
    /// p_window × E[deal amount in EUR].
    pub expected_value: f64,
    /// Whether the simulation made it convert within the window (observed or not).
    pub converted_in_window: bool,
    /// Whether the company was already a customer when the lead was created.
    pub existing_customer: bool,
}

/// One generated lead.
#[derive(Debug, Clone)]
pub struct Lead {
    /// 0-based sequence in creation order.
    pub seq: u64,
    /// Creation instant (UTC microseconds).
    pub created: i64,
    /// Last modification instant.
    pub updated: i64,
    /// Index of the company.
    pub company: usize,
    /// Given name.
    pub first_name: &'static str,
    /// Family name.
    pub last_name: &'static str,
    /// E-mail as entered.
    pub email: Option<String>,
    /// Phone as entered.
    pub phone: Option<String>,
    /// Job title as entered.
    pub title: Option<String>,
    /// Acquisition channel.
    pub channel: Channel,
    /// UTM source, medium, campaign.
    pub utm: Option<(&'static str, &'static str, String)>,
    /// Google click id.
    pub gclid: Option<String>,
    /// Meta click id.
    pub fbclid: Option<String>,
    /// Meta lead-ads id.
    pub meta_lead_id: Option<String>,
    /// GA client id.
    pub client_id: Option<String>,
    /// Budget answer.
    pub budget: Option<&'static str>,
    /// Timeline answer.
    pub timeline: Option<&'static str>,
    /// Product interest answer.
    pub product: Option<&'static str>,
    /// Headcount as entered in the form.
    pub employees_reported: Option<u32>,
    /// The planted leak: filled in by sales only after a deal is won.
    pub customer_tier: Option<&'static str>,
    /// Whether any opportunity exists for this lead (Salesforce converts the lead then).
    pub has_opportunity: bool,
    /// Salesforce lead status (also filled in later by sales).
    pub status: &'static str,
    /// Ground truth.
    pub truth: Truth,
}

/// Deal stages in the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DealStage {
    /// Closed won.
    Won,
    /// Closed lost.
    Lost,
    /// Still open at export time, at pipeline step 0..=4.
    Open(u8),
}

/// One generated deal.
#[derive(Debug, Clone)]
pub struct Deal {
    /// Company.
    pub company: usize,
    /// Lead it came from.
    pub lead_seq: u64,
    /// Creation instant.
    pub created: i64,
    /// Close instant (won/lost only).
    pub closed: Option<i64>,
    /// Expected close instant (what Salesforce shows on open opportunities).
    pub expected_close: i64,
    /// Stage.
    pub stage: DealStage,
    /// New business (true) or existing business: renewals and upsells, which must not count.
    pub new_business: bool,
    /// Amount in `currency`.
    pub amount: f64,
    /// ISO code.
    pub currency: &'static str,
    /// Last modification instant.
    pub updated: i64,
}

/// One generated behavioural event.
#[derive(Debug, Clone)]
pub struct Event {
    /// Company.
    pub company: usize,
    /// Instant.
    pub at: i64,
    /// Event name.
    pub name: &'static str,
    /// Value in EUR, for purchases.
    pub value: Option<f64>,
}

/// Settings of one simulation.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// Number of leads.
    pub leads: u64,
    /// First day (inclusive) of the period, local.
    pub start: NaiveDate,
    /// Day after the last (exclusive), local; the export is taken at its midnight.
    pub end: NaiveDate,
    /// Seed.
    pub seed: u64,
    /// Conversion window for the truth file.
    pub window_days: u32,
    /// Business time zone.
    pub tz: Tz,
    /// Mean number of extra noise `Page View` events per lead (0: none), from a random stream of
    /// their own so that everything else stays byte-identical.
    pub extra_events: f64,
}

/// Everything but the leads (which went to the sink).
#[derive(Debug, Default)]
pub struct Generated {
    /// Companies by index.
    pub companies: Vec<Company>,
    /// Deals sorted by creation.
    pub deals: Vec<Deal>,
    /// Events sorted by time.
    pub events: Vec<Event>,
}

fn pick<T: Copy>(rng: &mut impl Rng, items: &[T]) -> T {
    items[rng.gen_range(0..items.len())]
}

fn pick_weighted(rng: &mut impl Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.gen_range(0.0..1.0) * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

fn local_micros(tz: Tz, date: NaiveDate, secs_of_day: u32) -> i64 {
    let naive = date.and_time(NaiveTime::MIN) + chrono::Duration::seconds(i64::from(secs_of_day));
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|d| d.timestamp_micros())
        // Inside a DST gap: move one hour on.
        .unwrap_or_else(|| (naive + chrono::Duration::hours(1)).and_utc().timestamp_micros() - 3_600_000_000)
}

/// Draws creation instants: more leads on weekdays and in office hours, growing over the period.
fn creation_times(rng: &mut impl Rng, sim: &Simulation) -> Vec<i64> {
    let days: Vec<NaiveDate> = sim.start.iter_days().take_while(|d| *d < sim.end).collect();
    let n_days = days.len().max(1) as f64;
    let weights: Vec<f64> = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let trend = 0.85 + 0.3 * i as f64 / n_days;
            let weekday = match d.weekday().num_days_from_monday() {
                5 => 0.35,
                6 => 0.3,
                _ => 1.0,
            };
            trend * weekday
        })
        .collect();
    let mut cum = Vec::with_capacity(weights.len());
    let mut acc = 0.0;
    for w in &weights {
        acc += w;
        cum.push(acc);
    }
    const HOURS: [f64; 24] = [
        0.2, 0.1, 0.1, 0.1, 0.15, 0.3, 0.6, 1.2, 2.2, 3.0, 3.2, 3.0, 2.4, 2.8, 3.0, 2.8, 2.4, 1.8, 1.2, 1.0, 0.9, 0.8,
        0.6, 0.4,
    ];
    let mut out: Vec<i64> = (0..sim.leads)
        .map(|_| {
            let x = rng.gen_range(0.0..1.0) * acc;
            let di = cum.partition_point(|c| *c <= x).min(days.len() - 1);
            let hour = pick_weighted(rng, &HOURS) as u32;
            let secs = hour * 3600 + rng.gen_range(0..3600);
            local_micros(sim.tz, days[di], secs)
        })
        .collect();
    out.sort_unstable();
    out
}

fn new_company(rng: &mut impl Rng, seq: u64) -> Company {
    let country = pick_weighted(rng, &COUNTRIES.iter().map(|c| c.weight).collect::<Vec<_>>());
    let industry = pick_weighted(rng, &INDUSTRIES.iter().map(|i| i.weight).collect::<Vec<_>>());
    // Headcount: micro 40%, small 30%, mid 18%, large 12%.
    let (lo, hi): (f64, f64) = match pick_weighted(rng, &[0.40, 0.30, 0.18, 0.12]) {
        0 => (1.0, 10.0),
        1 => (11.0, 50.0),
        2 => (51.0, 500.0),
        _ => (501.0, 20_000.0),
    };
    let employees = (lo.ln() + rng.gen_range(0.0..1.0) * (hi.ln() - lo.ln())).exp().round() as u32;
    let a = pick(rng, world::NAME_PARTS);
    let b = pick(rng, world::NAME_ENDINGS);
    let stem = format!("{a}{b}");
    let mut name = stem.clone();
    if let Some(first) = name.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    let code = COUNTRIES[country].code;
    let tld = match code {
        "GB" => "co.uk",
        "US" | "CA" => "com",
        c => {
            if rng.gen_bool(0.5) {
                "com"
            } else {
                match c {
                    "NL" => "nl",
                    "DE" => "de",
                    "BE" => "be",
                    "FR" => "fr",
                    "ES" => "es",
                    "IT" => "it",
                    "SE" => "se",
                    "PL" => "pl",
                    "CH" => "ch",
                    _ => "ie",
                }
            }
        }
    };
    let domain = format!("{stem}{seq}.{tld}");
    let name = format!("{name} {}", world::legal_suffix(code));
    Company { seq, name, domain, industry, employees, country, won_at: None }
}

fn seniority_for(rng: &mut impl Rng, employees: u32) -> Seniority {
    // Interpolate between a small-company and a large-company mix.
    let t = (f64::from(employees.max(1)).log10() / 4.0).clamp(0.0, 1.0);
    let small = [0.35, 0.02, 0.08, 0.20, 0.25, 0.03, 0.07];
    let large = [0.04, 0.06, 0.15, 0.30, 0.35, 0.04, 0.06];
    let w: Vec<f64> = small.iter().zip(large).map(|(s, l)| s + (l - s) * t).collect();
    [
        Seniority::CLevel,
        Seniority::Vp,
        Seniority::Director,
        Seniority::Manager,
        Seniority::Individual,
        Seniority::Student,
        Seniority::Unknown,
    ][pick_weighted(rng, &w)]
}

fn department_for(rng: &mut impl Rng) -> Department {
    [
        Department::Marketing,
        Department::Sales,
        Department::Engineering,
        Department::Finance,
        Department::Hr,
        Department::Operations,
    ][pick_weighted(rng, &[0.36, 0.22, 0.16, 0.08, 0.06, 0.12])]
}

/// A chief's title (which sets the department: a CMO is in marketing), sometimes in the local
/// language.
fn c_level_title(rng: &mut impl Rng, dept: &mut Department, country: &str) -> String {
    let options: &[(&str, Department)] = &[
        ("CEO", Department::General),
        ("Founder", Department::General),
        ("Co-Founder & CEO", Department::General),
        ("Owner", Department::General),
        ("Managing Director", Department::General),
        ("Chief Marketing Officer", Department::Marketing),
        ("CMO", Department::Marketing),
        ("CFO", Department::Finance),
        ("Chief Technology Officer", Department::Engineering),
        ("COO", Department::Operations),
        ("Chief Revenue Officer", Department::Sales),
    ];
    let (t, dp) = pick(rng, options);
    *dept = dp;
    let local = match (country, dp) {
        ("DE" | "CH", Department::General) if rng.gen_bool(0.3) => Some("Geschäftsführer"),
        ("NL" | "BE", Department::General) if rng.gen_bool(0.3) => Some("Eigenaar"),
        ("FR", Department::General) if rng.gen_bool(0.3) => Some("Directeur Général"),
        _ => None,
    };
    local.unwrap_or(t).to_string()
}

/// An individual contributor's title in `dept`.
fn individual_title(rng: &mut impl Rng, dept: Department) -> String {
    let options: &[&str] = match dept {
        Department::Marketing => &[
            "Marketing Specialist",
            "Content Marketer",
            "SEO Specialist",
            "Marketing Coordinator",
            "Performance Marketeer",
        ],
        Department::Sales => {
            &["Account Executive", "Sales Representative", "SDR", "Business Developer", "Account Manager"]
        }
        Department::Engineering => {
            &["Software Engineer", "Developer", "Data Analyst", "Full Stack Developer", "Data Scientist"]
        }
        Department::Finance => &["Accountant", "Financial Analyst", "Bookkeeper"],
        Department::Hr => &["Recruiter", "HR Advisor", "HR Business Partner"],
        Department::Operations | Department::General => {
            &["Operations Specialist", "Customer Success Specialist", "Consultant", "Assistant"]
        }
    };
    let t = pick(rng, options).to_string();
    if rng.gen_bool(0.1) { format!("Sr. {t}") } else { t }
}

/// A free-text job title, with the variation real forms show.
fn job_title(rng: &mut impl Rng, s: Seniority, dept: &mut Department, country: &str) -> Option<String> {
    let d = pick(rng, world::department_words(*dept));
    let title = match s {
        Seniority::CLevel => c_level_title(rng, dept, country),
        Seniority::Vp => match rng.gen_range(0..4) {
            0 => format!("VP {d}"),
            1 => format!("Vice President of {d}"),
            2 => format!("SVP {d}"),
            _ => format!("VP, {d}"),
        },
        Seniority::Director => match (rng.gen_range(0..5), country) {
            (0, _) => format!("Director of {d}"),
            (1, _) => format!("{d} Director"),
            (2, "NL" | "BE") => format!("Hoofd {d}"),
            (2, "DE" | "CH") => format!("Leiter {d}"),
            _ => format!("Head of {d}"),
        },
        Seniority::Manager => match rng.gen_range(0..5) {
            0 => format!("{d} Manager"),
            1 => format!("Senior {d} Manager"),
            2 => format!("Team Lead {d}"),
            3 => format!("{d} Lead"),
            _ => format!("Manager, {d}"),
        },
        Seniority::Individual => individual_title(rng, *dept),
        Seniority::Student => {
            pick(rng, &["Student", "Intern", "Marketing Intern", "PhD Candidate", "Working Student", "Stagiair"])
                .to_string()
        }
        Seniority::Unknown => {
            return match rng.gen_range(0..10) {
                0 => Some("-".into()),
                1 => Some("n/a".into()),
                _ => None,
            };
        }
    };
    Some(match rng.gen_range(0..20) {
        0..=2 => title.to_lowercase(),
        3 => title.to_uppercase(),
        4 => format!(" {title} "),
        _ => title,
    })
}

fn ascii_fold(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'ä' | 'á' | 'à' => Some('a'),
            'ö' | 'ó' => Some('o'),
            'ü' | 'ú' => Some('u'),
            'é' | 'è' => Some('e'),
            'í' => Some('i'),
            'ś' => Some('s'),
            'ß' => Some('s'),
            '\'' | ' ' => None,
            c => Some(c.to_ascii_lowercase()),
        })
        .collect()
}

fn email_for(rng: &mut impl Rng, class: EmailClass, first: &str, last: &str, domain: &str) -> Option<String> {
    let f = ascii_fold(first);
    let l = ascii_fold(last);
    match class {
        EmailClass::Missing => None,
        EmailClass::Invalid => Some(pick(rng, &["n/a", "test", "x@", "none@none", "asdf"]).to_string()),
        EmailClass::Disposable => Some(format!("{f}{}@{}", rng.gen_range(1..999), pick(rng, world::DISPOSABLE_MAIL))),
        EmailClass::Free => {
            let host = pick(rng, world::FREE_MAIL);
            let local = match rng.gen_range(0..5) {
                0 => format!("{f}.{l}"),
                1 => format!("{f}{l}{}", rng.gen_range(1..99)),
                2 => format!("{f}.{l}+crm"),
                3 => format!("{}{l}", &f[..1.min(f.len())]),
                _ => format!("{f}_{l}"),
            };
            let local = if rng.gen_bool(0.1) { local.to_uppercase() } else { local };
            Some(format!("{local}@{host}"))
        }
        EmailClass::Corporate => {
            let local = match rng.gen_range(0..4) {
                0 | 1 => format!("{f}.{l}"),
                2 => format!("{}.{l}", &f[..1.min(f.len())]),
                _ => f,
            };
            let e = format!("{local}@{domain}");
            Some(if rng.gen_bool(0.05) { format!(" {e} ") } else { e })
        }
    }
}

fn phone_for(rng: &mut impl Rng, country: &str, calling: &str) -> String {
    let d = |rng: &mut dyn rand::RngCore, n: usize| -> String {
        (0..n).map(|_| char::from(b'0' + (rng.next_u32() % 10) as u8)).collect()
    };
    match (country, rng.gen_range(0..3)) {
        ("NL", 0) => format!("+31 6 {} {}", d(rng, 4), d(rng, 4)),
        ("NL", 1) => format!("06-{}", d(rng, 8)),
        ("NL", _) => format!("0031 20 {}", d(rng, 7)),
        ("DE" | "CH", 0) => format!("+{calling} 151 {}", d(rng, 8)),
        ("DE" | "CH", _) => format!("0{} {}", d(rng, 3), d(rng, 7)),
        ("US" | "CA", 0) => format!("({}) 555-{}", 200 + rng.gen_range(0..700), d(rng, 4)),
        ("US" | "CA", 1) => format!("+1 {}-555-{}", 200 + rng.gen_range(0..700), d(rng, 4)),
        ("US" | "CA", _) => format!("{}.555.{}", 200 + rng.gen_range(0..700), d(rng, 4)),
        ("GB" | "IE", 0) => format!("+{calling} 7700 {}", d(rng, 6)),
        ("GB" | "IE", _) => format!("07700 {}", d(rng, 6)),
        (_, 0) => format!("+{calling} {}", d(rng, 9)),
        (_, _) => format!("+{calling}{}", d(rng, 9)),
    }
}

fn token(rng: &mut impl Rng, prefix: &str, n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::with_capacity(prefix.len() + n);
    s.push_str(prefix);
    for _ in 0..n {
        s.push(char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]));
    }
    s
}

fn utm_for(rng: &mut impl Rng, channel: Channel, country: &str) -> Option<(&'static str, &'static str, String)> {
    let cc = country.to_lowercase();
    match channel {
        Channel::PaidSearch => {
            let src = if rng.gen_bool(0.88) { "google" } else { "bing" };
            let camp = pick(rng, &["brand", "generic_crm", "competitor", "lead_scoring"]);
            Some((src, "cpc", format!("{camp}_{cc}")))
        }
        Channel::PaidSocial => {
            let src = pick(rng, &["facebook", "instagram", "linkedin"]);
            let camp = pick(rng, &["leadgen", "retargeting", "webinar_promo", "lookalike"]);
            Some((src, "paid_social", format!("{camp}_{cc}")))
        }
        Channel::Email => Some((
            "newsletter",
            "email",
            pick(rng, &["monthly_update", "nurture_series", "product_launch"]).to_string(),
        )),
        Channel::Social if rng.gen_bool(0.5) => {
            Some((pick(rng, &["linkedin", "twitter"]), "social", "organic_post".to_string()))
        }
        Channel::Referral if rng.gen_bool(0.4) => {
            Some(("partner", "referral", pick(rng, &["partner_portal", "customer_referral"]).to_string()))
        }
        _ => None,
    }
}

/// Seed offset of the noise-event stream.
const NOISE_STREAM: u64 = 0x6e6f_6973_6500_0001;

/// Who a lead is: name, role, e-mail and phone.
struct Person {
    first_name: &'static str,
    last_name: &'static str,
    seniority: Seniority,
    department: Department,
    title: Option<String>,
    email_class: EmailClass,
    email: Option<String>,
    phone: Option<String>,
}

fn person(rng: &mut ChaCha8Rng, country: &world::Country, employees: u32, domain: &str) -> Person {
    let first_name = pick(rng, world::first_names(country.names));
    let last_name = pick(rng, world::last_names(country.names));
    let seniority = seniority_for(rng, employees);
    let mut department = department_for(rng);
    let title = job_title(rng, seniority, &mut department, country.code);
    let small = employees < 10;
    let p_free = 0.12 + if small { 0.35 } else { 0.0 } + if seniority == Seniority::Student { 0.45 } else { 0.0 };
    let email_class = match pick_weighted(rng, &[1.0 - p_free - 0.07, p_free, 0.02, 0.02, 0.03]) {
        0 => EmailClass::Corporate,
        1 => EmailClass::Free,
        2 => EmailClass::Disposable,
        3 => EmailClass::Invalid,
        _ => EmailClass::Missing,
    };
    let email = email_for(rng, email_class, first_name, last_name, domain);
    let p_phone = if matches!(seniority, Seniority::CLevel | Seniority::Vp | Seniority::Director) { 0.8 } else { 0.65 };
    let phone = rng.gen_bool(p_phone).then(|| phone_for(rng, country.code, country.calling));
    Person { first_name, last_name, seniority, department, title, email_class, email, phone }
}

/// How a lead arrived: its channel, UTM tags and the click and client ids that come with them.
struct Arrival {
    channel: Channel,
    utm: Option<(&'static str, &'static str, String)>,
    gclid: Option<String>,
    fbclid: Option<String>,
    meta_lead_id: Option<String>,
    client_id: Option<String>,
}

/// `pos` is the lead's position in the period (0 to 1), `created` its creation instant.
fn arrival(rng: &mut ChaCha8Rng, pos: f64, country_code: &str, created: i64) -> Arrival {
    // Paid social's share grows over the period (while its quality drifts down).
    let weights: Vec<f64> =
        Channel::ALL.iter().map(|(c, w)| if *c == Channel::PaidSocial { w + 0.10 * pos } else { *w }).collect();
    let channel = Channel::ALL[pick_weighted(rng, &weights)].0;
    let utm = utm_for(rng, channel, country_code);
    let lead_ad = channel == Channel::PaidSocial && rng.gen_bool(0.4);
    let gclid = (channel == Channel::PaidSearch && utm.as_ref().is_some_and(|u| u.0 == "google") && rng.gen_bool(0.95))
        .then(|| token(rng, "Cj0KCQiA", 28));
    let fbclid = (channel == Channel::PaidSocial
        && !lead_ad
        && utm.as_ref().is_some_and(|u| u.0 != "linkedin")
        && rng.gen_bool(0.9))
    .then(|| token(rng, "IwAR", 36));
    let meta_lead_id =
        lead_ad.then(|| format!("{}", 100_000_000_000_000u64 + rng.gen_range(0..900_000_000_000_000u64)));
    let client_id = (!lead_ad && rng.gen_bool(0.85)).then(|| {
        format!(
            "{}.{}",
            rng.gen_range(100_000_000u64..2_147_483_647),
            created / 1_000_000 - rng.gen_range(0..86_400 * 60)
        )
    });
    Arrival { channel, utm, gclid, fbclid, meta_lead_id, client_id }
}

/// What a lead does on the website, before its creation (driven by its intent) and after it.
struct Behaviour {
    company: usize,
    created: i64,
    intent: f64,
    channel: Channel,
    converts: bool,
    lag_days: f64,
    close: i64,
}

impl Behaviour {
    /// Web events before the lead: more, and more pricing views, with more intent.
    fn before(&self, rng: &mut ChaCha8Rng, events: &mut Vec<Event>) {
        let (company, created, intent) = (self.company, self.created, self.intent);
        let lambda =
            (0.3 + 0.8 * intent + if matches!(self.channel, Channel::Organic | Channel::Direct) { 0.2 } else { 0.0 })
                .exp()
                .min(12.0);
        let n_pre = Poisson::new(lambda).map(|p| p.sample(rng) as u32).unwrap_or(0).min(15);
        let p_pricing = 1.0 / (1.0 + (-1.5 * (intent - 0.3)).exp());
        for _ in 0..n_pre {
            // Exponential gap with a mean of 4 days (inverse CDF), capped at 60 days.
            let gap_days: f64 = -4.0 * (1.0 - rng.gen_range(0.0..1.0_f64)).ln();
            let before = (gap_days.min(60.0) * DAY as f64) as i64 + 60_000_000;
            let name = if rng.gen_bool(p_pricing * 0.6) {
                "Pricing Page View"
            } else {
                ["Page View", "Page View", "Page View", "Whitepaper Download", "Webinar Registration", "Email Click"]
                    [rng.gen_range(0..6)]
            };
            events.push(Event { company, at: created - before, name, value: None });
        }
    }

    /// Events after creation: a demo is booked mostly by leads that will convert (a trap for any
    /// feature that looks past the creation time), trials, and the purchase of a subscriber.
    fn after(&self, rng: &mut ChaCha8Rng, events: &mut Vec<Event>, subscribes: bool) {
        let (company, created, converts) = (self.company, self.created, self.converts);
        let demo_p = if converts { 0.75 } else { 0.12 };
        if rng.gen_bool(demo_p) {
            let max_days = if converts { (self.lag_days * 0.5).clamp(0.3, 14.0) } else { 20.0 };
            let at = created + (rng.gen_range(0.2..max_days.max(0.25)) * DAY as f64) as i64;
            events.push(Event { company, at, name: "Demo Booked", value: None });
        }
        if rng.gen_bool(0.3) {
            events.push(Event {
                company,
                at: created + (rng.gen_range(0.0..3.0) * DAY as f64) as i64,
                name: "Trial Started",
                value: None,
            });
        }
        if subscribes {
            let value = (rng.gen_range(290.0..990.0_f64)).round();
            events.push(Event { company, at: self.close, name: "Paid Subscription", value: Some(value) });
        }
    }
}

/// A lead's form answers: budget and timeline codes (0 = not answered), driven by its intent
/// and size, and the product it asked about.
struct Answers {
    budget: u8,
    timeline: u8,
    product_code: u8,
    product: Option<&'static str>,
}

fn answers(rng: &mut ChaCha8Rng, intent: f64, employees: u32) -> Answers {
    let size_score =
        0.5 * intent + 0.45 * f64::from(employees.max(1)).log10() + 0.5 * rng.sample::<f64, _>(StandardNormal);
    let budget: u8 = if rng.gen_bool(0.7) {
        match size_score {
            s if s < 0.3 => 1,
            s if s < 1.0 => 2,
            s if s < 1.6 => 3,
            _ => 4,
        }
    } else {
        0
    };
    let timeline_score = intent + 0.8 * rng.sample::<f64, _>(StandardNormal);
    let timeline: u8 = if rng.gen_bool(0.75) {
        match timeline_score {
            s if s > 1.0 => 1,
            s if s > 0.0 => 2,
            s if s > -0.8 => 3,
            _ => 4,
        }
    } else {
        0
    };
    let product_code: u8 = {
        let s = f64::from(employees.max(1)).log10() + 0.6 * rng.sample::<f64, _>(StandardNormal);
        if s < 1.2 {
            0
        } else if s < 2.4 {
            1
        } else {
            2
        }
    };
    let product = rng.gen_bool(0.8).then_some(["Starter", "Professional", "Enterprise"][usize::from(product_code)]);
    Answers { budget, timeline, product_code, product }
}

/// What a lead's deals are made of.
struct LeadDeals {
    company: usize,
    seq: u64,
    created: i64,
    deal_created: i64,
    close: i64,
    export_at: i64,
    amount_eur: f64,
    rate: f64,
    currency: &'static str,
}

/// Whether the lead got an opportunity, its last touch, and the customer tier it earned.
type DealOutcome = (bool, i64, Option<&'static str>);

impl LeadDeals {
    /// A converting lead: its new-business deal (won, or still open at the export) and, a year
    /// after a win, a renewal.
    fn new_business(&self, rng: &mut ChaCha8Rng, companies: &mut [Company], deals: &mut Vec<Deal>) -> DealOutcome {
        let (company, close, export_at, amount_eur, rate) =
            (self.company, self.close, self.export_at, self.amount_eur, self.rate);
        if self.deal_created >= export_at {
            return (false, self.created, None);
        }
        let won = close < export_at;
        deals.push(Deal {
            company,
            lead_seq: self.seq,
            created: self.deal_created,
            closed: won.then_some(close),
            expected_close: close + (rng.gen_range(-10.0..10.0) * DAY as f64) as i64,
            stage: if won { DealStage::Won } else { DealStage::Open(rng.gen_range(3..5)) },
            new_business: true,
            amount: amount_eur / rate,
            currency: self.currency,
            updated: if won { close } else { self.deal_created },
        });
        if !won {
            return (true, self.created, None);
        }
        let c = &mut companies[company];
        c.won_at = Some(c.won_at.map_or(close, |w| w.min(close)));
        let tier = if amount_eur >= 20_000.0 {
            "Gold"
        } else if amount_eur >= 7_000.0 {
            "Silver"
        } else {
            "Bronze"
        };
        let renewal = close + 365 * DAY;
        if renewal < export_at {
            deals.push(Deal {
                company,
                lead_seq: self.seq,
                created: renewal - 30 * DAY,
                closed: Some(renewal),
                expected_close: renewal,
                stage: DealStage::Won,
                new_business: false,
                amount: amount_eur * 1.05 / rate,
                currency: self.currency,
                updated: renewal,
            });
        }
        (true, self.created.max(close), Some(tier))
    }

    /// A lead of an existing customer: sometimes an upsell, which is not new business.
    fn existing_business(&self, rng: &mut ChaCha8Rng, deals: &mut Vec<Deal>) -> DealOutcome {
        if !rng.gen_bool(0.3) {
            return (false, self.created, None);
        }
        let at = self.created + (rng.gen_range(5.0..40.0) * DAY as f64) as i64;
        if at >= self.export_at {
            return (false, self.created, None);
        }
        deals.push(Deal {
            company: self.company,
            lead_seq: self.seq,
            created: self.created + DAY,
            closed: Some(at),
            expected_close: at,
            stage: DealStage::Won,
            new_business: false,
            amount: self.amount_eur * 0.4 / self.rate,
            currency: self.currency,
            updated: at,
        });
        (true, self.created, None)
    }

    /// A lead that does not convert but gets an opportunity: lost, or still open.
    fn lost_or_open(&self, rng: &mut ChaCha8Rng, deals: &mut Vec<Deal>) -> DealOutcome {
        let dc = self.created + (rng.gen_range(2.0..30.0) * DAY as f64) as i64;
        if dc >= self.export_at {
            return (false, self.created, None);
        }
        let lost_at = dc + (rng.gen_range(7.0..75.0) * DAY as f64) as i64;
        let lost = rng.gen_bool(0.75) && lost_at < self.export_at;
        let last_touch = if lost { self.created.max(lost_at) } else { self.created };
        deals.push(Deal {
            company: self.company,
            lead_seq: self.seq,
            created: dc,
            closed: lost.then_some(lost_at),
            expected_close: dc + (rng.gen_range(14.0..90.0) * DAY as f64) as i64,
            stage: if lost { DealStage::Lost } else { DealStage::Open(rng.gen_range(0..3)) },
            new_business: true,
            amount: self.amount_eur * rng.gen_range(0.6..1.2) / self.rate,
            currency: self.currency,
            updated: if lost { lost_at } else { dc },
        });
        (true, last_touch, None)
    }
}

/// The company of the next lead: a few leads come from companies that already sent one.
fn company_of(rng: &mut ChaCha8Rng, companies: &mut Vec<Company>, lead_company: &mut Vec<u32>) -> usize {
    let i = lead_company.len();
    let company = if i > 0 && rng.gen_bool(0.08) {
        lead_company[rng.gen_range(0..i)] as usize
    } else {
        let c = new_company(rng, companies.len() as u64);
        companies.push(c);
        companies.len() - 1
    };
    lead_company.push(company as u32);
    company
}

/// Noise for benchmarks: page views within 30 days either side of the lead's creation.
fn page_views(noise: &mut ChaCha8Rng, per_lead: &Poisson<f64>, company: usize, created: i64, events: &mut Vec<Event>) {
    for _ in 0..(per_lead.sample(noise) as u32).min(200) {
        let at = created + (noise.gen_range(-30.0..30.0_f64) * DAY as f64) as i64;
        events.push(Event { company, at, name: "Page View", value: None });
    }
}

/// The lead's status in the CRM at the export, `age` after its creation.
fn crm_status(rng: &mut ChaCha8Rng, has_opportunity: bool, age: i64) -> &'static str {
    if has_opportunity {
        "Closed - Converted"
    } else if age < 14 * DAY {
        "Open - Not Contacted"
    } else if rng.gen_bool(0.3) {
        "Working - Contacted"
    } else {
        "Closed - Not Converted"
    }
}

/// Runs the simulation, handing each lead (in creation order) and its company to `sink`.
pub fn simulate(sim: &Simulation, mut sink: impl FnMut(&Lead, &Company)) -> Generated {
    let mut rng = ChaCha8Rng::seed_from_u64(sim.seed);
    let times = creation_times(&mut rng, sim);
    let export_at = local_micros(sim.tz, sim.end, 0);
    let period_start = local_micros(sim.tz, sim.start, 0);
    let mut world = World {
        sim,
        rng,
        noise: ChaCha8Rng::seed_from_u64(sim.seed ^ NOISE_STREAM),
        noise_events: Poisson::new(sim.extra_events).ok().filter(|_| sim.extra_events > 0.0),
        export_at,
        period_start,
        period_len: (export_at - period_start).max(1) as f64,
        companies: Vec::new(),
        lead_company: Vec::with_capacity(times.len()),
        deals: Vec::new(),
        events: Vec::new(),
    };
    for (seq, &created) in (0u64..).zip(&times) {
        let lead = world.lead(seq, created);
        sink(&lead, &world.companies[lead.company]);
    }
    let World { companies, mut deals, mut events, .. } = world;
    deals.retain(|d| d.created < export_at);
    deals.sort_by_key(|d| (d.created, d.lead_seq));
    events.retain(|e| e.at < export_at);
    events.sort_by_key(|e| (e.at, e.company));
    Generated { companies, deals, events }
}

/// The simulation's state while leads arrive one after the other.
struct World<'a> {
    sim: &'a Simulation,
    rng: ChaCha8Rng,
    /// A stream of its own for the benchmark noise, so that noise leaves the leads unchanged.
    noise: ChaCha8Rng,
    noise_events: Option<Poisson<f64>>,
    export_at: i64,
    period_start: i64,
    period_len: f64,
    companies: Vec<Company>,
    lead_company: Vec<u32>,
    deals: Vec<Deal>,
    events: Vec<Event>,
}

/// Who a new lead is and how it arrived, before anything happens to it.
struct Prospect {
    company: usize,
    person: Person,
    arrival: Arrival,
    intent: f64,
    answers: Answers,
    employees_reported: Option<u32>,
    /// The lead's company had already bought when the lead came.
    existing: bool,
}

impl World<'_> {
    /// The lead created at `created`, with its deals and events added to the world.
    fn lead(&mut self, seq: u64, created: i64) -> Lead {
        let prospect = self.prospect(created);
        let drivers = self.drivers(&prospect, created);
        let Prospect { company, person, arrival, intent, answers, employees_reported, existing } = prospect;
        let (employees, industry) = (self.companies[company].employees, drivers.industry);
        let country = &COUNTRIES[self.companies[company].country];
        let window = f64::from(self.sim.window_days);
        let p_ever = if existing { 0.0 } else { model::p_ever(&drivers) };
        let scale = model::lag_scale_days(f64::from(employees));
        let p_window = p_ever * model::p_within(window, scale);
        let mean_amount = model::mean_amount_eur(f64::from(employees), industry, answers.product_code);
        let rng = &mut self.rng;
        let converts = rng.gen_range(0.0..1.0) < p_ever;
        let lag_days = Gamma::new(model::LAG_SHAPE, scale).map(|g| g.sample(rng)).unwrap_or(scale * 2.0);
        let close = created + (lag_days * DAY as f64) as i64;
        let median = model::median_amount_eur(f64::from(employees), industry, answers.product_code);
        let amount_eur = LogNormal::new(median.ln(), model::AMOUNT_SIGMA).map(|d| d.sample(rng)).unwrap_or(median);
        let deal_created = created + ((lag_days * rng.gen_range(0.15..0.6)) * DAY as f64) as i64;
        let lead_deals = LeadDeals {
            company,
            seq,
            created,
            deal_created,
            close,
            export_at: self.export_at,
            amount_eur,
            rate: world::rate(country.currency),
            currency: country.currency,
        };
        let (has_opportunity, last_touch, customer_tier) = self.deals_of(&lead_deals, converts, existing, intent);
        let behaviour = Behaviour { company, created, intent, channel: arrival.channel, converts, lag_days, close };
        behaviour.before(&mut self.rng, &mut self.events);
        if let Some(p) = &self.noise_events {
            page_views(&mut self.noise, p, company, created, &mut self.events);
        }
        let small = employees < 10;
        behaviour.after(&mut self.rng, &mut self.events, converts && small && answers.product_code == 0);
        let status = crm_status(&mut self.rng, has_opportunity, self.export_at - created);
        let updated = (last_touch + self.rng.gen_range(0..2 * DAY)).min(self.export_at - 1_000_000).max(created)
            / 1_000_000
            * 1_000_000;
        let Person { first_name, last_name, title, email, phone, .. } = person;
        let Arrival { channel, utm, gclid, fbclid, meta_lead_id, client_id } = arrival;
        Lead {
            seq,
            created,
            updated,
            company,
            first_name,
            last_name,
            email,
            phone,
            title,
            channel,
            utm,
            gclid,
            fbclid,
            meta_lead_id,
            client_id,
            budget: [None, Some("< 5k"), Some("5k-20k"), Some("20k-50k"), Some("50k+")][usize::from(answers.budget)],
            timeline: [None, Some("Immediately"), Some("1-3 months"), Some("3-6 months"), Some("Just researching")]
                [usize::from(answers.timeline)],
            product: answers.product,
            employees_reported,
            customer_tier,
            has_opportunity,
            status,
            truth: Truth {
                p_window,
                expected_value: p_window * mean_amount,
                converted_in_window: converts && lag_days < window,
                existing_customer: existing,
            },
        }
    }

    /// What the conversion model knows of the prospect created at `created`.
    fn drivers(&self, p: &Prospect, created: i64) -> Drivers<'static> {
        let local = DateTime::<Utc>::from_timestamp_micros(created).unwrap_or_default().with_timezone(&self.sim.tz);
        let c = &self.companies[p.company];
        Drivers {
            seniority: p.person.seniority,
            department: p.person.department,
            employees: f64::from(c.employees),
            industry: &INDUSTRIES[c.industry],
            email: p.person.email_class,
            channel: p.arrival.channel,
            period_pos: (created - self.period_start) as f64 / self.period_len,
            budget: p.answers.budget,
            timeline: p.answers.timeline,
            intent: p.intent,
            hour: local.hour(),
            has_phone: p.person.phone.is_some(),
            month: local.month(),
        }
    }

    /// Draws who the lead created at `created` is: its company, person, arrival and answers.
    fn prospect(&mut self, created: i64) -> Prospect {
        let company = company_of(&mut self.rng, &mut self.companies, &mut self.lead_company);
        let c = &self.companies[company];
        let (employees, won_at) = (c.employees, c.won_at);
        let person = person(&mut self.rng, &COUNTRIES[c.country], employees, &c.domain);
        let pos = (created - self.period_start) as f64 / self.period_len;
        let arrival = arrival(&mut self.rng, pos, COUNTRIES[c.country].code, created);
        let intent: f64 = self.rng.sample::<f64, _>(StandardNormal);
        let answers = answers(&mut self.rng, intent, employees);
        let employees_reported = self.rng.gen_bool(0.85).then_some(employees);
        let existing = won_at.is_some_and(|w| w < created);
        Prospect { company, person, arrival, intent, answers, employees_reported, existing }
    }

    /// The lead's deals: new business when it converts, an upsell for an existing customer,
    /// else sometimes a lost or open opportunity; and the customer tier sales filled in.
    fn deals_of(&mut self, deals: &LeadDeals, converts: bool, existing: bool, intent: f64) -> DealOutcome {
        let rng = &mut self.rng;
        let (has_opportunity, last_touch, mut customer_tier) = if converts {
            deals.new_business(rng, &mut self.companies, &mut self.deals)
        } else if existing {
            deals.existing_business(rng, &mut self.deals)
        } else if rng.gen_bool(0.08 + 0.12 / (1.0 + (-intent).exp())) {
            deals.lost_or_open(rng, &mut self.deals)
        } else {
            (false, deals.created, None)
        };
        if customer_tier.is_none() && rng.gen_bool(0.015) {
            customer_tier = Some("Bronze");
        }
        (has_opportunity, last_touch, customer_tier)
    }
}
