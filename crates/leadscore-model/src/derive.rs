//! Derived features: what a lead looked like when it was created, as named columns.
//!
//! A [`Recipe`] says which features to build; [`derive`] builds them from canonical leads and
//! events. Training and daily scoring call the same function with the recipe stored in the model,
//! so a lead gets the same features whichever path it takes.
//!
//! Point in time: every feature comes from the lead row itself (attributes declared available at
//! creation, the canonical fields) or from events strictly before `created_at`.

use std::collections::HashMap;

use chrono_tz::Tz;
use leadscore_core::config::AttributeKind;
use leadscore_core::schema::{events as ev, leads};
use leadscore_core::time::{MICROS_PER_DAY, polars_time_zone};
use polars::prelude::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use unicode_normalization::UnicodeNormalization as _;

use crate::rules::{self, Rule};

/// How a feature enters a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// A number (booleans are 0/1); missing values are allowed.
    Numeric,
    /// A category (text); one-hot encoded over a fitted vocabulary.
    Categorical,
}

/// One derived feature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureDef {
    /// Column name.
    pub name: String,
    /// Numeric or categorical.
    pub kind: FeatureKind,
    /// Where it comes from: `attribute job_title`, `field email`, `events`, `created_at`.
    pub origin: String,
    /// What it means, in words (used in reasons and reports).
    pub description: String,
}

/// How one attribute becomes features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeRecipe {
    /// Attribute (column in `leads.parquet`).
    pub name: String,
    /// Its kind.
    pub kind: AttributeKind,
    /// Text read as a job title: seniority and department from [`rules`].
    #[serde(default)]
    pub job_title: bool,
    /// Numeric bucket boundaries (ascending): adds `<name>_bucket` such as `51-200`.
    #[serde(default)]
    pub buckets: Vec<f64>,
}

/// Event features: counts in windows strictly before creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecipe {
    /// Windows (days) for counts of all events.
    pub windows_days: Vec<u32>,
    /// Event names counted on their own over `name_window_days`.
    pub names: Vec<String>,
    /// The window for per-name counts.
    pub name_window_days: u32,
}

/// Which features to derive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// IANA time zone for hour of day and weekday.
    pub timezone: String,
    /// Attributes used, in order.
    pub attributes: Vec<AttributeRecipe>,
    /// Event features, when an events source exists.
    pub events: Option<EventRecipe>,
}

/// Lower-cased words of a text (letters and digits; everything else separates), after Unicode
/// composition (NFC).
pub fn words(text: &str) -> Vec<String> {
    // Composed first (NFC): a decomposed `a` + combining umlaut is one letter, not a split.
    let composed: String = text.nfc().collect();
    composed
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn phrase_in(words: &[String], keyword: &str) -> bool {
    let k: Vec<&str> = keyword.split(' ').collect();
    words.windows(k.len()).any(|w| w.iter().zip(&k).all(|(a, b)| a == b))
}

/// The first rule with a keyword among the words, if any.
pub fn first_rule(words: &[String], table: &[Rule]) -> Option<&'static str> {
    table.iter().find(|r| r.keywords.iter().any(|k| phrase_in(words, k))).map(|r| r.label)
}

fn is_placeholder(t: &str) -> bool {
    let t = t.trim().to_lowercase();
    rules::PLACEHOLDERS.contains(&t.as_str())
}

/// Seniority of a job title: a [`rules::SENIORITY`] label, `other`, or `missing`.
pub fn seniority(title: Option<&str>) -> &'static str {
    match title {
        None => "missing",
        Some(t) if is_placeholder(t) => "missing",
        Some(t) => first_rule(&words(t), rules::SENIORITY).unwrap_or("other"),
    }
}

/// Department of a job title: a [`rules::DEPARTMENT`] label, `other`, or `missing`.
pub fn department(title: Option<&str>) -> &'static str {
    match title {
        None => "missing",
        Some(t) if is_placeholder(t) => "missing",
        Some(t) => first_rule(&words(t), rules::DEPARTMENT).unwrap_or("other"),
    }
}

