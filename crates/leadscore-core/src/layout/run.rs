//! The one stage runner every stage uses ([`StageRun::execute`]): reads only the stage's declared
//! inputs (recording each file's hash for the manifest), times the steps, and writes the outputs
//! and the report into a staging folder that is committed with the manifest.

use std::path::Path;
use std::time::Instant;

use polars::prelude::DataFrame;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{InputFile, Manifest, RunContext, RunLayout, Stage, StageWriter, Stopwatch, Timing};
use crate::artifact::{self, Artifact, Place};
use crate::error::{CoreError, Result};
use crate::schema::files;

/// What a stage's pure `run` produces: the tables and documents it writes, and its report (written
/// last, as `report.json`).
pub trait Outputs {
    /// The stage's report.
    type Report: Serialize;
    /// Writes every output but the report, and returns the report.
    fn write(self, w: &mut StageWriter) -> Result<Self::Report>;
    /// The steps `run` timed itself, if any (otherwise the runner times `run` as one step).
    fn take_timings(&mut self) -> Vec<Timing> {
        Vec::new()
    }
    /// The source files `run` read itself, outside the run folder (ingest's CRM exports, read as
    /// it reaches each source), in the order read: the manifest records them after the inputs
    /// `read` read.
    fn take_source_files(&mut self) -> Vec<InputFile> {
        Vec::new()
    }
}

/// One run of one stage, from reading its inputs to committing its outputs.
#[derive(Debug)]
pub struct StageRun<'a> {
    stage: Stage,
    layout: &'a RunLayout,
    ctx: &'a RunContext,
    started: Instant,
    read: Vec<InputFile>,
    watch: Stopwatch,
    /// The number of parts being merged ([`Self::merge`]); 0 otherwise.
    merging: u32,
}

impl<'a> StageRun<'a> {
    /// Starts a run of `stage`.
    fn start(stage: Stage, layout: &'a RunLayout, ctx: &'a RunContext) -> Self {
        Self { stage, layout, ctx, started: Instant::now(), read: Vec::new(), watch: Stopwatch::new(), merging: 0 }
    }

    /// Runs `stage`: `read` reads its declared inputs, `run` computes its outputs (timed as
    /// `step`), which are then written with the report into a staging folder and committed with
    /// the manifest.
    pub fn execute<I, O: Outputs, E: From<CoreError>>(
        (stage, step): (Stage, &str),
        layout: &'a RunLayout,
        ctx: &'a RunContext,
        read: impl FnOnce(&mut Self) -> std::result::Result<I, E>,
        run: impl FnOnce(I) -> std::result::Result<O, E>,
    ) -> std::result::Result<(O::Report, Manifest), E> {
        let mut this = Self::start(stage, layout, ctx);
        let inputs = read(&mut this)?;
        this.watch.lap("read");
        let mut out = run(inputs)?;
        this.read.extend(out.take_source_files());
        match out.take_timings() {
            t if t.is_empty() => this.watch.lap(step),
            t => this.watch.record(t),
        }
        Ok(this.finish(|w| {
            let report = out.write(w)?;
            w.write_json(files::REPORT, &report)?;
            Ok(report)
        })?)
    }

    /// [`Self::execute`] for a stage that writes some of its outputs while it runs, each as soon
    /// as it is complete, so that it never holds them beside what it computes next: `run` gets
    /// the stage's writer (its staging folder, removed if the stage fails); what it returns is
    /// written after, and all is committed with the manifest.
    pub fn execute_writing<I, O: Outputs, E: From<CoreError>>(
        (stage, step): (Stage, &str),
        layout: &'a RunLayout,
        ctx: &'a RunContext,
        read: impl FnOnce(&mut Self) -> std::result::Result<I, E>,
        run: impl FnOnce(I, &mut StageWriter) -> std::result::Result<O, E>,
    ) -> std::result::Result<(O::Report, Manifest), E> {
        let mut this = Self::start(stage, layout, ctx);
        let inputs = read(&mut this)?;
        this.watch.lap("read");
        let mut w = layout.begin(ctx, stage)?;
        let mut out = run(inputs, &mut w)?;
        this.read.extend(out.take_source_files());
        match out.take_timings() {
            t if t.is_empty() => this.watch.lap(step),
            t => this.watch.record(t),
        }
        Ok(this.finish_with(w, |w| {
            let report = out.write(w)?;
            w.write_json(files::REPORT, &report)?;
            Ok(report)
        })?)
    }

