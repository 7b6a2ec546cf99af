//! `leadscore-features`: point-in-time features, a fitted feature spec, and a leakage audit.
//!
//! [`run`] is responsible for the features models are trained on:
//!
//! 1. it selects the training leads ([`leadscore_core::config::Labels::is_training_lead`]: created
//!    in the training window, matured, not existing customers, the rule labels reports with) and
//!    splits them out of time: the most recent `[train] validation_fraction` (or
//!    `validation_weeks`) are validation, strictly later than every training lead; the leads
//!    after the window whose windows are still open follow as `pending`;
//! 2. it audits every attribute for leakage ([`audit`]) and leaves flagged ones out;
//! 3. it derives the features of those leads with [`leadscore_model::derive`]: canonical-field
//!    features, attribute features by kind, and event counts strictly before creation (the day's
//!    leads are derived by qualify, with the champion's recipe);
//! 4. it fits the [`FeatureSpec`] on the training split only ([`SpecLearner`]).
//!
//! It reads ingest's `leads.parquet` and `events.parquet` and labels' `labels.parquet` (of the
//! events and labels, only the columns it uses: [`EVENT_COLUMNS`], [`LABEL_COLUMNS`]), and writes
//! `features.parquet` (derived features with `split`, `converted`, `value_in_window`),
//! `feature_spec.json`, `leakage_audit.json` and `report.json`.

pub mod audit;
mod error;
mod fit;
mod report;

use std::collections::HashMap;

use leadscore_core::config::{Attribute, AttributeKind, Validation};
use leadscore_core::layout::{Manifest, StageWriter, Stopwatch, Timing};
use leadscore_core::schema::{SourceKind, events as ev, features as f, labels as l, leads};
use leadscore_core::time::{MICROS_PER_DAY, format_micros};
use leadscore_core::{Config, Outputs, RunContext, RunDate, RunLayout, Stage, StageRun};
use leadscore_core::{artifact, frame};
use leadscore_model::{AttributeRecipe, Encoding, EventRecipe, FeatureSpec, Recipe, derive_owned};
use polars::prelude::*;
use rayon::prelude::*;

pub use audit::{AuditRow, Flag};
pub use error::{FeaturesError, Result};
pub use fit::SpecLearner;
pub use report::{FeatureSummary, FeaturesReport, SplitSummary};

/// How many event names get their own count when the config names none.
pub const DEFAULT_EVENT_NAMES: usize = 8;

/// The tables features reads.
#[derive(Debug, Clone)]
pub struct FeaturesInputs {
    /// Canonical leads (ingest).
    pub leads: DataFrame,
    /// Canonical events (ingest; empty when none are configured).
    pub events: DataFrame,
    /// Window labels (labels).
    pub labels: DataFrame,
}

/// What features produces.
#[derive(Debug, Clone)]
pub struct FeaturesOutputs {
    /// Derived features of the training, validation and pending leads.
    pub features: DataFrame,
    /// The spec fitted on the training split.
    pub spec: FeatureSpec,
    /// The report.
    pub report: FeaturesReport,
    /// Seconds spent in each inner step (select, audit, derive, fit, assemble).
    pub timings: Vec<Timing>,
}

fn micros(col_name: &str) -> Expr {
    col(col_name).dt().timestamp(TimeUnit::Microseconds)
}

fn split_summary(df: &DataFrame) -> Result<SplitSummary> {
    let times = df.column(f::CREATED_AT)?.datetime()?.physical().clone();
    let positives = df.column(f::CONVERTED)?.bool()?.iter().filter(|x| *x == Some(true)).count() as u64;
    Ok(SplitSummary {
        leads: df.height() as u64,
        positives,
        from: times.min().map(format_micros),
        to: times.max().map(format_micros),
    })
}

