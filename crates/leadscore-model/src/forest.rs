//! A compact evaluator for fitted forust-ml boosters.
//!
//! forust keeps 80-byte nodes, predicts one tree at a time over every row (each tree reading the
//! column-major matrix at random), materialises a fresh row vector per row for contributions, and
//! walks each tree with a branch per level that the processor cannot predict. Scoring a million
//! leads with a few hundred trees spent most of its time there. [`Forest`] flattens the trees into
//! 24-byte nodes whose leaves point to themselves, so every row takes exactly the tree's depth in
//! steps chosen without branches. Rows are cut into blocks, transposed into a small row-major
//! buffer, and every tree is walked over a block level by level (the rows' independent steps
//! overlap in the processor) before the next tree, in parallel over blocks. The sums are taken in
//! forust's order (base score, then tree after tree), so predictions and contributions are
//! bit-for-bit forust's; tests check it. `cargo bench --bench forest` compares the two.

use forust_ml::GradientBooster;
use rayon::prelude::*;

use crate::error::{ModelError, Result};

/// Rows per block: the block's row-major values (and contributions) stay in the core's cache.
const BLOCK_ROWS: usize = 64;

/// One node. A leaf's children are itself (and it tests column 0), so a walk can go on past it.
#[derive(Debug, Clone, Copy)]
struct Node {
    threshold: f64,
    feature: u32,
    left: u32,
    right: u32,
    missing: u32,
}

/// The trees of a booster, flattened.
#[derive(Debug, Clone)]
pub struct Forest {
    base_score: f64,
    /// Every tree's nodes, one tree after the other; children are absolute indices.
    nodes: Vec<Node>,
    /// Each node's weight (forust's `weight_value`); the prediction is the leaf's.
    weight: Vec<f64>,
    /// Each node's cover-weighted average leaf weight (forust's `distribute_leaf_weights`), for
    /// path-averaged contributions.
    average: Vec<f64>,
    /// The index of each tree's root in `nodes`, and the depth of its deepest leaf.
    roots: Vec<(u32, u32)>,
    /// The number of features the trees were fitted on (at least).
    features: usize,
}

impl Forest {
    /// Flattens the prediction trees of `booster` (up to its prediction iteration). Only boosters
    /// that treat NaN as missing (forust's default, and how leadscore trains) are supported.
    pub fn new(booster: &GradientBooster) -> Result<Self> {
        if !booster.missing.is_nan() {
            return Err(ModelError::Invalid(format!(
                "the booster marks missing values with {} instead of NaN",
                booster.missing
            )));
        }
        let used = booster.prediction_iteration.unwrap_or(booster.trees.len()).min(booster.trees.len());
        let trees = &booster.trees[..used];
        let mut forest = Self {
            base_score: booster.base_score,
            nodes: Vec::new(),
            weight: Vec::new(),
            average: Vec::new(),
            roots: Vec::with_capacity(trees.len()),
            features: 0,
        };
        for tree in trees {
            let offset = forest.nodes.len();
            let index = |i: usize| -> Result<u32> {
                if i >= tree.nodes.len() {
                    return Err(ModelError::Invalid(format!(
                        "a tree points to node {i} but has {} nodes",
                        tree.nodes.len()
                    )));
                }
                u32::try_from(offset + i).map_err(|_| ModelError::Invalid("the model has too many nodes".into()))
            };
            let depth = tree.nodes.iter().map(|n| n.depth).max().unwrap_or(0);
            forest.roots.push((index(0)?, u32::try_from(depth).unwrap_or(u32::MAX)));
            for (k, node) in tree.nodes.iter().enumerate() {
                forest.weight.push(f64::from(node.weight_value));
                forest.nodes.push(if node.is_leaf {
                    let me = index(k)?;
                    Node { threshold: 0.0, feature: 0, left: me, right: me, missing: me }
                } else {
                    forest.features = forest.features.max(node.split_feature + 1);
                    Node {
                        threshold: node.split_value,
                        feature: u32::try_from(node.split_feature)
                            .map_err(|_| ModelError::Invalid("a split feature index is too large".into()))?,
                        left: index(node.left_child)?,
                        right: index(node.right_child)?,
                        missing: index(node.missing_node)?,
                    }
                });
            }
            forest.average.extend(tree.distribute_leaf_weights());
        }
        Ok(forest)
    }

