//! Features: point in time, spec round trips, unseen categories and missing values.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use leadscore_core::config::AttributeKind;
use leadscore_core::schema::{events as ev, leads};
use leadscore_features::SpecLearner;
use leadscore_model::{AttributeRecipe, Encoding, EventRecipe, FeatureSpec, Recipe, derive};
use polars::prelude::*;
use proptest::prelude::*;

const DAY: i64 = 86_400_000_000;
const T0: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z

fn ts(name: &str, v: Vec<Option<i64>>) -> Column {
    Int64Chunked::from_iter_options(name.into(), v.into_iter())
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        .into_column()
}

fn leads_frame(
    created: &[i64],
    users: &[&str],
    industry: &[Option<&str>],
    size: &[Option<f64>],
    title: &[Option<&str>],
) -> DataFrame {
    let n = created.len();
    let none = vec![None::<&str>; n];
    DataFrame::new_infer_height(vec![
        Column::new(leads::LEAD_ID.into(), (0..n).map(|i| format!("l{i}")).collect::<Vec<_>>()),
        ts(leads::CREATED_AT, created.iter().map(|c| Some(*c)).collect()),
        Column::new(leads::USER_ID.into(), users.to_vec()),
        Column::new(leads::CLIENT_ID.into(), none.clone()),
        // What ingest keeps of a@acme.io / b@gmail.com and no phone.
        Column::new(
            leads::EMAIL_DOMAIN.into(),
            (0..n).map(|i| Some(if i % 2 == 0 { "acme.io" } else { "gmail.com" })).collect::<Vec<_>>(),
        ),
        Column::new(
            leads::EMAIL_CLASS.into(),
            (0..n).map(|i| Some(if i % 2 == 0 { "corporate" } else { "free" })).collect::<Vec<_>>(),
        ),
        Column::new(leads::PHONE_COUNTRY.into(), vec![Some("missing"); n]),
        Column::new(leads::GCLID.into(), none.clone()),
        Column::new(leads::FBCLID.into(), none.clone()),
        Column::new(leads::META_LEAD_ID.into(), none),
        Column::new("industry".into(), industry.to_vec()),
        Column::new("company_size".into(), size.to_vec()),
        Column::new("job_title".into(), title.to_vec()),
    ])
    .unwrap()
}

fn events_frame(rows: &[(&str, &str, i64)]) -> DataFrame {
    DataFrame::new_infer_height(vec![
        Column::new(ev::EVENT_ID.into(), (0..rows.len()).map(|i| format!("e{i}")).collect::<Vec<_>>()),
        Column::new(ev::USER_ID.into(), rows.iter().map(|r| r.0).collect::<Vec<_>>()),
        Column::new(ev::NAME.into(), rows.iter().map(|r| r.1).collect::<Vec<_>>()),
        ts(ev::AT, rows.iter().map(|r| Some(r.2)).collect()),
        Column::new(ev::VALUE.into(), vec![None::<f64>; rows.len()]),
        Column::new(ev::CURRENCY.into(), vec![None::<&str>; rows.len()]),
    ])
    .unwrap()
}

fn recipe() -> Recipe {
    Recipe {
        timezone: "Europe/Amsterdam".into(),
        attributes: vec![
            AttributeRecipe {
                name: "industry".into(),
                kind: AttributeKind::Categorical,
                job_title: false,
                buckets: vec![],
            },
            AttributeRecipe {
                name: "company_size".into(),
                kind: AttributeKind::Numeric,
                job_title: false,
                buckets: vec![10.0, 100.0],
            },
            AttributeRecipe { name: "job_title".into(), kind: AttributeKind::Text, job_title: true, buckets: vec![] },
        ],
        events: Some(EventRecipe {
            windows_days: vec![1, 7, 30],
            names: vec!["Pricing Page View".into()],
            name_window_days: 30,
        }),
    }
}

#[test]
fn event_counts_use_only_events_strictly_before_creation() {
    let l = leads_frame(&[T0 + 10 * DAY], &["u1"], &[Some("Retail")], &[Some(5.0)], &[Some("CEO")]);
    let e = events_frame(&[
        ("u1", "Pricing Page View", T0 + 10 * DAY),     // at creation: excluded
        ("u1", "Pricing Page View", T0 + 10 * DAY - 1), // 1 µs before: 1-day window
        ("u1", "Page View", T0 + 5 * DAY),              // 5 days before: 7-day window
        ("u1", "Page View", T0 - 15 * DAY),             // 25 days before: 30-day window
        ("u1", "Page View", T0 - 30 * DAY),             // 40 days before: only recency bound
        ("u2", "Page View", T0 + 9 * DAY),              // another user
        ("u1", "Demo Booked", T0 + 11 * DAY),           // after creation
    ]);
    let (df, _) = derive(&l, Some(&e), &recipe()).unwrap();
    let get = |c: &str| df.column(c).unwrap().f64().unwrap().get(0);
    assert_eq!(get("events_1d"), Some(1.0));
    assert_eq!(get("events_7d"), Some(2.0));
    assert_eq!(get("events_30d"), Some(3.0));
    assert_eq!(get("events_30d_pricing_page_view"), Some(1.0));
    let recency = get("days_since_last_event").unwrap();
    assert!(recency > 0.0 && recency < 1e-9, "{recency}");
}

