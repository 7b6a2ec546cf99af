//! Tree evaluation benchmark: forust-ml's own prediction and path-averaged contributions against
//! leadscore's compact [`Forest`] on the same booster and matrix, with a check that both give the
//! same bits.
//!
//! ```text
//! cargo bench --bench forest                               # 1M rows, 36 columns, 200 trees
//! cargo bench --bench forest -- --rows 200000 --trees 300
//! ```

use std::time::Instant;

use forust_ml::gradientbooster::ContributionsMethod;
use forust_ml::{GradientBooster, Matrix};
use leadscore_model::forest::Forest;

/// A deterministic column-major matrix (a tenth of the values missing) and labels.
fn matrix(rows: usize, cols: usize) -> (Vec<f64>, Vec<f64>) {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut x = vec![0.0; rows * cols];
    for v in &mut x {
        let u = next();
        *v = if u < 0.1 { f64::NAN } else { (u * 20.0).floor() };
    }
    let y = (0..rows)
        .map(|i| {
            let s: f64 = (0..cols.min(6)).map(|j| x[j * rows + i]).filter(|v| !v.is_nan()).sum();
            f64::from(u8::from(s + 10.0 * next() > 70.0))
        })
        .collect();
    (x, y)
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number, got `{v}`")))
}

fn time<T>(what: &str, tree_rows: f64, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    let s = t.elapsed().as_secs_f64();
    println!("{what:<34} {s:>7.3} s   {:>6.2} ns per tree and row", s * 1e9 / tree_rows);
    out
}

fn main() {
    let rows = arg("--rows", 1_000_000);
    let trees = arg("--trees", 200);
    let cols = 36;
    let fit_rows = rows.min(100_000);
    let (x, y) = matrix(rows, cols);
    let fit_x: Vec<f64> = (0..cols).flat_map(|j| x[j * rows..j * rows + fit_rows].to_vec()).collect();
    let mut booster = GradientBooster::default().set_iterations(trees).set_max_depth(4).set_learning_rate(0.1);
    let t = Instant::now();
    booster
        .fit(&Matrix::new(&fit_x, fit_rows, cols), &y[..fit_rows], &vec![1.0; fit_rows], None)
        .expect("the booster fits");
    println!("fitted {trees} trees of depth 4 on {fit_rows} rows in {:.1} s", t.elapsed().as_secs_f64());
    let m = Matrix::new(&x, rows, cols);
    let tree_rows = (rows * trees) as f64;
    let forest = Forest::new(&booster).expect("compact forest");

    let theirs = time("forust predict", tree_rows, || booster.predict(&m, true));
    let ours = time("Forest::predict", tree_rows, || forest.predict(&x, rows, cols).expect("predict"));
    assert!(ours.iter().zip(&theirs).all(|(a, b)| a.to_bits() == b.to_bits()), "predictions differ");
    drop((ours, theirs));
    let theirs = time("forust contributions (average)", tree_rows, || {
        booster.predict_contributions(&m, ContributionsMethod::Average, true)
    });
    let ours =
        time("Forest::contributions", tree_rows, || forest.contributions(&x, rows, cols).expect("contributions"));
    assert!(ours.iter().zip(&theirs).all(|(a, b)| a.to_bits() == b.to_bits()), "contributions differ");
    println!("same bits: yes");
}
