//! The DAG file (`pipelines/daily.toml`): which stages a pipeline runs, after which others, and
//! with which options.
//!
//! ```toml
//! name = "daily"
//!
//! [[stages]]
//! name = "ingest"
//!
//! [[stages]]
//! name = "qualify"
//! after = ["ingest", "train"]
//! options = { rescore_days = 3 }     # keys of the stage's config section, [qualify]
//!
//! [[stages]]
//! name = "features"
//! after = ["ingest", "labels"]
//! when = "training"                   # only on days train trains (see below)
//! ```
//!
//! `when = "training"` marks a stage whose outputs only training reads (labels, features): on a
//! day train is not due (the champion is younger than `[train] retrain_after_days` and there is
//! no `--retrain`) the runner skips it, with the reason, instead of rebuilding tables nobody
//! reads. Every stage of the pipeline that reads its outputs must be train or itself marked.
//!
//! Loading rejects an unknown stage, a stage listed twice, an `after` naming a stage the pipeline
//! does not run, a stage that reads another's outputs without coming after it, options for a
//! stage without a config section, and cycles. [`Pipeline::config`] applies the options to the
//! config (they become part of its hash).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use leadscore_core::{Config, Stage};
use serde::Deserialize;

/// A DAG file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct DagError {
    /// The file.
    pub file: String,
    /// What is wrong, with where.
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    #[serde(default)]
    name: Option<String>,
    stages: Vec<RawStage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    name: String,
    #[serde(default)]
    after: Vec<String>,
    #[serde(default)]
    options: toml::Table,
    #[serde(default)]
    when: When,
}

/// When a stage of a pipeline runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum When {
    /// On every run (the default).
    #[default]
    Always,
    /// Only on runs where train trains; skipped, with the reason, on the others.
    Training,
}

/// One stage of a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineStage {
    /// The stage.
    pub stage: Stage,
    /// The stages it runs after.
    pub after: Vec<Stage>,
    /// Keys of its config section to override.
    pub options: toml::Table,
    /// When it runs.
    pub when: When,
}

/// A validated pipeline, its stages in the order they run.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// Its name.
    pub name: String,
    /// Where it was read from.
    pub file: PathBuf,
    /// The stages in dependency order (ties in DAG order).
    pub stages: Vec<PipelineStage>,
}

fn stage_names() -> String {
    Stage::ALL.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
}

impl Pipeline {
    /// Every stage in DAG order, each after the stages whose outputs it reads, without options:
    /// what `leadscore run` does without `--pipeline`.
    pub fn default_dag() -> Self {
        let stages = Stage::ALL
            .into_iter()
            .map(|stage| PipelineStage {
                stage,
                after: stage.reads().to_vec(),
                options: toml::Table::new(),
                when: When::Always,
            })
            .collect();
        Self { name: "default".into(), file: PathBuf::new(), stages }
    }

