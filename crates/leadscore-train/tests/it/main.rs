//! Integration tests of the train stage: a known world, the volume gate, determinism, the
//! champion rule and the retraining cadence.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use leadscore_core::config::Policy;
use leadscore_core::schema::features as f;
use leadscore_core::{Classify, Config, ExitKind, RunContext, RunDate};
use leadscore_model::registry::{self, Champion, ChampionState, Due};
use leadscore_model::spec::SPEC_VERSION;
use leadscore_model::{FeatureDef, FeatureKind, FeatureSpec, FittedFeature, Recipe};
use leadscore_train::{TrainError, TrainInputs, run};
use polars::prelude::*;

const DAY_US: i64 = 86_400_000_000;
const T0: i64 = 1_735_689_600_000_000; // 2025-01-01

fn config(extra: &str) -> Config {
    let text = format!(
        r#"
[project]
name = "t"
currency = "EUR"
[sources]
preset = "hubspot"
[sources.leads]
path = "l.csv"
[sources.deals]
path = "d.csv"
{extra}
"#
    );
    Config::from_toml(&text, "test.toml", Path::new(".")).unwrap()
}

fn ctx(date: &str) -> RunContext {
    RunContext {
        run_date: date.parse::<RunDate>().unwrap(),
        config_hash: "h".into(),
        seed: 1,
        retrain: false,
        partition: None,
        scope: leadscore_core::Scope::Full,
    }
}

/// A hash-based uniform in [0, 1) (SplitMix64 of the index and salt), so the world is
/// deterministic without a RNG crate and draws with different salts are independent.
fn u(i: u64, salt: u64) -> f64 {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(salt.wrapping_mul(0xD1B5_4A32_D192_ED03));
    for _ in 0..2 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// `n` leads over 300 days: P(convert) = sigmoid(-3 + 1.5 x + 1.0 [tier = gold] - 0.8 [missing]),
/// the last 20% in validation. Returns the inputs and the true probabilities of validation leads.
fn world(n: usize) -> (TrainInputs, Vec<f64>) {
    let mut lead_id = Vec::new();
    let mut created = Vec::new();
    let mut split = Vec::new();
    let mut converted = Vec::new();
    let mut x = Vec::new();
    let mut tier: Vec<Option<&str>> = Vec::new();
    let mut truth = Vec::new();
    for i in 0..n {
        let xi = 2.0 * u(i as u64, 1) - 1.0;
        let t = match u(i as u64, 2) {
            v if v < 0.3 => Some("gold"),
            v if v < 0.8 => Some("silver"),
            v if v < 0.95 => None,
            _ => Some("rare"),
        };
        let z = -3.0 + 1.5 * xi + if t == Some("gold") { 1.0 } else { 0.0 } - if t.is_none() { 0.8 } else { 0.0 };
        let p = 1.0 / (1.0 + (-z).exp());
        let val = i >= n * 8 / 10;
        if val {
            truth.push(p);
        }
        lead_id.push(format!("L{i:06}"));
        created.push(T0 + (i as i64) * 300 * DAY_US / n as i64);
        split.push(if val { f::VALIDATION } else { f::TRAIN });
        converted.push(u(i as u64, 3) < p);
        x.push(if i % 50 == 0 { None } else { Some(xi) });
        tier.push(t);
    }
    let df = df!(
        f::LEAD_ID => lead_id,
        f::CREATED_AT => created,
        f::SPLIT => split,
        f::CONVERTED => converted,
        f::VALUE_IN_WINDOW => vec![0.0; n],
        "x" => x,
        "tier" => tier,
    )
    .unwrap()
    .lazy()
    .with_column(col(f::CREATED_AT).cast(DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))))
    .collect()
    .unwrap();
    let def =
        |name: &str, kind| FeatureDef { name: name.into(), kind, origin: "test".into(), description: name.into() };
    let spec = FeatureSpec {
        version: SPEC_VERSION,
        recipe: Recipe { timezone: "UTC".into(), attributes: vec![], events: None },
        catalog: vec![def("x", FeatureKind::Numeric), def("tier", FeatureKind::Categorical)],
        features: vec![
            FittedFeature::Numeric { name: "x".into(), impute: 0.0, mean: 0.0, std: 0.58, has_missing: true },
            FittedFeature::Categorical {
                name: "tier".into(),
                levels: vec!["silver".into(), "gold".into()],
                tree_codes: vec![1.0, 3.0, 2.0, 0.0],
            },
        ],
    };
    (TrainInputs { features: df, spec, audit: vec![], outcomes: None }, truth)
}

/// Rewrites each row's split and label: `f(row, split, converted)` gives the new pair.
fn relabel(inputs: &mut TrainInputs, mut f: impl FnMut(usize, &str, Option<bool>) -> (&'static str, Option<bool>)) {
    let df = &inputs.features;
    let splits = df.column(f::SPLIT).unwrap().str().unwrap().clone();
    let labels = df.column(f::CONVERTED).unwrap().bool().unwrap().clone();
    let (split, conv): (Vec<&str>, Vec<Option<bool>>) =
        splits.iter().zip(labels.iter()).enumerate().map(|(i, (s, y))| f(i, s.unwrap_or(f::TRAIN), y)).unzip();
    inputs.features.with_column(Column::new(f::SPLIT.into(), split)).unwrap();
    inputs.features.with_column(Column::new(f::CONVERTED.into(), conv)).unwrap();
}

/// The split names the world uses, as `'static` strings.
fn split_name(s: &str) -> &'static str {
    if s == f::VALIDATION { f::VALIDATION } else { f::TRAIN }
}

