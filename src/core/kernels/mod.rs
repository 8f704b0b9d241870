//! The visual pathway's compute kernels: convolution as packed im2col + GEMM, f32 and int8, one table of function
//! pointers per instruction-set level, chosen once (in the style of tract's `linalg` ops table).
//!
//! # Levels
//!
//! A [`Level`] names a set of kernels; [`Kernels`] is the table for one level, built by [`Kernels::detect`] (the best
//! level this CPU runs: at run time with `std`, from the compile-time target features without), by
//! [`Kernels::for_level`] (a given level, refused with [`KernelError::Unsupported`] if the CPU lacks it) or, with
//! `std`, by [`Kernels::from_env`] (the [`ENV_VAR`] override). The pipeline stores its table at construction; no
//! kernel checks CPU features per call.
//!
//! | level | f32 GEMM | int8 GEMM | where |
//! |---|---|---|---|
//! | `portable` | plain Rust (the reference) | exact f32 arithmetic on integers (see below) | every target |
//! | `avx2` | AVX2+FMA, 6×16 tiles; a last panel of 5–16 pixels in 3×16 even/odd tiles over L1-sized reduction blocks, of ≤ 4 in 6×4 over a pixel-major copy | AVX2 `vpmaddubsw` on 7-bit codes, 5×16 tiles, 5×8 for a panel's last ≤ 8 pixels and 2×4 over a pixel-major copy for its last ≤ 4 (8-bit input: `vpmaddwd`, 5×8) | x86-64 since Haswell / Zen 1 |
//! | `avx512` | AVX-512F, 8×32 tiles; a last panel of 5–16 pixels in 8×16 even/odd tiles, of ≤ 4 in 16×4 pixel-major | as `avx2` | Skylake-SP (AVX-512 without VNNI) |
//! | `avx512vnni` | as `avx512` | AVX-512 VNNI `vpdpbusd`, 8×32 tiles; ≤ 16 pixels: 1×16, ≤ 4 pixels: 4×4, over pixel-major copies (16 quads per instruction) | Cascade Lake, Ice Lake, Zen 4+ |
//! | `neon` | NEON, 5×16 tiles (`fmla` by lane); a last panel of 5–16 pixels in 3×16 even/odd tiles over L1-sized reduction blocks, of ≤ 4 in 4×4 by lane | NEON `smull`/`sadalp` widening multiplies, 2×16 tiles | aarch64 (Jetson Nano's A57) |
//! | `dotprod` | as `neon` | ARMv8.2 `sdot`, 6×16 tiles | Cortex-A55/A75+ (Jetson Xavier, Orin) |
//!
//! Besides the GEMMs, each table holds the work around them: im2col (f32, u8 channel quads and the u8 row layout),
//! max-pool + bias + ReLU, the int8 path's conversions of activations and frames to u8 channel quads, and the visual
//! background's alignment search ([`Kernels::background_row_sads`], bit-identical on every level). On x86-64 those
//! are AVX2 code at every SIMD level; on aarch64 the u8 im2cols, the pooling and the background search are NEON and
//! the rest portable. The row layout's interleaving of frames ([`Kernels::to_hwc`]) is the same portable code on every
//! level.
//!
//! # Layouts
//!
//! Activations are CHW (`[channels][height][width]`, row-major). A convolution with `cout` filters of `k×k` taps
//! over `cin` channels is `C[cout][n] = Σ_kk W[cout][kk] · X[kk][n]`, with `kk = (ci, ky, kx)` in that order
//! (PyTorch's weight layout flattened) and `n = (oy, ox)`. `X` is never materialised row-major: im2col writes it
//! straight into column panels of [`NR`] output pixels (`[panel][kk][NR]`, zero-padded past `n`), so a micro-kernel
//! streams one contiguous panel while it broadcasts weights from `W`'s rows. The weights need no packing: they stay
//! views into the loaded file (only an int8 V1 in the row layout below is rearranged, once, at load).
//!
//! The int8 path takes u8 activations in channel quads (`[cpad/4][h][w][4]`: channels padded to a multiple of 4
//! with zeros, four adjacent channels of a pixel in one 32-bit word, "NCHW4c"; activations are non-negative after
//! ReLU and pooling; the pipeline quantises them, and halves its 8-bit frames with a dither, to 7-bit codes,
//! [`ACT_MAX_CODE`], so that AVX2 can multiply them exactly with `vpmaddubsw`) and i8 weights `[cout][kk4]` in
//! `(ky, kx, channel)` order with one symmetric scale per output channel. Its packed panel is private to the level:
//! the SIMD kernels pack `[panel][kk4/4][NR][4]` bytes (four adjacent channels of one pixel per 32-bit lane, the
//! layout of VNNI's `vpdpbusd` and ARM's `sdot`; each row is a plain copy of runs from one quad plane; ARM's `sdot` is
//! signed × signed, which 7-bit codes are, and 8-bit ones are read as `x − 128`); the portable level packs the bytes
//! as f32 (`[panel][k·k·cin][NR]`). Pack and multiply with the same table.
//!
//! **The row layout** ([`Kernels::im2col_rows`]) serves an input whose channels are no multiple of 4, which the
//! quads would pad on every tap: V1 over a stack of 3 frames multiplies 196 bytes per output pixel of which 147
//! carry data, over 5 frames (the default model) 392 of 245. The frames are interleaved instead (`[h][w][cin]`,
//! [`Kernels::to_hwc`], which also stores the zero border, so that the pipeline packs [`ConvShape::pre_padded`] and
//! no kernel row is clipped), so that one kernel row's `k` pixels with their channels lie side by side in memory; the
//! reduction runs over `(ky, kx·cin + c)`: each kernel row's whole 4-byte words, then the rows' leftover bytes
//! together ([`ConvShape::row_slot`]), padded once to 148 and 248 bytes ([`ConvShape::kk_rows`]; padding each row
//! on its own made 168 and 252), with the weights rearranged once at load ([`Kernels::repack_rows`]). The packed
//! panels are those of a 1×1 convolution over `kk_rows` channels ([`ConvShape::rows_gemm`]), so the int8 GEMMs run
//! unchanged and the output is bit-identical to the quad layout's. The pipeline uses it for an int8 V1 when
//! [`ConvShape::rows_pay`].
//!
//! # Numbers
//!
//! Every int8 kernel computes the exact integer sum `Σ w·x` (i32 accumulation, or f32 runs short enough to be
//! exact; see `portable::gemm_i8`), then one f32 multiply by `scale_x · w_scale[m]`: the int8 output is
//! **bit-identical on every level**.
//!
//! The f32 GEMMs of the SIMD levels (`avx2`, `avxvnni`, `avx512`, `avx512vnni`, `neon`, `dotprod`) are
//! bit-identical too: each output `out[m][p]` is summed in one **canonical order**, which depends only on the width
//! `cols` of the panel that holds pixel `p` (32 for every panel but the last, `n` mod 32 for the last when that is
//! not 0), never on the tile or the row:
//!
//! - `cols ≥ 17`: one running sum, `acc = fma(w[r], x[r], acc)` for `r = 0, 1, …, kk − 1` from `+0`;
//! - `5 ≤ cols ≤ 16`: two running sums as above, over the even and the odd `r`, then `even + odd`;
//! - `cols ≤ 4`: four running sums `s_j` over `r ≡ j (mod 4)`, the reduction padded with `fma(0, 0, ·)` to a
//!   multiple of 4, then `(s₀ + s₁) + (s₂ + s₃)`.
//!
//! The narrow and tiny orders are what the fastest tiles for those panels compute (more independent chains, and
//! pixel-major lanes for a few pixels); fixing them as the definition makes a model trained on one SIMD level
//! the same bytes on any other (the f32 perception feeds training's discrete choices, such as the fusion weight
//! decay, which last-bit differences used to flip). The kernel battery checks every SIMD level against this order,
//! written with `f32::mul_add`, bit for bit. The `portable` level is the exception: it multiplies and adds
//! separately (baseline x86-64 and Cortex-M have no fused multiply-add in hardware), so it agrees with the others to
//! rounding (≤ ~1e-6 relative on CORnet-Z's sums), not bit for bit.
//!
//! # Soundness
//!
//! The SIMD kernels write through raw pointers. The safe methods of [`Kernels`] check the shape
//! ([`ConvShape::validate`]) and every slice length before calling them, and return [`KernelError`] instead of
//! writing past a buffer; the kernels themselves are `unsafe fn`s private to this module.