    /// The number of trees.
    pub fn trees(&self) -> usize {
        self.roots.len()
    }

    /// Checks that a column-major matrix has the columns the trees split on.
    fn check(&self, data: &[f64], rows: usize, cols: usize) -> Result<()> {
        if cols < self.features || data.len() != rows * cols {
            return Err(ModelError::Invalid(format!(
                "the trees need {} columns; the matrix has {cols} columns and {} values for {rows} rows",
                self.features,
                data.len()
            )));
        }
        Ok(())
    }

    /// The node a row goes to from `node` (itself for a leaf), chosen without a branch.
    #[inline(always)]
    fn child(node: &Node, row: &[f64]) -> usize {
        let v = row[node.feature as usize];
        let next = if v < node.threshold { node.left } else { node.right };
        (if v.is_nan() { node.missing } else { next }) as usize
    }

    /// Raw predictions (log-odds for a log-loss booster) of the rows of a column-major matrix.
    pub fn predict(&self, data: &[f64], rows: usize, cols: usize) -> Result<Vec<f64>> {
        self.check(data, rows, cols)?;
        let mut out = vec![self.base_score; rows];
        out.par_chunks_mut(BLOCK_ROWS).enumerate().for_each(|(b, out)| {
            let block = transpose(data, rows, cols, b * BLOCK_ROWS, out.len());
            let n = out.len();
            let mut at = [0usize; BLOCK_ROWS];
            for &(root, depth) in &self.roots {
                // Level by level over the block: the rows' steps are independent, so they overlap.
                at[..n].fill(root as usize);
                for _ in 0..depth {
                    for (i, row) in at[..n].iter_mut().zip(block_rows(&block, cols)) {
                        *i = Self::child(&self.nodes[*i], row);
                    }
                }
                for (p, i) in out.iter_mut().zip(&at[..n]) {
                    *p += self.weight[*i];
                }
            }
        });
        Ok(out)
    }

    /// forust's path-averaged contributions (`ContributionsMethod::Average`, XGBoost's approximate
    /// contributions): row-major, `cols + 1` values per row, the last being the bias. Each row's
    /// values add up to its prediction.
    pub fn contributions(&self, data: &[f64], rows: usize, cols: usize) -> Result<Vec<f64>> {
        self.check(data, rows, cols)?;
        let width = cols + 1;
        let mut out = vec![0.0; rows * width];
        out.par_chunks_mut(BLOCK_ROWS * width).enumerate().for_each(|(b, out)| {
            let n = out.len() / width;
            let block = transpose(data, rows, cols, b * BLOCK_ROWS, n);
            // Written before any read: the buffer's pages are fresh, and a page that is read
            // first maps the shared zero page, so the first write to it would cost a copy-on-write
            // fault and a TLB flush on every core (a fifth of the time at 1M x 50).
            for c in out.chunks_exact_mut(width) {
                c.fill(0.0);
                c[cols] = self.base_score;
            }
            let mut at = [0usize; BLOCK_ROWS];
            for &(root, depth) in &self.roots {
                let bias = self.average[root as usize];
                for c in out.chunks_exact_mut(width) {
                    c[cols] += bias;
                }
                at[..n].fill(root as usize);
                // Level by level, as in `predict`. Past a leaf a step adds `+0.0` to column 0, which
                // changes no value.
                for _ in 0..depth {
                    for ((i, row), c) in
                        at[..n].iter_mut().zip(block_rows(&block, cols)).zip(out.chunks_exact_mut(width))
                    {
                        let node = &self.nodes[*i];
                        let next = Self::child(node, row);
                        c[node.feature as usize] += self.average[next] - self.average[*i];
                        *i = next;
                    }
                }
            }
        });
        Ok(out)
    }
}