#[test]
fn learns_a_known_world_calibrated_with_policies_that_hold() {
    let (inputs, truth) = world(40_000);
    let cfg = config("");
    let out = run(&cfg, inputs.clone(), &ctx("2026-01-01"), None).unwrap();
    let t = out.report.trained.as_deref().unwrap();
    let val_labels: Vec<bool> = {
        let df = &inputs.features;
        let m = df.column(f::SPLIT).unwrap().str().unwrap().equal(f::VALIDATION);
        df.filter(&m).unwrap().column(f::CONVERTED).unwrap().bool().unwrap().iter().map(|y| y == Some(true)).collect()
    };
    let truth_auc = leadscore_model::metrics::roc_auc(&truth, &val_labels).unwrap();
    let h = &t.evaluation.headline;
    assert!(h.roc_auc > truth_auc - 0.02, "AUC {} vs truth {truth_auc}", h.roc_auc);
    assert!(h.ece < 0.02, "ECE {}", h.ece);
    // Logistic regression, trees and (a training slice of 32,000 leads) their blend.
    assert_eq!(t.candidates.len(), 3);
    assert!(t.why.contains("chosen"));
    // Every policy's figures are what its threshold gives on validation.
    let top = t.thresholds.policy(Policy::TopFraction).unwrap();
    assert!((top.qualified_share - 0.2).abs() < 0.01, "{top:?}");
    let prec = t.thresholds.policy(Policy::MinPrecision).unwrap();
    assert!(!prec.reachable || prec.precision >= 0.3);
    let rec = t.thresholds.policy(Policy::MinRecall).unwrap();
    assert!(rec.recall >= 0.8);
    // The segments are ordered and the feature that matters most is found.
    let seg = &t.thresholds.segments;
    assert!(seg.windows(2).all(|w| w[0].conversion_rate >= w[1].conversion_rate), "{seg:?}");
    assert_eq!(t.importance[0].feature, "x");
    assert!(!t.rules.is_empty());
    assert!(out.bundle.html.contains("<svg") && out.bundle.html.contains(&t.model_id));
    let html = &out.bundle.html;
    assert!(
        !html.contains("<script") && !html.contains("<link") && !html.contains("<img") && !html.contains("https://"),
        "the report must be self-contained"
    );
}

#[test]
fn trees_on_sampled_negatives_with_weights_stay_ranked_and_calibrated() {
    let (inputs, truth) = world(40_000);
    let out =
        run(&config("[train]\nsample_negatives_above = 10000"), inputs.clone(), &ctx("2026-01-01"), None).unwrap();
    let t = out.report.trained.as_deref().unwrap();
    let boosted = t.candidates.iter().find(|c| c.kind == leadscore_model::ModelKind::Boosted).unwrap();
    let b = boosted.boosting.as_ref().unwrap();
    // 32k training leads, about 10k kept: every conversion and a share of the rest.
    assert!(b.negative_rate > 0.0 && b.negative_rate < 0.5, "{b:?}");
    assert!((8_000..12_000).contains(&boosted.rows), "{} rows", boosted.rows);
    assert!(boosted.rows < t.train.leads);
    let val_labels: Vec<bool> = {
        let df = &inputs.features;
        let m = df.column(f::SPLIT).unwrap().str().unwrap().equal(f::VALIDATION);
        df.filter(&m).unwrap().column(f::CONVERTED).unwrap().bool().unwrap().iter().map(|y| y == Some(true)).collect()
    };
    let truth_auc = leadscore_model::metrics::roc_auc(&truth, &val_labels).unwrap();
    let h = &boosted.validation;
    assert!(h.roc_auc > truth_auc - 0.02, "AUC {} vs truth {truth_auc}", h.roc_auc);
    assert!(h.ece < 0.02, "ECE {}", h.ece);
    // Calibrated on the untouched validation leads: the level is the observed one.
    assert!((h.mean_predicted - h.base_rate).abs() < 0.01, "{h:?}");
    assert!(out.report.summary().contains("sample_negatives_above"), "{}", out.report.summary());
}

#[test]
fn the_same_data_and_seed_give_the_same_model_bytes() {
    let (inputs, _) = world(6_000);
    let cfg = config("");
    let a = run(&cfg, inputs.clone(), &ctx("2026-01-01"), None).unwrap();
    let b = run(&cfg, inputs.clone(), &ctx("2026-01-01"), None).unwrap();
    let bytes = |o: &leadscore_train::TrainOutputs| serde_json::to_vec(&o.bundle.artifact).unwrap();
    assert_eq!(bytes(&a), bytes(&b));
    assert_eq!(a.bundle.artifact.model_id, b.bundle.artifact.model_id);
    assert_eq!(serde_json::to_vec(&a.bundle.thresholds).unwrap(), serde_json::to_vec(&b.bundle.thresholds).unwrap());
}