mod portable;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "x86_64")]
mod x86_avx2;
#[cfg(target_arch = "x86_64")]
mod x86_avx512;

use core::fmt;

/// Output pixels per packed panel (two 16-lane AVX-512 vectors, four AVX2 vectors, eight NEON vectors).
pub const NR: usize = 32;

/// Largest int8 reduction length `k·k·cpad` the kernels accept: keeps every partial sum of u8 × i8 products inside
/// i32 (65,536 · 255 · 128 < 2³¹), so all levels agree exactly.
pub const MAX_KK4: usize = 65_536;

/// Largest u8 code of the int8 path's activations ([`Kernels::quantise_u8`]) and frames ([`Kernels::to_quads`]):
/// 7 bits. With codes ≤ 127 and i8 weights, a pair of products sums to at most 2·127·128 = 32,512 in magnitude, so
/// AVX2's `vpmaddubsw` (u8 × i8 pairs summed into saturating i16) is exact, and the `avx2` int8 GEMM spends three
/// instructions per 32 products instead of four plus widening; every level quantises alike, so the int8 output
/// stays bit-identical. The kernels themselves accept any u8 code (the AVX2 GEMM checks its input and widens when a
/// code exceeds 127).
///
/// The price is one bit of precision, and the frames' bit is the one that counts: V1 sees the camera's bytes, and
/// halving them rounds every odd byte the same way, a bias of half a step on half the pixels that no later layer
/// averages away. So frames are halved with an ordered dither ([`Kernels::to_quads`]): an odd byte rounds up where its
/// pixel index plus channel is odd and down where it is even, and the lost bit is kept on average. On the shipped
/// model, int8 against f32 max |Δemotion| (mean) on 200 random slider settings (`cargo run --release --features train
/// --example int8_drift -- MODEL 200`): frames rounded half up 0.0253 (0.0034), over the 0.02 of issue 13; dithered
/// **0.0176** (0.0026); 8-bit frames, which would send V1 to AVX2's slower widening kernel (+8 % for an `avx2` int8
/// stack on an AMD EPYC Zen 4; a one-off build, E24 in `docs/eval/experiments.md` says which), 0.0143 (0.0022); the
/// weights' rounding alone 0.0086 (0.0018). On the study's 30 stimuli: 0.0183, **0.0124**, 0.0095 and 0.0065. Since
/// E30b `avf-bel export` also balances CORnet-Z's channels on calibration clips before quantising (`train::quant`): the
/// shipped int8 file is then 0.0104 (0.0022) on the 200 clips and 0.0139 on the stimuli.
pub const ACT_MAX_CODE: u8 = 127;

/// Shifts per row (and rows) of the visual background's alignment grid: `2·SHIFT + 1`
/// ([`crate::visual::SHIFT`] pixels each way; see [`Kernels::background_row_sads`]).
pub const BG_GRID: usize = 2 * crate::core::visual::SHIFT + 1;
/// Interior rows the background search sums between two checks of its bound.
const BG_CUT_ROWS: usize = 4;
/// Live shifts at or above which the SIMD levels' background search sums all seven in one pass over the row.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const BG_FUSED_MIN: usize = 4;

/// The environment variable that forces a kernel level (`std` only): one of [`Level::name`]'s names.
pub const ENV_VAR: &str = "AVF_BEL_KERNELS";

/// Geometry of one convolution.
///
/// The size methods never panic: on a shape [`ConvShape::validate`] rejects they return 0 or a saturated value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Input channels.
    pub cin: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel size (square).
    pub k: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on every side.
    pub pad: usize,
}

/// Output length along one axis, `None` for an impossible geometry.
fn out_len(len: usize, k: usize, stride: usize, pad: usize) -> Option<usize> {
    let padded = pad.checked_mul(2)?.checked_add(len)?;
    let span = padded.checked_sub(k)?;
    span.checked_div(stride)?.checked_add(1)
}