#[test]
fn attribute_features_by_kind() {
    let l = leads_frame(
        &[T0 + 9 * 3_600_000_000, T0 + 20 * 3_600_000_000],
        &["u1", "u2"],
        &[Some("Retail"), None],
        &[Some(50.0), None],
        &[Some("VP Marketing"), Some("student")],
    );
    let (df, catalog) = derive(&l, None, &Recipe { events: None, ..recipe() }).unwrap();
    let s = |c: &str, i: usize| df.column(c).unwrap().str().unwrap().get(i).map(str::to_string);
    assert_eq!(s("job_title_seniority", 0).as_deref(), Some("vp"));
    assert_eq!(s("job_title_department", 0).as_deref(), Some("marketing"));
    assert_eq!(s("job_title_seniority", 1).as_deref(), Some("student"));
    assert_eq!(s("company_size_bucket", 0).as_deref(), Some("10-100"));
    assert_eq!(s("company_size_bucket", 1), None);
    assert_eq!(s("email_class", 1).as_deref(), Some("free"));
    // 09:00Z is 10:00 in Amsterdam on a Thursday.
    let f = |c: &str, i: usize| df.column(c).unwrap().f64().unwrap().get(i);
    assert_eq!(f("created_hour", 0), Some(10.0));
    assert_eq!(f("created_weekday", 0), Some(3.0));
    assert_eq!(f("office_hours", 0), Some(1.0));
    assert_eq!(f("office_hours", 1), Some(0.0));
    assert!(catalog.iter().all(|d| df.column(&d.name).is_ok()));
    assert!(df.column("events_1d").is_err(), "no event features without an events recipe");
}

#[test]
fn a_missing_attribute_column_is_an_error_that_names_it() {
    let l = leads_frame(&[T0], &["u1"], &[Some("Retail")], &[Some(5.0)], &[Some("CEO")]).drop("company_size").unwrap();
    let err = derive(&l, None, &recipe()).unwrap_err().to_string();
    assert!(err.contains("`company_size`") && err.contains("attribute"), "{err}");
}