#[test]
fn too_few_conversions_refuse_to_train_with_exit_4_and_the_numbers() {
    let (mut inputs, _) = world(2_000);
    // Keep only 30 conversions.
    let mut seen = 0;
    relabel(&mut inputs, |_, s, y| {
        let keep = y == Some(true) && seen < 30;
        seen += usize::from(keep);
        (split_name(s), Some(keep))
    });
    let err = run(&config(""), inputs.clone(), &ctx("2026-01-01"), None).unwrap_err();
    assert!(matches!(err, TrainError::NotEnoughData { .. }));
    assert_eq!(err.exit_kind(), ExitKind::NotEnoughData);
    let msg = err.to_string();
    assert!(msg.contains("30 target conversions") && msg.contains("min_conversions"), "{msg}");
}

#[test]
fn rows_of_another_split_and_unlabelled_rows_never_enter_training() {
    let (mut inputs, _) = world(6_000);
    // Mark the newest 500 leads with a split train does not train on (the `score` split of older
    // builds): no label.
    let n = inputs.features.height();
    relabel(&mut inputs, |i, s, y| if i >= n - 500 { ("score", None) } else { (split_name(s), y) });
    let out = run(&config(""), inputs.clone(), &ctx("2026-01-01"), None).unwrap();
    let t = out.report.trained.as_deref().unwrap();
    assert_eq!(t.train.leads + t.validation.leads, (n - 500) as u64);
    assert!(t.train.to < t.validation.from, "validation is strictly later than training");
}

#[test]
fn a_champion_that_is_better_on_the_same_leads_stays() {
    let (inputs, _) = world(8_000);
    let cfg = config("");
    let dir = tempfile::tempdir().unwrap();
    let first = run(&cfg, inputs.clone(), &ctx("2026-01-01"), None).unwrap();
    // Save the first model as the champion.
    let id = first.bundle.artifact.model_id.clone();
    let mdir = dir.path().join(&id);
    std::fs::create_dir_all(&mdir).unwrap();
    let w = |name: &str, v: String| std::fs::write(mdir.join(name), v).unwrap();
    w("model.json", serde_json::to_string(&first.bundle.artifact).unwrap());
    w("feature_spec.json", serde_json::to_string(&first.bundle.spec).unwrap());
    w("thresholds.json", serde_json::to_string(&first.bundle.thresholds).unwrap());
    let champion = Champion {
        model_id: id.clone(),
        trained_for: "2026-01-01".parse().unwrap(),
        promoted_on: "2026-01-01".parse().unwrap(),
        validation_log_loss: 0.0,
        reason: String::new(),
    };
    let loaded = leadscore_model::registry::load_model(dir.path(), &id).unwrap();
    // The same model against itself: equal, so promoted (not worse by more than the margin).
    let same = run(&cfg, inputs.clone(), &ctx("2026-01-08"), Some((&champion, Ok(&loaded)))).unwrap();
    let d = &same.report.trained.as_deref().unwrap().champion;
    assert!(d.promoted, "{}", d.reason);
    assert!((d.previous_log_loss.unwrap() - d.new_log_loss).abs() < 1e-9);
    // A challenger trained on labels scrambled in training is worse: the champion stays.
    let mut scrambled = inputs.clone();
    relabel(&mut scrambled, |i, s, y| {
        if s == f::TRAIN { (f::TRAIN, Some(u(i as u64, 9) < 0.1)) } else { (split_name(s), Some(y == Some(true))) }
    });
    let worse = run(&cfg, scrambled.clone(), &ctx("2026-01-08"), Some((&champion, Ok(&loaded)))).unwrap();
    let d = &worse.report.trained.as_deref().unwrap().champion;
    let t = worse.report.trained.as_deref().unwrap();
    assert!(!d.promoted, "{} {:?}", d.reason, t.candidates);
    assert!(d.reason.contains("stays champion"));
}