impl ConvShape {
    /// Output height.
    pub fn ho(&self) -> usize {
        out_len(self.h, self.k, self.stride, self.pad).unwrap_or(0)
    }
    /// Output width.
    pub fn wo(&self) -> usize {
        out_len(self.w, self.k, self.stride, self.pad).unwrap_or(0)
    }
    /// Output pixels.
    pub fn n(&self) -> usize {
        self.ho().saturating_mul(self.wo())
    }
    /// Reduction length `cin·k·k`.
    pub fn kk(&self) -> usize {
        self.cin.saturating_mul(self.k).saturating_mul(self.k)
    }
    /// Input channels rounded up to a multiple of 4 (the int8 path's channel quads).
    pub fn cpad(&self) -> usize {
        self.cin.div_ceil(4).saturating_mul(4)
    }
    /// Int8 reduction length `k·k·cpad` (a multiple of 4): the row stride of int8 weights.
    pub fn kk4(&self) -> usize {
        self.k.saturating_mul(self.k).saturating_mul(self.cpad())
    }
    /// Number of column panels.
    pub fn panels(&self) -> usize {
        self.n().div_ceil(NR)
    }
    /// Floats of the packed f32 im2col buffer.
    pub fn packed_len(&self) -> usize {
        self.panels().saturating_mul(self.kk()).saturating_mul(NR)
    }
    /// Bytes of the packed u8 im2col buffer of the SIMD int8 kernels.
    pub fn packed_len_u8(&self) -> usize {
        self.panels().saturating_mul(self.kk4()).saturating_mul(NR)
    }
    /// Floats an int8 packed buffer needs on any level (the larger of the portable f32 panels and the SIMD bytes).
    pub fn packed_len_i8(&self) -> usize {
        self.packed_len().max(self.packed_len_u8().div_ceil(4))
    }
    /// Floats of the CHW f32 input.
    pub fn input_len(&self) -> usize {
        self.cin.saturating_mul(self.h).saturating_mul(self.w)
    }
    /// Bytes of the channel-quad u8 input (`[cpad/4][h][w][4]`).
    pub fn input_len_u8(&self) -> usize {
        self.h.saturating_mul(self.w).saturating_mul(self.cpad())
    }
    /// Bytes of one kernel row's `k·cin` input bytes rounded up to whole 4-byte words: what the packing copies per
    /// kernel row (see [`Kernels::im2col_rows`]).
    pub fn row_bytes(&self) -> usize {
        self.k.saturating_mul(self.cin).div_ceil(4).saturating_mul(4)
    }
    /// Whole 4-byte words in one kernel row's `k·cin` bytes: the row layout's words of row `ky` are
    /// `ky·row_words() ..`; the row's last `row_rest()` bytes go to the reduction's tail.
    fn row_words(&self) -> usize {
        self.k.saturating_mul(self.cin) / 4
    }
    /// Bytes of a kernel row past its whole words, `k·cin mod 4`: gathered, row after row, into the tail words that
    /// end the row layout's reduction, so that no row is padded on its own.
    fn row_rest(&self) -> usize {
        self.k.saturating_mul(self.cin) % 4
    }
    /// Where byte `b < k·cin` of kernel row `ky` lies in the row layout's reduction: in the row's whole words
    /// (`4·(ky·row_words) + b`), or for the row's last `row_rest` bytes in the tail after all rows' whole words.
    /// Saturates (as the sizes do) rather than overflow for shapes [`ConvShape::validate`] refuses.
    pub fn row_slot(&self, ky: usize, b: usize) -> usize {
        let whole = self.row_words().saturating_mul(4);
        if b < whole {
            ky.saturating_mul(whole).saturating_add(b)
        } else {
            let tail = self.k.saturating_mul(whole);
            tail.saturating_add(ky.saturating_mul(self.row_rest())).saturating_add(b - whole)
        }
    }
    /// Int8 reduction length in the row layout: every kernel row's whole words, then the rows' leftover bytes
    /// together, padded once to a whole word (`k²·cin` rounded up to a multiple of 4, at most [`ConvShape::kk4`];
    /// shorter whenever `cin` is no multiple of 4: 148 bytes for a 7×7 V1 over 3 frames, 248 over 5).
    pub fn kk_rows(&self) -> usize {
        self.kk().div_ceil(4).saturating_mul(4)
    }
    /// Whether the row layout multiplies fewer padding bytes than the channel quads (`cin` no multiple of 4: V1
    /// over 3 frames reduces 148 bytes per pixel instead of 196, over 5 frames 248 instead of 392) and its kernel
    /// rows are short enough for it (`k·cin ≤ 256` bytes).
    pub fn rows_pay(&self) -> bool {
        self.kk_rows() < self.kk4() && self.row_bytes() <= 4 * portable::MAX_ROW_WORDS
    }
    /// Bytes of the interleaved u8 input of the row layout (`[h][w][cin]`).
    pub fn input_len_hwc(&self) -> usize {
        self.h.saturating_mul(self.w).saturating_mul(self.cin)
    }
    /// The same convolution over its input with the zero border stored (`(h + 2·pad) × (w + 2·pad)`, no padding):
    /// the same output grid, and the shape [`Kernels::im2col_rows`] takes for input from [`Kernels::to_hwc`] with
    /// that border. Sizes saturate (and [`ConvShape::validate`] then refuses) rather than overflow.
    pub fn pre_padded(&self) -> ConvShape {
        let grow = |len: usize| self.pad.checked_mul(2).and_then(|p| p.checked_add(len)).unwrap_or(usize::MAX);
        ConvShape { h: grow(self.h), w: grow(self.w), pad: 0, ..*self }
    }
    /// The 1×1 convolution over `kk_rows` channels of the output grid whose int8 GEMM computes this convolution in
    /// the row layout: [`Kernels::im2col_rows`] packs its panels, [`Kernels::gemm_i8`] runs on it with weights from
    /// [`Kernels::repack_rows`].
    pub fn rows_gemm(&self) -> ConvShape {
        ConvShape { cin: self.kk_rows(), h: self.ho(), w: self.wo(), k: 1, stride: 1, pad: 0 }
    }

