//! `[features]`: event windows and names, categorical levels, the leakage audit's limits.

use serde::Serialize;

use super::raw::RawFeatures;
use super::{KeyPath, Validator};

/// `event_windows_days`.
pub const DEFAULT_EVENT_WINDOWS_DAYS: [u32; 3] = [1, 7, 30];
/// `top_k`.
pub const DEFAULT_TOP_K: u32 = 20;
/// `min_count`.
pub const DEFAULT_MIN_COUNT: u32 = 20;
/// `audit_max_auc`.
pub const DEFAULT_AUDIT_MAX_AUC: f64 = 0.9;
/// `audit_recent_days`.
pub const DEFAULT_AUDIT_RECENT_DAYS: u32 = 14;
/// How far back before a lead its event recency feature (days since the last event) looks.
pub const EVENT_RECENCY_DAYS: u32 = 365;

/// Validated `[features]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Features {
    /// Windows (days) for event counts, ascending.
    pub event_windows_days: Vec<u32>,
    /// Event names counted on their own; `None` means the most frequent ones.
    pub event_names: Option<Vec<String>>,
    /// Most levels per categorical feature.
    pub top_k: u32,
    /// Training leads a level needs.
    pub min_count: u32,
    /// Univariate AUC above which the audit flags an attribute.
    pub audit_max_auc: f64,
    /// Days before the run date whose leads count as recent for fill-rate drift.
    pub audit_recent_days: u32,
}

impl Validator<'_> {
    pub(super) fn features(&mut self) -> Option<Features> {
        let path = KeyPath::root().key("features");
        let raw: RawFeatures = match self.get(&path) {
            None => RawFeatures::default(),
            Some(v) => self.deser(&path, v)?,
        };
        let mut ok = true;
        let mut windows = raw.event_windows_days.unwrap_or_else(|| DEFAULT_EVENT_WINDOWS_DAYS.to_vec());
        windows.sort_unstable();
        windows.dedup();
        if windows.is_empty() || windows.iter().any(|w| !(1..=365).contains(w)) {
            self.problem(&path.key("event_windows_days"), "expected one or more windows between 1 and 365 days");
            ok = false;
        }
        if raw.event_names.as_ref().is_some_and(|names| names.iter().any(|n| n.trim().is_empty())) {
            self.problem(&path.key("event_names"), "event names must not be empty");
            ok = false;
        }
        let top_k = raw.top_k.unwrap_or(DEFAULT_TOP_K);
        if !(1..=1000).contains(&top_k) {
            self.problem(&path.key("top_k"), format!("must be between 1 and 1000, found {top_k}"));
            ok = false;
        }
        let min_count = raw.min_count.unwrap_or(DEFAULT_MIN_COUNT);
        if min_count == 0 {
            self.problem(&path.key("min_count"), "must be at least 1");
            ok = false;
        }
        let audit_max_auc = raw.audit_max_auc.unwrap_or(DEFAULT_AUDIT_MAX_AUC);
        if !(audit_max_auc > 0.5 && audit_max_auc <= 1.0) {
            self.problem(&path.key("audit_max_auc"), format!("must be above 0.5 and at most 1, found {audit_max_auc}"));
            ok = false;
        }
        let audit_recent_days = raw.audit_recent_days.unwrap_or(DEFAULT_AUDIT_RECENT_DAYS);
        if !(1..=90).contains(&audit_recent_days) {
            self.problem(
                &path.key("audit_recent_days"),
                format!("must be between 1 and 90, found {audit_recent_days}"),
            );
            ok = false;
        }
        ok.then_some(Features {
            event_windows_days: windows,
            event_names: raw.event_names,
            top_k,
            min_count,
            audit_max_auc,
            audit_recent_days,
        })
    }
}