/// `[train] refit`: the chosen model is refitted on every matured lead and is the one that scores;
/// the report's figures, the thresholds and the calibrator are the validated model's, which the
/// artifact keeps for later comparisons; on leads newer than all of them it ranks as well and is
/// as well calibrated.
#[test]
fn the_chosen_model_is_refitted_on_every_matured_lead_and_its_figures_stay_out_of_time() {
    // 25,000 leads: the first 16,000 train, the next 4,000 validate, the newest 5,000 are scored
    // afterwards (a split train does not learn from).
    let (mut inputs, _) = world(25_000);
    relabel(&mut inputs, |i, _, y| match i {
        i if i >= 20_000 => ("score", y),
        i if i >= 16_000 => (f::VALIDATION, y),
        _ => (f::TRAIN, y),
    });
    let on = run(&config(""), inputs.clone(), &ctx("2026-01-01"), None).unwrap();
    let off = run(&config("[train]\nrefit = false"), inputs.clone(), &ctx("2026-01-01"), None).unwrap();
    let (t_on, t_off) = (on.report.trained.as_deref().unwrap(), off.report.trained.as_deref().unwrap());
    let refit = t_on.refit.as_ref().expect("refitted by default");
    assert_eq!((refit.leads, refit.rows), (20_000, 20_000));
    assert_eq!(refit.conversions, t_on.train.conversions + t_on.validation.conversions);
    assert!(t_off.refit.is_none());
    // Every figure is the validated model's. The logistic regression validated is the one fitted
    // on the training slice either way. The trees validated with the refit are early stopping's
    // own (fitted on the older 85% of the training slice, cut at the round it picked); without
    // it, the training slice's fit with those rounds scaled to it, which scores.
    let candidate = |t: &leadscore_train::Trained, kind| t.candidates.iter().find(|c| c.kind == kind).cloned().unwrap();
    let logistic = |t| candidate(t, leadscore_model::ModelKind::Logistic);
    assert_eq!(json(&logistic(t_on).validation), json(&logistic(t_off).validation));
    let trees = |t| candidate(t, leadscore_model::ModelKind::Boosted).boosting.unwrap();
    let (b_on, b_off) = (trees(t_on), trees(t_off));
    assert_eq!(b_on.best_rounds, b_off.best_rounds);
    assert_eq!(b_on.final_rounds, b_on.best_rounds);
    assert_eq!(b_off.final_rounds, (b_off.best_rounds as f64 / 0.85).round() as usize);
    // The artifact scores with the refitted classifier and keeps the validated one, whose
    // out-of-time log-odds its calibrator was fitted on.
    let (a_on, a_off) = (&on.bundle.artifact, &off.bundle.artifact);
    assert!(a_off.validated.is_none());
    assert_eq!(a_on.validated.as_ref().unwrap().kind(), t_on.chosen);
    assert_ne!(json(&a_on.classifier), json(a_on.validated.as_ref().unwrap()));
    // A training slice this small (`tune_below_leads`): with or without the refit, the candidates
    // are judged and the calibrator that scores is fitted on the out-of-time log-odds of the
    // validation slice and of the training slice's last two blocks of 4,000 leads (8,000-12,000
    // and 12,000-16,000), each scored by models fitted on the leads before it.
    let folds = t_on.folds.as_ref().expect("calibrated on time-series folds");
    let folds_off = t_off.folds.as_ref().expect("calibrated on time-series folds without the refit too");
    assert_eq!((folds_off.blocks, folds_off.leads, folds_off.conversions), (3, 12_000, folds.conversions));
    assert_eq!((folds.blocks, folds.leads), (3, 12_000));
    assert!(folds.used, "a world without drift: {folds:?}");
    let y_all: Vec<bool> =
        inputs.features.column(f::CONVERTED).unwrap().bool().unwrap().iter().map(|v| v == Some(true)).collect();
    assert_eq!(folds.conversions, y_all[8_000..20_000].iter().filter(|v| **v).count() as u64);
    assert!(t_on.candidates.iter().all(|c| c.folds.as_ref().is_some_and(|h| h.leads == 12_000)));
    assert!(folds.log_loss.1 <= folds.log_loss.0 + 1e-12, "{:?}", folds.log_loss);
    assert!(t_on.why.contains("on 12000 leads of the validation slice and two time-series folds"), "{}", t_on.why);
    // Above `tune_below_leads`: no folds, the validation slice's calibrator and choice.
    let large = run(&config("[train]\ntune_below_leads = 0"), inputs.clone(), &ctx("2026-01-01"), None).unwrap();
    let t_large = large.report.trained.as_deref().unwrap();
    assert!(t_large.folds.is_none() && t_large.candidates.iter().all(|c| c.folds.is_none()));
    assert!(!t_large.why.contains("time-series folds"), "{}", t_large.why);
    if t_on.chosen == leadscore_model::ModelKind::Boosted {
        let best = t_on.candidates.iter().find_map(|c| c.boosting.as_ref()).unwrap().best_rounds;
        assert_eq!(refit.rounds, Some(leadscore_train::fit::refit_rounds(best, 16_000, 20_000)));
    }
    assert!(on.report.summary().contains("refitted for scoring on all 20000 matured leads"), "{}", on.report.summary());
    assert!(on.bundle.html.contains("Refitted for scoring"));
    // On the 5,000 newer leads: ranked as well, and as well calibrated.
    let newer = {
        let m = inputs.features.column(f::SPLIT).unwrap().str().unwrap().equal("score");
        inputs.features.filter(&m).unwrap()
    };
    let y: Vec<bool> = newer.column(f::CONVERTED).unwrap().bool().unwrap().iter().map(|v| v == Some(true)).collect();
    let score = |a: &leadscore_model::ModelArtifact| {
        let x = on.bundle.spec.transform(&newer, a.encoding()).unwrap();
        a.calibrated(&a.classifier.logits(&x).unwrap()).unwrap()
    };
    let (p_on, p_off) = (score(a_on), score(a_off));
    let auc = |p: &[f64]| leadscore_model::metrics::roc_auc(p, &y).unwrap();
    assert!(auc(&p_on) > auc(&p_off) - 0.005, "AUC {} refitted vs {}", auc(&p_on), auc(&p_off));
    let rate = y.iter().filter(|v| **v).count() as f64 / y.len() as f64;
    let mean = |p: &[f64]| p.iter().sum::<f64>() / p.len() as f64;
    assert!((mean(&p_on) - rate).abs() < 0.015, "mean {} vs observed {rate}", mean(&p_on));
    assert!((mean(&p_on) - mean(&p_off)).abs() < 0.01, "{} vs {}", mean(&p_on), mean(&p_off));
}