    /// Check the geometry: every size positive, the kernel fits the padded input, and every buffer size above is
    /// representable (no saturation).
    pub fn validate(&self) -> Result<(), KernelError> {
        let ok = (|| {
            if self.cin == 0 || self.h == 0 || self.w == 0 || self.k == 0 || self.stride == 0 {
                return None;
            }
            let n = out_len(self.h, self.k, self.stride, self.pad)?.checked_mul(out_len(
                self.w,
                self.k,
                self.stride,
                self.pad,
            )?)?;
            let kk = self.cin.checked_mul(self.k)?.checked_mul(self.k)?;
            let cpad = self.cin.checked_add(3)? / 4 * 4;
            let kk4 = self.k.checked_mul(self.k)?.checked_mul(cpad)?;
            let panels = n.div_ceil(NR);
            panels.checked_mul(kk)?.checked_mul(NR)?.checked_mul(4)?;
            panels.checked_mul(kk4)?.checked_mul(NR)?;
            self.h.checked_mul(self.w)?.checked_mul(cpad)?.checked_mul(4)?;
            Some(())
        })();
        ok.ok_or(KernelError::BadShape)
    }
}

/// An instruction-set level: which kernels run. Every level is named on every target; those a target cannot run
/// are refused by [`Kernels::for_level`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Level {
    /// Plain Rust, on every target: the reference the SIMD levels are tested against.
    Portable,
    /// x86-64 AVX2 + FMA.
    Avx2,
    /// x86-64 AVX2 + FMA with AVX-VNNI (VEX `vpdpbusd`, 256-bit: Alder Lake and later Intel client cores, Zen 5)
    /// for int8; f32 as [`Level::Avx2`].
    AvxVnni,
    /// x86-64 AVX-512F (f32) with the AVX2 int8 kernel (CPUs without VNNI).
    Avx512,
    /// x86-64 AVX-512F (f32) and AVX-512 VNNI (int8).
    Avx512Vnni,
    /// aarch64 NEON (f32, and int8 by widening multiplies).
    Neon,
    /// aarch64 NEON with the ARMv8.2 dot-product extension (`sdot` int8).
    NeonDotprod,
}

impl Level {
    /// Every level, lowest first per architecture.
    pub const ALL: [Level; 7] = [
        Level::Portable,
        Level::Avx2,
        Level::AvxVnni,
        Level::Avx512,
        Level::Avx512Vnni,
        Level::Neon,
        Level::NeonDotprod,
    ];

    /// The level's short name, as [`ENV_VAR`] takes it and reports print it.
    pub const fn name(self) -> &'static str {
        match self {
            Level::Portable => "portable",
            Level::Avx2 => "avx2",
            Level::AvxVnni => "avxvnni",
            Level::Avx512 => "avx512",
            Level::Avx512Vnni => "avx512vnni",
            Level::Neon => "neon",
            Level::NeonDotprod => "dotprod",
        }
    }

    /// Whether this CPU runs the level (at run time with `std`, from compile-time target features without).
    pub fn supported(self) -> bool {
        match self {
            Level::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => crate::core::cpu::has_avx2_fma(),
            #[cfg(target_arch = "x86_64")]
            Level::AvxVnni => crate::core::cpu::has_avx_vnni(),
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => crate::core::cpu::has_avx512(),
            #[cfg(target_arch = "x86_64")]
            Level::Avx512Vnni => crate::core::cpu::has_avx512_vnni(),
            #[cfg(target_arch = "aarch64")]
            Level::Neon => true,
            #[cfg(target_arch = "aarch64")]
            Level::NeonDotprod => crate::core::cpu::has_dotprod(),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl core::str::FromStr for Level {
    type Err = KernelError;
    /// Parse a [`Level::name`] (ASCII case-insensitive, surrounding blanks ignored).
    fn from_str(s: &str) -> Result<Self, KernelError> {
        let s = s.trim();
        Level::ALL.into_iter().find(|l| l.name().eq_ignore_ascii_case(s)).ok_or(KernelError::UnknownLevel)
    }
}

/// Why a kernel table could not be built or a kernel call was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum KernelError {
    /// This CPU (or this target) cannot run the level.
    Unsupported(Level),
    /// A level name (e.g. in [`ENV_VAR`]) that is none of [`Level::name`]'s.
    UnknownLevel,
    /// A convolution geometry [`ConvShape::validate`] rejects, or an int8 reduction longer than [`MAX_KK4`].
    BadShape,
    /// A buffer shorter than the shape needs; names the argument.
    BufferTooShort(&'static str),
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::Unsupported(l) => write!(f, "kernel level `{l}` is not supported by this CPU"),
            KernelError::UnknownLevel => write!(
                f,
                "unknown kernel level (expected one of portable, avx2, avxvnni, avx512, avx512vnni, neon, dotprod; \
                 {ENV_VAR} takes the same names)"
            ),
            KernelError::BadShape => write!(f, "convolution geometry is empty, inconsistent or too large"),
            KernelError::BufferTooShort(what) => write!(f, "kernel buffer `{what}` is too short for the shape"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for KernelError {}

/// f32 GEMM over packed panels: `(shape, cout, w [cout][kk], packed, out [cout][n])`.
type GemmF32 = unsafe fn(&ConvShape, usize, &[f32], &[f32], &mut [f32]);
/// int8 GEMM over packed panels: `(shape, cout, w [cout][kk4], w_scale [cout], scale_x, packed, out [cout][n])`.
type GemmI8 = unsafe fn(&ConvShape, usize, &[i8], &[f32], f32, &[f32], &mut [f32]);
/// f32 im2col: `(shape, x CHW, packed)`.
type Im2colF32 = unsafe fn(&ConvShape, &[f32], &mut [f32]);
/// u8 im2col for the int8 GEMM of the same table: `(shape, x [cpad/4][h][w][4], packed)`.
type Im2colU8 = unsafe fn(&ConvShape, &[u8], &mut [f32]);
/// Max-pool 3/2/1 + bias + ReLU: `(x [c][h][w], (c, h, w), bias [c], out [c][⌈h/2⌉][⌈w/2⌉], rowmax [w+2]) -> max`.
type Pool = unsafe fn(&[f32], (usize, usize, usize), &[f32], &mut [f32], &mut [f32]) -> f32;
/// Activations to u8 channel quads: `(x [c][hw], (c, hw), max, q [cpad/4][hw][4])`.
type Quantise = unsafe fn(&[f32], (usize, usize), f32, &mut [u8]);
/// u8 planes to channel quads: `(x [c][hw], (c, hw), q [cpad/4][hw][4])`.
type Quads = unsafe fn(&[u8], (usize, usize), &mut [u8]);
/// u8 im2col in the row layout for the int8 GEMM of the same table: `(shape, x [h][w][cin], packed)`.
type Im2colRows = unsafe fn(&ConvShape, &[u8], &mut [f32]);
/// One row of the background's alignment search: `(frame, plane, (h, w), sy, bound) -> sums of the 7 shifts`.
type BgRowSads = unsafe fn(&[f32], &[f32], (usize, usize), isize, f32) -> [f32; BG_GRID];

/// The kernels of one [`Level`]: function pointers chosen once, called through safe, length-checked methods.
#[derive(Clone, Copy)]
pub struct Kernels {
    level: Level,
    f32_name: &'static str,
    int8_name: &'static str,
    gemm_f32: GemmF32,
    gemm_i8: GemmI8,
    im2col_f32: Im2colF32,
    im2col_u8: Im2colU8,
    im2col_rows: Im2colRows,
    pool: Pool,
    quantise: Quantise,
    quads: Quads,
    bg_row_sads: BgRowSads,
}

impl fmt::Debug for Kernels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kernels({})", self.report())
    }
}

/// Which kernels a pipeline runs: the level and the name of each GEMM (for `bench --json`, `inspect`, logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelReport {
    /// The level.
    pub level: Level,
    /// The f32 GEMM, e.g. `avx512f 8x32`.
    pub f32_gemm: &'static str,
    /// The int8 GEMM, e.g. `avx512vnni vpdpbusd 8x32`.
    pub int8_gemm: &'static str,
}

impl KernelReport {
    /// The level's short name (`portable`, `avx2`, `avxvnni`, `avx512`, `avx512vnni`, `neon`, `dotprod`).
    pub fn name(&self) -> &'static str {
        self.level.name()
    }
}