/// A bucket label for a value given ascending boundaries: `<10`, `10-49`, …, `5000+`.
pub fn bucket(value: Option<f64>, bounds: &[f64]) -> Option<String> {
    let v = value?;
    let fmt = |x: f64| if x.fract() == 0.0 { format!("{x:.0}") } else { format!("{x}") };
    match bounds.iter().position(|b| v < *b) {
        Some(0) => Some(format!("<{}", fmt(bounds[0]))),
        Some(i) => Some(format!("{}-{}", fmt(bounds[i - 1]), fmt(bounds[i]))),
        None => bounds.last().map(|b| format!("{}+", fmt(*b))),
    }
}

/// A column-name-safe slug of an event name: `Pricing Page View` → `pricing_page_view`.
pub fn slug(name: &str) -> String {
    words(name).join("_")
}

fn missing_column(name: &str, df: &DataFrame, what: &str) -> ModelError {
    ModelError::MissingColumn {
        column: name.to_string(),
        expected: what.to_string(),
        available: df.get_column_names().iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "),
    }
}

/// Builds the recipe's features for `leads` (canonical leads with attribute columns), with event
/// features from `events` counted strictly before each lead's `created_at`. Returns a frame of
/// `lead_id` and the feature columns (in catalog order) and the catalog.
///
/// Each group of features of a lead's own row (the canonical fields, the creation time, each
/// attribute) is built over every lead at once, the groups in parallel (the canonical fields'
/// and the creation time's first, then the attributes'): the columns are built
/// whole, and the categorical and numeric attributes are the leads' own columns, shared (slices
/// of rows built in parallel had to be stacked and copied again into one chunk, those columns
/// with them). The event counts are one pass over all leads.
pub fn derive(
    leads_df: &DataFrame,
    events_df: Option<&DataFrame>,
    recipe: &Recipe,
) -> Result<(DataFrame, Vec<FeatureDef>)> {
    derive_owned(leads_df.clone(), events_df.cloned(), recipe)
}

/// [`derive`], consuming the leads and events: once the features of the leads' own rows are
/// built, the columns the event counts do not need are dropped (those the features share stay
/// with them), and the events once indexed, so a caller that owns the only copy of a wide leads
/// table does not hold it while the events are counted.
pub fn derive_owned(
    mut leads_df: DataFrame,
    events_df: Option<DataFrame>,
    recipe: &Recipe,
) -> Result<(DataFrame, Vec<FeatureDef>)> {
    let tz: Tz =
        recipe.timezone.parse().map_err(|_| ModelError::Invalid(format!("unknown time zone `{}`", recipe.timezone)))?;
    let t = std::time::Instant::now();
    let created = leads_df.column(leads::CREATED_AT)?.datetime()?.physical().clone();
    let build = |groups: Vec<Group>, leads_df: &DataFrame| {
        groups
            .into_par_iter()
            .map(|group| {
                let mut built = Built::default();
                match group {
                    Group::Identity(fields) => identity_features(&mut built, fields)?,
                    Group::Created => creation_time_features(&mut built, leads_df, tz)?,
                    Group::Attribute(a) => attribute_features(&mut built, leads_df, a, &created)?,
                }
                Ok(built)
            })
            .collect::<Result<Vec<_>>>()
    };
    // The canonical fields only the identity features read are taken out of the leads (copied
    // when an attribute has the name too): the identity features free each once it is used.
    let mut fields = Vec::with_capacity(IDENTITY_FIELDS.len());
    for c in IDENTITY_FIELDS {
        fields.push(if recipe.attributes.iter().any(|a| a.name == c) {
            leads_df.column(c)?.clone()
        } else {
            leads_df.drop_in_place(c)?
        });
    }
    let fields = DataFrame::new(leads_df.height(), fields)?;
    let mut built = build(vec![Group::Identity(fields), Group::Created], &leads_df)?;
    built.extend(build(recipe.attributes.iter().map(Group::Attribute).collect(), &leads_df)?);
    let mut columns = vec![leads_df.column(leads::LEAD_ID)?.clone()];
    let mut catalog = Vec::new();
    for b in built {
        columns.extend(b.columns);
        catalog.extend(b.catalog);
    }
    let mut frame = DataFrame::new(leads_df.height(), columns)?;
    tracing::debug!(seconds = t.elapsed().as_secs_f64(), "derived the row features");

    // Events strictly before creation.
    if let Some(er) = &recipe.events {
        let height = leads_df.height();
        let counted = |c: &Column| [leads::USER_ID, leads::CREATED_AT].contains(&c.name().as_str());
        let users = DataFrame::new(height, leads_df.into_columns().into_iter().filter(counted).collect())?;
        for f in event_counts(&users, events_df, er)? {
            catalog.push(FeatureDef {
                name: f.name.clone(),
                kind: FeatureKind::Numeric,
                origin: "events".into(),
                description: f.description,
            });
            frame.with_column(f.values.with_name(f.name.as_str().into()).into_column())?;
        }
    }
    // One chunk a column, as the stages that read the features expect (a no-op for the columns
    // built here; a table read from many files may give the shared ones several).
    frame.rechunk_mut();
    Ok((frame, catalog))
}