#[test]
fn spec_round_trip_gives_identical_matrices_and_maps_unseen_levels_to_other() {
    let n = 60;
    let created: Vec<i64> = (0..n).map(|i| T0 + i as i64 * DAY).collect();
    let users: Vec<&str> = vec!["u"; n];
    let industries: Vec<Option<&str>> =
        (0..n).map(|i| if i % 10 == 0 { None } else { Some(["Retail", "Software", "Mining"][i % 3]) }).collect();
    let sizes: Vec<Option<f64>> = (0..n).map(|i| if i % 7 == 0 { None } else { Some(i as f64) }).collect();
    let titles: Vec<Option<&str>> = (0..n).map(|i| Some(["CEO", "Marketing Manager", "Intern"][i % 3])).collect();
    let l = leads_frame(&created, &users, &industries, &sizes, &titles);
    let (train, catalog) = derive(&l, None, &Recipe { events: None, ..recipe() }).unwrap();
    let converted: Vec<bool> = (0..n).map(|i| i % 4 == 0).collect();
    let spec = SpecLearner { top_k: 2, min_count: 5 }
        .fit(Recipe { events: None, ..recipe() }, catalog, &train, &converted)
        .unwrap();
    let json = serde_json::to_string_pretty(&spec).unwrap();
    let loaded: FeatureSpec = serde_json::from_str(&json).unwrap();
    assert_eq!(loaded, spec);
    for enc in [Encoding::Trees, Encoding::Linear] {
        let a = spec.transform(&train, enc).unwrap();
        let b = loaded.transform(&train, enc).unwrap();
        assert_eq!(a.columns, b.columns);
        assert!(
            a.data.iter().zip(&b.data).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{enc:?} differs after a round trip"
        );
    }
    // New leads: an unseen industry and a missing size go to __other__ / imputation.
    let new = leads_frame(&[T0], &["u"], &[Some("Aerospace")], &[None], &[Some("CTO")]);
    let (new_derived, _) = derive(&new, None, &loaded.recipe).unwrap();
    let d = loaded.transform(&new_derived, Encoding::Linear).unwrap();
    let at = |name: &str| d.columns.iter().position(|c| c.name == name).map(|j| d.column(j)[0]);
    assert_eq!(at("industry=__other__"), Some(1.0));
    assert_eq!(at("company_size__missing"), Some(1.0));
    assert_eq!(d.columns.len(), spec.design_columns(Encoding::Linear).len());
    let t = loaded.transform(&new_derived, Encoding::Trees).unwrap();
    let j = t.columns.iter().position(|c| c.name == "industry").unwrap();
    let industry = loaded.features.iter().find(|f| f.name() == "industry").unwrap();
    assert_eq!(industry.level_of_code(t.column(j)[0]), Some(leadscore_model::spec::OTHER));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Adding, deleting or moving events at or after a lead's creation never changes its features.
    #[test]
    fn events_at_or_after_creation_never_change_features(
        before in prop::collection::vec((0u8..3, 0u8..3, 1i64..40 * 24), 0..25),
        after in prop::collection::vec((0u8..3, 0u8..3, 0i64..40 * 24), 0..25),
        moved in prop::collection::vec((0u8..3, 0u8..3, 0i64..40 * 24), 0..25),
    ) {
        let names = ["Page View", "Pricing Page View", "Email Click"];
        let created = [T0 + 40 * DAY, T0 + 45 * DAY, T0 + 50 * DAY];
        let l = leads_frame(&created, &["u0", "u1", "u2"], &[Some("Retail"); 3], &[Some(5.0); 3], &[Some("CEO"); 3]);
        let hour = 3_600_000_000i64;
        // Events strictly before each lead of their user (hours before creation, at least 1).
        let base: Vec<(String, &str, i64)> =
            before.iter().map(|(u, n, h)| (format!("u{u}"), names[*n as usize], created[*u as usize] - h * hour)).collect();
        let with_after: Vec<(String, &str, i64)> = base
            .iter()
            .cloned()
            .chain(after.iter().map(|(u, n, h)| (format!("u{u}"), names[*n as usize], created[*u as usize] + h * hour)))
            .collect();
        let with_moved: Vec<(String, &str, i64)> = base
            .iter()
            .cloned()
            .chain(moved.iter().map(|(u, n, h)| (format!("u{u}"), names[*n as usize], created[*u as usize] + (h + 1) * hour)))
            .collect();
        let frame = |rows: &[(String, &str, i64)]| {
            let r: Vec<(&str, &str, i64)> = rows.iter().map(|(u, n, t)| (u.as_str(), *n, *t)).collect();
            events_frame(&r)
        };
        let (a, _) = derive(&l, Some(&frame(&base)), &recipe()).unwrap();
        let (b, _) = derive(&l, Some(&frame(&with_after)), &recipe()).unwrap();
        let (c, _) = derive(&l, Some(&frame(&with_moved)), &recipe()).unwrap();
        prop_assert!(a.equals_missing(&b), "{a}\n{b}");
        prop_assert!(a.equals_missing(&c));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(60))]

    /// The event features equal a direct count over the events by their definition: windows end
    /// (exclusively) at creation and reach back at most 365 days; recency is from the newest event
    /// in that year. Several leads share users, and events sit exactly on window edges.
    #[test]
    fn event_features_equal_a_direct_count(
        leads in prop::collection::vec((0u8..4, 0i64..800), 1..12),
        events in prop::collection::vec((0u8..5, 0u8..3, 0i64..800, prop::bool::ANY), 0..60),
    ) {
        let names = ["Page View", "Pricing Page View", "Email Click"];
        let users = ["u0", "u1", "u2", "u3", "u4"];
        // Times in days after T0, some events exactly a window's length before a creation.
        let created: Vec<i64> = leads.iter().map(|(_, d)| T0 + 400 * DAY + d * DAY / 2).collect();
        let lead_users: Vec<&str> = leads.iter().map(|(u, _)| users[*u as usize]).collect();
        let ev: Vec<(&str, &str, i64)> = events
            .iter()
            .enumerate()
            .map(|(k, (u, n, d, edge))| {
                let at = if *edge { created[k % created.len()] - [1, 7, 30, 365][k % 4] * DAY } else { T0 + d * DAY };
                (users[*u as usize], names[*n as usize], at)
            })
            .collect();
        let n = created.len();
        let l = leads_frame(&created, &lead_users, &vec![Some("Retail"); n], &vec![Some(5.0); n], &vec![Some("CEO"); n]);
        let (df, _) = derive(&l, Some(&events_frame(&ev)), &recipe()).unwrap();
        let get = |c: &str, i: usize| df.column(c).unwrap().f64().unwrap().get(i);
        for i in 0..n {
            let before: Vec<&(&str, &str, i64)> = ev
                .iter()
                .filter(|(u, _, at)| *u == lead_users[i] && *at < created[i] && *at >= created[i] - 365 * DAY)
                .collect();
            for w in [1, 7, 30] {
                let expected = before.iter().filter(|e| e.2 >= created[i] - w * DAY).count() as f64;
                prop_assert_eq!(get(&format!("events_{w}d"), i), Some(expected), "lead {} window {}", i, w);
            }
            let pricing =
                before.iter().filter(|e| e.1 == "Pricing Page View" && e.2 >= created[i] - 30 * DAY).count() as f64;
            prop_assert_eq!(get("events_30d_pricing_page_view", i), Some(pricing));
            let recency = before.iter().map(|e| e.2).max().map(|at| (created[i] - at) as f64 / DAY as f64);
            prop_assert_eq!(get("days_since_last_event", i), recency);
        }
    }
}

