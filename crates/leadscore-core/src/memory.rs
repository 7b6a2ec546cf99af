//! The process's memory: what it holds resident, and handing back what it freed.
//!
//! `leadscore run` runs every stage of the day in one process. glibc's allocator keeps the pages
//! a stage freed on its free lists instead of returning them, so the next stage started on top
//! of the previous one's peak: at 1M leads the whole DAG peaked at 3.7 GB although no stage alone
//! passed 2.0 GB. On a run of the whole history the runner applies two settings:
//!
//! - [`configure`], first: blocks of 1 MiB and more (columns, designs) are mapped for
//!   themselves and unmapped when freed. glibc's own threshold starts at 128 KiB but rises to the
//!   size of every large block freed (up to 32 MiB), after which the columns of the next steps
//!   come from the heap and stay there: 2.6 GB instead of 1.9 GB for the same DAG. Up to 4 MiB
//!   free at the top of a heap stays for the next blocks.
//! - [`release_freed`], after each stage: what is left free on the heap goes back.

/// The process's resident memory in MiB (Linux: `/proc/self/statm`; 0 where it cannot be read).
pub fn resident_mib() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .unwrap_or(0);
    pages * 4096 / (1024 * 1024)
}

/// Blocks of at least this many bytes are mapped for themselves ([`configure`]). 128 KiB (glibc's
/// first value, kept fixed) made the 1M DAG 40% slower (a mapping for every small column chunk);
/// 4 MiB peaked at 2.2 GB.
pub const MMAP_THRESHOLD: usize = 1 << 20;

/// Free memory at the top of a heap that stays there for the next blocks ([`configure`]). Fixing
/// the mmap threshold also fixes glibc's trim threshold at its first value, 128 KiB. forust
/// allocates each node's histograms and gathered gradients and frees them once the node is
/// split: at 128 KiB those pages went back to the system and were faulted in again at the next
/// node. `stage train` at 300k leads: 711k page faults and 7.0 s, 340k and 6.4 s at 4 MiB. 1 MiB
/// kept half of the gain; 16 MiB and more were no faster than 4 MiB and peaked 10 MB higher.
pub const TRIM_THRESHOLD: usize = 4 << 20;

/// Fixes glibc's mmap threshold at [`MMAP_THRESHOLD`] and its trim threshold at
/// [`TRIM_THRESHOLD`], each unless the user set it (`MALLOC_MMAP_THRESHOLD_`,
/// `MALLOC_TRIM_THRESHOLD_`, or `GLIBC_TUNABLES` naming `glibc.malloc.mmap_threshold` or
/// `glibc.malloc.trim_threshold`): blocks allocated and freed from then on. Elsewhere it does
/// nothing.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn configure() {
    // glibc's declaration in <malloc.h>: `int mallopt(int param, int value);`, M_TRIM_THRESHOLD
    // being -1 and M_MMAP_THRESHOLD -3.
    unsafe extern "C" {
        fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
    }
    const M_TRIM_THRESHOLD: std::ffi::c_int = -1;
    const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
    let settings = [
        (M_MMAP_THRESHOLD, MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_", "mmap_threshold"),
        (M_TRIM_THRESHOLD, TRIM_THRESHOLD, "MALLOC_TRIM_THRESHOLD_", "trim_threshold"),
    ];
    for (param, bytes, variable, tunable) in settings {
        let user_set =
            std::env::var_os(variable).is_some() || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains(tunable));
        if user_set {
            continue;
        }
        // SAFETY: `mallopt` takes two integers and no pointer; both values are within glibc's
        // accepted ranges (the mmap threshold at most 32 MiB on 64-bit, the trim threshold any
        // size), so the call can only succeed or be ignored.
        let set = unsafe { mallopt(param, bytes as std::ffi::c_int) } == 1;
        tracing::debug!(set, bytes, tunable, "fixed an allocator threshold");
    }
}

/// Does nothing: this platform's allocator returns large blocks itself.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn configure() {}

/// Returns the heap pages the allocator holds free to the operating system (glibc's
/// `malloc_trim(0)`, which since glibc 2.8 releases every whole free page of every arena, not
/// only the top of the heap). Elsewhere (musl, macOS, Windows) it does nothing: those allocators
/// return freed memory themselves. Call it where no other thread allocates (between stages,
/// between the blocks ingest parses): it locks each arena in turn.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release_freed() {
    // glibc's declaration in <malloc.h>: `int malloc_trim(size_t pad);`.
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: `malloc_trim` takes no pointer and has no precondition; glibc serialises it with
    // every other allocator call (MT-Safe in its manual).
    let released = unsafe { malloc_trim(0) } == 1;
    tracing::debug!(released, resident_mib = resident_mib(), "returned freed memory to the system");
}

/// Does nothing: this platform's allocator returns freed memory itself.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_freed() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn freed_heap_goes_back_to_the_system() {
        // About 240 MiB of small blocks (each below glibc's mmap threshold, so on the heap), and
        // one allocated after them that stays in use: the freed blocks lie below it, where the
        // heap is not shrunk by freeing alone.
        let mut blocks: Vec<Box<[u8; 512]>> = (0..400_000).map(|i| Box::new([i as u8; 512])).collect();
        let pinned = Box::new([7u8; 512]);
        let with = resident_mib();
        assert!(with >= 200, "{with} MiB resident while the blocks are held");
        blocks.clear();
        blocks.shrink_to_fit();
        release_freed();
        let after = resident_mib();
        assert!(after + 150 < with, "{after} MiB resident after returning the freed blocks, {with} before");
        assert_eq!(pinned[0], 7);
    }
}