/// The features of a lead's own row built together, in catalog order.
enum Group<'a> {
    /// The canonical fields' ([`identity_features`]), of these columns ([`IDENTITY_FIELDS`]).
    Identity(DataFrame),
    /// The creation time's ([`creation_time_features`]).
    Created,
    /// One attribute's ([`attribute_features`]).
    Attribute(&'a AttributeRecipe),
}

/// Feature columns being built, with their catalog entries.
#[derive(Default)]
struct Built {
    columns: Vec<Column>,
    catalog: Vec<FeatureDef>,
}

impl Built {
    fn push(&mut self, col: Column, kind: FeatureKind, origin: &str, description: String) {
        self.catalog.push(FeatureDef { name: col.name().to_string(), kind, origin: origin.into(), description });
        self.columns.push(col);
    }
}

fn flag(b: bool) -> Option<f64> {
    Some(if b { 1.0 } else { 0.0 })
}

/// The canonical fields [`identity_features`] reads, and nothing else does.
const IDENTITY_FIELDS: [&str; 7] = [
    leads::EMAIL_CLASS,
    leads::EMAIL_DOMAIN,
    leads::PHONE_COUNTRY,
    leads::GCLID,
    leads::FBCLID,
    leads::META_LEAD_ID,
    leads::CLIENT_ID,
];

/// Features of the canonical fields (`fields`: [`IDENTITY_FIELDS`], each dropped once used):
/// ingest derived the e-mail's class and domain and the phone's country; the raw values never
/// reach this stage.
fn identity_features(built: &mut Built, mut fields: DataFrame) -> Result<()> {
    let mut take = |name: &str| -> Result<StringChunked> { Ok(fields.drop_in_place(name)?.str()?.clone()) };
    let class = take(leads::EMAIL_CLASS)?;
    built.push(
        Column::new("email_class".into(), class.iter().map(|c| Some(c.unwrap_or("missing"))).collect::<Vec<_>>()),
        FeatureKind::Categorical,
        "field email",
        "e-mail class (corporate, free, disposable, invalid, missing)".into(),
    );
    drop(class);
    let domain = take(leads::EMAIL_DOMAIN)?;
    let tld: Vec<Option<&str>> = domain.iter().map(|d| d.and_then(|d| d.rsplit('.').next())).collect();
    built.push(
        Column::new("email_tld".into(), tld),
        FeatureKind::Categorical,
        "field email",
        "e-mail top-level domain".into(),
    );
    drop(domain);
    let phone = take(leads::PHONE_COUNTRY)?;
    let phone: Vec<&str> = phone.iter().map(|p| p.unwrap_or("missing")).collect();
    built.push(
        Column::new("has_phone".into(), phone.iter().map(|p| flag(*p != "missing")).collect::<Vec<_>>()),
        FeatureKind::Numeric,
        "field phone",
        "a phone number was given".into(),
    );
    built.push(
        Column::new("phone_country".into(), phone.into_iter().map(Some).collect::<Vec<_>>()),
        FeatureKind::Categorical,
        "field phone",
        "country of the phone's international prefix".into(),
    );
    for (field, name, description) in [
        (leads::GCLID, "paid_search_click", "came from a Google Ads click (gclid)"),
        (leads::FBCLID, "paid_social_click", "came from a Meta ad click (fbclid)"),
        (leads::META_LEAD_ID, "meta_lead_ad", "came from a Meta lead ad"),
        (leads::CLIENT_ID, "has_client_id", "has a web analytics client id (came through the website)"),
    ] {
        let c = take(field)?;
        built.push(
            Column::new(name.into(), c.iter().map(|v| flag(v.is_some())).collect::<Vec<_>>()),
            FeatureKind::Numeric,
            &format!("field {field}"),
            description.into(),
        );
    }
    Ok(())
}