/// The value regression is refitted on every matured conversion too: where deal sizes doubled in
/// the validation slice (the newest matured leads), the refitted model predicts more for the same
/// leads than the one fitted on the training slice alone, which the figures stay about.
#[test]
fn the_value_regression_is_refitted_on_every_matured_conversion_and_follows_newer_deal_sizes() {
    let (mut inputs, _) = world(20_000);
    let x = inputs.features.column("x").unwrap().f64().unwrap().clone();
    let values: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, x)| (if i >= 16_000 { 2_000.0 } else { 1_000.0 }) * (0.5 * x.unwrap_or(0.0)).exp())
        .collect();
    inputs.features.with_column(Column::new(f::VALUE_IN_WINDOW.into(), values)).unwrap();
    let on = run(&config(""), inputs.clone(), &ctx("2026-01-01"), None).unwrap();
    let off = run(&config("[train]\nrefit = false"), inputs.clone(), &ctx("2026-01-01"), None).unwrap();
    let (t_on, t_off) = (on.report.trained.as_deref().unwrap(), off.report.trained.as_deref().unwrap());
    // The figures are the validated regression's: early stopping's own with the refit, the
    // training slice's fit (which scores) without it.
    let (b_on, b_off) = (t_on.value.boosting.as_ref().unwrap(), t_off.value.boosting.as_ref().unwrap());
    assert_eq!((b_on.best_rounds, b_on.final_rounds), (b_off.best_rounds, b_off.best_rounds));
    assert_eq!(b_off.final_rounds, (b_off.best_rounds as f64 / 0.85).round() as usize);
    assert!((t_on.value.gini - t_off.value.gini).abs() < 0.01, "{} vs {}", t_on.value.gini, t_off.value.gini);
    let refit = t_on.refit.as_ref().and_then(|r| r.value.as_ref()).expect("the value regression refitted");
    assert_eq!(refit.conversions, t_on.train.conversions + t_on.validation.conversions);
    let best = t_on.value.boosting.as_ref().unwrap().best_rounds;
    let trained = t_on.train.conversions as usize;
    assert_eq!(refit.rounds, leadscore_train::fit::refit_rounds(best, trained, refit.conversions as usize));
    let words = format!("the value regression on their {} valued conversions", refit.conversions);
    assert!(on.report.summary().contains(&words) && on.bundle.html.contains(&words));
    let validation = {
        let m = inputs.features.column(f::SPLIT).unwrap().str().unwrap().equal(f::VALIDATION);
        inputs.features.filter(&m).unwrap()
    };
    let mean_value = |a: &leadscore_model::ModelArtifact| {
        let x = on.bundle.spec.transform(&validation, leadscore_model::Encoding::Trees).unwrap();
        let c = a.value.as_ref().unwrap().conditional(&x, &vec!["low"; x.rows]).unwrap();
        c.iter().map(|c| c.mean).sum::<f64>() / c.len() as f64
    };
    let (newer, older) = (mean_value(&on.bundle.artifact), mean_value(&off.bundle.artifact));
    assert!(newer > 1.08 * older, "refitted {newer} against {older}");
}

/// Time-series folds pool older leads only when their level agrees with the validation slice's:
/// here the two older blocks (leads 8,000-16,000) convert far more often than the validation
/// slice's calibrator expects, so the level has moved and that calibrator stays.
#[test]
fn older_folds_whose_level_moved_are_not_pooled_into_the_calibrator() {
    let (mut inputs, _) = world(20_000);
    relabel(&mut inputs, |i, s, y| {
        let drifted = (8_000..16_000).contains(&i) && i % 5 == 0;
        (split_name(s), if drifted { Some(true) } else { y })
    });
    let on = run(&config(""), inputs.clone(), &ctx("2026-01-01"), None).unwrap();
    let off = run(&config("[train]\nrefit = false"), inputs, &ctx("2026-01-01"), None).unwrap();
    let t = on.report.trained.as_deref().unwrap();
    let folds = t.folds.as_ref().expect("folds measured");
    assert!(!folds.used, "{folds:?}");
    assert!(folds.older.0 as f64 > folds.older.1 + 2.0 * folds.older.1.sqrt(), "{folds:?}");
    assert_eq!(json(&on.bundle.artifact.calibrator), json(&off.bundle.artifact.calibrator));
    let summary = on.report.summary();
    assert!(summary.contains("so the level moved and they are not pooled"), "{summary}");
    assert!(on.bundle.html.contains("the level has moved"));
}

