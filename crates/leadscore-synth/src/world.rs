//! The vocabulary of the synthetic world: countries, names, job titles, industries, channels.

/// A country leads come from.
#[derive(Debug, Clone, Copy)]
pub struct Country {
    /// Name as CRMs export it.
    pub name: &'static str,
    /// ISO 3166 alpha-2.
    pub code: &'static str,
    /// Calling code without `+`.
    pub calling: &'static str,
    /// Deal currency.
    pub currency: &'static str,
    /// Relative share of leads.
    pub weight: f64,
    /// Which name list people from here draw from.
    pub names: NameSet,
}

/// Groups of first/last names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameSet {
    /// Dutch / Flemish.
    Dutch,
    /// German.
    German,
    /// English.
    English,
    /// French.
    French,
    /// Spanish / Italian.
    Southern,
    /// Nordic / Polish.
    Northern,
}

/// Countries with their share of leads.
pub const COUNTRIES: &[Country] = &[
    Country { name: "Netherlands", code: "NL", calling: "31", currency: "EUR", weight: 0.22, names: NameSet::Dutch },
    Country { name: "Germany", code: "DE", calling: "49", currency: "EUR", weight: 0.18, names: NameSet::German },
    Country { name: "Belgium", code: "BE", calling: "32", currency: "EUR", weight: 0.07, names: NameSet::Dutch },
    Country { name: "France", code: "FR", calling: "33", currency: "EUR", weight: 0.07, names: NameSet::French },
    Country {
        name: "United Kingdom",
        code: "GB",
        calling: "44",
        currency: "GBP",
        weight: 0.12,
        names: NameSet::English,
    },
    Country { name: "United States", code: "US", calling: "1", currency: "USD", weight: 0.14, names: NameSet::English },
    Country { name: "Spain", code: "ES", calling: "34", currency: "EUR", weight: 0.04, names: NameSet::Southern },
    Country { name: "Italy", code: "IT", calling: "39", currency: "EUR", weight: 0.04, names: NameSet::Southern },
    Country { name: "Sweden", code: "SE", calling: "46", currency: "SEK", weight: 0.03, names: NameSet::Northern },
    Country { name: "Poland", code: "PL", calling: "48", currency: "PLN", weight: 0.03, names: NameSet::Northern },
    Country { name: "Switzerland", code: "CH", calling: "41", currency: "CHF", weight: 0.03, names: NameSet::German },
    Country { name: "Ireland", code: "IE", calling: "353", currency: "EUR", weight: 0.02, names: NameSet::English },
    Country { name: "Canada", code: "CA", calling: "1", currency: "USD", weight: 0.01, names: NameSet::English },
];

/// Exchange rates into EUR (the synthetic project currency): 1 unit = rate EUR.
pub const RATES: &[(&str, f64)] = &[("USD", 0.92), ("GBP", 1.17), ("CHF", 1.05), ("SEK", 0.087), ("PLN", 0.23)];

/// Rate of a currency into EUR.
pub fn rate(code: &str) -> f64 {
    if code == "EUR" {
        return 1.0;
    }
    RATES.iter().find(|(c, _)| *c == code).map_or(1.0, |(_, r)| *r)
}

/// First names per set.
pub fn first_names(set: NameSet) -> &'static [&'static str] {
    match set {
        NameSet::Dutch => &[
            "Daan", "Sanne", "Lars", "Emma", "Bram", "Lotte", "Jeroen", "Anouk", "Thijs", "Fleur", "Sem", "Iris",
            "Ruben", "Noor", "Joris", "Eva",
        ],
        NameSet::German => &[
            "Lukas",
            "Anna",
            "Felix",
            "Lea",
            "Jonas",
            "Sophie",
            "Maximilian",
            "Marie",
            "Paul",
            "Laura",
            "Tobias",
            "Julia",
            "Stefan",
            "Katharina",
            "Jürgen",
            "Ute",
        ],
        NameSet::English => &[
            "James",
            "Olivia",
            "Oliver",
            "Emily",
            "Jack",
            "Sophia",
            "Harry",
            "Charlotte",
            "Michael",
            "Jessica",
            "David",
            "Sarah",
            "Daniel",
            "Emma",
            "Chris",
            "Megan",
        ],
        NameSet::French => &[
            "Lucas", "Chloé", "Hugo", "Manon", "Louis", "Camille", "Théo", "Léa", "Nicolas", "Juliette", "Antoine",
            "Inès",
        ],
        NameSet::Southern => &[
            "Marco",
            "Giulia",
            "Alessandro",
            "Francesca",
            "Javier",
            "Lucía",
            "Pablo",
            "Elena",
            "Luca",
            "Sofia",
            "Carlos",
            "María",
        ],
        NameSet::Northern => &[
            "Erik",
            "Astrid",
            "Oskar",
            "Maja",
            "Piotr",
            "Zofia",
            "Karl",
            "Ingrid",
            "Tomasz",
            "Agnieszka",
            "Nils",
            "Elin",
        ],
    }
}