/// Hour, weekday, office hours and weekend of the creation, in the recipe's time zone.
fn creation_time_features(built: &mut Built, leads_df: &DataFrame, tz: Tz) -> Result<()> {
    let local = leads_df
        .clone()
        .lazy()
        .select([
            col(leads::CREATED_AT)
                .dt()
                .convert_time_zone(polars_time_zone(tz))
                .dt()
                .hour()
                .cast(DataType::Float64)
                .alias("h"),
            (col(leads::CREATED_AT)
                .dt()
                .convert_time_zone(polars_time_zone(tz))
                .dt()
                .weekday()
                .cast(DataType::Float64)
                - lit(1.0))
            .alias("d"),
        ])
        .collect()?;
    let hours = local.column("h")?.f64()?.clone();
    let days = local.column("d")?.f64()?.clone();
    let office: Vec<Option<f64>> = hours
        .iter()
        .zip(days.iter())
        .map(|(h, d)| match (h, d) {
            (Some(h), Some(d)) => flag(d < 5.0 && (8.0..18.0).contains(&h)),
            _ => None,
        })
        .collect();
    let weekend: Vec<Option<f64>> = days.iter().map(|d| d.map(|d| if d >= 5.0 { 1.0 } else { 0.0 })).collect();
    built.push(
        hours.with_name("created_hour".into()).into_column(),
        FeatureKind::Numeric,
        "created_at",
        "hour of creation, local time".into(),
    );
    built.push(
        days.with_name("created_weekday".into()).into_column(),
        FeatureKind::Numeric,
        "created_at",
        "weekday of creation (0 = Monday), local time".into(),
    );
    built.push(
        Column::new("office_hours".into(), office),
        FeatureKind::Numeric,
        "created_at",
        "created 8:00-18:00 on a weekday, local time".into(),
    );
    built.push(
        Column::new("weekend".into(), weekend),
        FeatureKind::Numeric,
        "created_at",
        "created on a weekend".into(),
    );
    Ok(())
}

