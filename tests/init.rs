//! `leadscore init` as a new user would run it: on the bundled HubSpot-shaped sample, on a
//! Salesforce-shaped synthetic export, and on an export whose columns were renamed and whose
//! delimiter is `;`. Each proposal is a config `validate` accepts, with the preset (or the
//! columns) recognised and the attributes filled in after creation kept out of the features.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::Path;

use common::*;
use polars::prelude::IntoLazy;

fn sample_file(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample").join(name)
}

/// `leadscore init` into `<dir>/leadscore.toml`, then `validate` on it; the config text.
fn init_and_validate(dir: &Path, files: &[&str]) -> String {
    let mut args = vec!["init"];
    args.extend_from_slice(files);
    args.extend(["--out", "leadscore.toml"]);
    let o = leadscore(&args, dir);
    assert_eq!(code(&o), 0, "init: {}", stderr(&o));
    assert!(stdout(&o).contains("leadscore validate"), "{}", stdout(&o));
    let o = leadscore(&["validate", "--config", "leadscore.toml", "--date", DATE], dir);
    let text = fs::read_to_string(dir.join("leadscore.toml")).unwrap();
    assert_eq!(code(&o), 0, "validate: {}\n{text}", stderr(&o));
    text
}

/// The `[[attributes]]` entry of a column, as written.
fn attribute<'a>(text: &'a str, column: &str) -> &'a str {
    let start =
        text.find(&format!("column = \"{column}\"")).unwrap_or_else(|| panic!("no attribute {column}:\n{text}"));
    let end = text[start..].find("\n\n").map_or(text.len(), |e| start + e);
    &text[start..end]
}

#[test]
fn the_hubspot_sample_is_recognised_and_later_filled_columns_are_flagged() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["contacts.csv", "deals.csv", "events.csv"] {
        fs::copy(sample_file(f), dir.path().join(f)).unwrap();
    }
    let text =
        init_and_validate(dir.path(), &["--leads", "contacts.csv", "--deals", "deals.csv", "--events", "events.csv"]);
    assert!(text.contains("preset = \"hubspot\""), "{text}");
    assert!(text.contains("path = \"contacts.csv\""), "{text}");
    assert!(attribute(&text, "Customer Tier").contains("available_at_creation = false"), "{text}");
    assert!(attribute(&text, "Industry").contains("kind = \"categorical\""), "{text}");
    assert!(attribute(&text, "Number of Employees").contains("kind = \"numeric\""), "{text}");
    assert!(!attribute(&text, "Industry").contains("available_at_creation"), "{text}");
    // Identity columns are mapped, never attributes.
    assert!(!text.contains("column = \"Email\""), "{text}");

    // It does not overwrite a config without --force.
    let o = leadscore(&["init", "--leads", "contacts.csv", "--deals", "deals.csv"], dir.path());
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
}