/// `[train] tune_below_leads`: on a small training slice the trees' settings are chosen among four
/// by their log loss on the newest 15% of the training slice (the validation slice plays no
/// part); above it, or at 0, the configured settings alone.
#[test]
fn small_slices_choose_the_tree_settings_out_of_time_and_say_what_was_tried() {
    let (inputs, _) = world(6_000);
    let boosting = |extra: &str| {
        let out = run(&config(extra), inputs.clone(), &ctx("2026-01-01"), None).unwrap();
        let t = out.report.trained.as_deref().unwrap();
        let c = t.candidates.iter().find(|c| c.kind == leadscore_model::ModelKind::Boosted).unwrap();
        (c.boosting.clone().unwrap(), out.report.summary(), out.bundle.html)
    };
    let (tuned, summary, html) = boosting("");
    let out = run(&config(""), inputs.clone(), &ctx("2026-01-01"), None).unwrap();
    let t = out.report.trained.as_deref().unwrap();
    let l = t.candidates.iter().find_map(|c| c.logistic.clone()).unwrap();
    assert_eq!(l.trials.iter().map(|t| t.0).collect::<Vec<_>>(), vec![1.0, 10.0, 100.0], "{l:?}");
    let best = l.trials.iter().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    assert_eq!(best.0, l.l2);
    assert_eq!(tuned.trials.len(), 4, "{tuned:?}");
    assert_eq!(tuned.trials[0].settings, leadscore_train::fit::TreeSettings::configured(&config("").train));
    let best = tuned.trials.iter().min_by(|a, b| a.watch_log_loss.total_cmp(&b.watch_log_loss)).unwrap();
    assert_eq!(best.settings, tuned.settings);
    assert_eq!(best.rounds, tuned.best_rounds);
    assert!(tuned.trials.iter().all(|t| t.watch_log_loss.is_finite() && t.rounds >= 1));
    assert!(summary.contains("chosen out of time among 4 settings"), "{summary}");
    assert!(html.contains("settings chosen out of time"));
    // Tuning off, or a slice above the bound: the configured settings, nothing tried.
    for extra in ["[train]\ntune_below_leads = 0", "[train]\ntune_below_leads = 1000"] {
        let (fixed, summary, _) = boosting(extra);
        assert!(fixed.trials.is_empty(), "{extra}: {fixed:?}");
        assert_eq!(fixed.settings, tuned.trials[0].settings);
        assert!(!summary.contains("chosen out of time"), "{summary}");
    }
}

/// A category of 300 levels that says nothing about conversion (a `top_k` raised for a campaign
/// or city column): on a small slice the trees get its levels ranked by number of leads, which
/// the saved spec holds, and the summary and report say so and why.
#[test]
fn a_noise_category_of_many_levels_is_given_to_the_trees_by_number_of_leads() {
    use leadscore_train::encoding::CategoryOrder;
    let (mut inputs, _) = world(6_000);
    let n = inputs.features.height();
    let levels: Vec<String> = (0..300).map(|l| format!("c{l:03}")).collect();
    let region: Vec<usize> = (0..n).map(|i| ((u(i as u64, 9) * 300.0) as usize).min(299)).collect();
    let labels: Vec<bool> =
        inputs.features.column(f::CONVERTED).unwrap().bool().unwrap().iter().map(|y| y == Some(true)).collect();
    let train: Vec<usize> = (0..n * 8 / 10).collect();
    let mut counts = vec![0usize; 300];
    for i in &train {
        counts[region[*i]] += 1;
    }
    let mut kept: Vec<usize> = (0..300).collect();
    kept.sort_by(|a, b| counts[*b].cmp(&counts[*a]).then(a.cmp(b)));
    let position = |l: usize| kept.iter().position(|k| *k == l).unwrap();
    let train_labels: Vec<bool> = train.iter().map(|i| labels[*i]).collect();
    let codes =
        leadscore_model::spec::target_ordered_codes(train.iter().map(|i| position(region[*i])), &train_labels, 300);
    let names: Vec<&str> = region.iter().map(|l| levels[*l].as_str()).collect();
    inputs.features.with_column(Column::new("region".into(), names)).unwrap();
    inputs.spec.catalog.push(FeatureDef {
        name: "region".into(),
        kind: FeatureKind::Categorical,
        origin: "test".into(),
        description: "region".into(),
    });
    let region_levels = kept.iter().map(|l| levels[*l].clone()).collect();
    inputs.spec.features.push(FittedFeature::Categorical {
        name: "region".into(),
        levels: region_levels,
        tree_codes: codes,
    });
    let out = run(&config(""), inputs.clone(), &ctx("2026-01-01"), None).unwrap();
    let t = out.report.trained.as_deref().unwrap();
    let e = t.encoding.clone().expect("a category of 300 levels on a small slice is chosen for");
    assert_eq!(e.columns, vec![("region".to_string(), 300)]);
    assert_eq!(e.chosen, CategoryOrder::Frequency, "{e:?}");
    assert!(e.frequency_log_loss < e.target_log_loss, "{e:?}");
    // The saved spec is the input's with the region's codes cleared (codes are then positions,
    // the levels' order by number of leads); nothing else changed.
    let mut expected = inputs.spec.clone();
    if let Some(FittedFeature::Categorical { tree_codes, .. }) = expected.features.last_mut() {
        tree_codes.clear();
    }
    assert_eq!(out.bundle.spec, expected);
    let summary = out.report.summary();
    assert!(summary.contains("trees: levels of region ranked by number of leads, not conversion rate"), "{summary}");
    assert!(out.bundle.html.contains("Categories of many levels"));
    // The tier's two levels are not chosen for: with it alone nothing is tried.
    let (plain, _) = world(6_000);
    let out = run(&config(""), plain, &ctx("2026-01-01"), None).unwrap();
    assert!(out.report.trained.as_deref().unwrap().encoding.is_none());
}