/// The features of one attribute, by its kind.
fn attribute_features(
    built: &mut Built,
    leads_df: &DataFrame,
    a: &AttributeRecipe,
    created: &Int64Chunked,
) -> Result<()> {
    let c =
        leads_df.column(&a.name).map_err(|_| missing_column(&a.name, leads_df, &format!("attribute `{}`", a.name)))?;
    let origin = format!("attribute {}", a.name);
    match a.kind {
        AttributeKind::Numeric => {
            let v = c.cast(&DataType::Float64)?;
            let vals = v.f64()?.clone();
            if !a.buckets.is_empty() {
                let b: Vec<Option<String>> = vals.iter().map(|x| bucket(x, &a.buckets)).collect();
                built.push(
                    Column::new(format!("{}_bucket", a.name).into(), b),
                    FeatureKind::Categorical,
                    &origin,
                    format!("{} bucket", a.name),
                );
            }
            built.push(
                vals.with_name(a.name.as_str().into()).into_column(),
                FeatureKind::Numeric,
                &origin,
                a.name.replace('_', " "),
            );
        }
        AttributeKind::Boolean => {
            let v = c.bool()?.iter().map(|b| b.map(|b| if b { 1.0 } else { 0.0 })).collect::<Vec<_>>();
            built.push(Column::new(a.name.as_str().into(), v), FeatureKind::Numeric, &origin, a.name.replace('_', " "));
        }
        AttributeKind::Categorical => {
            built.push(
                c.clone().with_name(a.name.as_str().into()),
                FeatureKind::Categorical,
                &origin,
                a.name.replace('_', " "),
            );
        }
        AttributeKind::Text if a.job_title => job_title_features(built, c.str()?, &a.name, &origin),
        AttributeKind::Text => {
            let len: Vec<Option<f64>> = c.str()?.iter().map(|v| v.map(|v| v.chars().count() as f64)).collect();
            built.push(
                Column::new(format!("{}_length", a.name).into(), len),
                FeatureKind::Numeric,
                &origin,
                format!("length of {}", a.name.replace('_', " ")),
            );
        }
        AttributeKind::Timestamp => {
            let t = c.datetime()?.physical().clone();
            let d: Vec<Option<f64>> =
                t.iter().zip(created.iter()).map(|(t, c)| Some((t? - c?) as f64 / MICROS_PER_DAY as f64)).collect();
            built.push(
                Column::new(format!("{}_days_after_creation", a.name).into(), d),
                FeatureKind::Numeric,
                &origin,
                format!("days from creation to {}", a.name.replace('_', " ")),
            );
        }
    }
    Ok(())
}

/// A job title's seniority and department (each distinct title classified once).
fn job_title_features(built: &mut Built, t: &StringChunked, name: &str, origin: &str) {
    let mut cache: HashMap<&str, (&'static str, &'static str)> = HashMap::new();
    let (mut sen, mut dep) = (Vec::with_capacity(t.len()), Vec::with_capacity(t.len()));
    for v in t.iter() {
        let (s, d) = match v {
            None => ("missing", "missing"),
            Some(v) => *cache.entry(v).or_insert_with(|| (seniority(Some(v)), department(Some(v)))),
        };
        sen.push(Some(s));
        dep.push(Some(d));
    }
    let human = name.replace('_', " ");
    built.push(
        Column::new(format!("{name}_seniority").into(), sen),
        FeatureKind::Categorical,
        origin,
        format!("{human} seniority"),
    );
    built.push(
        Column::new(format!("{name}_department").into(), dep),
        FeatureKind::Categorical,
        origin,
        format!("{human} department"),
    );
}

/// A numeric feature column: name, description, one value per lead.
struct NumericFeature {
    name: String,
    description: String,
    values: Float64Chunked,
}

/// How far back event recency looks.
pub const RECENCY_DAYS: i64 = leadscore_core::config::features::EVENT_RECENCY_DAYS as i64;

/// The event features' names and descriptions: counts per window, per counted name, recency.
fn event_feature_names(er: &EventRecipe) -> Vec<(String, String)> {
    let mut names: Vec<(String, String)> = er
        .windows_days
        .iter()
        .map(|w| (format!("events_{w}d"), format!("events in the {w} days before the lead")))
        .collect();
    names.extend(er.names.iter().map(|e| {
        (
            format!("events_{}d_{}", er.name_window_days, slug(e)),
            format!("`{e}` events in the {} days before the lead", er.name_window_days),
        )
    }));
    names.push((
        "days_since_last_event".into(),
        format!("days from the last event before the lead (empty: none in the {RECENCY_DAYS} days before)"),
    ));
    names
}

/// The events of the leads' users, by user and then time.
struct UserEvents {
    /// (user number, time, index of the event's name among the counted names, `u32::MAX`: not
    /// counted).
    rows: Vec<(u32, i64, u32)>,
    /// The rows' times.
    at: Vec<i64>,
    /// Per user number, the range of its rows.
    of_user: Vec<(usize, usize)>,
}