/// The rows of a row-major block (empty slices when there are no columns).
fn block_rows(block: &[f64], cols: usize) -> impl Iterator<Item = &[f64]> {
    (0..).map(move |i| &block[i * cols..(i + 1) * cols])
}

/// Rows `start..start + n` of a column-major matrix, row-major.
fn transpose(data: &[f64], rows: usize, cols: usize, start: usize, n: usize) -> Vec<f64> {
    let mut block = vec![0.0; n * cols];
    for j in 0..cols {
        let column = &data[j * rows + start..j * rows + start + n];
        for (i, v) in column.iter().enumerate() {
            block[i * cols + j] = *v;
        }
    }
    block
}

#[cfg(test)]
mod tests {
    use forust_ml::Matrix;
    use forust_ml::gradientbooster::ContributionsMethod;
    use forust_ml::objective::ObjectiveType;

    use super::*;

    /// A column-major matrix with missing values in the second column, and labels.
    fn data(rows: usize) -> (Vec<f64>, Vec<f64>) {
        let cols = 3;
        let mut x = vec![0.0; rows * cols];
        let mut y = vec![0.0; rows];
        for i in 0..rows {
            let a = f64::from(((i * 7919) % 101) as u32) / 101.0;
            let b = if i % 5 == 0 { f64::NAN } else { f64::from(((i * 104_729) % 89) as u32) / 89.0 };
            let c = f64::from((i % 4) as u32);
            x[i] = a;
            x[rows + i] = b;
            x[2 * rows + i] = c;
            y[i] = f64::from(u8::from(a + 0.5 * b.max(0.2) + 0.1 * c > 0.9));
        }
        (x, y)
    }

    fn fitted(rows: usize, objective: ObjectiveType, missing_branch: bool) -> (GradientBooster, Vec<f64>) {
        let (x, y) = data(rows);
        let mut b = GradientBooster::default()
            .set_objective_type(objective)
            .set_iterations(30)
            .set_max_depth(4)
            .set_create_missing_branch(missing_branch)
            .set_parallel(false);
        let m = Matrix::new(&x, rows, 3);
        assert!(b.fit(&m, &y, &vec![1.0; rows], None).is_ok());
        (b, x)
    }

    #[test]
    fn predictions_and_contributions_are_forusts_bit_for_bit() {
        // Row counts that are and are not multiples of the block size.
        for (rows, objective, missing_branch) in [
            (500, ObjectiveType::LogLoss, false),
            (BLOCK_ROWS * 3, ObjectiveType::SquaredLoss, false),
            (301, ObjectiveType::LogLoss, true),
        ] {
            let (b, x) = fitted(rows, objective, missing_branch);
            let m = Matrix::new(&x, rows, 3);
            let forest = Forest::new(&b).expect("compact forest");
            assert_eq!(forest.trees(), 30);
            let ours = forest.predict(&x, rows, 3).expect("predict");
            let theirs = b.predict(&m, false);
            assert_eq!(
                ours.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                theirs.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            let ours = forest.contributions(&x, rows, 3).expect("contributions");
            let theirs = b.predict_contributions(&m, ContributionsMethod::Average, false);
            assert_eq!(
                ours.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                theirs.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn the_prediction_iteration_limits_the_trees() {
        let (b, x) = fitted(200, ObjectiveType::LogLoss, false);
        let b = b.set_prediction_iteration(Some(9));
        let forest = Forest::new(&b).expect("compact forest");
        assert_eq!(forest.trees(), 10);
        let m = Matrix::new(&x, 200, 3);
        assert_eq!(forest.predict(&x, 200, 3).expect("predict"), b.predict(&m, false));
    }

    #[test]
    fn a_matrix_without_the_split_columns_is_an_error_not_a_panic() {
        let (b, x) = fitted(100, ObjectiveType::LogLoss, false);
        let forest = Forest::new(&b).expect("compact forest");
        assert!(forest.predict(&x[..200], 100, 2).is_err());
        assert!(forest.contributions(&x[..10], 100, 3).is_err());
        let b = b.set_missing(-1.0);
        assert!(Forest::new(&b).is_err());
    }
}
