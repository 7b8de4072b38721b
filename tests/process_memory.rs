//! `ProcessMemory::reset_peak` gives each configuration of `moe_offload` and
//! `bench_moe` its own peak RSS instead of the process's. Its own test
//! binary, so no other test allocates while it measures.
#![cfg(target_os = "linux")]

use llama_cpp_rs_moe::measure::ProcessMemory;

const BLOCK: usize = 256 << 20;
const HALF_BLOCK: u64 = (BLOCK / 2) as u64;

#[test]
fn reset_peak_forgets_memory_freed_before_the_reset() {
    let mut block = vec![0u8; BLOCK];
    // Untouched pages are not resident: write one byte per page.
    for i in (0..BLOCK).step_by(4096) {
        block[i] = 1;
    }
    let holding = ProcessMemory::read();
    std::hint::black_box(&block);
    drop(block);
    let freed = ProcessMemory::read();
    assert!(
        holding.rss >= BLOCK as u64,
        "the touched block is resident: {holding:?}"
    );
    assert!(
        freed.rss + HALF_BLOCK < holding.rss,
        "the allocator returned the block: {freed:?} after {holding:?}"
    );
    assert!(
        freed.peak_rss >= BLOCK as u64,
        "before the reset the peak includes the block: {freed:?}"
    );

    assert!(
        ProcessMemory::reset_peak(),
        "/proc/self/clear_refs is writable on Linux"
    );
    let reset = ProcessMemory::read();
    assert!(
        reset.peak_rss + HALF_BLOCK < holding.rss,
        "after the reset the peak no longer includes the freed block: {reset:?}, block held at {holding:?}"
    );
    assert!(reset.peak_rss >= reset.rss);
}