    /// A stage reads only what it declares: the declarations are the DAG's edges.
    fn declared(&self, a: &Artifact) -> Result<()> {
        if artifact::inputs(self.stage).contains(a) {
            Ok(())
        } else {
            Err(CoreError::Internal(format!(
                "stage `{}` reads {} of `{}` without declaring it in artifact::inputs",
                self.stage, a.file, a.producer
            )))
        }
    }

    /// The stages that learn from the history (features, train) never read a table its producer
    /// kept for the scoring days only ([`super::Scope::Scoring`]): they would learn from a
    /// fraction of the leads. The others read only the days a run without training keeps.
    fn whole_history(&self, a: &Artifact) -> Result<()> {
        if !a.producer.scoped() || !matches!(self.stage, Stage::Features | Stage::Train) {
            return Ok(());
        }
        match self.layout.manifest(self.ctx.run_date, a.producer) {
            Some(m) if m.scope == super::Scope::Scoring => Err(CoreError::ScopedInput {
                path: self.layout.folder(self.ctx.run_date, a.producer, None).join(a.file),
                stage: a.producer.name(),
                run_date: self.ctx.run_date,
            }),
            _ => Ok(()),
        }
    }

    /// Reads a declared input table of the run date, checking its columns. In a run on one part
    /// (`--partition`), a partitioned producer's table is that of the same part.
    pub fn table(&mut self, a: &Artifact) -> Result<DataFrame> {
        self.read_table(a, super::Reading::default())
    }

    /// [`Self::table`], the `rows` asked for: a stage that needs the latest days of a table in
    /// time order reads the row groups of those ([`crate::frame::Rows::AtOrAfter`]). The manifest
    /// records the whole file's hash, and the rows read.
    pub fn table_where(&mut self, a: &Artifact, rows: crate::frame::Rows) -> Result<DataFrame> {
        self.read_table(a, super::Reading { rows: Some(rows), columns: None })
    }

    /// [`Self::table`], only `columns` (the others are not read; each must exist, and the declared
    /// ones among them are checked): a stage that needs a few columns of a wide table (the leads
    /// with every attribute) holds those.
    pub fn table_columns(&mut self, a: &Artifact, columns: &[&str]) -> Result<DataFrame> {
        self.read_table(a, super::Reading { rows: None, columns: Some(columns) })
    }

    fn read_table(&mut self, a: &Artifact, reading: super::Reading<'_>) -> Result<DataFrame> {
        self.declared(a)?;
        self.whole_history(a)?;
        let (df, input) = self.layout.read_part_table(self.ctx.run_date, a, self.ctx.partition, reading)?;
        self.read.push(input);
        Ok(df)
    }

    /// Merges the `count` parts of the partitioned `stage` ([`super::Partition`]) into the
    /// stage's own folder, as if it had run on every lead: `merge` reads the parts' tables with
    /// [`Self::parts`] and returns the stage's outputs. The parts must all have run, with the
    /// run's config, on the same inputs; the merged manifest records those inputs (and what
    /// `merge` read through [`Self::table`]), never the parts, so that freshness and the later
    /// stages see the run an unpartitioned stage would have left.
    pub fn merge<O: Outputs, E: From<CoreError>>(
        (stage, count): (Stage, u32),
        layout: &'a RunLayout,
        ctx: &'a RunContext,
        merge: impl FnOnce(&mut Self) -> std::result::Result<O, E>,
    ) -> std::result::Result<(O::Report, Manifest), E> {
        if super::Partition::new(1, count).is_none() {
            return Err(CoreError::Internal(format!(
                "a merge of {count} parts (1 to {} are possible)",
                super::MAX_PARTS
            ))
            .into());
        }
        let mut this = Self::start(stage, layout, ctx);
        let inherited = this.part_inputs(count)?;
        this.merging = count;
        let mut out = merge(&mut this)?;
        this.watch.lap("merge");
        for input in inherited {
            // The parts' manifests record paths as the layout records them.
            if !this.read.iter().any(|r| this.layout.recorded(&r.path) == input.path) {
                this.read.push(input);
            }
        }
        let _ = out.take_timings();
        Ok(this.finish(|w| {
            let report = out.write(w)?;
            w.write_json(files::REPORT, &report)?;
            Ok(report)
        })?)
    }

