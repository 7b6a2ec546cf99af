//! Integration tests of the qualify stage with a hand-made champion: which leads are scored,
//! probabilities, scores, the policy, reasons, and "nothing to do".

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use leadscore_core::config::Policy;
use leadscore_core::schema::{leads, scores as s};
use leadscore_core::{Classify, Config, ExitKind, RunContext, RunDate};
use leadscore_model::classifier::MODEL_VERSION;
use leadscore_model::registry::{LoadedModel, PolicyThreshold, SegmentCut, Thresholds};
use leadscore_model::spec::SPEC_VERSION;
use leadscore_model::{
    Calibrator, Classifier, Encoding, FeatureKind, FeatureSpec, FittedFeature, ModelArtifact, Recipe, derive,
};
use leadscore_qualify::{QualifyError, QualifyInputs, run};
use polars::prelude::*;

const HOUR: i64 = 3_600_000_000;
/// 2026-03-01 00:00 UTC.
const D: i64 = 1_772_323_200_000_000;

fn config(extra: &str) -> Config {
    let text = format!(
        "[project]\nname = \"t\"\ncurrency = \"EUR\"\n[sources]\npreset = \"hubspot\"\n[sources.leads]\npath = \"l.csv\"\n[sources.deals]\npath = \"d.csv\"\n{extra}"
    );
    Config::from_toml(&text, "test.toml", Path::new(".")).unwrap()
}

fn ctx() -> RunContext {
    RunContext {
        run_date: "2026-03-01".parse::<RunDate>().unwrap(),
        config_hash: "h".into(),
        seed: 1,
        retrain: false,
        partition: None,
        scope: leadscore_core::Scope::Full,
    }
}

/// Leads at the given instants; every other one came from a Google Ads click.
fn leads_at(created: &[i64]) -> DataFrame {
    let n = created.len();
    let none = vec![None::<&str>; n];
    DataFrame::new_infer_height(vec![
        Column::new(leads::LEAD_ID.into(), (0..n).map(|i| format!("l{i}")).collect::<Vec<_>>()),
        Column::new(leads::CREATED_AT.into(), created.to_vec())
            .cast(&DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)))
            .unwrap(),
        Column::new(leads::USER_ID.into(), (0..n).map(|i| format!("u{i}")).collect::<Vec<_>>()),
        Column::new(leads::CLIENT_ID.into(), none.clone()),
        // What ingest keeps of a@acme.io and no phone.
        Column::new(leads::EMAIL_DOMAIN.into(), vec![Some("acme.io"); n]),
        Column::new(leads::EMAIL_CLASS.into(), vec![Some("corporate"); n]),
        Column::new(leads::PHONE_COUNTRY.into(), vec![Some("missing"); n]),
        Column::new(leads::GCLID.into(), (0..n).map(|i| (i % 2 == 0).then_some("Cj0")).collect::<Vec<_>>()),
        Column::new(leads::FBCLID.into(), none.clone()),
        Column::new(leads::META_LEAD_ID.into(), none),
    ])
    .unwrap()
}

/// A champion whose log-odds are -3 + 2 x paid_search_click, calibrated as is.
fn champion() -> LoadedModel {
    let recipe = Recipe { timezone: "UTC".into(), attributes: vec![], events: None };
    let (_, catalog) = derive(&leads_at(&[D]), None, &recipe).unwrap();
    let features = catalog
        .iter()
        .map(|d| match d.kind {
            FeatureKind::Numeric => {
                FittedFeature::Numeric { name: d.name.clone(), impute: 0.0, mean: 0.0, std: 1.0, has_missing: false }
            }
            FeatureKind::Categorical => {
                FittedFeature::Categorical { name: d.name.clone(), levels: vec![], tree_codes: vec![] }
            }
        })
        .collect();
    let spec = FeatureSpec { version: SPEC_VERSION, recipe, catalog, features };
    let columns: Vec<String> = spec.design_columns(Encoding::Linear).into_iter().map(|c| c.name).collect();
    let coefficients = columns.iter().map(|c| if c == "paid_search_click" { 2.0 } else { 0.0 }).collect();
    let artifact = ModelArtifact {
        version: MODEL_VERSION,
        model_id: "m1".into(),
        columns,
        classifier: Classifier::Logistic { coefficients, intercept: -3.0 },
        calibrator: Calibrator::Platt { a: 1.0, b: 0.0 },
        value: None,
        recency_shift: 0.0,
        validated: None,
    };
    let pt = |policy, parameter, threshold| PolicyThreshold {
        policy,
        parameter,
        threshold,
        precision: 0.3,
        recall: 0.5,
        qualified_share: 0.5,
        reachable: true,
    };
    let seg = |name: &str, min_probability| SegmentCut {
        name: name.into(),
        min_probability,
        share_of_leads: 0.25,
        share_of_conversions: 0.25,
        conversion_rate: 0.1,
        lift_over_low: 1.0,
    };
    let thresholds = Thresholds {
        configured_policy: Policy::TopFraction,
        policies: vec![
            pt(Policy::TopFraction, 0.2, 0.2),
            pt(Policy::MinPrecision, 0.3, 0.2),
            pt(Policy::MinRecall, 0.8, 0.01),
            pt(Policy::MinProbability, 0.1, 0.1),
        ],
        segments: vec![seg("very good", 0.2), seg("good", 0.1), seg("medium", 0.05), seg("low", 0.0)],
        score_quantiles: (0..=100).map(|k| f64::from(k) / 100.0 * 0.5).collect(),
    };
    artifact.check_spec(&spec).unwrap();
    LoadedModel { dir: PathBuf::from("."), artifact, spec, thresholds }
}

