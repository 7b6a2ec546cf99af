//! The logistic baseline's fit: the L2-regularised log loss minimised by argmin's L-BFGS with a
//! More-Thuente line search (the solver, memory and stopping rule linfa-logistic uses), on a
//! loss that computes its value and gradient in one pass over the design.
//!
//! linfa-logistic computes the cost and the gradient apart, each with a full matrix product that
//! copies the design, on one thread; the line search asks for both at every point it tries. Here
//! one pass gives both (the gradient is kept for the call that follows the cost's at the same
//! point), reads the column-major design in place, and runs on all cores over blocks of rows,
//! whose partial sums are added in block order so that the result does not depend on the number
//! of threads. A mostly-zero column (a one-hot level, a missing-value flag) is read as its
//! non-zero cells only, in the same order, so the sums are the dense pass's.

use std::sync::Mutex;

use argmin::core::{CostFunction, Executor, Gradient};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use leadscore_model::Design;
use leadscore_model::calibrate::log_sigmoid;
use ndarray::Array1;
use rayon::prelude::*;

/// Rows per block of a pass.
const BLOCK: usize = 8192;
/// Gradients L-BFGS remembers (linfa-logistic's choice).
const MEMORY: usize = 10;

/// A point of the parameters with the loss and its gradient there.
struct Evaluated {
    at: Array1<f64>,
    loss: f64,
    gradient: Array1<f64>,
}

/// A column is read as its non-zero cells when at most this share of them is non-zero: an entry
/// costs about three dense cells (its row number, its value, an indirect write).
const SPARSE_SHARE: f64 = 0.3;

/// One design column as a pass reads it.
enum Column<'a> {
    /// Every cell.
    Dense(&'a [f64]),
    /// The non-zero cells in row order: their rows and values, and where each block of
    /// [`BLOCK`] rows starts among them (one more offset at the end).
    Sparse { rows: Vec<u32>, values: Vec<f64>, blocks: Vec<usize> },
}

impl<'a> Column<'a> {
    /// The column `values`, sparse when few of its cells are non-zero (and its row numbers fit
    /// 32 bits).
    fn new(values: &'a [f64]) -> Self {
        let non_zero = values.iter().filter(|v| **v != 0.0).count();
        if non_zero as f64 > SPARSE_SHARE * values.len() as f64 || u32::try_from(values.len()).is_err() {
            return Column::Dense(values);
        }
        let (mut rows, mut kept) = (Vec::with_capacity(non_zero), Vec::with_capacity(non_zero));
        let mut blocks = Vec::with_capacity(values.len().div_ceil(BLOCK) + 1);
        for (i, v) in values.iter().enumerate() {
            if i % BLOCK == 0 {
                blocks.push(rows.len());
            }
            if *v != 0.0 {
                // In range: the length was checked above.
                rows.push(i as u32);
                kept.push(*v);
            }
        }
        blocks.push(rows.len());
        Column::Sparse { rows, values: kept, blocks }
    }

    /// Adds `w` times the column's cells of `block` (rows from `start`) to `z`.
    fn add_to(&self, w: f64, block: usize, start: usize, z: &mut [f64]) {
        match self {
            Column::Dense(values) => {
                let cells = &values[start..start + z.len()];
                z.iter_mut().zip(cells).for_each(|(z, x)| *z += w * x);
            }
            Column::Sparse { rows, values, blocks } => {
                let cells = blocks[block]..blocks[block + 1];
                for (i, x) in rows[cells.clone()].iter().zip(&values[cells]) {
                    z[*i as usize - start] += w * x;
                }
            }
        }
    }

    /// The sum of the column's cells of `block` (rows from `start`) times `r`, in row order.
    fn dot(&self, block: usize, start: usize, r: &[f64]) -> f64 {
        match self {
            Column::Dense(values) => values[start..start + r.len()].iter().zip(r).map(|(x, r)| x * r).sum(),
            Column::Sparse { rows, values, blocks } => {
                let cells = blocks[block]..blocks[block + 1];
                rows[cells.clone()].iter().zip(&values[cells]).map(|(i, x)| x * r[*i as usize - start]).sum()
            }
        }
    }
}

/// A design as the loss reads it: built once, for every fit and gradient on the design.
pub struct Columns<'a> {
    rows: usize,
    columns: Vec<Column<'a>>,
}

impl<'a> Columns<'a> {
    /// The columns of `x`, each dense or sparse as [`Column::new`] decides.
    pub fn new(x: &'a Design) -> Self {
        Columns { rows: x.rows, columns: (0..x.columns.len()).map(|j| Column::new(x.column(j))).collect() }
    }
}

