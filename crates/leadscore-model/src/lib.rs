//! `leadscore-model`: the fitted artifacts training writes and daily scoring loads.
//!
//! This crate is responsible for what training and scoring must share exactly, kept apart from
//! the training code so that scoring does not depend on the learner:
//!
//! - [`rules`]: the documented rule tables (job-title keywords);
//! - [`derive`]: the [`Recipe`] and the point-in-time feature derivation both paths call;
//! - [`spec`]: the fitted [`FeatureSpec`] that turns derived features into a design matrix;
//! - [`metrics`]: ROC AUC and the other quality measures training and audits share;
//! - [`calibrate`]: Platt and isotonic calibration of log-odds;
//! - [`classifier`]: fitted classifiers and the [`ModelArtifact`] scoring loads;
//! - [`forest`]: a compact, cache-friendly evaluator of the boosted trees;
//! - [`registry`]: model folders, thresholds, segments and the champion pointer;
//! - [`value`]: the conditional value model (log-value regression or segment means).
//!
//! Stage crates depend on it; it depends only on core (it was split off so the qualify stage
//! need not depend on the features or train stages).

pub mod calibrate;
pub mod classifier;
pub mod derive;
pub mod error;
pub mod forest;
pub mod metrics;
pub mod registry;
pub mod rules;
pub mod spec;
pub mod value;

pub use calibrate::Calibrator;
pub use classifier::{Classifier, ModelArtifact, ModelKind, blend_logits};
pub use derive::{AttributeRecipe, EventRecipe, FeatureDef, FeatureKind, Recipe, derive, derive_owned};
pub use error::{ModelError, Result};
pub use spec::{Coded, CodedFeature, Design, DesignColumn, Encoding, FeatureSpec, FittedFeature};
