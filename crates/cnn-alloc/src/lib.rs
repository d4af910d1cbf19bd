//! The memory allocator of cnn's binaries (`cnn`, the `xtask` tasks).
//!
//! Linking this crate makes [mimalloc](https://github.com/microsoft/mimalloc) the global
//! allocator: with the system allocator every training step's large activation buffers came
//! back as fresh zero pages from the kernel (≈ 1,500 page faults per `mnist-cnn` step, and
//! TLB-flush interrupts between the two worker threads).
//!
//! [`keep_freed_memory`] goes one step further. By default mimalloc hands free memory back to
//! the kernel after a delay (1 s in its v3, 10 ms in v2), and the next batches' activations,
//! as large, kept coming back as fresh zero pages: ten MobileNetV2 batches of 64 at 128x128 took 185,000 page faults
//! and 4–5 s of kernel time, against 450 faults and 0.3–0.9 s with the memory kept (batch
//! time 940–990 → 790–800 ms, measured back to back). A process then keeps the memory of its
//! peak until it exits — the peak it reached anyway.

#![deny(unsafe_code)]

/// mimalloc as the global allocator of whatever binary links this crate.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The index of `mi_option_purge_delay` in mimalloc's `mi_option_t` (`mimalloc.h`, the same in
/// its v2 and v3; the Rust bindings name no constant for it).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The environment variable that sets the purge delay (milliseconds; -1 never purges).
const PURGE_DELAY_ENV: &str = "MIMALLOC_PURGE_DELAY";

/// Keeps freed memory in the process for reuse instead of returning it to the kernel
/// (mimalloc's purge delay set to "never"). Call it first thing in `main`; a
/// `MIMALLOC_PURGE_DELAY` set in the environment is left to decide.
pub fn keep_freed_memory() {
    if std::env::var_os(PURGE_DELAY_ENV).is_none() {
        set_purge_delay(-1);
    }
}

/// The purge delay in milliseconds (-1: never).
pub fn purge_delay() -> i64 {
    // SAFETY: reads one integer option; mimalloc initialises its options on first use.
    #[allow(unsafe_code)]
    let v = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
    // `c_long` is 32 bits on Windows.
    #[allow(clippy::useless_conversion)]
    i64::from(v)
}

fn set_purge_delay(ms: i32) {
    // SAFETY: sets one integer option, which mimalloc reads atomically.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, ms.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Option 15 is the purge delay: 1,000 ms by default in mimalloc v3, 10 ms in v2 (no other
    /// option at that index has those defaults), "never" after `keep_freed_memory`.
    #[test]
    fn the_option_is_the_purge_delay_and_is_set_to_never() {
        if std::env::var_os(PURGE_DELAY_ENV).is_some() {
            return;
        }
        assert!([10, 1000].contains(&purge_delay()), "{}", purge_delay());
        keep_freed_memory();
        assert_eq!(purge_delay(), -1);
    }
}