fn inputs(created: &[i64]) -> QualifyInputs {
    QualifyInputs { leads: leads_at(created), events: DataFrame::empty() }
}

#[test]
fn scores_exactly_the_day_before_the_run_date_with_probability_score_policy_and_reasons() {
    // The day before D is [D - 24h, D): its first instant is in, D itself and the hour before the
    // day are out.
    let created = [D - 25 * HOUR, D - 24 * HOUR, D - 12 * HOUR, D - 11 * HOUR, D - 1, D];
    let out = run(&config(""), &inputs(&created), &ctx(), &champion()).unwrap();
    let ids: Vec<&str> = out.scores.column(s::LEAD_ID).unwrap().str().unwrap().iter().flatten().collect();
    assert_eq!(ids, ["l1", "l2", "l3", "l4"]);
    let p: Vec<f64> = out.scores.column(s::PROBABILITY).unwrap().f64().unwrap().iter().flatten().collect();
    let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
    // l2 and l4 (even index) clicked an ad: sigmoid(-1); the others sigmoid(-3).
    let expected = [sig(-3.0), sig(-1.0), sig(-3.0), sig(-1.0)];
    assert!(p.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-12), "{p:?}");
    let q: Vec<bool> = out.scores.column(s::QUALIFIED).unwrap().bool().unwrap().iter().flatten().collect();
    assert_eq!(q, [false, true, false, true], "top_fraction threshold 0.2 from the model");
    let seg: Vec<&str> = out.scores.column(s::SEGMENT).unwrap().str().unwrap().iter().flatten().collect();
    assert_eq!(seg, ["low", "very good", "low", "very good"]);
    let score: Vec<f64> = out.scores.column(s::SCORE).unwrap().f64().unwrap().iter().flatten().collect();
    assert!(score[1] > score[0] && (score[1] - 100.0 * sig(-1.0) / 0.5).abs() < 0.1, "{score:?}");
    let r1: Vec<Option<&str>> = out.scores.column(s::REASONS[0]).unwrap().str().unwrap().iter().collect();
    assert_eq!(r1[1], Some("paid search click: 1 (+2.00)"));
    assert_eq!(r1[0], None, "no click: no contribution worth a reason");
    assert_eq!(out.report.qualified, 2);
    assert_eq!(out.report.model_id, "m1");
}

#[test]
fn rescore_days_widen_the_range_and_a_changed_parameter_is_flagged() {
    let created = [D - 30 * HOUR, D - 12 * HOUR];
    let cfg = config("[qualify]\nrescore_days = 1\ntop_fraction = 0.3\n");
    let out = run(&cfg, &inputs(&created), &ctx(), &champion()).unwrap();
    assert_eq!(out.scores.height(), 2);
    assert!(out.report.warnings.iter().any(|w| w.contains("top_fraction") && w.contains("retrain")));
}

#[test]
fn the_configured_policy_picks_its_threshold() {
    let created = [D - 12 * HOUR, D - 11 * HOUR];
    let cfg = config("[qualify]\npolicy = \"min_recall\"\n");
    let out = run(&cfg, &inputs(&created), &ctx(), &champion()).unwrap();
    assert_eq!(out.report.policy, Policy::MinRecall);
    assert_eq!(out.report.qualified, 2, "threshold 0.01 qualifies both");
}

#[test]
fn no_leads_for_the_day_is_nothing_to_do() {
    let err = run(&config(""), &inputs(&[D - 72 * HOUR, D + HOUR]), &ctx(), &champion()).unwrap_err();
    assert!(matches!(err, QualifyError::NoLeads { .. }));
    assert_eq!(err.exit_kind(), ExitKind::NothingToDo);
    assert!(err.to_string().contains("2026-02-28"), "{err}");
}