impl fmt::Display for KernelReport {
    /// `avx2 (f32: avx2+fma 6x16, int8: avx2 vpmaddubsw 5x16/5x8/2x4 (vpmaddwd 5x8 for 8-bit codes))`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (f32: {}, int8: {})", self.level, self.f32_gemm, self.int8_gemm)
    }
}

impl Kernels {
    /// The portable kernels (every target).
    pub const fn portable() -> Self {
        Kernels {
            level: Level::Portable,
            f32_name: "portable",
            int8_name: "portable exact-f32",
            gemm_f32: portable::gemm_f32,
            gemm_i8: portable::gemm_i8,
            im2col_f32: portable::im2col_f32,
            im2col_u8: portable::im2col_u8_f32,
            im2col_rows: portable::im2col_rows_f32,
            pool: portable::pool,
            quantise: portable::quantise_quads,
            quads: portable::to_quads,
            bg_row_sads: portable::background_row_sads,
        }
    }

    /// The best level this CPU runs (no environment override; see [`Kernels::from_env`]).
    pub fn detect() -> Self {
        let mut best = Kernels::portable();
        for level in Level::ALL {
            if let Ok(k) = Kernels::for_level(level) {
                best = k;
            }
        }
        best
    }

    /// The kernels of `level`, or [`KernelError::Unsupported`] if this CPU or target cannot run them.
    pub fn for_level(level: Level) -> Result<Self, KernelError> {
        if !level.supported() {
            return Err(KernelError::Unsupported(level));
        }
        match level {
            Level::Portable => Ok(Kernels::portable()),
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => Ok(Kernels {
                level,
                f32_name: "avx2+fma 6x16",
                int8_name: "avx2 vpmaddubsw 5x16/5x8/2x4 (vpmaddwd 5x8 for 8-bit codes)",
                gemm_f32: x86_avx2::gemm_f32,
                gemm_i8: x86_avx2::gemm_i8,
                im2col_f32: x86_avx2::im2col_f32,
                im2col_u8: x86_avx2::im2col_u8,
                im2col_rows: x86_avx2::im2col_rows,
                pool: x86_avx2::pool,
                quantise: x86_avx2::quantise_quads,
                quads: x86_avx2::to_quads,
                bg_row_sads: x86_avx2::background_row_sads,
            }),
            #[cfg(target_arch = "x86_64")]
            Level::AvxVnni => Ok(Kernels {
                level,
                f32_name: "avx2+fma 6x16",
                int8_name: "avx-vnni vpdpbusd 6x16/6x8/2x4",
                gemm_f32: x86_avx2::gemm_f32,
                gemm_i8: x86_avx2::gemm_i8_vnni,
                im2col_f32: x86_avx2::im2col_f32,
                im2col_u8: x86_avx2::im2col_u8,
                im2col_rows: x86_avx2::im2col_rows,
                pool: x86_avx2::pool,
                quantise: x86_avx2::quantise_quads,
                quads: x86_avx2::to_quads,
                bg_row_sads: x86_avx2::background_row_sads,
            }),
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => Ok(Kernels {
                level,
                f32_name: "avx512f 8x32",
                int8_name: "avx2 vpmaddubsw 5x16/5x8/2x4 (vpmaddwd 5x8 for 8-bit codes)",
                gemm_f32: x86_avx512::gemm_f32,
                gemm_i8: x86_avx2::gemm_i8,
                im2col_f32: x86_avx2::im2col_f32,
                im2col_u8: x86_avx2::im2col_u8,
                im2col_rows: x86_avx2::im2col_rows,
                pool: x86_avx2::pool,
                quantise: x86_avx2::quantise_quads,
                quads: x86_avx2::to_quads,
                bg_row_sads: x86_avx2::background_row_sads,
            }),
            #[cfg(target_arch = "x86_64")]
            Level::Avx512Vnni => Ok(Kernels {
                level,
                f32_name: "avx512f 8x32",
                int8_name: "avx512vnni vpdpbusd 8x32/1x16/4x4",
                gemm_f32: x86_avx512::gemm_f32,
                gemm_i8: x86_avx512::gemm_i8_vnni,
                im2col_f32: x86_avx2::im2col_f32,
                im2col_u8: x86_avx2::im2col_u8,
                im2col_rows: x86_avx2::im2col_rows,
                pool: x86_avx2::pool,
                quantise: x86_avx2::quantise_quads,
                quads: x86_avx2::to_quads,
                bg_row_sads: x86_avx2::background_row_sads,
            }),
            #[cfg(target_arch = "aarch64")]
            Level::Neon => Ok(Kernels {
                level,
                f32_name: "neon 5x16",
                int8_name: "neon smull/sadalp 2x16",
                gemm_f32: aarch64::gemm_f32,
                gemm_i8: aarch64::gemm_i8_widening,
                im2col_f32: portable::im2col_f32,
                im2col_u8: aarch64::im2col_u8,
                im2col_rows: aarch64::im2col_rows,
                pool: aarch64::pool,
                quantise: portable::quantise_quads,
                quads: portable::to_quads,
                bg_row_sads: aarch64::background_row_sads,
            }),
            #[cfg(target_arch = "aarch64")]
            Level::NeonDotprod => Ok(Kernels {
                level,
                f32_name: "neon 5x16",
                int8_name: "neon sdot 6x16",
                gemm_f32: aarch64::gemm_f32,
                gemm_i8: aarch64::gemm_i8_dotprod,
                im2col_f32: portable::im2col_f32,
                im2col_u8: aarch64::im2col_u8,
                im2col_rows: aarch64::im2col_rows,
                pool: aarch64::pool,
                quantise: portable::quantise_quads,
                quads: portable::to_quads,
                bg_row_sads: aarch64::background_row_sads,
            }),
            #[allow(unreachable_patterns)]
            _ => Err(KernelError::Unsupported(level)),
        }
    }

