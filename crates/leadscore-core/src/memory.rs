//! The process's memory: what it holds resident, and handing back what it freed.
//!
//! `leadscore run` runs every stage of the day in one process. glibc's allocator keeps the pages
//! a stage freed on its free lists instead of returning them, so the next stage started on top
//! of the previous one's peak: at 1M leads the whole DAG peaked at 3.5 GB although no stage alone
//! passed 2.7 GB. The runner calls [`release_freed`] after each stage.

/// The process's resident memory in MiB (Linux: `/proc/self/statm`; 0 where it cannot be read).
pub fn resident_mib() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .unwrap_or(0);
    pages * 4096 / (1024 * 1024)
}

/// Returns the heap pages the allocator holds free to the operating system (glibc's
/// `malloc_trim(0)`, which since glibc 2.8 releases every whole free page of every arena, not
/// only the top of the heap). Elsewhere (musl, macOS, Windows) it does nothing: those allocators
/// return freed memory themselves. Call it between stages, when no other thread allocates: it
/// locks each arena in turn.
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