/// The most frequent event names in `[from, run_start)` (ties by name): the events the run reads
/// for its leads ([`Config::first_needed_day`]), so a partitioned events folder and a whole
/// export give the same names.
fn top_event_names(events: &DataFrame, from: i64, run_start: i64, k: usize) -> Result<Vec<String>> {
    if events.height() == 0 {
        return Ok(Vec::new());
    }
    let known = events
        .clone()
        .lazy()
        .filter(micros(ev::AT).gt_eq(lit(from)).and(micros(ev::AT).lt(lit(run_start))))
        .select([col(ev::NAME)])
        .collect()?;
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for n in known.column(ev::NAME)?.str()?.iter().flatten() {
        *counts.entry(n).or_default() += 1;
    }
    let mut v: Vec<(&str, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    Ok(v.into_iter().take(k).map(|(n, _)| n.to_string()).collect())
}

/// Whether `labels` has the leads of the first `labels.height()` rows of `leads`, in order.
fn rows_aligned(labels: &DataFrame, leads_df: &DataFrame) -> Result<bool> {
    if labels.height() > leads_df.height() {
        return Ok(false);
    }
    let a = labels.column(l::LEAD_ID)?.str()?;
    let b = leads_df.column(leads::LEAD_ID)?.str()?.slice(0, labels.height());
    Ok(a.equal_missing(&b).all())
}

/// The first and last creation time of the leads created before `run_start` (for
/// [`no_training_leads`]).
fn known_span(leads_df: &DataFrame, run_start: i64) -> (Option<i64>, Option<i64>) {
    let created = leads_df.column(leads::CREATED_AT).ok().and_then(|c| c.datetime().ok().map(|d| d.physical().clone()));
    let known = || created.iter().flat_map(|c| c.iter().flatten()).filter(|t| *t < run_start);
    (known().min(), known().max())
}

/// The volume-gate error for an empty training split, with the span of the known leads
/// ([`known_span`]) and the likely cause.
fn no_training_leads(
    (first, last): (Option<i64>, Option<i64>),
    ctx: &RunContext,
    window_days: u32,
    (from, to): (RunDate, RunDate),
) -> FeaturesError {
    let day = |t: i64| format_micros(t).chars().take(10).collect::<String>();
    let (span, hint) = match (first, last) {
        (Some(a), Some(b)) => {
            let hint = if a >= to.start_micros(chrono_tz::UTC) {
                format!(
                    "The run date is too early for this history: training needs leads created at least {window_days} \
                     days before it. Pick a later --date"
                )
            } else if b < from.start_micros(chrono_tz::UTC) {
                "The run date is too late for this history: no lead was created in the training window. Pick an \
                 earlier --date, or add newer exports"
                    .to_string()
            } else {
                "Every lead of the window is an existing customer or not matured: check `[labels] history_months`, \
                 `window_days` and the run date"
                    .to_string()
            };
            (format!("the leads known before the run date were created {} to {}", day(a), day(b)), hint)
        }
        _ => (
            "no lead was created before the run date".to_string(),
            "The run date is before the first lead, or the leads' creation dates are wrong: pick a later --date, \
             or check the leads' timestamps"
                .to_string(),
        ),
    };
    FeaturesError::NoTrainingLeads(format!(
        "no matured lead was created in the training window {from} to {to} (the run date {} minus the \
         {window_days}-day conversion window and `history_months`); {span}. {hint}",
        ctx.run_date
    ))
}

/// The rows features derives: the training window's leads (train, then validation) and the
/// pending leads after it, oldest first, with their labels and `split`; and how many lead the
/// train split (a prefix: the cut is a time). The leads table is consumed: each of its columns
/// is dropped once its rows are gathered.
fn select_rows(config: &Config, inputs: FeaturesInputs, ctx: &RunContext) -> Result<(DataFrame, usize)> {
    let labels_cfg = config.labels.as_ref().ok_or(FeaturesError::NoLabels)?;
    let tz = config.project.timezone;
    let (window_start, window_end) = labels_cfg.training_window(ctx.run_date);
    let to_us = window_end.start_micros(tz);
    // Pending leads follow the training window up to the day before the run date; their windows
    // are open.
    let is_pending = micros(l::CREATED_AT)
        .gt_eq(lit(to_us))
        .and(micros(l::CREATED_AT).lt(lit(ctx.run_date.pred().start_micros(tz))))
        .and(col(l::MATURED).not())
        .and(col(l::EXISTING_CUSTOMER).not());
    let keep = labels_cfg.is_training_lead(ctx.run_date, tz).or(is_pending);
    let keys = labelled_rows(&inputs, keep)?;
    let span = known_span(&inputs.leads, ctx.run_date.start_micros(tz));
    let mut rows = frame::take_owned(inputs.leads, keys.column(ROW)?.idx()?)?;
    rows.with_column(keys.column(f::CONVERTED)?.clone())?;
    rows.with_column(keys.column(f::VALUE_IN_WINDOW)?.clone())?;
    rows.with_column(keys.column(f::DAYS_TO_CONVERT)?.clone())?;
    let created = rows.column(leads::CREATED_AT)?.datetime()?.physical().clone();
    let cut = validation_cut(config.train.validation, &created, to_us);
    let split: StringChunked = created
        .iter()
        .map(|t| {
            let t = t.unwrap_or(i64::MIN);
            Some(if t < cut {
                f::TRAIN
            } else if t < to_us {
                f::VALIDATION
            } else {
                f::PENDING
            })
        })
        .collect();
    rows.with_column(split.with_name(f::SPLIT.into()).into_column())?;
    let n_train = created.iter().take_while(|t| t.unwrap_or(i64::MIN) < cut).count();
    if n_train == 0 {
        return Err(no_training_leads(span, ctx, labels_cfg.window_days, (window_start, window_end)));
    }
    Ok((rows, n_train))
}

/// Row index in the leads table.
const ROW: &str = "__row";

/// The labels of the leads `keep` selects, with each lead's row in the leads table, oldest
/// first. The keys are selected (and, unless labels and leads are row-aligned, joined and sorted)
/// first, so the wide leads table (every attribute) is gathered once.
fn labelled_rows(inputs: &FeaturesInputs, keep: Expr) -> Result<DataFrame> {
    let label_columns = [col(l::CONVERTED), col(l::VALUE_IN_WINDOW), col(l::DAYS_TO_CONVERT).cast(DataType::Float64)];
    Ok(if rows_aligned(&inputs.labels, &inputs.leads)? {
        // Both come sorted by `created_at`, then `lead_id` (ingest, labels): the labels' row
        // number is the lead's. (The index is taken before filtering.)
        inputs
            .labels
            .clone()
            .lazy()
            .with_row_index(ROW, None)
            .filter(keep)
            .select([vec![col(ROW)], label_columns.to_vec()].concat())
            .collect()?
    } else {
        inputs
            .labels
            .clone()
            .lazy()
            .filter(keep)
            .select([vec![col(l::LEAD_ID)], label_columns.to_vec()].concat())
            .join(
                inputs.leads.select([leads::LEAD_ID, leads::CREATED_AT])?.with_row_index(ROW.into(), None)?.lazy(),
                [col(l::LEAD_ID)],
                [col(leads::LEAD_ID)],
                JoinArgs::new(JoinType::Inner),
            )
            .sort([leads::CREATED_AT, leads::LEAD_ID], SortMultipleOptions::default())
            .collect()?
    })
}

/// The validation cut: every validation lead is created strictly after every training lead.
/// `created` holds the matured leads (before `window_end`), then the pending ones.
fn validation_cut(validation: Validation, created: &Int64Chunked, window_end: i64) -> i64 {
    match validation {
        Validation::Weeks(w) => window_end - i64::from(w) * 7 * MICROS_PER_DAY,
        Validation::Fraction(frac) => {
            // A share of the matured leads (pending leads come after them).
            let matured = created.iter().take_while(|t| t.unwrap_or(i64::MIN) < window_end).count();
            let i = ((matured as f64) * (1.0 - frac)).floor() as usize;
            // `get` panics past the end: no matured lead means no cut (the caller says why).
            let i = i.min(matured.saturating_sub(1));
            if i < created.len() { created.get(i).unwrap_or(window_end) } else { window_end }
        }
    }
}

/// Each configured attribute with its kind: declared, or inferred from its column's type.
fn attribute_kinds(config: &Config, leads_df: &DataFrame) -> Vec<(Attribute, AttributeKind)> {
    config
        .attributes
        .iter()
        .map(|a| {
            let dt = leads_df.column(&a.name).map(|c| c.dtype().clone()).unwrap_or(DataType::String);
            let kind = a.kind.unwrap_or(match dt {
                DataType::Float64 => AttributeKind::Numeric,
                DataType::Boolean => AttributeKind::Boolean,
                DataType::Datetime(_, _) => AttributeKind::Timestamp,
                _ if a.job_title => AttributeKind::Text,
                _ => AttributeKind::Categorical,
            });
            (a.clone(), kind)
        })
        .collect()
}

/// Holds the categorical attributes as codes into their levels (4 bytes a row), instead of a
/// 16-byte view a row and their text: the wide leads table is what the stage's memory peaks
/// with. Each attribute has levels of its own, freed with its column; `features.parquet` has them
/// as text (see [`leadscore_core::io::write_parquet`]).
fn as_categories(leads_df: &mut DataFrame, kinds: &[(Attribute, AttributeKind)]) -> Result<()> {
    let names: Vec<&str> = kinds
        .iter()
        .filter(|(a, k)| {
            *k == AttributeKind::Categorical && leads_df.column(&a.name).is_ok_and(|c| c.dtype() == &DataType::String)
        })
        .map(|(a, _)| a.name.as_str())
        .collect();
    let coded = names
        .par_iter()
        .map(|name| {
            let levels = Categories::new((*name).into(), "leadscore.features".into(), CategoricalPhysical::U32);
            leads_df.column(name)?.cast(&DataType::from_categories(levels))
        })
        .collect::<PolarsResult<Vec<_>>>()?;
    for c in coded {
        leads_df.with_column(c)?;
    }
    Ok(())
}

/// The recipe: the attributes the audit kept, and the event counts when events are configured.
fn recipe(
    config: &Config,
    kinds: &[(Attribute, AttributeKind)],
    audit_rows: &[AuditRow],
    event_names: Option<Vec<String>>,
) -> Recipe {
    let attributes = kinds
        .iter()
        .filter(|(a, _)| !audit_rows.iter().any(|r| r.attribute == a.name && r.excluded))
        .map(|(a, k)| AttributeRecipe {
            name: a.name.clone(),
            kind: *k,
            job_title: a.job_title && *k == AttributeKind::Text,
            buckets: if *k == AttributeKind::Numeric { a.buckets.clone() } else { Vec::new() },
        })
        .collect();
    let windows = &config.features.event_windows_days;
    Recipe {
        timezone: config.project.timezone.name().to_string(),
        attributes,
        events: event_names.map(|names| EventRecipe {
            windows_days: windows.clone(),
            name_window_days: windows.iter().copied().max().unwrap_or(30),
            names,
        }),
    }
}

/// What the report says of each feature: its fill rate on the training split and its levels.
fn feature_summaries(
    catalog: &[leadscore_model::FeatureDef],
    spec: &FeatureSpec,
    train_derived: &DataFrame,
) -> Vec<FeatureSummary> {
    catalog
        .iter()
        .zip(&spec.features)
        .map(|(d, fitted)| {
            let c = train_derived.column(&d.name);
            let fill = c.map(|c| 1.0 - c.null_count() as f64 / c.len().max(1) as f64).unwrap_or(0.0);
            let levels = match fitted {
                leadscore_model::FittedFeature::Categorical { levels, .. } => Some(levels.len()),
                leadscore_model::FittedFeature::Numeric { .. } => None,
            };
            FeatureSummary {
                name: d.name.clone(),
                kind: d.kind,
                origin: d.origin.clone(),
                description: d.description.clone(),
                fill_train: fill,
                levels,
            }
        })
        .collect()
}

/// Runs the features stage on in-memory tables.
///
/// It takes the inputs by value: each column of the leads table is dropped once the rows it
/// derives are gathered from it, so the stage never holds two copies of the leads.
pub fn run(config: &Config, mut inputs: FeaturesInputs, ctx: &RunContext) -> Result<FeaturesOutputs> {
    let mut sw = Stopwatch::new();
    let tz = config.project.timezone;
    let run_start = ctx.run_date.start_micros(tz);
    // The attributes' kinds and the recent leads the audit compares with, before the leads table
    // is consumed. The recent leads are taken once the categorical attributes are codes: a
    // filtered text column shares its text with the column it was filtered from.
    let kinds = attribute_kinds(config, &inputs.leads);
    as_categories(&mut inputs.leads, &kinds)?;
    let recent_from = run_start - i64::from(config.features.audit_recent_days) * MICROS_PER_DAY;
    let created = inputs.leads.column(leads::CREATED_AT)?.datetime()?.physical();
    let recent = inputs.leads.filter(&(created.gt_eq(recent_from) & created.lt(run_start)))?;
    let events_df = std::mem::take(&mut inputs.events);
    let (training, n_train) = select_rows(config, inputs, ctx)?;
    sw.lap("select");
    let positive: Vec<bool> = training.column(f::CONVERTED)?.bool()?.iter().map(|x| x == Some(true)).collect();

    // Leakage audit on the training split against the recent leads.
    let train_only = training.slice(0, n_train);
    let audit_rows = audit::audit(&kinds, &train_only, &positive[..n_train], &recent, &config.features)?;
    // Nothing else may share the training leads' columns: derive drops those it is done with.
    drop((train_only, recent));
    sw.lap("audit");
    for a in audit_rows.iter().filter(|a| a.excluded) {
        tracing::warn!(attribute = %a.attribute, "leakage audit: {}", a.verdict);
    }
    let events = match (&config.sources.events, &config.features.event_names) {
        (None, _) => None,
        (Some(_), Some(names)) => Some(names.clone()),
        (Some(_), None) => {
            let from =
                config.first_needed_day(SourceKind::Events, ctx.run_date).map_or(i64::MIN, |d| d.start_micros(tz));
            Some(top_event_names(&events_df, from, run_start, DEFAULT_EVENT_NAMES)?)
        }
    };
    let recipe = recipe(config, &kinds, &audit_rows, events.clone());

    // features.parquet's identity, split and labels; the other columns of the leads go to derive.
    let mut out =
        training.select([f::LEAD_ID, f::CREATED_AT, f::SPLIT, f::CONVERTED, f::VALUE_IN_WINDOW, f::DAYS_TO_CONVERT])?;
    let (derived, catalog) = derive_owned(training, (events_df.height() > 0).then_some(events_df), &recipe)?;
    sw.lap("derive");

    // Fit the spec on the training split only (the first `n_train` rows).
    let train_derived = derived.slice(0, n_train);
    let learner = SpecLearner { top_k: config.features.top_k, min_count: config.features.min_count };
    let spec = learner.fit(recipe, catalog.clone(), &train_derived, &positive[..n_train])?;
    spec.check_finite().map_err(|e| FeaturesError::Internal(format!("the fitted feature spec is invalid: {e}")))?;
    sw.lap("fit");

    // features.parquet: identity, split and labels, then the features.
    for c in derived.columns().iter().skip(1) {
        out.with_column(c.clone())?;
    }
    let feature_summaries = feature_summaries(&catalog, &spec, &train_derived);
    let narrow = out.select([f::SPLIT, f::CREATED_AT, f::CONVERTED])?;
    let part = |name: &str| -> Result<SplitSummary> {
        let m = narrow.column(f::SPLIT)?.str()?.equal(name);
        split_summary(&narrow.filter(&m)?)
    };
    let report = FeaturesReport {
        run_date: ctx.run_date,
        train: part(f::TRAIN)?,
        validation: part(f::VALIDATION)?,
        pending: part(f::PENDING)?,
        features: feature_summaries,
        audit: audit_rows,
        event_names: events.unwrap_or_default(),
        design_columns: (spec.design_columns(Encoding::Trees).len(), spec.design_columns(Encoding::Linear).len()),
        // An empty training split is an error (`select_rows`); nothing else warns any more.
        warnings: Vec::new(),
    };
    sw.lap("assemble");
    Ok(FeaturesOutputs { features: out, spec, report, timings: sw.into_timings() })
}

/// The columns of the events features reads: what the event counts need.
pub const EVENT_COLUMNS: [&str; 3] = [ev::USER_ID, ev::NAME, ev::AT];

/// The columns of the labels features reads: what selects the training leads and what
/// features.parquet carries.
pub const LABEL_COLUMNS: [&str; 7] =
    [l::LEAD_ID, l::CREATED_AT, l::MATURED, l::EXISTING_CUSTOMER, l::CONVERTED, l::VALUE_IN_WINDOW, l::DAYS_TO_CONVERT];

/// Reads the inputs, builds the features and writes `features.parquet`, `feature_spec.json`,
/// `report.json` and the manifest for the run.
pub fn execute(config: &Config, ctx: &RunContext, layout: &RunLayout) -> Result<(FeaturesReport, Manifest)> {
    let read = |stage: &mut StageRun| -> Result<_> {
        let leads = stage.table(&artifact::LEADS)?;
        let events = stage.table_columns(&artifact::EVENTS, &EVENT_COLUMNS)?;
        let labels = stage.table_columns(&artifact::LABELS, &LABEL_COLUMNS)?;
        Ok(FeaturesInputs { leads, events, labels })
    };
    StageRun::execute((Stage::Features, "derive"), layout, ctx, read, |inputs| run(config, inputs, ctx))
}

impl Outputs for FeaturesOutputs {
    type Report = FeaturesReport;
    fn write(mut self, w: &mut StageWriter) -> leadscore_core::error::Result<FeaturesReport> {
        w.write_table(&artifact::FEATURES, &mut self.features)?;
        w.write_json(artifact::FEATURE_SPEC.file, &self.spec)?;
        w.write_json(artifact::LEAKAGE_AUDIT.file, &self.report.audit)?;
        Ok(self.report)
    }
    fn take_timings(&mut self) -> Vec<Timing> {
        std::mem::take(&mut self.timings)
    }
}