    /// The inputs every part of a split into `count` read, but the parts of partitioned stages
    /// before this one (each part reads its own); an error when a part has not run, ran with
    /// another config, or ran with another build or read other inputs than the first part.
    fn part_inputs(&self, count: u32) -> Result<Vec<InputFile>> {
        let (date, stage) = (self.ctx.run_date, self.stage);
        let mut first: Option<(super::Partition, String, Vec<InputFile>)> = None;
        for part in super::Partition::all(count) {
            let dir = self.layout.part_dir(date, stage, part);
            let Some(m) = self.layout.part_manifest(date, stage, Some(part)) else {
                return Err(CoreError::MissingPart { stage: stage.name(), part, run_date: date, path: dir });
            };
            let disagree = |why: String| CoreError::PartsDisagree { stage: stage.name(), part, run_date: date, why };
            if m.config_hash != self.ctx.config_hash {
                return Err(disagree(
                    "it ran with another config than this merge (a pipeline file's stage options are part of \
                     the config: merge with the --pipeline the parts ran with)"
                        .into(),
                ));
            }
            let upstream: Vec<String> =
                Stage::ALL.iter().filter(|s| s.partitioned() && **s < stage).map(|s| part.folder(*s)).collect();
            let inputs: Vec<InputFile> = m
                .inputs
                .into_iter()
                .filter(|i| {
                    !Path::new(&i.path).components().any(|c| upstream.iter().any(|u| c.as_os_str() == u.as_str()))
                })
                .collect();
            // The same file with the same content (and, for a query, the same query).
            let same = |a: &InputFile, b: &InputFile| (&a.path, &a.sha256, &a.query) == (&b.path, &b.sha256, &b.query);
            match &first {
                None => first = Some((part, m.build, inputs)),
                Some((p, build, _)) if *build != m.build => {
                    return Err(disagree(format!("it ran with another leadscore build than part {p}")));
                }
                Some((p, _, expected)) => {
                    if let Some(i) = inputs.iter().find(|i| !expected.iter().any(|e| same(e, i))) {
                        return Err(disagree(format!("it read {} with other content than part {p}", i.path)));
                    }
                    if let Some(i) = expected.iter().find(|e| !inputs.iter().any(|i| same(e, i))) {
                        return Err(disagree(format!("it did not read {}, which part {p} read", i.path)));
                    }
                }
            }
        }
        Ok(first.map(|(_, _, inputs)| inputs).unwrap_or_default())
    }

    /// In a merge ([`Self::merge`]), a table of this stage from each part, in the order of the
    /// parts, its declared columns checked.
    pub fn parts(&mut self, a: &Artifact) -> Result<Vec<DataFrame>> {
        if a.producer != self.stage || self.merging == 0 {
            return Err(CoreError::Internal(format!(
                "{} of `{}` read as parts outside the merge of `{}`",
                a.file, a.producer, self.stage
            )));
        }
        super::Partition::all(self.merging)
            .map(|p| Ok(self.layout.read_part_table(self.ctx.run_date, a, Some(p), super::Reading::default())?.0))
            .collect()
    }

    /// Reads the member `name` of a declared folder input ([`crate::artifact::SOURCE_TABLES`]) of
    /// the run date.
    pub fn member_table(&mut self, a: &Artifact, name: &str) -> Result<DataFrame> {
        self.declared(a)?;
        let (df, input) = self.layout.read_member(self.ctx.run_date, a, name)?;
        self.read.push(input);
        Ok(df)
    }

    /// Reads a declared input carried from run to run ([`Place::Previous`]): the latest earlier
    /// run's, checked like any table, or `None` before the first run that wrote one.
    pub fn previous_table(&mut self, a: &Artifact) -> Result<Option<(crate::RunDate, DataFrame)>> {
        self.declared(a)?;
        debug_assert_eq!(a.place, Place::Previous);
        let Some(date) = self.layout.previous(self.ctx.run_date, a) else { return Ok(None) };
        let (df, input) = self.layout.read_table(date, a)?;
        self.read.push(input);
        Ok(Some((date, df)))
    }

    /// Reads a declared input document (JSON) of the run date.
    pub fn document<T: DeserializeOwned>(&mut self, a: &Artifact) -> Result<T> {
        self.declared(a)?;
        let path = self.layout.existing(self.ctx.run_date, a)?;
        let text = std::fs::read_to_string(&path).map_err(|source| CoreError::Read { path: path.clone(), source })?;
        let value = serde_json::from_str(&text).map_err(|e| CoreError::Document {
            path: path.clone(),
            message: e.to_string(),
            producer: a.producer.name(),
        })?;
        // Hashed from the text already read.
        let (sha256, bytes) = (crate::digest::sha256_hex(text.as_bytes()), text.len() as u64);
        self.read.push(InputFile { path: path.display().to_string(), sha256, bytes, rows: None, query: None });
        Ok(value)
    }

