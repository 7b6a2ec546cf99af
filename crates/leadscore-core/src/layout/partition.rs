//! Partitioned scoring: the day's leads split into `N` parts by a stable hash of the lead id, so
//! that the per-lead stages (`qualify`, `value`) can run as `N` tasks on as many machines, and a
//! merge makes their outputs the tables an unpartitioned run writes, byte for byte.
//!
//! A part runs with `--partition I/N` (`1 <= I <= N`) and writes into
//! `<output_dir>/runs/<date>/<stage>.part-<I>-of-<N>/`, with its own manifest; a partitioned stage
//! reads the same part of a partitioned stage before it (value part 2 reads qualify part 2) and
//! whole tables of every other stage. `leadscore merge` then writes `<stage>/` from the `N`
//! parts.
//!
//! Lead `id` belongs to part `I` when the first eight bytes of SHA-256(`id`, as UTF-8), read as a
//! big-endian unsigned integer, are `I - 1` modulo `N`: the same split on every machine and in
//! every release, and easy to reproduce elsewhere (in SQL or Spark) to route leads by part.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Stage;

/// The most parts a day can be split into.
pub const MAX_PARTS: u32 = 1024;

/// One part of `count` (`--partition index/count`, `index` from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Partition {
    /// Which part, from 1 to `count`.
    pub index: u32,
    /// How many parts.
    pub count: u32,
}

impl Partition {
    /// Part `index` of `count`, when `1 <= index <= count <= MAX_PARTS`.
    pub fn new(index: u32, count: u32) -> Option<Self> {
        (1..=MAX_PARTS).contains(&count).then_some(())?;
        (1..=count).contains(&index).then_some(Self { index, count })
    }

    /// Every part of a split into `count`, in order.
    pub fn all(count: u32) -> impl Iterator<Item = Partition> {
        (1..=count).filter_map(move |i| Self::new(i, count))
    }

    /// The part (from 1) of a split into `count` that the lead `lead_id` belongs to.
    pub fn of(lead_id: &str, count: u32) -> u32 {
        let digest = Sha256::digest(lead_id.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        (u64::from_be_bytes(first) % u64::from(count.max(1))) as u32 + 1
    }

    /// Whether the lead `lead_id` belongs to this part.
    pub fn contains(&self, lead_id: &str) -> bool {
        Self::of(lead_id, self.count) == self.index
    }

    /// The folder of this part of `stage` in a run date's folder: `<stage>.part-<I>-of-<N>`.
    pub fn folder(&self, stage: Stage) -> String {
        format!("{}.part-{}-of-{}", stage.name(), self.index, self.count)
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Partition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let expected = || {
            format!("expected a part as INDEX/COUNT with 1 <= INDEX <= COUNT <= {MAX_PARTS} (like `2/8`), found `{s}`")
        };
        let (i, n) = s.split_once('/').ok_or_else(expected)?;
        let (i, n) = (i.trim().parse().map_err(|_| expected())?, n.trim().parse().map_err(|_| expected())?);
        Self::new(i, n).ok_or_else(expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_parse_and_print_as_index_over_count() {
        let p: Partition = "2/8".parse().unwrap();
        assert_eq!((p.index, p.count), (2, 8));
        assert_eq!(p.to_string(), "2/8");
        assert_eq!(p.folder(Stage::Qualify), "qualify.part-2-of-8");
        for bad in ["0/4", "5/4", "1/0", "4", "a/b", "-1/4", "1/4/2", "", "1/2000"] {
            let e = bad.parse::<Partition>().unwrap_err();
            assert!(e.contains("INDEX/COUNT") && e.contains(&format!("`{bad}`")), "{bad}: {e}");
        }
        assert_eq!(Partition::all(3).map(|p| p.index).collect::<Vec<_>>(), [1, 2, 3]);
    }

    #[test]
    fn the_split_is_the_documented_hash_and_every_lead_is_in_exactly_one_part() {
        // Fixed vectors, computed outside leadscore (Python's hashlib: the first eight bytes of
        // SHA-256("lead-1") are f2c317c69af99969), so the split is the documented one.
        assert_eq!([2, 7, 8].map(|n| Partition::of("lead-1", n)), [2, 4, 2]);
        assert_eq!([2, 7, 8].map(|n| Partition::of("00Q000000000042", n)), [2, 5, 4]);
        assert_eq!(Partition::of("anything", 1), 1);
        let ids: Vec<String> = (0..4000).map(|i| format!("00Q{i:012}")).collect();
        for count in [2, 3, 8] {
            let mut sizes = vec![0usize; count as usize];
            for id in &ids {
                let owners: Vec<Partition> = Partition::all(count).filter(|p| p.contains(id)).collect();
                assert_eq!(owners.len(), 1, "{id} in {owners:?}");
                sizes[owners[0].index as usize - 1] += 1;
            }
            // Balanced: every part within 15% of its fair share.
            let fair = ids.len() as f64 / f64::from(count);
            assert!(sizes.iter().all(|s| (*s as f64 - fair).abs() < 0.15 * fair), "{count}: {sizes:?}");
        }
    }
}