/// `-sum log sigmoid(y_i z_i) + alpha/2 |w|^2` over a design, with `z = X w + b` and `y` in
/// {-1, +1}; the parameters are the coefficients, then the intercept (not regularised).
struct Loss<'a> {
    x: &'a Columns<'a>,
    y: Vec<f64>,
    alpha: f64,
    /// Columns whose coefficient is held at 0: their gradient is reported as 0, so that L-BFGS,
    /// starting from 0, never moves them.
    held: &'a [bool],
    /// The last point evaluated, with its loss and gradient.
    last: Mutex<Option<Evaluated>>,
}

impl<'a> Loss<'a> {
    /// The loss and its gradient at `p`, in one pass.
    fn evaluate(&self, p: &Array1<f64>) -> (f64, Array1<f64>) {
        let (n, k) = (self.x.rows, self.x.columns.len());
        let p = p.to_vec();
        let (w, intercept) = (&p[..k], p[k]);
        let blocks: Vec<(f64, Vec<f64>)> = (0..n.div_ceil(BLOCK))
            .into_par_iter()
            .map(|b| {
                let rows = b * BLOCK..((b + 1) * BLOCK).min(n);
                let mut z = vec![intercept; rows.len()];
                for (column, wj) in self.x.columns.iter().zip(w).filter(|(_, wj)| **wj != 0.0) {
                    column.add_to(*wj, b, rows.start, &mut z);
                }
                // Loss, and in `z` the derivative of each row's loss by its z.
                let mut loss = 0.0;
                for (z, y) in z.iter_mut().zip(&self.y[rows.clone()]) {
                    let margin = y * *z;
                    loss -= log_sigmoid(margin);
                    *z = -y / (1.0 + margin.exp());
                }
                let mut gradient: Vec<f64> = self.x.columns.iter().map(|c| c.dot(b, rows.start, &z)).collect();
                gradient.push(z.iter().sum());
                (loss, gradient)
            })
            .collect();
        let mut loss = 0.5 * self.alpha * w.iter().map(|w| w * w).sum::<f64>();
        let mut gradient: Vec<f64> = w.iter().map(|w| self.alpha * w).chain([0.0]).collect();
        for (l, g) in blocks {
            loss += l;
            gradient.iter_mut().zip(g).for_each(|(a, b)| *a += b);
        }
        gradient.iter_mut().zip(self.held).filter(|(_, h)| **h).for_each(|(g, _)| *g = 0.0);
        (loss, Array1::from(gradient))
    }

    /// The loss of labels `y` on the design `x`, with penalty `alpha` and the `held` columns.
    fn new(x: &'a Columns<'a>, y: &[bool], alpha: f64, held: &'a [bool]) -> Self {
        Loss { x, y: signed(y), alpha, held, last: Mutex::new(None) }
    }

    /// The loss and gradient at `p`: the last ones when `p` is the last point.
    fn at(&self, p: &Array1<f64>) -> (f64, Array1<f64>) {
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(e) = last.as_ref()
            && e.at == p
        {
            return (e.loss, e.gradient.clone());
        }
        let (loss, gradient) = self.evaluate(p);
        *last = Some(Evaluated { at: p.clone(), loss, gradient: gradient.clone() });
        (loss, gradient)
    }
}

impl CostFunction for Loss<'_> {
    type Param = Array1<f64>;
    type Output = f64;

    fn cost(&self, p: &Self::Param) -> Result<f64, argmin::core::Error> {
        Ok(self.at(p).0)
    }
}

impl Gradient for Loss<'_> {
    type Param = Array1<f64>;
    type Gradient = Array1<f64>;

    fn gradient(&self, p: &Self::Param) -> Result<Array1<f64>, argmin::core::Error> {
        Ok(self.at(p).1)
    }
}

/// The coefficients and intercept (log-odds of `y`) minimising the L2-regularised log loss
/// with weight `alpha`, from zero, in at most `max_iterations` L-BFGS steps or until the
/// gradient's norm is below `tolerance`, with the coefficients of the `held` columns kept at 0;
/// or what the solver said went wrong.
pub fn fit(
    x: &Columns<'_>,
    y: &[bool],
    alpha: f64,
    (max_iterations, tolerance): (u64, f64),
    held: &[bool],
) -> Result<(Vec<f64>, f64), String> {
    let k = x.columns.len();
    let loss = Loss::new(x, y, alpha, held);
    let solver =
        LBFGS::new(MoreThuenteLineSearch::new(), MEMORY).with_tolerance_grad(tolerance).map_err(|e| e.to_string())?;
    let result = Executor::new(loss, solver)
        .configure(|state| state.param(Array1::zeros(k + 1)).max_iters(max_iterations))
        .run()
        .map_err(|e| e.to_string())?;
    let best = result.state.best_param.unwrap_or_else(|| Array1::zeros(k + 1));
    Ok((best.iter().take(k).copied().collect(), best[k]))
}