impl UserEvents {
    /// Indexes the events with a user among `user_ids` and a time.
    fn index(events_df: &DataFrame, user_ids: &PlHashMap<&str, u32>, er: &EventRecipe) -> Result<Self> {
        let counted = |e: &str| er.names.iter().position(|n| n == e).map_or(u32::MAX, |k| k as u32);
        let event_at =
            events_df.clone().lazy().select([col(ev::AT).dt().timestamp(TimeUnit::Microseconds)]).collect()?;
        let event_at = event_at.column(ev::AT)?.i64()?;
        let users = events_df.column(ev::USER_ID)?.str()?;
        let mut rows: Vec<(u32, i64, u32)> = Vec::new();
        for ((u, t), name) in users.iter().zip(event_at.iter()).zip(events_df.column(ev::NAME)?.str()?.iter()) {
            let (Some(id), Some(t)) = (u.and_then(|u| user_ids.get(u)), t) else { continue };
            rows.push((*id, t, name.map_or(u32::MAX, counted)));
        }
        rows.par_sort_unstable_by_key(|r| (r.0, r.1));
        let at: Vec<i64> = rows.iter().map(|r| r.1).collect();
        let mut of_user = vec![(0usize, 0usize); user_ids.len()];
        for (i, r) in rows.iter().enumerate() {
            let range = &mut of_user[r.0 as usize];
            if range.1 == 0 {
                range.0 = i;
            }
            range.1 = i + 1;
        }
        Ok(Self { rows, at, of_user })
    }
}

/// Event counts per lead in each window before creation, per-name counts, and recency.
fn event_counts(leads_df: &DataFrame, events_df: Option<DataFrame>, er: &EventRecipe) -> Result<Vec<NumericFeature>> {
    let n = leads_df.height();
    let names = event_feature_names(er);
    let Some(events_df) = events_df.filter(|e| e.height() > 0) else {
        return Ok(without_events(names, n));
    };
    // The leads' users, numbered; events of other users are skipped, so a day's few leads do not
    // pay for indexing every event.
    let lead_users = leads_df.column(leads::USER_ID)?.str()?.rechunk();
    let mut user_ids: PlHashMap<&str, u32> = PlHashMap::with_capacity(n);
    for u in lead_users.iter().flatten() {
        let next = user_ids.len() as u32;
        user_ids.entry(u).or_insert(next);
    }
    let UserEvents { rows, at, of_user } = UserEvents::index(&events_df, &user_ids, er)?;
    drop(events_df);

    // Per lead, by binary search in its user's events: the windows end (exclusively) at creation
    // and start at most RECENCY_DAYS before it.
    let created =
        leads_df.clone().lazy().select([col(leads::CREATED_AT).dt().timestamp(TimeUnit::Microseconds)]).collect()?;
    let created = created.column(leads::CREATED_AT)?.i64()?.rechunk();
    let width = names.len();
    let recency_days = RECENCY_DAYS * MICROS_PER_DAY;
    let start = |c: i64, days: u32| c - (i64::from(days) * MICROS_PER_DAY).min(recency_days);
    // Written a column at a time: a block of leads holds its part of each feature's column, so
    // the counts are never held twice (once by lead, once by feature).
    let mut columns: Vec<Vec<f64>> = (0..width).map(|_| vec![0.0; n]).collect();
    let mut blocks: Vec<Vec<&mut [f64]>> = (0..n.div_ceil(COUNT_BLOCK)).map(|_| Vec::with_capacity(width)).collect();
    for column in &mut columns {
        for (block, part) in blocks.iter_mut().zip(column.chunks_mut(COUNT_BLOCK)) {
            block.push(part);
        }
    }
    blocks.into_par_iter().enumerate().for_each(|(b, mut out)| {
        for k in 0..out.first().map_or(0, |c| c.len()) {
            let i = b * COUNT_BLOCK + k;
            let (Some(u), Some(c)) = (lead_users.get(i), created.get(i)) else {
                out[width - 1][k] = f64::NAN;
                continue;
            };
            let Some(&(from, to)) = user_ids.get(u).map(|id| &of_user[*id as usize]) else {
                out[width - 1][k] = f64::NAN;
                continue;
            };
            let times = &at[from..to];
            let first_at = |t: i64| times.partition_point(|a| *a < t);
            let end = first_at(c);
            for (column, w) in out.iter_mut().zip(&er.windows_days) {
                column[k] = (end - first_at(start(c, *w))) as f64;
            }
            let named = &mut out[er.windows_days.len()..width - 1];
            for r in &rows[from + first_at(start(c, er.name_window_days))..from + end] {
                if let Some(column) = named.get_mut(r.2 as usize) {
                    column[k] += 1.0;
                }
            }
            out[width - 1][k] = if end > first_at(c - recency_days) {
                (c - times[end - 1]) as f64 / MICROS_PER_DAY as f64
            } else {
                f64::NAN
            };
        }
    });
    Ok(names.into_iter().zip(columns).map(|((name, description), values)| numeric(name, description, values)).collect())
}