#[test]
fn a_salesforce_export_is_recognised() {
    let dir = tempfile::tempdir().unwrap();
    let o =
        leadscore(&["synth", "--out", "sf", "--leads", "20000", "--shape", "salesforce", "--seed", "3"], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let sf = dir.path().join("sf");
    fs::remove_file(sf.join("leadscore.toml")).unwrap();
    let text = init_and_validate(&sf, &["--leads", "Lead.csv", "--deals", "Opportunity.csv"]);
    assert!(text.contains("preset = \"salesforce\""), "{text}");
    assert!(text.contains("[[attributes]]"), "{text}");
}

#[test]
fn a_renamed_semicolon_export_is_matched_by_column_names() {
    let dir = tempfile::tempdir().unwrap();
    let rename = |file: &str, to: &str, renames: &[(&str, &str)]| {
        let text = fs::read_to_string(sample_file(file)).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let mut w = csv::WriterBuilder::new().delimiter(b';').from_path(dir.path().join(to)).unwrap();
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(|h| renames.iter().find(|(from, _)| *from == h).map_or(h, |(_, to)| to).to_string())
            .collect();
        w.write_record(&header).unwrap();
        for r in reader.records() {
            w.write_record(&r.unwrap()).unwrap();
        }
        w.flush().unwrap();
    };
    rename(
        "contacts.csv",
        "people.csv",
        &[
            ("Record ID", "Contact ID"),
            ("Create Date", "Created On"),
            ("Associated Company ID", "Account ID"),
            ("Email", "E-mail Address"),
            ("Phone Number", "Mobile"),
            ("Last Modified Date", "Modified On"),
        ],
    );
    rename(
        "deals.csv",
        "opportunities.csv",
        &[
            ("Record ID", "Opportunity ID"),
            ("Associated Company ID", "Account ID"),
            ("Create Date", "Created On"),
            ("Close Date", "Closed On"),
            ("Deal Stage", "Stage"),
            ("Amount", "Deal Value"),
            ("Deal Currency Code", "Currency"),
        ],
    );
    let text = init_and_validate(dir.path(), &["--leads", "people.csv", "--deals", "opportunities.csv"]);
    assert!(!text.contains("preset ="), "{text}");
    assert!(text.contains("delimiter = \";\""), "{text}");
    for pair in [
        "lead_id = \"Contact ID\"",
        "created_at = \"Created On\"",
        "user_id = \"Account ID\"",
        "email = \"E-mail Address\"",
        "phone = \"Mobile\"",
        "deal_id = \"Opportunity ID\"",
        "closed_at = \"Closed On\"",
        "amount = \"Deal Value\"",
    ] {
        assert!(text.contains(pair), "{pair}:\n{text}");
    }
    // The won stage is found among the deals' values, and is the target.
    assert!(text.contains("value = \"closedwon\""), "{text}");
    assert!(text.contains("target = \"closed_won\""), "{text}");
    assert!(attribute(&text, "Customer Tier").contains("available_at_creation = false"), "{text}");

    // A file where no column can be the lead id: the error names the field and lists the columns.
    fs::write(dir.path().join("bad.csv"), "Name,When\nA,2026-01-01\n").unwrap();
    let o =
        leadscore(&["init", "--leads", "bad.csv", "--deals", "opportunities.csv", "--out", "other.toml"], dir.path());
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("`lead_id`") && stderr(&o).contains("Name, When"), "{}", stderr(&o));
    assert!(!dir.path().join("other.toml").exists());
}

/// Dataverse `lead` and `opportunity` rows as a Dynamics 365 export writes them: GUID ids,
/// UTC timestamps with seven fractional digits, `statecode` as a number or as its label.
const DYNAMICS_LEADS: &str = "\
leadid,createdon,modifiedon,emailaddress1,telephone1,firstname,lastname,companyname,leadsourcecode
a1b2c3d4-0000-4000-8000-000000000001,2026-01-05T09:30:00.0000000Z,2026-02-01T10:00:00Z,ann@example.org,+31 20 555 0101,Ann,Jansen,Northwind,1
a1b2c3d4-0000-4000-8000-000000000002,2026-01-06T10:00:00Z,2026-02-03T10:00:00Z,bo@example.org,+31 20 555 0102,Bo,Visser,Contoso,2
a1b2c3d4-0000-4000-8000-000000000003,2026-01-07T11:00:00Z,2026-01-20T10:00:00Z,cas@example.org,+31 20 555 0103,Cas,Smit,Fabrikam,1
a1b2c3d4-0000-4000-8000-000000000004,2026-01-08T12:00:00Z,2026-02-10T10:00:00Z,dee@example.org,+31 20 555 0104,Dee,Bakker,Adatum,3
a1b2c3d4-0000-4000-8000-000000000005,2026-01-09T13:00:00Z,2026-01-09T13:00:00Z,eli@example.org,+31 20 555 0105,Eli,Mulder,Litware,2
";