    /// The level [`ENV_VAR`] names if it is set, else the best this CPU runs ([`Kernels::detect`]). A name that
    /// is no level, or a level this CPU lacks, is an error (never a silent fallback).
    #[cfg(feature = "std")]
    pub fn from_env() -> Result<Self, KernelError> {
        match std::env::var(ENV_VAR) {
            Ok(v) if !v.trim().is_empty() => Kernels::for_level(v.parse()?),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(Kernels::detect()),
            Err(std::env::VarError::NotUnicode(_)) => Err(KernelError::UnknownLevel),
        }
    }

    /// The table's level.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Which kernels this table runs.
    pub fn report(&self) -> KernelReport {
        KernelReport { level: self.level, f32_gemm: self.f32_name, int8_gemm: self.int8_name }
    }

    /// Pack the f32 CHW input `x` (`cin·h·w` floats) into `packed` ([`ConvShape::packed_len`] floats) for
    /// [`Kernels::gemm_f32`].
    pub fn im2col_f32(&self, s: &ConvShape, x: &[f32], packed: &mut [f32]) -> Result<(), KernelError> {
        s.validate()?;
        need(x.len(), s.input_len(), "x")?;
        need(packed.len(), s.packed_len(), "packed")?;
        // SAFETY: the table holds only kernels whose CPU features `for_level` confirmed; the shape is valid and
        // both slices are at least as long as the kernel reads and writes (checked above).
        unsafe { (self.im2col_f32)(s, x, packed) };
        Ok(())
    }

    /// `out[m][p] = Σ_kk w[m][kk]·X[kk][p]` for `m < cout` over panels packed by [`Kernels::im2col_f32`]; `w` is
    /// `[cout][kk]`, `out` is `[cout][n]` (only its first `cout·n` floats are written).
    pub fn gemm_f32(
        &self,
        s: &ConvShape,
        cout: usize,
        w: &[f32],
        packed: &[f32],
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        s.validate()?;
        need(w.len(), cout.checked_mul(s.kk()).ok_or(KernelError::BadShape)?, "w")?;
        need(packed.len(), s.packed_len(), "packed")?;
        need(out.len(), cout.checked_mul(s.n()).ok_or(KernelError::BadShape)?, "out")?;
        // SAFETY: CPU features confirmed at construction; shape valid; `w`, `packed` and `out` hold at least
        // `cout·kk`, `packed_len` and `cout·n` elements, all the kernel touches.
        unsafe { (self.gemm_f32)(s, cout, w, packed, out) };
        Ok(())
    }

    /// Pack channel-quad u8 input (`[cpad/4][h][w][4]`, [`ConvShape::input_len_u8`] bytes) into `packed`
    /// ([`ConvShape::packed_len_i8`] floats, used as this level's private panel format) for [`Kernels::gemm_i8`].
    pub fn im2col_u8(&self, s: &ConvShape, x: &[u8], packed: &mut [f32]) -> Result<(), KernelError> {
        s.validate()?;
        need(x.len(), s.input_len_u8(), "x")?;
        need(packed.len(), s.packed_len_i8(), "packed")?;
        // SAFETY: CPU features confirmed at construction; shape valid; lengths checked above.
        unsafe { (self.im2col_u8)(s, x, packed) };
        Ok(())
    }

    /// Int8 GEMM: `out[m][p] = scale_x · w_scale[m] · Σ w[m][r]·x[r][p]` with `w` i8 `[cout][kk4]` in
    /// `(ky, kx, channel)` order and `x` the u8 activations packed by this table's [`Kernels::im2col_u8`]; the sum
    /// is exact on every level (see the module docs).
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_i8(
        &self,
        s: &ConvShape,
        cout: usize,
        w: &[i8],
        w_scale: &[f32],
        scale_x: f32,
        packed: &[f32],
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        s.validate()?;
        if s.kk4() > MAX_KK4 {
            return Err(KernelError::BadShape);
        }
        need(w.len(), cout.checked_mul(s.kk4()).ok_or(KernelError::BadShape)?, "w")?;
        need(w_scale.len(), cout, "w_scale")?;
        need(packed.len(), s.packed_len_i8(), "packed")?;
        need(out.len(), cout.checked_mul(s.n()).ok_or(KernelError::BadShape)?, "out")?;
        // SAFETY: CPU features confirmed at construction; shape valid with kk4 ≤ MAX_KK4 (no i32 overflow);
        // `w`, `w_scale`, `packed`, `out` hold at least `cout·kk4`, `cout`, `packed_len_i8`, `cout·n` elements.
        unsafe { (self.gemm_i8)(s, cout, w, w_scale, scale_x, packed, out) };
        Ok(())
    }
}

