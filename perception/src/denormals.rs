//! Flush denormal floats to zero on the learner's threads.
//!
//! Training drives optimizer state and some activations/gradients towards zero (Adam's first
//! moment of a weight whose gradient stopped, squared tiny gradients). Once they reach the
//! denormal range (below ~1.2e-38) every x86 operation on them takes a microcode assist,
//! about 100 times the normal cost: in a Pong DQN run the fused Adam step went from ~1% to
//! 70% of the learner's time. With flush-to-zero (FTZ) and denormals-are-zero (DAZ) set in
//! the thread's MXCSR, such values become 0 instead; at these magnitudes that changes no
//! result that matters (Adam adds eps 1e-8..1e-4 to the root of the second moment).
//! TensorFlow sets the same flags on its CPU threads; PyTorch offers
//! `torch.set_flush_denormal(True)`.
//!
//! The flags are per thread: the guard sets them on the calling thread and restores the
//! previous state when dropped. Elsewhere than x86_64 it does nothing.

/// MXCSR bits: flush-to-zero (results) and denormals-are-zero (inputs).
#[cfg(target_arch = "x86_64")]
const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

/// Restores the thread's previous floating-point mode when dropped.
#[must_use = "the flags are restored when the guard is dropped"]
pub struct FlushDenormals {
    #[cfg(target_arch = "x86_64")]
    previous: u32,
}

/// Flush denormals to zero on this thread until the returned guard is dropped.
pub fn flush_denormals() -> FlushDenormals {
    #[cfg(target_arch = "x86_64")]
    {
        let previous = mxcsr::get();
        mxcsr::set(previous | FTZ_DAZ);
        FlushDenormals { previous }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        FlushDenormals {}
    }
}

/// Build rayon's global pool (which our conv/dense kernels and candle's CPU ops use) with
/// `threads` threads (0: rayon's default) and denormals flushed on each of them for good.
/// Returns false when the global pool already existed (then nothing changes).
pub fn init_global_pool(threads: usize) -> bool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(|_| std::mem::forget(flush_denormals()))
        .build_global()
        .is_ok()
}

impl Drop for FlushDenormals {
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        mxcsr::set(self.previous);
    }
}

#[cfg(target_arch = "x86_64")]
mod mxcsr {
    use std::arch::asm;

    pub fn get() -> u32 {
        let mut value = 0u32;
        // SAFETY: stmxcsr stores the 32-bit MXCSR register to the given valid address.
        unsafe { asm!("stmxcsr [{}]", in(reg) &mut value, options(nostack, preserves_flags)) };
        value
    }

    pub fn set(value: u32) {
        // SAFETY: ldmxcsr loads MXCSR from a valid address; the values written are ones read
        // from MXCSR with only the FTZ/DAZ bits changed, which every x86_64 CPU supports.
        unsafe {
            asm!("ldmxcsr [{}]", in(reg) &value, options(nostack, readonly, preserves_flags))
        };
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// The product of two small normal numbers is denormal without the flags.
    fn tiny_product() -> f32 {
        std::hint::black_box(1e-20f32) * std::hint::black_box(1e-20f32)
    }

    #[test]
    fn flushes_while_held_and_restores_after() {
        std::thread::spawn(|| {
            assert!(tiny_product() > 0.0, "denormal expected without the flags");
            {
                let _guard = flush_denormals();
                assert_eq!(tiny_product(), 0.0);
                // Denormal inputs read as zero too.
                let denormal = std::hint::black_box(f32::from_bits(1));
                assert_eq!(denormal * 1.0, 0.0);
            }
            assert!(tiny_product() > 0.0, "flags not restored");
        })
        .join()
        .unwrap();
    }
}