    /// Reads and validates a DAG file.
    pub fn load(path: &Path) -> Result<Self, DagError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| DagError { file: file.clone(), message: format!("cannot read the pipeline file: {e}") })?;
        let mut p = Self::from_toml(&text, &file)?;
        p.file = path.to_path_buf();
        Ok(p)
    }

    /// Validates DAG text; `file` names it in messages.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, DagError> {
        let err = |message: String| DagError { file: file.to_string(), message };
        let raw: RawPipeline = toml::from_str(text).map_err(|e| err(e.to_string().trim_end().to_string()))?;
        if raw.stages.is_empty() {
            return Err(err("the pipeline has no stages: add [[stages]] tables".into()));
        }
        let mut stages: Vec<PipelineStage> = Vec::new();
        for (i, s) in raw.stages.iter().enumerate() {
            let at = format!("stages[{i}]");
            let stage = Stage::from_name(&s.name)
                .ok_or_else(|| err(format!("{at}: unknown stage `{}`; the stages are: {}", s.name, stage_names())))?;
            if stages.iter().any(|p| p.stage == stage) {
                return Err(err(format!("{at}: stage `{stage}` is listed twice")));
            }
            let mut after = Vec::new();
            for a in &s.after {
                let dep = Stage::from_name(a).ok_or_else(|| {
                    err(format!(
                        "{at} (`{stage}`): `after` names unknown stage `{a}`; the stages are: {}",
                        stage_names()
                    ))
                })?;
                if !raw.stages.iter().any(|o| o.name == a.as_str()) {
                    return Err(err(format!(
                        "{at} (`{stage}`): runs after `{dep}`, which this pipeline does not run; add it or drop it from `after`"
                    )));
                }
                after.push(dep);
            }
            if !s.options.is_empty() && stage.config_section().is_none() {
                return Err(err(format!(
                    "{at} (`{stage}`): this stage has no config section, so it takes no `options`"
                )));
            }
            if s.when == When::Training && stage == Stage::Train {
                return Err(err(format!(
                    "{at} (`train`): `when = \"training\"` is for the stages only training reads; train decides by itself whether it trains"
                )));
            }
            stages.push(PipelineStage { stage, after, options: s.options.clone(), when: s.when });
        }
        let ordered = order(&stages).map_err(err)?;
        // A stage that reads another's outputs must run after it when the pipeline runs both.
        for s in &ordered {
            let ancestors = ancestors(&ordered, s.stage);
            for needed in s.stage.reads() {
                if ordered.iter().any(|o| o.stage == needed) && !ancestors.contains(&needed) {
                    return Err(err(format!(
                        "stage `{}` reads the outputs of `{needed}` but does not run after it: add `{needed}` to its `after`",
                        s.stage
                    )));
                }
            }
        }
        // A stage that runs only for training may be read only by train and by stages that also
        // run only for training: on other days its outputs for the date do not exist.
        for s in ordered.iter().filter(|s| s.when == When::Training) {
            if let Some(reader) = ordered
                .iter()
                .find(|r| r.stage != Stage::Train && r.when == When::Always && r.stage.reads().contains(&s.stage))
            {
                return Err(err(format!(
                    "stage `{}` runs only for training (`when = \"training\"`), but `{}` reads its outputs on every run: mark `{}` the same way or drop `when` from `{}`",
                    s.stage, reader.stage, reader.stage, s.stage
                )));
            }
        }
        Ok(Self { name: raw.name.unwrap_or_else(|| "pipeline".into()), file: PathBuf::new(), stages: ordered })
    }

    /// The stages of the pipeline that run only on days train trains (`when = "training"`).
    pub fn training_only(&self) -> Vec<Stage> {
        self.stages.iter().filter(|s| s.when == When::Training).map(|s| s.stage).collect()
    }

    /// The stages to run: all of them; with `from`, that stage and every stage after it in the
    /// DAG; with `only`, exactly those. Each named stage must be part of the pipeline.
    pub fn select(&self, from: Option<Stage>, only: &[Stage]) -> Result<Vec<Stage>, DagError> {
        let err = |message: String| DagError { file: self.display_file(), message };
        for s in from.iter().chain(only) {
            if !self.stages.iter().any(|p| p.stage == *s) {
                return Err(err(format!("stage `{s}` is not part of the pipeline `{}`", self.name)));
            }
        }
        if from.is_some() && !only.is_empty() {
            return Err(err("use either --from-stage or --only, not both".into()));
        }
        Ok(self
            .stages
            .iter()
            .map(|p| p.stage)
            .filter(|s| match from {
                Some(f) => *s == f || ancestors(&self.stages, *s).contains(&f),
                None => only.is_empty() || only.contains(s),
            })
            .collect())
    }

    /// The config with the stages' options applied to their sections. The config (loaded once,
    /// from `config_path`) was validated on its own first, so its own mistakes are reported
    /// against its own lines; the options are applied to the text it was read from.
    pub fn config(&self, config_path: &Path, config: Config) -> Result<Config, DagError> {
        if self.stages.iter().all(|s| s.options.is_empty()) {
            return Ok(config);
        }
        let err = |message: String| DagError { file: self.display_file(), message };
        let mut doc: toml::Table =
            toml::from_str(&config.source_text).map_err(|e| err(format!("{}: {e}", config_path.display())))?;
        for s in &self.stages {
            let Some(section) = s.stage.config_section() else { continue };
            if s.options.is_empty() {
                continue;
            }
            let entry = doc.entry(section).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(table) = entry else {
                return Err(err(format!("{}: `{section}` is not a table", config_path.display())));
            };
            for (k, v) in &s.options {
                table.insert(k.clone(), v.clone());
            }
        }
        let merged = toml::to_string(&doc).map_err(|e| err(format!("cannot combine the options: {e}")))?;
        let what = format!("{} with the options of pipeline {}", config_path.display(), self.display_file());
        let mut merged = Config::from_toml(&merged, &what, &config.base_dir).map_err(|e| err(e.to_string()))?;
        // What was read stays the file's text; the options are in the resolved config and its hash.
        merged.source_text = config.source_text;
        Ok(merged)
    }

    fn display_file(&self) -> String {
        if self.file.as_os_str().is_empty() {
            format!("pipeline `{}`", self.name)
        } else {
            self.file.display().to_string()
        }
    }
}

/// Every stage `stage` runs after, directly or not.
fn ancestors(stages: &[PipelineStage], stage: Stage) -> BTreeSet<Stage> {
    let mut out = BTreeSet::new();
    let mut todo = vec![stage];
    while let Some(s) = todo.pop() {
        for p in stages.iter().filter(|p| p.stage == s) {
            for a in &p.after {
                if out.insert(*a) {
                    todo.push(*a);
                }
            }
        }
    }
    out
}