impl Kernels {
    /// Pack interleaved u8 input `x` (`[h][w][cin]`, [`ConvShape::input_len_hwc`] bytes) in the **row layout**
    /// into `packed` ([`ConvShape::packed_len_i8`] of [`ConvShape::rows_gemm`] floats), for [`Kernels::gemm_i8`] on
    /// `s.rows_gemm()` with weights from [`Kernels::repack_rows`]. Kernel rows longer than 256 bytes (`k·cin`) are
    /// refused with [`KernelError::BadShape`] (see [`ConvShape::rows_pay`]).
    ///
    /// The channel quads pad every tap's channels to a multiple of 4: a 7×7 V1 over 3 frames multiplies 196 bytes
    /// per output pixel of which 147 carry data, over 5 frames 392 of 245. The row layout instead reduces over
    /// each kernel row's `k` pixels with their `cin` channels side by side (`kx·cin + c`, contiguous in an
    /// interleaved input), each row's whole words in order and the rows' leftover bytes gathered at the end
    /// ([`ConvShape::row_slot`]): 148 and 248 bytes. It is the same
    /// convolution, so the int8 output is bit-identical to the quad path's; only the GEMM's work shrinks.
    pub fn im2col_rows(&self, s: &ConvShape, x: &[u8], packed: &mut [f32]) -> Result<(), KernelError> {
        s.validate()?;
        if s.row_bytes() > 4 * portable::MAX_ROW_WORDS {
            return Err(KernelError::BadShape);
        }
        need(x.len(), s.input_len_hwc(), "x")?;
        need(packed.len(), s.rows_gemm().packed_len_i8(), "packed")?;
        // SAFETY: CPU features confirmed at construction; shape valid; lengths checked above.
        unsafe { (self.im2col_rows)(s, x, packed) };
        Ok(())
    }

    /// u8 CHW planes `x` (`c` planes of `h × w`, e.g. a stack of frames) to the row layout's interleaved input
    /// `out` with a zero border of `pad` pixels stored around it (`[h + 2·pad][w + 2·pad][c]`,
    /// [`ConvShape::input_len_hwc`] of [`ConvShape::pre_padded`] bytes), each byte becoming the 7-bit code of
    /// [`Kernels::to_quads`] (its dither index: the pixel's index in its plane plus the plane). The same code on
    /// every level.
    ///
    /// With the border stored, [`Kernels::im2col_rows`] runs on the `pre_padded` shape, where every kernel row
    /// lies inside the input: no pixel takes the border path that assembles a row clipped by the padding (at V1
    /// over 96² frames, three pixels of every output row of 48, each for all seven kernel rows).
    pub fn to_hwc(
        &self,
        x: &[u8],
        (c, h, w): (usize, usize, usize),
        pad: usize,
        out: &mut [u8],
    ) -> Result<(), KernelError> {
        let padded = ConvShape { cin: c, h, w, k: 1, stride: 1, pad }.pre_padded();
        if c == 0 || h == 0 || w == 0 || padded.h == 0 || padded.w == 0 {
            return Err(KernelError::BadShape);
        }
        let len = c.checked_mul(h).and_then(|v| v.checked_mul(w)).ok_or(KernelError::BadShape)?;
        let out_len = padded.h.checked_mul(padded.w).and_then(|v| v.checked_mul(c)).ok_or(KernelError::BadShape)?;
        need(x.len(), len, "x")?;
        need(out.len(), out_len, "out")?;
        portable::to_hwc(x, (c, h, w), pad, out);
        Ok(())
    }

    /// Int8 weights `w` (`[cout][kk4]`, the file's layout: taps in `(ky, kx)` order, channels padded to `cpad`)
    /// rearranged into `out` (`[cout][kk_rows]`) for the row layout ([`Kernels::im2col_rows`]): `w[ky][kx][c]` at
    /// [`ConvShape::row_slot`]`(ky, kx·cin + c)`, zeros in the tail's padding. Done once, when weights are bound.
    pub fn repack_rows(s: &ConvShape, cout: usize, w: &[i8], out: &mut [i8]) -> Result<(), KernelError> {
        s.validate()?;
        need(w.len(), cout.checked_mul(s.kk4()).ok_or(KernelError::BadShape)?, "w")?;
        need(out.len(), cout.checked_mul(s.kk_rows()).ok_or(KernelError::BadShape)?, "out")?;
        portable::repack_rows(s, cout, w, out);
        Ok(())
    }

    /// Max-pool 3/2/1 (zero padding never wins: it is −∞) over `x` (`[c][h][w]`), then add `bias[ch]` and apply
    /// ReLU, into `out` (`[c][⌈h/2⌉][⌈w/2⌉]`); `rowmax` is scratch of `w + 2` floats. Returns the largest output (0
    /// if none is positive). The same code on every level (compiled for the level's instruction set).
    pub fn pool_bias_relu(
        &self,
        x: &[f32],
        (c, h, w): (usize, usize, usize),
        bias: &[f32],
        out: &mut [f32],
        rowmax: &mut [f32],
    ) -> Result<f32, KernelError> {
        if c == 0 || h == 0 || w == 0 {
            return Err(KernelError::BadShape);
        }
        let len = c.checked_mul(h).and_then(|v| v.checked_mul(w)).ok_or(KernelError::BadShape)?;
        let pooled = c.checked_mul(h.div_ceil(2) * w.div_ceil(2)).ok_or(KernelError::BadShape)?;
        need(x.len(), len, "x")?;
        need(bias.len(), c, "bias")?;
        need(out.len(), pooled, "out")?;
        need(rowmax.len(), w.checked_add(2).ok_or(KernelError::BadShape)?, "rowmax")?;
        // SAFETY: CPU features confirmed at construction; every slice holds what the body indexes (checked above).
        Ok(unsafe { (self.pool)(x, (c, h, w), bias, out, rowmax) })
    }
}

impl Kernels {
    /// Quantise the non-negative CHW activations `x` (`c` planes of `hw`) to u8 channel quads `q`
    /// (`[cpad/4][hw][4]`, the int8 im2col's input; channels past `c` zero) with one scale, `max`/127, which it
    /// returns: each value becomes the code round(v·127/max) ≤ [`ACT_MAX_CODE`], values outside `0..=max` clamped.
    /// `max` is the largest value of `x` (pooling returns it); if it is not positive and finite, `q` is zeroed and
    /// the scale is 1. The same bytes on every level.
    pub fn quantise_u8(&self, x: &[f32], (c, hw): (usize, usize), max: f32, q: &mut [u8]) -> Result<f32, KernelError> {
        let (len, qlen) = quad_lens(c, hw)?;
        need(x.len(), len, "x")?;
        need(q.len(), qlen, "q")?;
        if max <= 0.0 || !max.is_finite() {
            q[..qlen].fill(0);
            return Ok(1.0);
        }
        // SAFETY: CPU features confirmed at construction; `x` and `q` hold what the body indexes (checked above),
        // and `max` is finite and positive.
        unsafe { (self.quantise)(x, (c, hw), max, q) };
        Ok(max / f32::from(ACT_MAX_CODE))
    }