/// Last names per set.
pub fn last_names(set: NameSet) -> &'static [&'static str] {
    match set {
        NameSet::Dutch => &[
            "de Jong",
            "Jansen",
            "de Vries",
            "van den Berg",
            "Bakker",
            "Visser",
            "Smit",
            "Meijer",
            "de Boer",
            "Mulder",
            "Peeters",
            "Willems",
        ],
        NameSet::German => &[
            "Müller",
            "Schmidt",
            "Schneider",
            "Fischer",
            "Weber",
            "Meyer",
            "Wagner",
            "Becker",
            "Hoffmann",
            "Schulz",
            "Keller",
            "Huber",
        ],
        NameSet::English => &[
            "Smith", "Jones", "Williams", "Brown", "Taylor", "Davies", "Wilson", "Evans", "Johnson", "Miller",
            "O'Brien", "Murphy",
        ],
        NameSet::French => {
            &["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"]
        }
        NameSet::Southern => {
            &["Rossi", "Russo", "Ferrari", "Esposito", "García", "Martínez", "López", "Sánchez", "Romano", "Colombo"]
        }
        NameSet::Northern => &[
            "Andersson",
            "Johansson",
            "Karlsson",
            "Nilsson",
            "Nowak",
            "Kowalski",
            "Wiśniewski",
            "Lindqvist",
            "Berg",
            "Lewandowski",
        ],
    }
}

/// Seniority behind a job title (the truth model uses it; titles are free text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seniority {
    /// Founder, owner, CEO, CxO, managing director.
    CLevel,
    /// Vice president.
    Vp,
    /// Director / head of.
    Director,
    /// Manager / team lead.
    Manager,
    /// Individual contributor.
    Individual,
    /// Student / intern.
    Student,
    /// Not given.
    Unknown,
}

/// Department behind a job title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Department {
    /// Marketing, growth, brand.
    Marketing,
    /// Sales, business development, accounts.
    Sales,
    /// Engineering, development, IT.
    Engineering,
    /// Finance, accounting.
    Finance,
    /// People / HR.
    Hr,
    /// Operations.
    Operations,
    /// General management (no department).
    General,
}

/// Department name variants used in titles.
pub fn department_words(d: Department) -> &'static [&'static str] {
    match d {
        Department::Marketing => &["Marketing", "Growth", "Digital Marketing", "Demand Generation", "Brand"],
        Department::Sales => &["Sales", "Business Development", "Revenue", "Partnerships"],
        Department::Engineering => &["Engineering", "IT", "Software Development", "Technology"],
        Department::Finance => &["Finance", "Accounting", "Controlling"],
        Department::Hr => &["HR", "People", "Talent Acquisition"],
        Department::Operations => &["Operations", "Customer Success", "Supply Chain"],
        Department::General => &["Business"],
    }
}

/// An industry and how it shifts conversion and deal size.
#[derive(Debug, Clone, Copy)]
pub struct Industry {
    /// Name as exported.
    pub name: &'static str,
    /// Share of companies.
    pub weight: f64,
    /// Additive effect on the conversion logit.
    pub effect: f64,
    /// Multiplier on deal size.
    pub deal_mult: f64,
}