const DYNAMICS_OPPORTUNITIES: &str = "\
opportunityid,originatingleadid,createdon,modifiedon,actualclosedate,statecode,closeprobability,actualvalue,name
b0000000-0000-4000-8000-000000000001,a1b2c3d4-0000-4000-8000-000000000001,2026-01-10T09:00:00Z,2026-02-01T10:00:00Z,2026-02-01T00:00:00Z,1,100,12000,Northwind renewal
b0000000-0000-4000-8000-000000000002,a1b2c3d4-0000-4000-8000-000000000002,2026-01-12T09:00:00Z,2026-02-03T10:00:00Z,2026-02-03T00:00:00Z,2,0,,Contoso pilot
b0000000-0000-4000-8000-000000000003,a1b2c3d4-0000-4000-8000-000000000003,2026-01-15T09:00:00Z,2026-01-20T10:00:00Z,,0,40,,Fabrikam rollout
b0000000-0000-4000-8000-000000000004,a1b2c3d4-0000-4000-8000-000000000004,2026-01-20T09:00:00Z,2026-02-10T10:00:00Z,2026-02-10T00:00:00Z,Won,100,5000,Adatum licences
";

#[test]
fn the_dynamics_365_preset_reads_dataverse_leads_and_opportunities() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("lead.csv"), DYNAMICS_LEADS).unwrap();
    fs::write(dir.path().join("opportunity.csv"), DYNAMICS_OPPORTUNITIES).unwrap();
    // init recognises the tables' columns.
    let o =
        leadscore(&["init", "--leads", "lead.csv", "--deals", "opportunity.csv", "--out", "proposed.toml"], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let proposed = fs::read_to_string(dir.path().join("proposed.toml")).unwrap();
    assert!(proposed.contains("preset = \"dynamics365\""), "{proposed}");

    let config = "[project]\nname = \"d365\"\ncurrency = \"EUR\"\ntimezone = \"UTC\"\noutput_dir = \".\"\n\n\
                  [sources]\npreset = \"dynamics365\"\n\n[sources.leads]\npath = \"lead.csv\"\n\n\
                  [sources.deals]\npath = \"opportunity.csv\"\n\n[labels]\nmin_conversions = 1\n";
    fs::write(dir.path().join("leadscore.toml"), config).unwrap();
    for stage in ["ingest", "labels"] {
        let o = leadscore(&["stage", stage, "--config", "leadscore.toml", "--date", "2026-03-01"], dir.path());
        assert_eq!(code(&o), 0, "{stage}: {}", stderr(&o));
    }
    let run = dir.path().join("runs/2026-03-01");
    let leads = read_parquet(&run.join("ingest/leads.parquet"));
    assert_eq!(leads.height(), 5, "every lead read: {leads}");
    let conversions = read_parquet(&run.join("labels/conversions.parquet"));
    let won = conversions
        .lazy()
        .filter(polars::prelude::col("conversion_name").eq(polars::prelude::lit("closed_won")))
        .collect()
        .unwrap();
    let text =
        |c: &str| won.column(c).unwrap().str().unwrap().iter().map(|v| v.unwrap_or("").to_string()).collect::<Vec<_>>();
    // Won as `1` and as `Won`; the lost and the open one are not conversions.
    assert_eq!(text("source_id"), ["b0000000-0000-4000-8000-000000000001", "b0000000-0000-4000-8000-000000000004"]);
    assert_eq!(text("user_id"), ["a1b2c3d4-0000-4000-8000-000000000001", "a1b2c3d4-0000-4000-8000-000000000004"]);
    let values: Vec<Option<f64>> = won.column("value").unwrap().f64().unwrap().iter().collect();
    assert_eq!(values, [Some(12000.0), Some(5000.0)]);
}