    /// Records a file of a declared registry input (the champion pointer, a model's files): its
    /// content is part of what the outputs depend on.
    pub fn registry_file(&mut self, a: &Artifact, path: &Path) -> Result<()> {
        self.declared(a)?;
        debug_assert_eq!(a.place, Place::Registry);
        self.read.push(InputFile::hash(path, None)?);
        Ok(())
    }

    /// Writes the outputs with `write` into a staging folder, then the manifest, and moves the
    /// folder into place; what `write` returned, and the manifest.
    fn finish<T>(self, write: impl FnOnce(&mut StageWriter) -> Result<T>) -> Result<(T, Manifest)> {
        let w = self.layout.begin(self.ctx, self.stage)?;
        self.finish_with(w, write)
    }

    fn finish_with<T>(
        mut self,
        mut w: StageWriter,
        write: impl FnOnce(&mut StageWriter) -> Result<T>,
    ) -> Result<(T, Manifest)> {
        let written = write(&mut w)?;
        self.watch.lap("write");
        Ok((written, w.commit(self.read, self.watch.into_timings(), self.started)?))
    }
}

#[cfg(test)]
mod tests {
    use polars::prelude::{Column, DataFrame};

    use super::*;
    use crate::{Classify, ExitKind};

    #[test]
    fn a_stage_reads_only_what_it_declares_and_a_missing_column_is_an_input_error() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| CoreError::Internal(e.to_string()))?;
        let layout = RunLayout::new(dir.path());
        let ctx = RunContext {
            run_date: "2026-03-01".parse().map_err(|_| CoreError::Internal("date".into()))?,
            config_hash: "h".into(),
            seed: 1,
            retrain: false,
            partition: None,
            scope: crate::Scope::Full,
        };
        // Qualify's scores without the `segment` column.
        let mut w = layout.begin(&ctx, Stage::Qualify)?;
        let text = |name: &str| Column::new(name.into(), ["x"]);
        let mut scores = DataFrame::new(
            1,
            vec![
                text("lead_id"),
                text("user_id"),
                text("client_id"),
                Column::new("created_at".into(), [1i64])
                    .cast(&polars::prelude::DataType::Datetime(polars::prelude::TimeUnit::Microseconds, None))
                    .map_err(|e| CoreError::Internal(e.to_string()))?,
                text("model_id"),
                Column::new("probability".into(), [0.5]),
                Column::new("score".into(), [50.0]),
                Column::new("qualified".into(), [true]),
            ],
        )
        .map_err(|e| CoreError::Internal(e.to_string()))?;
        w.write_parquet(artifact::SCORES.file, &mut scores)?;
        w.commit(vec![], vec![], Instant::now())?;

        // Value declares the scores: the read fails on the missing column, naming file and column.
        let mut value = StageRun::start(Stage::Value, &layout, &ctx);
        let e = value.table(&artifact::SCORES).map(|_| ()).unwrap_err();
        assert_eq!(e.exit_kind(), ExitKind::InputData);
        let msg = e.to_string();
        assert!(msg.contains("scores.parquet") && msg.contains("`segment`") && msg.contains("qualify"), "{msg}");

        // Read in part, the columns not read are not checked; a column asked for must exist.
        let two = value.table_columns(&artifact::SCORES, &["probability", "lead_id"])?;
        assert_eq!(two.get_column_names(), ["probability", "lead_id"]);
        let e = value.table_columns(&artifact::SCORES, &["lead_id", "segment"]).map(|_| ()).unwrap_err();
        assert_eq!(e.exit_kind(), ExitKind::InputData);
        let msg = e.to_string();
        assert!(msg.contains("scores.parquet") && msg.contains("`segment`") && msg.contains("probability"), "{msg}");

        // Labels does not declare the scores: reading them is refused as a bug, before any I/O.
        let mut labels = StageRun::start(Stage::Labels, &layout, &ctx);
        let e = labels.table(&artifact::SCORES).map(|_| ()).unwrap_err();
        assert_eq!(e.exit_kind(), ExitKind::Internal);
        assert!(e.to_string().contains("without declaring it"), "{e}");

        // A declared output is checked on write too.
        let mut w = layout.begin(&ctx, Stage::Qualify)?;
        let e = w.write_table(&artifact::SCORES, &mut scores).map(|_| ()).unwrap_err();
        assert!(e.to_string().contains("does not match its declaration"), "{e}");
        let e = w.write_table(&artifact::LEADS, &mut scores).map(|_| ()).unwrap_err();
        assert!(e.to_string().contains("writes leads.parquet of `ingest`"), "{e}");
        Ok(())
    }
}
