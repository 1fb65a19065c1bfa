//! glibc malloc tuning, applied once at start-up before any thread exists.
//!
//! kando's pipelines allocate and free buffers of 1–18 MiB on several threads (frames, packs,
//! read-aheads). With glibc's defaults each thread that frees one keeps it in its own arena
//! (up to 8 × cores arenas), and the dynamic mmap threshold climbs to 32 MiB after the first
//! large free, so every later pack-sized buffer comes from an arena too: peak RSS then holds
//! several copies of memory that is no longer in use. Measured on the maintenance benchmark's
//! 30-generation repository (2 cores): compact 147 → 71 MB, verify --read-data 191 → 77 MB,
//! pull 151 → 97 MB, with wall times within noise (push and pull of the benchmark dump, and
//! compact, were not slower). So:
//!
//! * `M_ARENA_MAX` = 2: at most two arenas, so freed buffers are found again by other threads;
//! * `M_MMAP_THRESHOLD` = 4 MiB (which also turns the dynamic threshold off): pack-sized
//!   buffers are mapped and unmapped, never parked in an arena. Frame-sized (1 MiB) buffers
//!   stay below it: mapping those costs a page fault per 4 KiB on every reuse (a 256 KiB
//!   threshold made pull ~50% slower).
//!
//! A user's own `MALLOC_ARENA_MAX` / `MALLOC_MMAP_THRESHOLD_` environment variables win: the
//! matching setting is left alone. Other C libraries (musl) are not tuned.
//!
//! This is the crate's only `unsafe` code: one FFI call per setting, with integer arguments.

/// Apply the settings above (glibc only; a no-op elsewhere).
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        set("MALLOC_ARENA_MAX", libc::M_ARENA_MAX, 2);
        set("MALLOC_MMAP_THRESHOLD_", libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set(env: &str, param: libc::c_int, value: libc::c_int) {
    if std::env::var_os(env).is_some() {
        return;
    }
    // SAFETY: mallopt takes two integers and only changes allocator parameters; it is called
    // from main before any other thread exists.
    // A refusal (0) leaves glibc's default, which is only slower to give memory back.
    #[allow(unsafe_code)]
    let _ = unsafe { libc::mallopt(param, value) };
}