/// The stages in dependency order (Kahn's algorithm, ties in DAG order), or the cycle.
fn order(stages: &[PipelineStage]) -> Result<Vec<PipelineStage>, String> {
    let mut done: Vec<PipelineStage> = Vec::new();
    let mut left: Vec<PipelineStage> = stages.to_vec();
    left.sort_by_key(|s| s.stage);
    while !left.is_empty() {
        let ready = left.iter().position(|s| s.after.iter().all(|a| done.iter().any(|d| d.stage == *a)));
        match ready {
            Some(i) => done.push(left.remove(i)),
            None => {
                let names: Vec<&str> = left.iter().map(|s| s.stage.name()).collect();
                return Err(format!(
                    "the stages {} depend on each other in a cycle (through their `after` lists)",
                    names.join(", ")
                ));
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAILY: &str = include_str!("../../../pipelines/daily.toml");

    fn names(stages: &[Stage]) -> Vec<&str> {
        stages.iter().map(|s| s.name()).collect()
    }

    #[test]
    fn the_daily_pipeline_runs_every_stage_in_order() {
        let p = Pipeline::from_toml(DAILY, "daily.toml").expect("the daily pipeline loads");
        let all: Vec<Stage> = p.stages.iter().map(|s| s.stage).collect();
        assert_eq!(all, Stage::ALL);
        assert_eq!(
            names(&p.select(Some(Stage::Qualify), &[]).expect("from qualify")),
            ["qualify", "value", "export", "channels"]
        );
        assert_eq!(names(&p.select(None, &[Stage::Export, Stage::Ingest]).expect("only")), ["ingest", "export"]);
        assert!(p.select(Some(Stage::Train), &[Stage::Export]).is_err());
        assert_eq!(Pipeline::default_dag().stages.iter().map(|s| s.stage).collect::<Vec<_>>(), Stage::ALL);
        assert_eq!(p.training_only(), [Stage::Features]);
        assert!(Pipeline::default_dag().training_only().is_empty());
    }

    #[test]
    fn listed_order_does_not_matter_but_after_does() {
        let text = r#"
            [[stages]]
            name = "labels"
            after = ["ingest"]
            [[stages]]
            name = "ingest"
        "#;
        let p = Pipeline::from_toml(text, "p.toml").expect("loads");
        assert_eq!(p.stages.iter().map(|s| s.stage.name()).collect::<Vec<_>>(), ["ingest", "labels"]);
    }

    #[test]
    fn bad_pipelines_are_rejected_with_the_reason() {
        let cases = [
            ("[[stages]]\nname = \"scoring\"", "unknown stage `scoring`"),
            ("[[stages]]\nname = \"ingest\"\n[[stages]]\nname = \"ingest\"", "listed twice"),
            ("[[stages]]\nname = \"labels\"\nafter = [\"ingest\"]", "does not run"),
            ("[[stages]]\nname = \"labels\"\nafter = [\"ingset\"]", "unknown stage `ingset`"),
            (
                "[[stages]]\nname = \"ingest\"\nafter = [\"labels\"]\n[[stages]]\nname = \"labels\"\nafter = [\"ingest\"]",
                "cycle",
            ),
            (
                "[[stages]]\nname = \"ingest\"\n[[stages]]\nname = \"labels\"",
                "reads the outputs of `ingest` but does not run after it",
            ),
            ("[[stages]]\nname = \"value\"\noptions = { x = 1 }", "no config section"),
            ("[[stages]]\nname = \"ingest\"\ncolour = \"red\"", "unknown field `colour`"),
            ("name = \"empty\"\nstages = []", "no stages"),
            (
                "[[stages]]\nname = \"ingest\"\nwhen = \"training\"\n[[stages]]\nname = \"labels\"\nafter = [\"ingest\"]",
                "`labels` reads its outputs on every run",
            ),
            ("[[stages]]\nname = \"ingest\"\nwhen = \"sometimes\"", "unknown variant `sometimes`"),
            ("[[stages]]\nname = \"train\"\nwhen = \"training\"", "train decides by itself"),
        ];
        for (text, expected) in cases {
            let e = Pipeline::from_toml(text, "p.toml").map(|_| ()).map_err(|e| e.to_string());
            assert!(e.as_ref().is_err_and(|m| m.contains(expected) && m.starts_with("p.toml")), "{text}: {e:?}");
        }
    }

    #[test]
    fn a_pipeline_without_upstream_stages_uses_their_earlier_outputs() {
        // Scoring only: qualify's inputs come from an earlier run's ingest and the registry.
        let text = "[[stages]]\nname = \"qualify\"\n[[stages]]\nname = \"value\"\nafter = [\"qualify\"]";
        let p = Pipeline::from_toml(text, "p.toml").expect("loads");
        assert_eq!(names(&p.select(None, &[]).expect("all")), ["qualify", "value"]);
    }
}
