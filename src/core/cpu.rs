//! CPU feature detection: at run time where `std` is present, at compile time otherwise.

/// AVX-512F is available for the f32 kernel.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx512() -> bool {
    #[cfg(feature = "std")]
    {
        std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(target_feature = "avx512f")
    }
}

/// AVX-512 VNNI (with F and BW) is available for the int8 kernel.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx512_vnni() -> bool {
    #[cfg(feature = "std")]
    {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(all(target_feature = "avx512f", target_feature = "avx512bw", target_feature = "avx512vnni"))
    }
}

/// The kernel family the visual pathway uses on this machine, for reports and benchmarks.
pub fn kernel_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512_vnni() {
            return "avx512f+vnni";
        }
        if has_avx512() {
            return "avx512f (int8 portable)";
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        return "neon (int8 portable)";
    }
    #[allow(unreachable_code)]
    "portable"
}
