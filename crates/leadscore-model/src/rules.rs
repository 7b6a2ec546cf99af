//! The rule tables behind derived job-title features, in one place. Edit these tables to tune the
//! rules; tests exercise them table-driven. (The e-mail domain lists and calling codes are read at
//! ingest, which derives the e-mail and phone parts: `leadscore-core`'s `identity::tables`.)
//!
//! Job titles are matched on words: the title is lower-cased and split on anything that is not a
//! letter or digit, and a keyword (one or more words) matches a run of whole words, so `vp` does
//! not match inside `mvp` and `it` does not match inside `digital`. Rules are tried in order and
//! the first one that matches gives the label.

/// A label and the keywords that give it.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The feature value.
    pub label: &'static str,
    /// Keywords (lower case; several words allowed).
    pub keywords: &'static [&'static str],
}

/// Seniority from a job title, most specific first (`vp` before `c_level`, so that "Vice President"
/// is not read as "President").
pub const SENIORITY: &[Rule] = &[
    Rule {
        label: "student",
        keywords: &["student", "intern", "internship", "stagiair", "phd", "trainee", "werkstudent", "apprentice"],
    },
    Rule { label: "vp", keywords: &["vp", "svp", "evp", "vice president", "vicepresident"] },
    Rule {
        label: "c_level",
        keywords: &[
            "ceo",
            "cfo",
            "cto",
            "coo",
            "cmo",
            "cro",
            "cio",
            "cdo",
            "chief",
            "founder",
            "cofounder",
            "owner",
            "managing director",
            "geschäftsführer",
            "geschaftsfuhrer",
            "eigenaar",
            "directeur général",
            "directeur general",
            "president",
            "partner",
        ],
    },
    Rule { label: "director", keywords: &["director", "head", "hoofd", "leiter", "directeur", "directrice"] },
    Rule { label: "manager", keywords: &["manager", "lead", "teamlead", "supervisor", "teamleider", "leader"] },
    Rule {
        label: "individual",
        keywords: &[
            "specialist",
            "engineer",
            "developer",
            "analyst",
            "executive",
            "representative",
            "coordinator",
            "consultant",
            "accountant",
            "recruiter",
            "advisor",
            "adviseur",
            "assistant",
            "marketeer",
            "marketer",
            "scientist",
            "bookkeeper",
            "sdr",
            "bdr",
            "associate",
            "officer",
            "designer",
            "writer",
            "business developer",
            "medewerker",
            "sachbearbeiter",
            "employee",
        ],
    },
];

/// Department from a job title, most specific first.
pub const DEPARTMENT: &[Rule] = &[
    Rule {
        label: "marketing",
        keywords: &[
            "marketing",
            "marketeer",
            "marketer",
            "growth",
            "brand",
            "demand",
            "content",
            "seo",
            "sem",
            "cmo",
            "performance",
            "communications",
            "pr",
            "digital marketing",
        ],
    },
    Rule {
        label: "sales",
        keywords: &[
            "sales",
            "business development",
            "business developer",
            "revenue",
            "account",
            "sdr",
            "bdr",
            "partnerships",
            "commercial",
            "cro",
            "verkoop",
            "vertrieb",
        ],
    },
    Rule {
        label: "engineering",
        keywords: &[
            "engineering",
            "engineer",
            "developer",
            "software",
            "it",
            "technology",
            "cto",
            "cio",
            "data",
            "devops",
            "technical",
            "full stack",
            "development",
        ],
    },
    Rule {
        label: "finance",
        keywords: &[
            "finance",
            "financial",
            "accounting",
            "accountant",
            "controller",
            "controlling",
            "cfo",
            "bookkeeper",
        ],
    },
    Rule {
        label: "hr",
        keywords: &["hr", "people", "talent", "recruiter", "recruiting", "recruitment", "human resources"],
    },
    Rule {
        label: "operations",
        keywords: &["operations", "coo", "supply chain", "customer success", "logistics", "support", "operational"],
    },
    Rule {
        label: "general",
        keywords: &[
            "ceo",
            "founder",
            "cofounder",
            "owner",
            "managing director",
            "geschäftsführer",
            "geschaftsfuhrer",
            "eigenaar",
            "directeur général",
            "directeur general",
            "president",
            "general manager",
        ],
    },
];

/// Values that mean "no title given".
pub const PLACEHOLDERS: &[&str] = &["", "-", "--", ".", "n/a", "na", "none", "x", "xx", "unknown", "null", "test"];