/// The gradient of the same loss at coefficients `w` and intercept `b`, the intercept's part
/// left out: which way each coefficient would move from there.
pub fn gradient(x: &Columns<'_>, y: &[bool], alpha: f64, w: &[f64], b: f64) -> Vec<f64> {
    let loss = Loss::new(x, y, alpha, &[]);
    let (_, g) = loss.evaluate(&w.iter().copied().chain([b]).collect());
    g.iter().take(w.len()).copied().collect()
}

/// Labels as -1 and +1.
fn signed(y: &[bool]) -> Vec<f64> {
    y.iter().map(|y| if *y { 1.0 } else { -1.0 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadscore_model::DesignColumn;

    fn design(columns: &[Vec<f64>]) -> Design {
        let column = |i: usize| DesignColumn { name: format!("x{i}"), feature: format!("x{i}"), level: None };
        Design { columns: (0..columns.len()).map(column).collect(), rows: columns[0].len(), data: columns.concat() }
    }

    /// 20,000 rows: two dense columns and a one-hot level (every seventh row), read sparse.
    fn mixed() -> (Design, Vec<bool>) {
        let x = design(&[
            (0..20_000).map(|i| (i % 7) as f64 - 3.0).collect(),
            (0..20_000).map(|i| (i % 3) as f64).collect(),
            (0..20_000).map(|i| if i % 7 == 2 { 1.0 } else { 0.0 }).collect(),
        ]);
        let y = (0..20_000).map(|i| (i * 7919) % 5 < 2).collect();
        (x, y)
    }

    #[test]
    fn the_gradient_is_the_derivative_of_the_loss() {
        let (x, y) = mixed();
        let columns = Columns::new(&x);
        let loss = Loss::new(&columns, &y, 0.5, &[]);
        assert!(matches!(columns.columns[2], Column::Sparse { .. }) && matches!(columns.columns[1], Column::Dense(_)));
        let p = Array1::from(vec![0.3, -0.2, 0.4, 0.1]);
        let (_, g) = loss.evaluate(&p);
        for i in 0..4 {
            let h = 1e-5;
            let (mut up, mut down) = (p.clone(), p.clone());
            up[i] += h;
            down[i] -= h;
            let numeric = (loss.evaluate(&up).0 - loss.evaluate(&down).0) / (2.0 * h);
            assert!((numeric - g[i]).abs() < 1e-4 * numeric.abs().max(1.0), "{i}: {numeric} vs {}", g[i]);
        }
    }

    #[test]
    fn a_sparse_column_gives_the_dense_pass_to_the_last_bit() {
        let (x, y) = mixed();
        let columns = Columns::new(&x);
        let sparse = Loss::new(&columns, &y, 0.5, &[]);
        let all_dense = Columns { rows: x.rows, columns: (0..3).map(|j| Column::Dense(x.column(j))).collect() };
        let dense = Loss::new(&all_dense, &y, 0.5, &[]);
        let p = Array1::from(vec![0.3, -0.2, 0.4, 0.1]);
        let ((a, ga), (b, gb)) = (sparse.evaluate(&p), dense.evaluate(&p));
        assert_eq!(a.to_bits(), b.to_bits());
        assert_eq!(
            ga.iter().map(|g| g.to_bits()).collect::<Vec<_>>(),
            gb.iter().map(|g| g.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn it_finds_the_log_odds_of_a_logistic_model() {
        // y = 1 with probability sigmoid(2 x0 - x1 - 0.5), deterministically thresholded on a
        // hash so that the test is reproducible.
        let n = 60_000;
        let x0: Vec<f64> = (0..n).map(|i| ((i * 37) % 101) as f64 / 50.0 - 1.0).collect();
        let x1: Vec<f64> = (0..n).map(|i| ((i * 53) % 89) as f64 / 44.0 - 1.0).collect();
        let y: Vec<bool> = (0..n)
            .map(|i| {
                let p = 1.0 / (1.0 + (-(2.0 * x0[i] - x1[i] - 0.5)).exp());
                ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64 <= p
            })
            .collect();
        let x = design(&[x0, x1]);
        let (w, b) = fit(&Columns::new(&x), &y, 1e-6, (100, 1e-5 * n as f64), &[]).unwrap_or_else(|e| panic!("{e}"));
        assert!((w[0] - 2.0).abs() < 0.1 && (w[1] + 1.0).abs() < 0.1 && (b + 0.5).abs() < 0.1, "{w:?} {b}");
    }
}
