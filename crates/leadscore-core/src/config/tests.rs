use std::path::Path;

use super::*;

const GOOD: &str = r#"
[project]
name = "acme"
currency = "eur"
timezone = "Europe/Amsterdam"
default_run_date = "2026-01-05"

[sources]
preset = "hubspot"

[sources.leads]
path = "contacts.csv"
mapping = { client_id = "" }

[sources.deals]
path = "deals-*.csv"
delimiter = ";"
extra = { pipeline = "Pipeline" }

[[attributes]]
column = "Job Title"
kind = "text"

[[attributes]]
column = "Number of Employees"
name = "company_size"

[[attributes]]
column = "Customer Tier"
kind = "categorical"
available_at_creation = false

[currency]
rates = { USD = 0.9, gbp = 1.15 }
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, "leadscore.toml", Path::new("/cfg"))
}

fn problems(text: &str) -> Vec<ConfigProblem> {
    match parse(text) {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        other => panic!("expected validation problems, got {other:?}"),
    }
}

#[test]
fn a_good_config_resolves_presets_defaults_and_names() {
    let c = parse(GOOD).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.project.currency, "EUR");
    assert_eq!(c.project.timezone, chrono_tz::Europe::Amsterdam);
    assert_eq!(c.project.default_run_date.map(|d| d.to_string()).as_deref(), Some("2026-01-05"));
    assert_eq!(c.output_dir(), Path::new("/cfg/data"));
    assert_eq!(c.sources.leads.column("lead_id"), Some("Record ID"));
    assert_eq!(c.sources.leads.mapping["lead_id"].origin, MappingOrigin::Preset);
    // An empty column name switches a preset column off.
    assert_eq!(c.sources.leads.column("client_id"), None);
    assert_eq!(c.sources.deals.location.delimiter, b';');
    assert_eq!(c.sources.deals.extra.get("pipeline").map(String::as_str), Some("Pipeline"));
    assert!(c.sources.events.is_none());
    let names: Vec<_> = c.attributes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["job_title", "company_size", "customer_tier"]);
    assert!(!c.attributes[2].available_at_creation);
    assert!(c.attributes[1].available_at_creation);
    assert_eq!(c.currency.rate("GBP"), Some(1.15));
    assert_eq!(c.currency.rate("EUR"), Some(1.0));
}