/// Industries.
pub const INDUSTRIES: &[Industry] = &[
    Industry { name: "Computer Software", weight: 0.16, effect: 0.35, deal_mult: 1.2 },
    Industry { name: "Information Technology", weight: 0.12, effect: 0.25, deal_mult: 1.1 },
    Industry { name: "Marketing & Advertising", weight: 0.10, effect: 0.30, deal_mult: 0.8 },
    Industry { name: "Financial Services", weight: 0.08, effect: 0.10, deal_mult: 1.6 },
    Industry { name: "Retail", weight: 0.09, effect: -0.30, deal_mult: 0.9 },
    Industry { name: "E-commerce", weight: 0.07, effect: 0.15, deal_mult: 0.9 },
    Industry { name: "Manufacturing", weight: 0.08, effect: -0.10, deal_mult: 1.3 },
    Industry { name: "Healthcare", weight: 0.06, effect: -0.05, deal_mult: 1.4 },
    Industry { name: "Education", weight: 0.06, effect: -0.60, deal_mult: 0.6 },
    Industry { name: "Non-profit", weight: 0.04, effect: -0.70, deal_mult: 0.5 },
    Industry { name: "Consulting", weight: 0.06, effect: 0.05, deal_mult: 0.9 },
    Industry { name: "Logistics", weight: 0.04, effect: -0.15, deal_mult: 1.1 },
    Industry { name: "Real Estate", weight: 0.04, effect: -0.20, deal_mult: 1.0 },
];

/// Where a lead came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Organic search.
    Organic,
    /// Google / Bing ads.
    PaidSearch,
    /// Facebook / Instagram / LinkedIn ads.
    PaidSocial,
    /// Partner or customer referral.
    Referral,
    /// Typed-in / bookmark.
    Direct,
    /// Newsletter / nurture.
    Email,
    /// Unpaid social.
    Social,
    /// Trade show / webinar.
    Offline,
}

impl Channel {
    /// All channels with base shares.
    pub const ALL: [(Channel, f64); 8] = [
        (Channel::Organic, 0.27),
        (Channel::PaidSearch, 0.22),
        (Channel::PaidSocial, 0.16),
        (Channel::Referral, 0.08),
        (Channel::Direct, 0.11),
        (Channel::Email, 0.08),
        (Channel::Social, 0.05),
        (Channel::Offline, 0.03),
    ];

    /// HubSpot "Original Source" value.
    pub fn hubspot(self) -> &'static str {
        match self {
            Self::Organic => "ORGANIC_SEARCH",
            Self::PaidSearch => "PAID_SEARCH",
            Self::PaidSocial => "PAID_SOCIAL",
            Self::Referral => "REFERRALS",
            Self::Direct => "DIRECT_TRAFFIC",
            Self::Email => "EMAIL_MARKETING",
            Self::Social => "SOCIAL_MEDIA",
            Self::Offline => "OFFLINE",
        }
    }

    /// Salesforce "LeadSource" value.
    pub fn salesforce(self) -> &'static str {
        match self {
            Self::Organic => "Web",
            Self::PaidSearch => "Paid Search",
            Self::PaidSocial => "Paid Social",
            Self::Referral => "Partner Referral",
            Self::Direct => "Web",
            Self::Email => "Email",
            Self::Social => "Social Media",
            Self::Offline => "Trade Show",
        }
    }
}

/// Free-mail providers (their users are mostly individuals and small businesses).
pub const FREE_MAIL: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "hotmail.com",
    "yahoo.com",
    "gmx.de",
    "web.de",
    "icloud.com",
    "googlemail.com",
    "live.com",
    "proton.me",
];
/// Disposable mailbox providers.
pub const DISPOSABLE_MAIL: &[&str] =
    &["mailinator.com", "10minutemail.com", "guerrillamail.com", "yopmail.com", "tempmail.dev"];
/// Syllables company names are made of.
pub const NAME_PARTS: &[&str] = &[
    "bright", "blue", "nova", "peak", "core", "wave", "stone", "swift", "green", "north", "clear", "smart", "true",
    "data", "cloud", "iron", "sun", "river", "pixel", "quant", "alpha", "zen", "urban", "vita",
];
/// Company name endings.
pub const NAME_ENDINGS: &[&str] =
    &["labs", "works", "soft", "hub", "ly", "io", "tech", "group", "systems", "media", "logic", "flow"];
/// Legal suffixes by country code.
pub fn legal_suffix(country: &str) -> &'static str {
    match country {
        "NL" | "BE" => "B.V.",
        "DE" | "CH" => "GmbH",
        "GB" | "IE" => "Ltd",
        "FR" => "SAS",
        "ES" | "IT" => "S.L.",
        "SE" => "AB",
        "PL" => "Sp. z o.o.",
        _ => "Inc.",
    }
}