/// Pipedrive persons and deals as a sync tool mirrors the API: integer ids, UTC times.
const PIPEDRIVE_PERSONS: &str = "\
id,add_time,update_time,name,org_name,primary_email
101,2026-01-05 09:30:00,2026-02-01 10:00:00,Ann Jansen,Northwind,ann@example.org
102,2026-01-06 10:00:00,2026-02-03 10:00:00,Bo Visser,Contoso,bo@example.org
103,2026-01-07 11:00:00,2026-01-20 10:00:00,Cas Smit,Fabrikam,cas@example.org
";

const PIPEDRIVE_DEALS: &str = "\
id,person_id,add_time,update_time,close_time,status,probability,value,currency,title
7,101,2026-01-10 09:00:00,2026-02-01 10:00:00,2026-02-01 08:00:00,won,,12000,EUR,Northwind deal
8,102,2026-01-12 09:00:00,2026-02-03 10:00:00,2026-02-03 08:00:00,lost,,3000,EUR,Contoso deal
9,103,2026-01-15 09:00:00,2026-01-20 10:00:00,,deleted,,500,EUR,Fabrikam deal
";

#[test]
fn the_pipedrive_preset_reads_persons_and_deals() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("persons.csv"), PIPEDRIVE_PERSONS).unwrap();
    fs::write(dir.path().join("deals.csv"), PIPEDRIVE_DEALS).unwrap();
    let o =
        leadscore(&["init", "--leads", "persons.csv", "--deals", "deals.csv", "--out", "proposed.toml"], dir.path());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let proposed = fs::read_to_string(dir.path().join("proposed.toml")).unwrap();
    assert!(proposed.contains("preset = \"pipedrive\""), "{proposed}");

    let config = "[project]\nname = \"pd\"\ncurrency = \"EUR\"\ntimezone = \"UTC\"\noutput_dir = \".\"\n\n\
                  [sources]\npreset = \"pipedrive\"\n\n[sources.leads]\npath = \"persons.csv\"\n\
                  mapping = { email = \"primary_email\" }\n\n[sources.deals]\npath = \"deals.csv\"\n\n\
                  [labels]\nmin_conversions = 1\n";
    fs::write(dir.path().join("leadscore.toml"), config).unwrap();
    for stage in ["ingest", "labels"] {
        let o = leadscore(&["stage", stage, "--config", "leadscore.toml", "--date", "2026-03-01"], dir.path());
        assert_eq!(code(&o), 0, "{stage}: {}", stderr(&o));
    }
    let conversions = read_parquet(&dir.path().join("runs/2026-03-01/labels/conversions.parquet"));
    let of = |name: &str| {
        let df = conversions
            .clone()
            .lazy()
            .filter(polars::prelude::col("conversion_name").eq(polars::prelude::lit(name)))
            .collect()
            .unwrap();
        df.column("source_id").unwrap().str().unwrap().iter().map(|v| v.unwrap_or("").to_string()).collect::<Vec<_>>()
    };
    assert_eq!(of("closed_won"), ["7"], "only the won deal");
    assert_eq!(of("open_opp"), ["7", "8"], "every deal but the deleted one");
}

#[test]
fn an_event_export_s_preset_is_recognised_beside_the_crm_s() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["contacts.csv", "deals.csv"] {
        fs::copy(sample_file(f), dir.path().join(f)).unwrap();
    }
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/leadscore-ingest/tests/fixtures/events/amplitude.jsonl");
    fs::copy(fixture, dir.path().join("export.jsonl")).unwrap();
    let text =
        init_and_validate(dir.path(), &["--leads", "contacts.csv", "--deals", "deals.csv", "--events", "export.jsonl"]);
    assert!(text.contains("[sources]\n# The columns are those of a HubSpot export.\npreset = \"hubspot\""), "{text}");
    assert!(
        text.contains(
            "[sources.events]\npath = \"export.jsonl\"\n# Columns as Amplitude exports them.\npreset = \"amplitude\"\n"
        ),
        "{text}"
    );
}
