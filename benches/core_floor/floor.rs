//! The chosen core's floor (issue 25; built by `benches/core_floor/build.py`, not part of the
//! workspace): each core dependency used once, as leadscore uses it, and nothing of leadscore's
//! own. Its release binary is the smallest any program of these dependencies, built with
//! leadscore's release profile, can be.
//!
//! `core-floor FILE.csv [--sql QUERY]`: reads the CSV (polars), runs the query over it as table `t`
//! (polars' SQL context, as SQL conversion definitions do), writes the result as Parquet and reads
//! it back (polars-io, then arrow-rs's Parquet reader, printed as a table), fits boosted trees
//! (forust-ml) and a decision tree (linfa-trees) on the numeric columns, renders a template
//! (minijinja) and groups the rows by the file's first column (polars' lazy engine).

use clap::Parser;
use forust_ml::{GradientBooster, Matrix};
use linfa::prelude::*;
use polars::prelude::*;
use polars::sql::SQLContext;

#[derive(Parser)]
struct Args {
    /// A CSV file with a header.
    csv: std::path::PathBuf,
    /// A query over table `t`.
    #[arg(long, default_value = "SELECT * FROM t")]
    sql: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(args.csv.clone()))?
        .finish()?;
    let mut ctx = SQLContext::new();
    ctx.register("t", df.clone().lazy());
    let mut out = ctx.execute(&args.sql)?.collect()?;
    let path = std::env::temp_dir().join(format!("core-floor-{}.parquet", std::process::id()));
    ParquetWriter::new(std::fs::File::create(&path)?).finish(&mut out)?;
    let back = ParquetReader::new(std::fs::File::open(&path)?).finish()?;
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path)?)?.build()?;
    let batches: Vec<_> = reader.collect::<Result<_, _>>()?;
    std::fs::remove_file(&path)?;
    println!("{}", arrow::util::pretty::pretty_format_batches(&batches)?);

    // The numeric columns as a column-major design; the label: the first column above 0.
    let numeric: Vec<Column> = df.columns().iter().filter(|c| c.dtype().is_primitive_numeric()).cloned().collect();
    let (n, k) = (df.height(), numeric.len().max(1));
    let mut data = vec![0.0f64; n * k];
    for (j, c) in numeric.iter().enumerate() {
        let c = c.cast(&DataType::Float64)?;
        for (i, v) in c.as_materialized_series().f64()?.iter().enumerate() {
            data[j * n + i] = v.unwrap_or(f64::NAN);
        }
    }
    let y: Vec<f64> = (0..n).map(|i| f64::from(u8::from(data[i] > 0.0))).collect();
    let mut booster = GradientBooster::default();
    booster.fit(&Matrix::new(&data, n, k), &y, &vec![1.0; n], None)?;
    let scores = booster.predict(&Matrix::new(&data, n, k), true);
    let x =
        ndarray::Array2::from_shape_fn((n, k), |(i, j)| if data[j * n + i].is_nan() { 0.0 } else { data[j * n + i] });
    let labels = ndarray::Array1::from_iter(y.iter().map(|v| *v > 0.5));
    let tree = linfa_trees::DecisionTree::params().max_depth(Some(3)).fit(&linfa::Dataset::new(x.clone(), labels))?;
    let predicted = tree.predict(&x);

    let summary = minijinja::Environment::new().render_str(
        "{{ n }} rows, first score {{ p }}, {{ q }} predicted positive, {{ m }} rows read back",
        minijinja::context! {
            n => n,
            p => scores.first().copied().unwrap_or(0.0),
            q => predicted.iter().filter(|v| **v).count(),
            m => back.height(),
        },
    )?;
    let first = df.get_column_names()[0].to_string();
    let groups = df.lazy().group_by([col(first.as_str())]).agg([len()]).collect()?;
    println!("{summary}; {} groups", groups.height());
    Ok(())
}
