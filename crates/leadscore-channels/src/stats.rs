//! Intervals for small numbers: Wilson's for a share, the bootstrap's for a mean.

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Resamples of the bootstrap.
pub const RESAMPLES: usize = 400;

/// Above this many values a mean's interval is the normal approximation (mean ± 1.96 standard
/// errors), where it and the bootstrap agree; at or below it, the bootstrap's percentiles.
pub const BOOTSTRAP_UP_TO: usize = 2000;

/// The 95% Wilson score interval of `k` successes in `n` trials (`None` when `n` is 0). Unlike
/// the normal approximation it stays inside [0, 1] and is honest for small `n` and shares near
/// 0 or 1.
pub fn wilson(k: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// A running sum that keeps its values while there are few enough to bootstrap.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    n: u64,
    sum: f64,
    sum_sq: f64,
    kept: Vec<f64>,
}

impl Sample {
    /// Adds one value.
    pub fn push(&mut self, v: f64) {
        self.n += 1;
        self.sum += v;
        self.sum_sq += v * v;
        if self.n as usize <= BOOTSTRAP_UP_TO {
            self.kept.push(v);
        } else if !self.kept.is_empty() {
            self.kept = Vec::new();
        }
    }

    /// How many values.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Their sum.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Their mean (`None` when empty).
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }

    /// The 95% interval of the mean: bootstrap percentiles with `seed` for up to
    /// [`BOOTSTRAP_UP_TO`] values, the normal approximation above. `None` when empty.
    pub fn mean_interval(&self, seed: u64) -> Option<(f64, f64)> {
        let mean = self.mean()?;
        if self.n == 1 {
            return Some((mean, mean));
        }
        if self.kept.len() as u64 == self.n {
            return Some(bootstrap_mean(&self.kept, seed));
        }
        let n = self.n as f64;
        let var = ((self.sum_sq - self.sum * self.sum / n) / (n - 1.0)).max(0.0);
        let half = Z95 * (var / n).sqrt();
        Some((mean - half, mean + half))
    }
}

/// The 2.5th and 97.5th percentiles of the means of [`RESAMPLES`] resamples of `values`.
fn bootstrap_mean(values: &[f64], seed: u64) -> (f64, f64) {
    let mut rng = SplitMix64(seed);
    let n = values.len();
    let mut means: Vec<f64> =
        (0..RESAMPLES).map(|_| (0..n).map(|_| values[rng.below(n)]).sum::<f64>() / n as f64).collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * (RESAMPLES - 1) as f64).round() as usize).min(RESAMPLES - 1)];
    (at(0.025), at(0.975))
}

/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014):
/// a few instructions a draw and well mixed, which is all resampling needs; a cryptographic
/// generator made the bootstrap the channel table's slowest step.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A draw from 0 to `n` - 1 (Lemire's multiply-shift; its bias is below 2^-50 for the sizes
    /// resampled here).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_the_textbook_values_and_stays_in_the_unit_interval() {
        // Wilson (1927) / Newcombe (1998), table I: 81 of 263 → 0.2553 … 0.3662.
        let (lo, hi) = wilson(81, 263).expect("n > 0");
        assert!((lo - 0.2553).abs() < 5e-4 && (hi - 0.3662).abs() < 5e-4, "{lo} {hi}");
        let (lo, hi) = wilson(0, 10).expect("n > 0");
        assert!(lo == 0.0 && (hi - 0.2775).abs() < 5e-4, "{lo} {hi}");
        let (lo, hi) = wilson(10, 10).expect("n > 0");
        assert!((lo - 0.7225).abs() < 5e-4 && (hi - 1.0).abs() < 1e-12, "{lo} {hi}");
        assert_eq!(wilson(0, 0), None);
    }

    #[test]
    fn the_bootstrap_interval_holds_the_mean_widens_for_fewer_values_and_is_reproducible() {
        let mut small = Sample::default();
        let mut large = Sample::default();
        for i in 0..40 {
            small.push(if i % 8 == 0 { 1000.0 } else { 0.0 });
        }
        for i in 0..1600 {
            large.push(if i % 8 == 0 { 1000.0 } else { 0.0 });
        }
        let (a, b) = small.mean_interval(7).expect("values");
        let (c, d) = large.mean_interval(7).expect("values");
        assert!(a < 125.0 && 125.0 < b && c < 125.0 && 125.0 < d);
        assert!(b - a > 2.0 * (d - c), "40 values: {a}..{b}; 1600: {c}..{d}");
        assert_eq!(small.mean_interval(7), small.mean_interval(7));
    }

    #[test]
    fn splitmix64_draws_are_uniform() {
        let mut r = SplitMix64(1_234_567);
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[r.below(10)] += 1;
        }
        assert!(counts.iter().all(|c| (9_500..10_500).contains(c)), "{counts:?}");
        let (a, b) = (SplitMix64(1).next(), SplitMix64(2).next());
        assert_ne!(a, b);
    }

    #[test]
    fn above_the_bootstrap_limit_the_normal_interval_agrees_with_the_bootstrap() {
        let values: Vec<f64> = (0..BOOTSTRAP_UP_TO).map(|i| ((i * 37) % 101) as f64).collect();
        let mut s = Sample::default();
        values.iter().for_each(|v| s.push(*v));
        let boot = s.mean_interval(1).expect("values");
        s.push(50.0);
        let normal = s.mean_interval(1).expect("values");
        assert!((boot.0 - normal.0).abs() < 0.5 && (boot.1 - normal.1).abs() < 0.5, "{boot:?} {normal:?}");
    }
}