#[test]
fn hash_ignores_formatting_and_comments_but_not_content() {
    let a = parse(GOOD).map(|c| c.hash()).unwrap_or_default();
    let reformatted = GOOD.replace("name = \"acme\"", "# a comment\nname    =   \"acme\"");
    let b = parse(&reformatted).map(|c| c.hash()).unwrap_or_default();
    let c = parse(&GOOD.replace("acme", "acme2")).map(|c| c.hash()).unwrap_or_default();
    assert!(!a.is_empty());
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn every_problem_is_reported_at_once_with_its_location() {
    let text = r#"
[project]
name = "acme"
currency = "EURO"
timezne = "UTC"

[sources.leads]
path = "leads.csv"
mapping = { lead_id = "Id", created = "Created" }

[sources.deals]
path = 42

[[attributes]]
column = "Job Title"
kind = "texty"

[[attributes]]
column = "Industry"
name = "Bad Name"

[currency]
rates = { XXQ = 1.2 }

[models]
dir = "m"
"#;
    let ps = problems(text);
    let find = |needle: &str| ps.iter().find(|p| p.to_string().contains(needle));
    let rendered: Vec<String> = ps.iter().map(ToString::to_string).collect();
    // Unknown key in [project] (serde stops the section there, so currency is checked next run).
    let p = find("unknown field `timezne`").unwrap_or_else(|| panic!("{rendered:#?}"));
    assert_eq!(p.line_col.map(|l| l.0), Some(5), "{p}");
    assert!(p.message.contains("`timezone`"), "lists the known fields: {p}");
    // Unknown mapping field, listing the known ones, and the missing required field.
    let p = find("unknown leads field `created`").unwrap_or_else(|| panic!("{rendered:#?}"));
    assert!(p.message.contains("`created_at`"), "{p}");
    assert!(find("required field `created_at`").is_some(), "{rendered:#?}");
    // Wrong type, with its line.
    let p = find("sources.deals").unwrap_or_else(|| panic!("{rendered:#?}"));
    assert_eq!(p.line_col.map(|l| l.0), Some(12), "{p}");
    // Bad enum value in the first attribute, bad name in the second.
    let p = find("unknown variant `texty`").unwrap_or_else(|| panic!("{rendered:#?}"));
    assert_eq!(p.path, "attributes[1]");
    let p = find("`Bad Name` is not valid").unwrap_or_else(|| panic!("{rendered:#?}"));
    assert_eq!(p.path, "attributes[2].name");
    assert_eq!(p.line_col.map(|l| l.0), Some(20));
    assert!(find("`XXQ` is not an ISO 4217").is_some(), "{rendered:#?}");
    assert!(find("unknown section `models`").is_some(), "{rendered:#?}");
    assert!(ps.len() >= 8, "{rendered:#?}");
}

#[test]
fn semantic_checks_within_a_valid_project_section() {
    let text = GOOD
        .replace("currency = \"eur\"", "currency = \"EURO\"")
        .replace("Europe/Amsterdam", "Mars/Olympus")
        .replace("2026-01-05", "5 Jan")
        .replace("preset = \"hubspot\"", "preset = \"zoho\"");
    let ps = problems(&text);
    let all = ps.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    assert!(all.contains("project.currency: expected an ISO 4217"), "{all}");
    assert!(all.contains("project.timezone: expected an IANA time zone"), "{all}");
    assert!(all.contains("project.default_run_date"), "{all}");
    assert!(all.contains("unknown preset `zoho`") && all.contains("pipedrive"), "{all}");
}

#[test]
fn event_presets_and_source_time_zones() {
    let with_events = |keys: &str| {
        GOOD.replace(
            "[[attributes]]\ncolumn = \"Job Title\"",
            &format!("[sources.events]\npath = \"e.jsonl\"\n{keys}\n\n[[attributes]]\ncolumn = \"Job Title\""),
        )
    };
    let c = parse(&with_events("preset = \"amplitude\"")).unwrap_or_else(|e| panic!("{e}"));
    let events = c.sources.events.as_ref().expect("an events source");
    assert_eq!(events.preset, Some(EventPreset::Amplitude));
    assert_eq!(events.timezone, Some(chrono_tz::Tz::UTC), "Amplitude's export is UTC");
    assert_eq!(events.mapping["name"].column, "event_type", "the events preset wins over hubspot's");
    assert_eq!(c.sources.leads.timezone, None, "the project's");
    let c = parse(&with_events("preset = \"segment\"\ntimezone = \"America/New_York\"\nmapping = { value = \"\" }"))
        .unwrap();
    let events = c.sources.events.as_ref().expect("an events source");
    assert_eq!(events.timezone, Some(chrono_tz::Tz::America__New_York));
    assert!(!events.mapping.contains_key("value"), "an empty name switches a preset column off");
    assert_eq!(events.mapping["user_id"].column, "userId");
    // Pipedrive's times are UTC.
    let c = parse(&GOOD.replace("preset = \"hubspot\"", "preset = \"pipedrive\"")).unwrap();
    assert_eq!(c.sources.deals.timezone, Some(chrono_tz::Tz::UTC));

    let all = |text: &str| problems(text).iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    let text = with_events("preset = \"heap\"\ntimezone = \"Mars/Olympus\"")
        .replace("path = \"contacts.csv\"", "path = \"contacts.csv\"\npreset = \"segment\"");
    let got = all(&text);
    assert!(got.contains("sources.events.preset: unknown events preset `heap`, expected one of"), "{got}");
    assert!(got.contains("amplitude"), "{got}");
    assert!(got.contains("sources.events.timezone: expected an IANA time zone"), "{got}");
    assert!(got.contains("sources.leads.preset: only [sources.events] takes a preset of its own"), "{got}");
}

#[test]
fn attributes_must_not_collide_or_reuse_identity_columns() {
    let text = GOOD.replace(
        "column = \"Number of Employees\"\nname = \"company_size\"",
        "column = \"Email\"\nname = \"job_title\"",
    );
    let ps = problems(&text);
    let all = ps.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    assert!(all.contains("`job_title` is used twice"), "{all}");
    assert!(all.contains("mapped to the canonical field `email`"), "{all}");
}

#[test]
fn syntax_errors_point_at_the_line() {
    match parse("[project]\nname = \"x\ncurrency = 1\n") {
        Err(ConfigError::Syntax { line, .. }) => assert_eq!(line, 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_sections_are_named() {
    let ps = problems("[project]\nname = \"x\"\ncurrency = \"USD\"\n");
    let all = ps.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    assert!(all.contains("missing section [sources]"), "{all}");
}

#[test]
fn rates_file_is_read_and_checked() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("rates.csv"), "currency,rate\nUSD,0.5\nGBP,1.2\n").unwrap_or_default();
    std::fs::write(dir.path().join("bad.csv"), "code;rate\n").unwrap_or_default();
    let text = GOOD.replace("rates = { USD = 0.9, gbp = 1.15 }", "rates = { USD = 0.9 }\nfile = \"rates.csv\"");
    let c = Config::from_toml(&text, "x.toml", dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.currency.rate("USD"), Some(0.9), "inline rates win over the file");
    assert_eq!(c.currency.rate("GBP"), Some(1.2));
    let text = text.replace("rates.csv", "bad.csv");
    match Config::from_toml(&text, "x.toml", dir.path()) {
        Err(ConfigError::Invalid { problems, .. }) => {
            assert!(problems[0].message.contains("expected the header `currency,rate`"), "{problems:?}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn snake_case_names() {
    assert_eq!(snake_case("Job Title"), "job_title");
    assert_eq!(snake_case("Country/Region"), "country_region");
    assert_eq!(snake_case("NumberOfEmployees"), "number_of_employees");
    assert_eq!(snake_case("Budget__c"), "budget_c");
    assert_eq!(snake_case("UTM Source"), "utm_source");
    assert_eq!(snake_case("2nd Choice"), "a_2nd_choice");
    assert!(valid_name("job_title") && !valid_name("Job") && !valid_name("_x") && !valid_name(""));
}

/// The names of a raw section's keys, read from serde's "unknown field" message.
fn keys_of<T: serde::de::DeserializeOwned>() -> Vec<String> {
    let err = match T::deserialize(toml::de::ValueDeserializer::parse("{ __probe = 1 }").expect("valid TOML")) {
        Ok(_) => return Vec::new(),
        Err(e) => e.message().to_string(),
    };
    let expected = err.split("expected").nth(1).unwrap_or_default();
    expected.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

#[test]
fn the_readme_configuration_reference_names_every_key() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
        .expect("README.md at the workspace root");
    let reference = readme.split("## Configuration reference").nth(1).expect("a configuration reference section");
    let mut keys = Vec::new();
    keys.extend(keys_of::<raw::RawProject>());
    keys.extend(keys_of::<raw::RawSource>());
    keys.extend(keys_of::<raw::RawAttribute>());
    keys.extend(keys_of::<raw::RawCurrency>());
    keys.extend(keys_of::<raw::RawConversion>());
    keys.extend(keys_of::<raw::RawCondition>());
    keys.extend(keys_of::<raw::RawLabels>());
    keys.extend(keys_of::<raw::RawFeatures>());
    keys.extend(keys_of::<raw::RawTrain>());
    keys.extend(keys_of::<raw::RawQualify>());
    keys.extend(keys_of::<raw::RawExport>());
    keys.extend(keys_of::<raw::RawChannels>());
    keys.extend(keys_of::<raw::RawSpend>());
    keys.extend(keys_of::<raw::RawPrivacy>());
    keys.push("preset".into());
    assert!(keys.len() >= 15, "{keys:?}");
    for k in keys {
        assert!(reference.contains(&format!("| `{k}` |")), "README's configuration reference does not document `{k}`");
    }
    for section in SECTIONS {
        assert!(
            reference.contains(&format!("[{section}]")) || reference.contains(&format!("[[{section}]]")),
            "{section}"
        );
    }
}

const CONVERSIONS: &str = r#"
[[conversions]]
name = "big_won"
source = "deals"
conditions = [
  { field = "stage", op = "is", value = "closedwon", case_insensitive = true },
  { field = "amount", op = "is_more_than", value = 5000 },
  { field = "pipeline", op = "is_any_of", values = ["default", "enterprise"] },
  { field = "closed_at", op = "is_between", values = ["2025-01-01", 2026-12-31] },
]
logic = "$1 AND ($2 OR NOT $3) AND $4"

[[conversions]]
name = "paid"
source = "deals"
conditions = [{ field = "stage", op = "is_set" }]
at = "created_at"
value = "amount_original"
currency = "currency"
dedupe = "first_per_user"

[[conversions]]
name = "any_win"
combine = ["big_won", "closed_won"]

[labels]
target = "any_win"
window_days = 30
history_months = 9
"#;

#[test]
fn conversion_definitions_resolve_with_presets_and_defaults() {
    let c = parse(&format!("{GOOD}{CONVERSIONS}")).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<_> = c.conversions.iter().map(|d| (d.name.as_str(), d.builtin)).collect();
    assert_eq!(
        names,
        [("big_won", false), ("paid", false), ("any_win", false), ("closed_won", true), ("open_opp", true)]
    );
    let Some(DefinitionKind::Match(m)) = c.conversion("big_won").map(|d| &d.kind) else { panic!("big_won") };
    assert_eq!(m.at, "closed_at");
    assert_eq!(m.value, "amount");
    assert_eq!(m.logic.as_ref().map(ToString::to_string).as_deref(), Some("$1 AND ($2 OR NOT $3) AND $4"));
    assert_eq!(m.conditions[1].operand, Operand::One(Scalar::Number(5000.0)));
    // Dates are local midnight in the project time zone (Amsterdam, CET in January).
    assert_eq!(
        m.conditions[3].operand,
        Operand::Between(Scalar::Time(1_735_686_000_000_000), Scalar::Time(1_798_671_600_000_000))
    );
    let labels = c.labels.clone().unwrap_or_else(|| panic!("labels"));
    assert_eq!((labels.target.as_str(), labels.window_days, labels.history_months), ("any_win", 30, 9));
    assert_eq!((labels.warn_below_per_month, labels.min_conversions), (30, 100));
    // Without [labels], a preset implies closed_won over 40 days.
    let c = parse(GOOD).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.labels.map(|l| (l.target, l.window_days)), Some(("closed_won".to_string(), 40)));
}

#[test]
fn a_user_definition_overrides_the_builtin_of_the_same_name() {
    let text = format!(
        "{GOOD}\n[[conversions]]\nname = \"closed_won\"\nsource = \"deals\"\nconditions = [{{ field = \"stage\", op = \"is\", value = \"won\" }}]\n"
    );
    let c = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let d = c.conversion("closed_won").unwrap_or_else(|| panic!("closed_won"));
    assert!(!d.builtin);
    assert_eq!(c.conversions.iter().filter(|d| d.name == "closed_won").count(), 1);
}

#[test]
fn dedupe_per_user_days_reads_as_a_table_and_its_days_are_checked() {
    let def = |dedupe: &str| {
        format!(
            "{GOOD}\n[[conversions]]\nname = \"paid\"\nsource = \"deals\"\nconditions = [{{ field = \"stage\", op = \"is_set\" }}]\ndedupe = {dedupe}\n"
        )
    };
    let c = parse(&def("{ per_user_days = 30 }")).unwrap_or_else(|e| panic!("{e}"));
    let paid = c.conversion("paid").unwrap_or_else(|| panic!("paid"));
    assert_eq!(paid.dedupe, Dedupe::PerUserDays(30));
    assert!(paid.describe().contains("at most one per user in 30 days"), "{}", paid.describe());
    let p = problems(&def("{ per_user_days = 0 }"));
    assert!(p.iter().any(|p| p.path.ends_with("].dedupe") && p.message.contains("between 1 and 3660")), "{p:?}");
    let p = problems(&def("\"per_user\""));
    assert!(p.iter().any(|p| p.path.starts_with("conversions[") && p.message.contains("per_user_days")), "{p:?}");
}

#[test]
fn every_definition_problem_is_reported_at_once() {
    let text = format!(
        r#"{GOOD}
[[conversions]]
name = "a"
source = "deals"
conditions = [
  {{ field = "stag", op = "is", value = "won" }},
  {{ field = "amount", op = "contains", value = "5" }},
  {{ field = "stage", op = "is", value = "won" }},
  {{ field = "stage", op = "is_between", values = ["a"] }},
]
logic = "$1 OR $2 OR $5"

[[conversions]]
name = " "
combine = ["nope"]

[[conversions]]
name = "x"
combine = ["y"]

[[conversions]]
name = "y"
combine = ["x"]

[[conversions]]
name = "e"
source = "deals"
event_name = "Paid"
at = "amount"

[labels]
target = "missing"
window_days = 0
"#
    );
    let ps = problems(&text);
    let all = ps.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    for needle in [
        "unknown deals field `stag`; the fields of deals are `deal_id`",
        "`contains` does not fit the numeric field `amount`",
        "`is_between` does not fit the text field `stage`",
        "`$5` points at no condition; there are 4",
        "condition `$3` is never used by `logic`",
        "conversions[2].name: must not be empty",
        "combines unknown conversion `nope`",
        "combinations form a cycle: x → y → x",
        "`event_name` applies to `source = \"events\"` only",
        "`amount` is a numeric field; a timestamp field is needed here",
        "unknown conversion `missing`",
        "window_days: must be between 1 and 730",
    ] {
        assert!(all.contains(needle), "missing `{needle}` in:\n{all}");
    }
    // Problems carry locations.
    let p = ps.iter().find(|p| p.message.contains("`stag`")).unwrap_or_else(|| panic!("{all}"));
    assert_eq!(p.path, "conversions[1].conditions[1].field");
    assert!(p.line_col.is_some());
}

#[test]
fn operand_types_must_fit_the_field() {
    let text = format!(
        r#"{GOOD}
[[conversions]]
name = "a"
source = "deals"
conditions = [
  {{ field = "amount", op = "is_more_than", value = "5000" }},
  {{ field = "stage", op = "is", value = 3 }},
  {{ field = "closed_at", op = "is_more_than", value = "last week" }},
  {{ field = "amount", op = "is_at_least", value = 1, case_insensitive = true }},
  {{ field = "stage", op = "is_set", value = "x" }},
  {{ field = "amount", op = "is_between", values = [10, 1] }},
]
"#
    );
    let all = problems(&text).iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    for needle in [
        "the field is numeric, so expected a number, found \"5000\"",
        "the field is text, so expected a string, found 3",
        "`last week` is not a timestamp",
        "`case_insensitive` only applies to text fields",
        "`is_set` takes no `value` or `values`",
        "`is_between` needs the low value first",
    ] {
        assert!(all.contains(needle), "missing `{needle}` in:\n{all}");
    }
}

/// The default a README configuration table gives for `[section] key`: the first code span or
/// word of its last cell.
fn readme_default(section: &str, key: &str) -> Option<String> {
    let readme = include_str!("../../../../README.md");
    let heading = format!("### `[{section}]`");
    let body = readme.split(heading.as_str()).nth(1)?.split("\n### ").next()?;
    let row = body.lines().find(|l| l.starts_with(&format!("| `{key}` |")))?;
    let cell = row.trim_end_matches('|').rsplit('|').next()?.trim();
    Some(match cell.strip_prefix('`') {
        Some(rest) => rest.split('`').next()?.to_string(),
        None => cell.split_whitespace().next()?.to_string(),
    })
}

#[test]
fn the_readme_tables_give_the_defaults_the_code_uses() {
    use super::{channels as c, conversions as l, export as e, features as f, project as p, qualify as q, train as t};
    let numbers: [(&str, &str, f64); 28] = [
        ("labels", "window_days", f64::from(l::DEFAULT_WINDOW_DAYS)),
        ("labels", "history_months", f64::from(l::DEFAULT_HISTORY_MONTHS)),
        ("labels", "warn_below_per_month", f64::from(l::DEFAULT_WARN_BELOW_PER_MONTH)),
        ("labels", "min_conversions", f64::from(l::DEFAULT_MIN_CONVERSIONS)),
        ("features", "top_k", f64::from(f::DEFAULT_TOP_K)),
        ("features", "min_count", f64::from(f::DEFAULT_MIN_COUNT)),
        ("features", "audit_max_auc", f::DEFAULT_AUDIT_MAX_AUC),
        ("features", "audit_recent_days", f64::from(f::DEFAULT_AUDIT_RECENT_DAYS)),
        ("train", "validation_fraction", t::DEFAULT_VALIDATION_FRACTION),
        ("train", "seed", t::DEFAULT_SEED as f64),
        ("train", "max_trees", f64::from(t::DEFAULT_MAX_TREES)),
        ("train", "learning_rate", t::DEFAULT_LEARNING_RATE),
        ("train", "max_depth", f64::from(t::DEFAULT_MAX_DEPTH)),
        ("train", "l2", t::DEFAULT_L2),
        ("train", "champion_margin", t::DEFAULT_CHAMPION_MARGIN),
        ("train", "retrain_after_days", f64::from(t::DEFAULT_RETRAIN_AFTER_DAYS)),
        ("train", "sample_negatives_above", t::DEFAULT_SAMPLE_NEGATIVES_ABOVE as f64),
        ("qualify", "top_fraction", q::DEFAULT_TOP_FRACTION),
        ("qualify", "min_precision", q::DEFAULT_MIN_PRECISION),
        ("qualify", "min_recall", q::DEFAULT_MIN_RECALL),
        ("qualify", "min_probability", q::DEFAULT_MIN_PROBABILITY),
        ("qualify", "rescore_days", f64::from(q::DEFAULT_RESCORE_DAYS)),
        ("export", "google_click_window_days", f64::from(e::DEFAULT_GOOGLE_CLICK_WINDOW_DAYS)),
        ("export", "meta_max_age_days", f64::from(e::DEFAULT_META_MAX_AGE_DAYS)),
        ("export", "upload_within_hours", f64::from(e::DEFAULT_UPLOAD_WITHIN_HOURS)),
        ("export", "adjustment_window_days", f64::from(e::DEFAULT_ADJUSTMENT_WINDOW_DAYS)),
        ("channels", "min_leads", f64::from(c::DEFAULT_MIN_LEADS)),
        ("train", "tune_below_leads", t::DEFAULT_TUNE_BELOW_LEADS as f64),
    ];
    let texts = [
        ("project", "timezone", p::DEFAULT_TIMEZONE.to_string()),
        ("project", "output_dir", p::DEFAULT_OUTPUT_DIR.to_string()),
        ("project", "models_dir", p::DEFAULT_MODELS_DIR.to_string()),
        ("privacy", "keep_raw_identifiers", p::DEFAULT_KEEP_RAW_IDENTIFIERS.to_string()),
        ("sources", "max_reject_rate", super::DEFAULT_MAX_REJECT_RATE.to_string()),
        ("features", "event_windows_days", format!("{:?}", f::DEFAULT_EVENT_WINDOWS_DAYS)),
        ("train", "recency_adjustment", t::DEFAULT_RECENCY_ADJUSTMENT.to_string()),
        ("train", "refit", t::DEFAULT_REFIT.to_string()),
        ("qualify", "policy", q::DEFAULT_POLICY.name().to_string()),
        ("export", "include_unqualified", e::DEFAULT_INCLUDE_UNQUALIFIED.to_string()),
        ("export", "conversion_name", e::DEFAULT_CONVERSION_NAME.to_string()),
        ("export", "external_id", "lead_id".to_string()),
        ("export", "send_late_conversions", e::DEFAULT_SEND_LATE_CONVERSIONS.to_string()),
        ("export", "meta_converted_event_name", e::DEFAULT_META_CONVERTED_EVENT_NAME.to_string()),
        ("export", "crm_field_prefix", e::DEFAULT_CRM_FIELD_PREFIX.to_string()),
        ("channels", "join_on", c::DEFAULT_SPEND_JOIN_ON.to_string()),
    ];
    assert_eq!(e::DEFAULT_EXTERNAL_ID, e::ExternalId::LeadId);
    let mut wrong = Vec::new();
    for (section, key, value) in numbers {
        let found = readme_default(section, key);
        if found.as_deref().and_then(|s| s.parse::<f64>().ok()) != Some(value) {
            wrong.push(format!("[{section}] {key}: README {found:?}, code {value}"));
        }
    }
    for (section, key, value) in texts {
        let found = readme_default(section, key);
        if found.as_deref() != Some(value.as_str()) {
            wrong.push(format!("[{section}] {key}: README {found:?}, code {value}"));
        }
    }
    assert!(wrong.is_empty(), "README defaults differ from the code:\n{}", wrong.join("\n"));
}

#[test]
fn the_closed_loop_settings_are_checked() {
    let c = parse(GOOD).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.export.adjustment_window_days, 30);
    assert!(!c.export.send_late_conversions);
    assert_eq!(c.export.first_adjusted_day("2026-03-31".parse().unwrap()).to_string(), "2026-03-01");
    let bad = format!("{GOOD}\n[export]\nadjustment_window_days = 54\ncrm_field_prefix = \"Lead__Score\"\n");
    let p = problems(&bad);
    let keys: Vec<String> = p.iter().map(|p| p.path.clone()).collect();
    assert!(keys.contains(&"export.adjustment_window_days".to_string()), "{p:?}");
    assert!(keys.contains(&"export.crm_field_prefix".to_string()), "{p:?}");
}

#[test]
fn sql_definitions_are_planned_at_load_on_the_ingested_columns() {
    let good = format!(
        "{GOOD}\n[[conversions]]\nname = \"big\"\nsql = \"\"\"\nSELECT deal_id AS id, user_id, closed_at AS at, amount AS value\n\
         FROM deals WHERE pipeline = 'default' AND amount > 5000\n\"\"\"\ndedupe = {{ per_user_days = 30 }}\n"
    );
    let c = parse(&good).unwrap_or_else(|e| panic!("{e}"));
    let big = c.conversion("big").map(|d| (&d.kind, d.dedupe));
    assert!(matches!(big, Some((DefinitionKind::Sql(q), Dedupe::PerUserDays(30))) if q.starts_with("SELECT deal_id")));
    // A missing table, an unknown column, a result without `at`, and keys of a condition list.
    let bad = format!(
        "{GOOD}\n[[conversions]]\nname = \"a\"\nsql = \"SELECT id, user_id, at FROM opportunities\"\n\n\
         [[conversions]]\nname = \"b\"\nsql = \"SELECT deal_id AS id, user_id, closed_at AS at FROM deals WHERE stag = 'x'\"\n\n\
         [[conversions]]\nname = \"c\"\nsql = \"SELECT deal_id AS id, user_id FROM deals\"\n\n\
         [[conversions]]\nname = \"d\"\nsql = \"SELECT deal_id AS id, user_id, closed_at AS at FROM deals\"\nsource = \"deals\"\n"
    );
    let p = problems(&bad);
    assert_eq!(p.len(), 4, "{p:?}");
    for says in ["relation 'opportunities' was not found", "\"stag\"", "no `at`", "`sql` definition takes only"] {
        assert!(p.iter().any(|x| x.path.starts_with("conversions[") && x.message.contains(says)), "{says}: {p:?}");
    }
}

#[test]
fn database_sources_take_a_query_or_table_and_an_environment_variable_never_a_url() {
    let with_leads =
        |source: &str| GOOD.replace("[sources.leads]\npath = \"contacts.csv\"", &format!("[sources.leads]\n{source}"));
    let c =
        parse(&with_leads("connection = \"env:CRM_DB\"\ntable = \"crm.Contacts\"")).unwrap_or_else(|e| panic!("{e}"));
    let db = c.sources.leads.location.database.as_ref().map(|d| (d.connection_env.as_str(), d.query.as_str()));
    assert_eq!(db, Some(("CRM_DB", "SELECT * FROM \"crm\".\"Contacts\"")));
    assert!(c.sources.leads.location.path.is_empty());
    let c = parse(&with_leads("connection = \"env:CRM_DB\"\nquery = \"SELECT * FROM contacts;\""))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.sources.leads.location.database.as_ref().map(|d| d.query.as_str()), Some("SELECT * FROM contacts"));

    let cases = [
        ("connection = \"postgresql://crm:s3cret-pw@db:5432/crm\"\ntable = \"contacts\"", "expected `env:NAME`"),
        ("connection = \"env:CRM_DB\"\ntable = \"contacts\"\nquery = \"SELECT 1\"", "not both"),
        ("table = \"contacts\"", "needs `connection = \"env:NAME\"`"),
        ("connection = \"env:CRM_DB\"\ntable = \"contacts\"\ndelimiter = \";\"", "`delimiter` applies to files"),
        ("connection = \"env:CRM_DB\"", "needs a `query` or a `table`"),
        ("connection = \"env:CRM_DB\"\ntable = \"crm.\"", "expected a table name"),
    ];
    for (source, says) in cases {
        let p = problems(&with_leads(source));
        let all = p.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        assert!(all.contains(says), "{source}: {all}");
        assert!(!all.contains("s3cret-pw"), "the password is never echoed: {all}");
        assert_eq!(p.len(), 1, "one problem, not a follow-on one: {all}");
    }
}

#[test]
fn sql_definitions_may_name_the_tables_of_sources_tables() {
    let with = |tables: &str, sql: &str| {
        let tables = format!("{tables}\n");
        let at = GOOD.find("[[attributes]]").unwrap_or(GOOD.len());
        format!("{}{tables}{}\n[[conversions]]\nname = \"renewal\"\nsql = \"{sql}\"\n", &GOOD[..at], &GOOD[at..])
    };
    let renewals = "[sources.tables.renewals]\npath = \"renewals.csv\"\n\
                    columns = { renewal_id = \"text\", contact = \"text\", renewed = \"timestamp\", arr = \"numeric\", \
                    upsell = \"boolean\" }";
    let joined = "SELECT r.renewal_id AS id, r.contact AS user_id, r.renewed AS at, r.arr AS value \
                  FROM renewals r JOIN deals d ON d.user_id = r.contact WHERE r.upsell AND r.arr > 1000";
    let c = parse(&with(renewals, joined)).unwrap_or_else(|e| panic!("{e}"));
    let t = &c.sources.tables[0];
    assert_eq!(
        (t.name.as_str(), t.location.path.as_str(), t.section()),
        ("renewals", "renewals.csv", "tables.renewals".into())
    );
    let kinds: Vec<(&str, AttributeKind)> = t.columns.iter().map(|(n, k)| (n.as_str(), *k)).collect();
    assert!(kinds.contains(&("renewed", AttributeKind::Timestamp)) && kinds.contains(&("arr", AttributeKind::Numeric)));
    assert!(matches!(c.conversion("renewal").map(|d| &d.kind), Some(DefinitionKind::Sql(_))));
    let postgres = "[sources.tables.renewals]\nconnection = \"env:CRM_DB\"\ntable = \"billing.renewals\"\n\
                    columns = { renewal_id = \"text\", contact = \"text\", renewed = \"timestamp\" }";
    let c = parse(&with(postgres, "SELECT renewal_id AS id, contact AS user_id, renewed AS at FROM renewals"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(c.sources.tables[0].location.database.is_some());

    // Each problem where it is, once: the query is planned on the declared columns and kinds.
    let cases = [
        (renewals.to_string(), "SELECT renewal_id AS id, contact AS user_id, renewd AS at FROM renewals", "renewd"),
        (
            renewals.to_string(),
            "SELECT renewal_id AS id, contact AS user_id, arr AS at FROM renewals",
            "`at` must be a timestamp",
        ),
        (
            renewals.replace("tables.renewals", "tables.deals"),
            "SELECT deal_id AS id, user_id, closed_at AS at FROM deals",
            "the ingested deals table",
        ),
        (
            renewals.replace("tables.renewals", "tables.Renewals"),
            "SELECT deal_id AS id, user_id, closed_at AS at FROM deals",
            "not a valid table name",
        ),
        (
            renewals.replace("columns = {", "mapping = { lead_id = \"x\" }\ncolumns = {"),
            "SELECT deal_id AS id, user_id, closed_at AS at FROM deals",
            "`mapping` applies to leads",
        ),
        (
            "[sources.tables.renewals]\npath = \"renewals.csv\"".into(),
            "SELECT deal_id AS id, user_id, closed_at AS at FROM deals",
            "the columns to read",
        ),
        (
            renewals.replace("\"numeric\"", "\"money\""),
            "SELECT deal_id AS id, user_id, closed_at AS at FROM deals",
            "money",
        ),
    ];
    for (tables, sql, says) in cases {
        let p = problems(&with(&tables, sql));
        let all = p.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        assert!(all.contains(says), "{says}: {all}");
        assert_eq!(p.len(), 1, "one problem, not a follow-on one: {all}");
    }
    // `columns` belongs to a table, not to leads, deals or events.
    let p = problems(&GOOD.replace("extra = { pipeline = \"Pipeline\" }", "columns = { x = \"text\" }"));
    assert!(p.iter().any(|x| x.path == "sources.deals.columns" && x.message.contains("[sources.tables]")), "{p:?}");
}

#[test]
fn monotone_features_take_a_direction_and_leave_the_hash_alone_when_unset() {
    let with = parse(&format!(
        "{GOOD}\n[train]\nmonotone = {{ company_size = \"increasing\", events_30d = \"decreasing\" }}\n"
    ))
    .unwrap();
    let directions: Vec<(&str, Monotone)> = with.train.monotone.iter().map(|(f, m)| (f.as_str(), *m)).collect();
    assert_eq!(directions, [("company_size", Monotone::Increasing), ("events_30d", Monotone::Decreasing)]);
    // Unset and empty are the same config, with the hash of a config written before the key.
    let empty = parse(&format!("{GOOD}\n[train]\nmonotone = {{}}\n")).unwrap();
    assert_eq!(empty.hash(), parse(GOOD).unwrap().hash());
    assert_ne!(with.hash(), empty.hash());
    // A direction that is neither is refused where it is written.
    let ps = problems(&format!("{GOOD}\n[train]\nmonotone = {{ company_size = \"up\" }}\n"));
    let all = ps.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    assert!(all.starts_with("line ") && all.contains("unknown variant `up`, expected `increasing`"), "{all}");
}