    /// u8 CHW planes `x` (`c` planes of `hw`, e.g. a stack of frames) to channel quads `q` (`[cpad/4][hw][4]`,
    /// channels past `c` zero) of 7-bit codes, like the activations of [`Kernels::quantise_u8`], a code `c` standing
    /// for the value `c·2/255` of a frame scaled to 0..1. Byte `b` of plane `ch` at pixel `p` becomes `b >> 1`, plus
    /// 1 if `b` is odd and `p + ch` is odd, at most 127 ([`ACT_MAX_CODE`]; 255 reads as 254 on half its pixels): an
    /// ordered dither, so that an odd byte rounds up on half the pixels and frames and down on the other half, and a
    /// patch keeps the frames' lowest bit on average (see [`ACT_MAX_CODE`] for what it does to the int8 path's
    /// fidelity). The same bytes on every level.
    pub fn to_quads(&self, x: &[u8], (c, hw): (usize, usize), q: &mut [u8]) -> Result<(), KernelError> {
        let (len, qlen) = quad_lens(c, hw)?;
        need(x.len(), len, "x")?;
        need(q.len(), qlen, "q")?;
        // SAFETY: CPU features confirmed at construction; `x` and `q` hold what the body indexes (checked above).
        unsafe { (self.quads)(x, (c, hw), q) };
        Ok(())
    }

    /// One row of the visual background's alignment search ([`crate::visual::Background`]): for the seven
    /// horizontal shifts `sx = k − SHIFT` (`k = 0..7`) at vertical shift `sy`, the sum of `|frame(x + sx, y + sy) −
    /// plane(x, y)|` over the interior of two `h × w` row-major planes (the pixels at least [`crate::visual::SHIFT`]
    /// from every edge). Every 4 interior rows, a shift whose partial sum exceeds `bound` is abandoned and reported as
    /// +∞ (its terms are non-negative, so its total would exceed `bound` too).
    ///
    /// Each sum is formed in one order on every level, so the result is **bit-identical** across levels: eight lane
    /// sums, lane `i` adding pixel `i` of each 8-pixel chunk of the interior row, the row's last `cols mod 8` pixels
    /// in a ninth sum, rows in order, then `((l₀ + l₁) + (l₂ + l₃)) + ((l₄ + l₅) + (l₆ + l₇)) + rest`. The SIMD
    /// levels hold the eight lanes in one AVX2 register or two NEON registers and sum all seven shifts in one pass
    /// over the row while most are live.
    ///
    /// Refused with [`KernelError::BadShape`] unless `h` and `w` exceed `2·SHIFT` and `|sy| ≤ SHIFT`, and with
    /// [`KernelError::BufferTooShort`] if a plane holds fewer than `h·w` floats.
    pub fn background_row_sads(
        &self,
        frame: &[f32],
        plane: &[f32],
        (h, w): (usize, usize),
        sy: isize,
        bound: f32,
    ) -> Result<[f32; BG_GRID], KernelError> {
        let r = crate::core::visual::SHIFT;
        if h <= 2 * r || w <= 2 * r || sy.unsigned_abs() > r {
            return Err(KernelError::BadShape);
        }
        let n = h.checked_mul(w).ok_or(KernelError::BadShape)?;
        need(frame.len(), n, "frame")?;
        need(plane.len(), n, "plane")?;
        // SAFETY: CPU features confirmed at construction; the geometry is one the kernels read inside of (every
        // shifted interior row lies within the frame) and both planes hold `h·w` floats (checked above).
        Ok(unsafe { (self.bg_row_sads)(frame, plane, (h, w), sy, bound) })
    }
}

/// Elements of `c` planes of `hw` and of their channel quads (`cpad·hw`), or `BadShape` if empty or overflowing.
fn quad_lens(c: usize, hw: usize) -> Result<(usize, usize), KernelError> {
    if c == 0 || hw == 0 {
        return Err(KernelError::BadShape);
    }
    let len = c.checked_mul(hw).ok_or(KernelError::BadShape)?;
    let qlen = c.div_ceil(4).checked_mul(4).and_then(|v| v.checked_mul(hw)).ok_or(KernelError::BadShape)?;
    Ok((len, qlen))
}

/// The schedule of a last panel of 5–16 pixels on the SIMD levels (`f32_parity_panel` of AVX2 and NEON): the
/// output channels in chunks of `part.len()`, each chunk's reduction in blocks of `kc` steps (even, so that a block
/// starts at an even step), each block in tiles of at most `tile` channels. A tile's even and odd sums live in
/// `part` between blocks: `block(k0, k1, m, sums)` continues the sums of channels `m..m + sums.len()` over steps
/// `k0..k1`, and `finish(m, sums)` stores a chunk's outputs once its reduction is done. (A block of steps stays in L1
/// while every tile of the chunk runs over it.)
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn parity_schedule<S: Copy>(
    kk: usize,
    cout: usize,
    (kc, tile): (usize, usize),
    (zero, part): (S, &mut [S]),
    mut block: impl FnMut(usize, usize, usize, &mut [S]),
    mut finish: impl FnMut(usize, &[S]),
) {
    debug_assert!(kc.is_multiple_of(2) && tile > 0 && !part.is_empty());
    let mut mc = 0;
    while mc < cout {
        let rows = (cout - mc).min(part.len());
        part[..rows].fill(zero);
        let mut k0 = 0;
        while k0 < kk {
            let k1 = (k0 + kc).min(kk);
            let mut m = 0;
            while m < rows {
                let r = (rows - m).min(tile);
                block(k0, k1, mc + m, &mut part[m..m + r]);
                m += r;
            }
            k0 = k1;
        }
        finish(mc, &part[..rows]);
        mc += rows;
    }
}

/// `Ok` if a buffer of `len` holds `needed` elements.
fn need(len: usize, needed: usize, what: &'static str) -> Result<(), KernelError> {
    if len < needed {
        Err(KernelError::BufferTooShort(what))
    } else {
        Ok(())
    }
}