/// The event counts are written by blocks of leads: leads on either side of the blocks' edges
/// (and the last) get the counts of a direct count, as in the small cases above.
#[test]
fn event_features_of_many_leads_equal_a_direct_count_across_blocks() {
    let n = 40_000;
    let users = ["u0", "u1", "u2", "u3", "u4", "u5", "u6"];
    let created: Vec<i64> = (0..n as i64).map(|i| T0 + 400 * DAY + i * 60_000_000).collect();
    let lead_users: Vec<&str> = (0..n).map(|i| users[i % users.len()]).collect();
    // Each user's events every 9 hours from 20 days before the first lead to after the last.
    let ev: Vec<(&str, &str, i64)> = (0..users.len() - 1)
        .flat_map(|u| {
            (0..200i64).map(move |k| (users[u], if k % 3 == 0 { "Pricing Page View" } else { "Page View" }, k))
        })
        .map(|(u, name, k)| (u, name, T0 + 380 * DAY + k * 9 * 3_600_000_000 + (u.len() as i64)))
        .collect();
    let l = leads_frame(&created, &lead_users, &vec![Some("Retail"); n], &vec![Some(5.0); n], &vec![Some("CEO"); n]);
    let (df, _) = derive(&l, Some(&events_frame(&ev)), &recipe()).unwrap();
    let get = |c: &str, i: usize| df.column(c).unwrap().f64().unwrap().get(i);
    let mut checked = 0;
    for i in [0, 1, 16_383, 16_384, 16_385, 32_767, 32_768, 39_998, n - 1].into_iter().chain((0..n).step_by(997)) {
        let before: Vec<&(&str, &str, i64)> =
            ev.iter().filter(|(u, _, at)| *u == lead_users[i] && *at < created[i]).collect();
        for w in [1, 7, 30] {
            let expected = before.iter().filter(|e| e.2 >= created[i] - w * DAY).count() as f64;
            assert_eq!(get(&format!("events_{w}d"), i), Some(expected), "lead {i} window {w}");
        }
        let pricing =
            before.iter().filter(|e| e.1 == "Pricing Page View" && e.2 >= created[i] - 30 * DAY).count() as f64;
        assert_eq!(get("events_30d_pricing_page_view", i), Some(pricing), "lead {i}");
        let recency = before.iter().map(|e| e.2).max().map(|at| (created[i] - at) as f64 / DAY as f64);
        assert_eq!(get("days_since_last_event", i), recency, "lead {i}");
        checked += 1;
    }
    // The last user has no events: no recency, zero counts.
    let last_user = (0..n).rev().find(|i| lead_users[*i] == "u6").unwrap();
    assert_eq!(get("days_since_last_event", last_user), None);
    assert_eq!(get("events_30d", last_user), Some(0.0));
    assert!(checked > 40);
}

/// An attribute may be one of the canonical fields the identity features read (here the e-mail
/// domain): derive keeps it for the attribute's features.
#[test]
fn an_attribute_named_as_a_canonical_field_keeps_its_column() {
    let l = leads_frame(&[T0, T0 + DAY], &["u1", "u2"], &[Some("Retail"); 2], &[Some(5.0); 2], &[Some("CEO"); 2]);
    let mut r = recipe();
    r.attributes.push(AttributeRecipe {
        name: leads::EMAIL_DOMAIN.into(),
        kind: AttributeKind::Categorical,
        job_title: false,
        buckets: vec![],
    });
    let (df, catalog) = derive(&l, None, &r).unwrap();
    let domain = df.column(leads::EMAIL_DOMAIN).unwrap().str().unwrap();
    assert_eq!(domain.iter().collect::<Vec<_>>(), [Some("acme.io"), Some("gmail.com")]);
    assert_eq!(df.column("email_tld").unwrap().str().unwrap().get(1), Some("com"));
    assert!(catalog.iter().any(|d| d.name == leads::EMAIL_DOMAIN && d.origin == "attribute email_domain"));
}
