//! CPU feature detection: at run time where `std` is present, at compile time otherwise.
//!
//! These are the only feature checks in the core. The visual kernels consult them once, when a
//! [`crate::core::kernels::Kernels`] table is built; nothing checks features per call.

/// Run-time detection with `std`, compile-time `cfg!(target_feature)` without.
#[cfg(target_arch = "x86_64")]
macro_rules! x86_has {
    ($($f:tt),+) => {{
        #[cfg(feature = "std")]
        {
            true $(&& std::is_x86_feature_detected!($f))+
        }
        #[cfg(not(feature = "std"))]
        {
            true $(&& cfg!(target_feature = $f))+
        }
    }};
}

/// AVX2 and FMA (Haswell and later, every Zen): the 256-bit f32 and int8 kernels.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx2_fma() -> bool {
    x86_has!("avx2", "fma")
}

/// AVX-VNNI (the VEX-encoded 256-bit `vpdpbusd`: Alder Lake and later Intel cores, Zen 5) with AVX2 and FMA: the
/// `avxvnni` level's int8 kernel.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx_vnni() -> bool {
    x86_has!("avxvnni", "avx2", "fma")
}

/// AVX-512F (with AVX2/FMA, which every AVX-512 CPU has): the 512-bit f32 kernel.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx512() -> bool {
    x86_has!("avx512f", "avx2", "fma")
}

/// AVX-512 VNNI with F and BW (Cascade Lake, Ice Lake, Zen 4 and later): the `vpdpbusd` int8 kernel.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx512_vnni() -> bool {
    x86_has!("avx512f", "avx512bw", "avx512vnni", "avx2", "fma")
}

/// The ARMv8.2 dot-product extension (`SDOT`/`UDOT`: Cortex-A55/A75 and later, Jetson Xavier's Carmel and Orin's
/// A78AE; not Jetson Nano's A57).
#[cfg(target_arch = "aarch64")]
#[inline]
pub fn has_dotprod() -> bool {
    #[cfg(feature = "std")]
    {
        std::arch::is_aarch64_feature_detected!("dotprod")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(target_feature = "dotprod")
    }
}