/// The event features of `n` leads without events before creation: zero counts, no recency.
fn without_events(names: Vec<(String, String)>, n: usize) -> Vec<NumericFeature> {
    let mut v: Vec<NumericFeature> = names
        .into_iter()
        .map(|(name, description)| NumericFeature {
            values: Float64Chunked::from_vec(name.as_str().into(), vec![0.0; n]),
            name,
            description,
        })
        .collect();
    if let Some(last) = v.last_mut() {
        last.values = Float64Chunked::full_null(last.name.as_str().into(), n);
    }
    v
}

/// A feature from its values, NaN marking no value (only recency has none): the counts are
/// polars' values as they are; recency is copied into values with a validity mask.
fn numeric(name: String, description: String, values: Vec<f64>) -> NumericFeature {
    NumericFeature {
        values: if values.iter().any(|v| v.is_nan()) {
            Float64Chunked::from_iter_options(name.as_str().into(), values.iter().map(|v| (!v.is_nan()).then_some(*v)))
        } else {
            Float64Chunked::from_vec(name.as_str().into(), values)
        },
        name,
        description,
    }
}

/// Leads whose event counts one task writes.
const COUNT_BLOCK: usize = 1 << 14;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_titles_by_rule_table() {
        let cases = [
            ("CEO", "c_level", "general"),
            ("Co-Founder & CEO", "c_level", "general"),
            ("Chief Marketing Officer", "c_level", "marketing"),
            ("Managing Director", "c_level", "general"),
            ("Geschäftsführer", "c_level", "general"),
            // The same title with decomposed umlauts (`a` + U+0308), as some exports write it.
            ("Gescha\u{308}ftsfu\u{308}hrer", "c_level", "general"),
            ("VP, Marketing", "vp", "marketing"),
            ("Vice President of Sales", "vp", "sales"),
            ("SVP Engineering", "vp", "engineering"),
            ("Head of Growth", "director", "marketing"),
            ("Hoofd Marketing", "director", "marketing"),
            ("Sales Director", "director", "sales"),
            ("Senior Marketing Manager", "manager", "marketing"),
            ("Team Lead Sales", "manager", "sales"),
            ("Sr. Software Engineer", "individual", "engineering"),
            ("Account Executive", "individual", "sales"),
            ("Recruiter", "individual", "hr"),
            ("Marketing Intern", "student", "marketing"),
            ("PhD Candidate", "student", "other"),
            ("digital marketing lead", "manager", "marketing"),
            ("MVP Evangelist", "other", "other"),
            ("n/a", "missing", "missing"),
            ("-", "missing", "missing"),
        ];
        for (title, s, d) in cases {
            assert_eq!((seniority(Some(title)), department(Some(title))), (s, d), "{title}");
        }
        assert_eq!(seniority(None), "missing");
    }

    #[test]
    fn buckets_and_slugs() {
        let b = [10.0, 50.0, 200.0];
        assert_eq!(bucket(Some(3.0), &b).as_deref(), Some("<10"));
        assert_eq!(bucket(Some(10.0), &b).as_deref(), Some("10-50"));
        assert_eq!(bucket(Some(199.0), &b).as_deref(), Some("50-200"));
        assert_eq!(bucket(Some(5000.0), &b).as_deref(), Some("200+"));
        assert_eq!(bucket(None, &b), None);
        assert_eq!(slug("Pricing Page View"), "pricing_page_view");
    }
}