/// On a small training slice a blend of the two models is a third candidate: its weight is one of
/// those tried, its figures cross-fitted, the choice the lowest log loss; a chosen blend's
/// artifact scores the validation leads with both parts (its design is both encodings) and
/// reloads as it was written. `tune_below_leads = 0` leaves the two models alone.
#[test]
fn small_slices_try_a_blend_of_both_models_and_a_chosen_blend_scores_with_both() {
    use leadscore_model::{Encoding, ModelKind};
    // A step in `x` the trees find, on top of the linear world the logistic regression fits:
    // on this world the blend predicts the validation leads best.
    let (mut inputs, _) = world(5_000);
    relabel(&mut inputs, |i, s, y| {
        let x = 2.0 * u(i as u64, 1) - 1.0;
        let step = (x > 0.3) && u(i as u64, 4) < 0.15;
        (split_name(s), y.map(|y| y || step))
    });
    let out = run(&config(""), inputs.clone(), &ctx("2026-01-01"), None).unwrap();
    let t = out.report.trained.as_deref().unwrap();
    let kinds: Vec<ModelKind> = t.candidates.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, [ModelKind::Logistic, ModelKind::Boosted, ModelKind::Blend]);
    let b = t.candidates[2].blend.clone().unwrap();
    let tried = leadscore_train::evaluate::BLEND_WEIGHTS;
    assert!(tried.contains(&b.weight) && tried.contains(&b.halves.0) && tried.contains(&b.halves.1), "{b:?}");
    // Judged on the validation slice and two time-series folds (4,000 training leads, 1,000
    // validation leads: three blocks of 1,000).
    let judged: Vec<&leadscore_train::evaluate::Headline> =
        t.candidates.iter().map(|c| c.folds.as_ref().unwrap()).collect();
    assert!(judged.iter().all(|h| h.leads == 3_000));
    let low = judged.iter().map(|h| h.log_loss).fold(f64::INFINITY, f64::min);
    let chosen = t.candidates.iter().position(|c| c.kind == t.chosen).unwrap();
    assert!(judged[chosen].log_loss - low < leadscore_train::TIE, "{}", t.why);
    assert_eq!(t.chosen, ModelKind::Blend, "{}", t.why);
    assert!(out.report.summary().contains("blend of both: logistic regression"));
    assert!(out.bundle.html.contains("chosen with the calibrator on the validation slice and two time-series folds"));
    // The artifact: both encodings' columns, the validated blend scoring the validation leads as
    // the report's figures were measured (before the refit), and a round trip through JSON.
    let a = &out.bundle.artifact;
    assert_eq!(a.encoding(), Encoding::Both);
    a.check_spec(&out.bundle.spec).unwrap();
    a.validate().unwrap();
    assert!(matches!(a.classifier, leadscore_model::Classifier::Blend { .. }));
    assert!(matches!(a.validated, Some(leadscore_model::Classifier::Blend { .. })));
    let validation =
        inputs.features.filter(&inputs.features.column(f::SPLIT).unwrap().str().unwrap().equal(f::VALIDATION)).unwrap();
    let x = out.bundle.spec.transform(&validation, Encoding::Both).unwrap();
    let p = a.probabilities(&x).unwrap();
    assert!(p.iter().all(|p| *p > 0.0 && *p < 1.0));
    let reloaded: leadscore_model::ModelArtifact = serde_json::from_str(&serde_json::to_string(a).unwrap()).unwrap();
    assert_eq!(reloaded.probabilities(&x).unwrap(), p);
    // Tuning off: the two models alone.
    let out = run(&config("[train]\ntune_below_leads = 0"), inputs.clone(), &ctx("2026-01-01"), None).unwrap();
    let t = out.report.trained.as_deref().unwrap();
    assert_eq!(t.candidates.iter().map(|c| c.kind).collect::<Vec<_>>(), [ModelKind::Logistic, ModelKind::Boosted]);
    // A training slice shorter than three validation slices has no folds: the blend is chosen on
    // the validation slice alone.
    let mut short = inputs;
    relabel(&mut short, |i, _, y| (if i >= 3_000 { f::VALIDATION } else { f::TRAIN }, y));
    let out = run(&config(""), short, &ctx("2026-01-01"), None).unwrap();
    let t = out.report.trained.as_deref().unwrap();
    assert!(t.folds.is_none() && t.candidates.iter().all(|c| c.folds.is_none()));
    assert_eq!(t.candidates.len(), 3);
    assert!(out.bundle.html.contains("cross-fitted, each half of the validation leads"));
}

#[test]
fn a_monotone_feature_moves_every_model_one_way_and_a_name_without_an_order_is_a_usage_error() {
    use leadscore_model::Classifier;
    // The blend's world: conversion rises with `x`. Declared decreasing against the data, every
    // model the run fits must still never rise with it.
    let (mut inputs, _) = world(5_000);
    relabel(&mut inputs, |i, s, y| {
        let x = 2.0 * u(i as u64, 1) - 1.0;
        (split_name(s), y.map(|y| y || ((x > 0.3) && u(i as u64, 4) < 0.15)))
    });
    let out =
        run(&config("[train]\nmonotone = { x = \"decreasing\" }"), inputs.clone(), &ctx("2026-01-01"), None).unwrap();
    assert!(out.bundle.html.contains("<code>x</code> decreasing"), "the report says what was held");
    // What the constraint costs: both models fitted again without it, much better on validation
    // (the constraint is against the data), and said in the summary and the report.
    let t = out.report.trained.as_deref().unwrap();
    let kinds: Vec<_> = t.unconstrained.iter().map(|u| u.kind).collect();
    assert_eq!(kinds, [leadscore_model::ModelKind::Logistic, leadscore_model::ModelKind::Boosted]);
    for u in &t.unconstrained {
        assert!(u.free.log_loss < u.constrained.log_loss - 0.005, "{u:?}");
        let candidate = t.candidates.iter().find(|c| c.kind == u.kind).unwrap();
        assert_eq!(u.constrained, candidate.validation);
    }
    assert!(
        out.report.summary().contains("without the monotone constraints, validation log loss: logistic regression")
    );
    assert!(out.bundle.html.contains("Fitted again without them on the same leads"));
    let a = &out.bundle.artifact;
    // model.json reads back as written.
    let text = serde_json::to_string(a).unwrap();
    assert_eq!(
        serde_json::to_string(&serde_json::from_str::<leadscore_model::ModelArtifact>(&text).unwrap()).unwrap(),
        text
    );
    let grid: Vec<f64> = (0..41).map(|k| -1.0 + k as f64 / 20.0).collect();
    for tier in ["gold", "silver"] {
        let probe = df!("x" => grid.clone(), "tier" => vec![tier; grid.len()]).unwrap();
        let design = out.bundle.spec.transform(&probe, a.encoding()).unwrap();
        for c in std::iter::once(&a.classifier).chain(&a.validated) {
            let z = c.logits(&design).unwrap();
            assert!(z.windows(2).all(|w| w[1] <= w[0] + 1e-9), "{tier}: {z:?}");
            if let Classifier::Logistic { coefficients, .. } | Classifier::Blend { coefficients, .. } = c {
                assert!(coefficients[0] <= 0.0, "{coefficients:?}");
            }
        }
    }
    // The same data unconstrained: the models rise with `x`.
    let free = run(&config(""), inputs.clone(), &ctx("2026-01-01"), None).unwrap();
    let probe = df!("x" => grid.clone(), "tier" => vec!["gold"; grid.len()]).unwrap();
    let design = free.bundle.spec.transform(&probe, free.bundle.artifact.encoding()).unwrap();
    let z = free.bundle.artifact.classifier.logits(&design).unwrap();
    assert!(z[40] > z[0] + 1.0, "{z:?}");

    // A categorical feature has no order, and a name that is no feature is refused; both are
    // configuration errors (exit 2) that name the key.
    let err = run(&config("[train]\nmonotone = { tier = \"increasing\" }"), inputs.clone(), &ctx("2026-01-01"), None)
        .err()
        .unwrap();
    assert!(matches!(err, TrainError::Monotone { .. }) && err.exit_kind() == ExitKind::Usage, "{err}");
    assert!(err.to_string().contains("`[train] monotone.tier`: a categorical feature has no order"), "{err}");
    let cfg = config("[train]\nmonotone = { budget = \"increasing\" }");
    let err = run(&cfg, inputs.clone(), &ctx("2026-01-01"), None).err().unwrap();
    assert!(err.to_string().ends_with("no such numeric feature; the model's are: x"), "{err}");
    // An attribute the leakage audit left out: trained without it, and the report says so.
    inputs.audit.push(leadscore_core::artifact::AuditRow {
        attribute: "budget".into(),
        fill_training: Some(1.0),
        fill_recent: Some(1.0),
        recent_leads: 10,
        univariate_auc: Some(0.99),
        flags: vec![],
        excluded: true,
        verdict: "left out".into(),
    });
    let out = run(&cfg, inputs, &ctx("2026-01-01"), None).unwrap();
    let warned = out.report.warnings.iter().any(|w| w.contains("`[train] monotone.budget` is not applied"));
    assert!(warned, "{:?}", out.report.warnings);
}

/// A value as JSON text, to compare two values field by field.
fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

/// The registry's rule with a config's `[train] retrain_after_days`, as train applies it.
fn due(cfg: &Config, ctx: &RunContext, champion: &ChampionState) -> Due {
    registry::due(champion, ctx.run_date, ctx.retrain, cfg.train.retrain_after_days)
}

#[test]
fn retraining_is_due_without_a_champion_when_it_is_old_or_when_asked() {
    let cfg = config("[train]\nretrain_after_days = 7\n");
    let champ = |d: &str| Champion {
        model_id: "m".into(),
        trained_for: d.parse().unwrap(),
        promoted_on: d.parse().unwrap(),
        validation_log_loss: 0.2,
        reason: String::new(),
    };
    let usable = |d: &str| ChampionState::Usable(champ(d));
    assert!(matches!(due(&cfg, &ctx("2026-01-10"), &ChampionState::Missing), Due::Train(_)));
    assert!(matches!(due(&cfg, &ctx("2026-01-10"), &usable("2026-01-05")), Due::Skip(_)));
    assert!(matches!(due(&cfg, &ctx("2026-01-12"), &usable("2026-01-05")), Due::Train(_)));
    // A champion whose model folder is gone is no champion: train, and say why.
    let Due::Train(why) = due(&cfg, &ctx("2026-01-10"), &ChampionState::Dangling(champ("2026-01-05"))) else {
        panic!("a dangling champion must make training due")
    };
    assert!(why.contains("folder is missing"), "{why}");
    let mut asked = ctx("2026-01-06");
    asked.retrain = true;
    assert!(matches!(due(&cfg, &asked, &usable("2026-01-05")), Due::Train(_)));
}
