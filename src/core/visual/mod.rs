//! Visual pathway: CORnet-Z (V1 → V2 → V4 → IT) over a stack of grayscale frames, then a temporal summary over the
//! clip and a linear read-out to the visual feature vector.
//!
//! Each block is conv → ReLU → max-pool 3/2/1. V1 is 7×7 stride 2, the others 3×3 stride 1, all zero padded to keep
//! "same" geometry. Because ReLU and adding a per-channel bias both commute with max, the code pools the raw
//! convolution first and adds bias and ReLU to the four-times-smaller pooled map.
//!
//! Every `stride_frames` frames the newest `channels` frames (oldest first) form one input stack; IT's pooled map is
//! averaged over space (global average pool) to one 512-vector per stack. Over the clip the pathway keeps the mean and
//! standard deviation of those vectors (the temporal summary: rate and irregularity of motion show up in how the IT
//! code varies between stacks), and the read-out maps `[mean; std]` to `features` numbers.
//!
//! **Luminance normalisation** (`InputConfig::luma`, through [`FramePrep`]; off for format versions 1 and 2): each
//! frame is mapped to a fixed mean and spread before it enters the ring of frames, `y = clamp(round(128 +
//! 40·(x − μ)/max(σ, 1)))` with `μ`, `σ` the frame's own mean and standard deviation ([`normalise_luma`]). A camera's
//! exposure, gain, offset and contrast (any `x ↦ a·x + b`, a > 0) then change nothing but rounding, frame by frame,
//! with no state and no latency; a frame of one value becomes uniform mid-grey. Cost: two passes over the frame's
//! bytes (see the `visual_luma` bench).
//!
//! **Background subtraction** (`InputConfig::background_tau_ms`, through [`FramePrep`]; off for format versions 1–4)
//! comes first: each frame, its rows levelled to the background's light (`background_level_rows`, format version 7)
//! and aligned to a running background by a shift of at most 3 pixels, becomes its cored difference from it around
//! mid-grey ([`Background`]), and that is what luminance normalisation sees. [`FramePrep`]
//! is the one definition of this sequence: the CPU pathway, the GPU path's host side and the GPU self-test run it.
//!
//! Precision is chosen per block by the dtype of its weights in the file: f32 (or f16, expanded to f32 at load) runs
//! the f32 kernel, i8 runs the int8 kernel with activations quantised to u8 per tensor on the fly. An int8 V1 over a
//! number of frames that is no multiple of 4 (the default 5, or 3) runs in the kernels' row layout: its weights are
//! rearranged into the arena at construction and the frames interleaved instead of packed in channel quads, which
//! skips most of the quads' zero padding (same output; a 5×64² int8 stack −12 % at the `avx2` and `avx512vnni` levels
//! on the AMD EPYC Zen 4 development machine, README "Performance").

mod background;

pub use background::{noise_sigma, update_weight, Background, CORE_SIGMAS, LEVEL_GAINS, LEVEL_REACH, MID, SHIFT};

use crate::core::arena::Arena;
use crate::core::config::{InputConfig, VisualConfig};
use crate::core::dense::{Dense, Readout};
use crate::core::error::{Error, InputError};
use crate::core::kernels::{ConvShape, KernelError, Kernels};
use crate::core::manifest::{ConvView, VisualWeights};

/// The four CORnet-Z blocks, in order (the names of the model: V1, V2, V4, IT).
pub const BLOCKS: [&str; 4] = ["V1", "V2", "V4", "IT"];

/// Weights of one block, borrowed from the file (or from the arena for f16).
#[derive(Clone, Copy, Debug)]
pub enum BlockWeights<'a> {
    /// f32 `[cout][cin·k·k]`.
    F32(&'a [f32]),
    /// i8 `[cout][kk4]` with one scale per output channel.
    I8 {
        /// Quantised weights.
        data: &'a [i8],
        /// Per-output-channel scales.
        scales: &'a [f32],
    },
}

/// One CORnet-Z block.
#[derive(Clone, Copy, Debug)]
pub struct Block<'a> {
    /// Convolution geometry.
    pub shape: ConvShape,
    /// Output channels.
    pub cout: usize,
    /// Weights.
    pub weights: BlockWeights<'a>,
    /// Bias `[cout]`.
    pub bias: &'a [f32],
    /// Whether the int8 block runs in the row layout (V1 over a number of frames that is no multiple of 4; its
    /// weights are then `[cout][kk_rows]`, rearranged at construction; see `Kernels::im2col_rows`).
    pub rows: bool,
}

impl Block<'_> {
    /// Pooled output height and width.
    pub fn pooled(&self) -> (usize, usize) {
        (self.shape.ho().div_ceil(2), self.shape.wo().div_ceil(2))
    }
    /// Whether this block runs the int8 kernel.
    pub fn is_int8(&self) -> bool {
        matches!(self.weights, BlockWeights::I8 { .. })
    }
}

/// Convolution geometry and output channels of the four blocks (V1 7×7 stride 2 pad 3, the others 3×3 stride 1 pad 1).
pub fn shapes(cfg: &VisualConfig) -> [(ConvShape, usize); 4] {
    let mut out = [(ConvShape { cin: 0, h: 0, w: 0, k: 0, stride: 0, pad: 0 }, 0); 4];
    let (mut cin, mut h, mut w) = (cfg.channels as usize, cfg.height as usize, cfg.width as usize);
    for (i, o) in out.iter_mut().enumerate() {
        let (k, stride, pad) = if i == 0 { (7, 2, 3) } else { (3, 1, 1) };
        let s = ConvShape { cin, h, w, k, stride, pad };
        let cout = cfg.widths[i] as usize;
        *o = (s, cout);
        cin = cout;
        h = s.ho().div_ceil(2);
        w = s.wo().div_ceil(2);
    }
    out
}

/// Whether block `i` of shape `s` runs in the kernels' row layout when its weights are int8: V1 (which reads the
/// frames, and can take them interleaved) when the row layout pays (`ConvShape::rows_pay`). Later blocks keep the
/// channel quads their quantised input comes in.
fn rows_layout(i: usize, s: &ConvShape) -> bool {
    i == 0 && s.rows_pay()
}

/// Bytes of the largest u8 block input: channel quads, or for a block in the row layout its interleaved frames
/// with the zero border stored.
fn hwc_len(sh: &[(ConvShape, usize); 4]) -> usize {
    sh.iter()
        .enumerate()
        .map(|(i, (s, _))| {
            let rows = if rows_layout(i, s) { s.pre_padded().input_len_hwc() } else { 0 };
            (s.h * s.w * s.cpad()).max(rows)
        })
        .max()
        .unwrap_or(0)
}

/// Size of the temporal summary `[mean; std]` of IT.
pub fn summary_len(cfg: &VisualConfig) -> usize {
    2 * cfg.widths[3] as usize
}

/// The visual pathway's weights and run state.
pub struct Visual<'a> {
    cfg: VisualConfig,
    blocks: [Block<'a>; 4],
    head: Option<Dense<'a>>,
    readout: Readout<'a>,
    /// The convolution kernels, chosen once at construction.
    kernels: Kernels,
    // Run state.
    ring: &'a mut [u8],
    stack_u8: &'a mut [u8],
    stack_f32: &'a mut [f32],
    packed: &'a mut [f32],
    conv_out: &'a mut [f32],
    act: &'a mut [f32],
    act_u8: &'a mut [u8],
    gap: &'a mut [f32],
    /// Running mean of IT over the clip's stacks (Welford).
    mean: &'a mut [f32],
    /// Running sum of squared deviations from the mean (Welford), for a stable standard deviation.
    m2: &'a mut [f32],
    summary: &'a mut [f32],
    tmp: &'a mut [f32],
    logits: &'a mut [f32],
    frames_seen: u64,
    stacks: u32,
    /// What each frame goes through before it enters the ring (background, luminance normalisation).
    prep: FramePrep<'a>,
}

/// Mean luma of a normalised frame ([`normalise_luma`]).
pub const LUMA_MEAN: f32 = 128.0;
/// Standard deviation of a normalised frame's luma ([`normalise_luma`]): the clean stimuli's own spread is about
/// 35–40 levels, and 40 keeps their darkest and brightest parts (ball and eyes) inside 0–255.
pub const LUMA_STD: f32 = 40.0;

/// Normalise one frame's luminance into `out` (same length): `clamp(round(LUMA_MEAN + LUMA_STD·(x − μ)/max(σ, 1)))`
/// with `μ`, `σ` the frame's mean and standard deviation (see the module docs). Sums in `u64`/`f32`: exact for any
/// frame the configuration allows (at most 1024² pixels).
pub fn normalise_luma(frame: &[u8], out: &mut [u8]) {
    let n = frame.len().min(out.len());
    if n == 0 {
        return;
    }
    // Exact integer sums; u32 lanes per chunk (65,536 squares of at most 255² fit in u32), which vectorise several
    // times wider than u64 ones, added into u64 totals.
    let (mut sum, mut sq) = (0u64, 0u64);
    for chunk in frame[..n].chunks(65_536) {
        let (mut s32, mut q32) = (0u32, 0u32);
        for &v in chunk {
            s32 += u32::from(v);
            q32 += u32::from(v) * u32::from(v);
        }
        sum += u64::from(s32);
        sq += u64::from(q32);
    }
    let mean = sum as f64 / n as f64;
    let var = (sq as f64 / n as f64 - mean * mean).max(0.0);
    let sd = libm::sqrt(var).max(1.0);
    let gain = (LUMA_STD as f64 / sd) as f32;
    let offset = LUMA_MEAN - gain * mean as f32;
    for (o, &v) in out[..n].iter_mut().zip(&frame[..n]) {
        // Float-to-int `as` saturates, so the clamp is also what `as u8` would do; kept for clarity.
        *o = (f32::from(v) * gain + offset + 0.5).clamp(0.0, 255.0) as u8;
    }
}

/// What a camera frame goes through before CORnet-Z, as the model's `InputConfig` says: the background subtracted
/// ([`Background`], if `background_tau_ms` is not 0), then the luminance normalised ([`normalise_luma`], if `luma`).
/// The one definition of that sequence: the CPU pathway, the GPU path's host side and the GPU self-test's reference all
/// run it, so they cannot drift apart.
pub struct FramePrep<'a> {
    background: Option<Background<'a>>,
    luma: bool,
}

impl<'a> FramePrep<'a> {
    /// Frames pass unchanged.
    pub const NONE: FramePrep<'static> = FramePrep { background: None, luma: false };

    /// Floats of scratch the preparation `input` asks for takes, for frames of `cfg`'s size (a dry run).
    pub fn scratch_len(cfg: &VisualConfig, input: &InputConfig) -> usize {
        let mut arena = Arena::counting();
        let _ = Self::in_arena(cfg, input, Kernels::portable(), &mut arena);
        arena.used()
    }

    /// Build over `scratch` (at least [`Self::scratch_len`] floats); the background searches with the best kernels
    /// this CPU runs ([`Kernels::detect`]).
    pub fn new(cfg: &VisualConfig, input: &InputConfig, scratch: &'a mut [f32]) -> Result<Self, Error> {
        Self::in_arena(cfg, input, Kernels::detect(), &mut Arena::new(scratch))
    }

    /// [`Self::new`] with a given kernel table for the background (every level gives the same bytes).
    pub fn with_kernels(
        cfg: &VisualConfig,
        input: &InputConfig,
        scratch: &'a mut [f32],
        kernels: Kernels,
    ) -> Result<Self, Error> {
        Self::in_arena(cfg, input, kernels, &mut Arena::new(scratch))
    }

    /// [`Self::new`] with the background's state carved from `arena`.
    pub(crate) fn in_arena(
        cfg: &VisualConfig,
        input: &InputConfig,
        kernels: Kernels,
        arena: &mut Arena<'a>,
    ) -> Result<Self, Error> {
        let background = match input.background_tau_ms {
            0 => None,
            tau => {
                let (gate, rows) = (input.background_gate, input.background_level_rows);
                Some(Background::in_arena(cfg, tau, gate, rows, kernels, arena)?)
            }
        };
        Ok(FramePrep { background, luma: input.luma })
    }

    /// Start a clip, or mark a cut in the scene: the background (if any) is learnt afresh from the next frame.
    pub fn reset(&mut self) {
        if let Some(b) = &mut self.background {
            b.reset();
        }
    }

    /// Write what V1 sees of `frame` into `out` (both `height·width` bytes).
    pub fn apply(&mut self, frame: &[u8], out: &mut [u8]) -> Result<(), Error> {
        if frame.len() != out.len() {
            return Err(InputError::FrameSize { expected: out.len(), got: frame.len() }.into());
        }
        let frame = match &mut self.background {
            Some(b) => b.apply(frame)?,
            None => frame,
        };
        if self.luma {
            normalise_luma(frame, out);
        } else {
            out.copy_from_slice(frame);
        }
        Ok(())
    }
}

/// Sizes of the pathway's run-state buffers (floats, or bytes for the u8 ones), shared by sizing and construction.
struct StateSizes {
    /// `channels` frames of `height·width` bytes (ring, u8 stack) or floats (f32 stack).
    frames: usize,
    /// Largest packed im2col panel set of any block (f32 floats, or u8 bytes / 4).
    packed: usize,
    /// Largest convolution output.
    conv_out: usize,
    /// Largest pooled activation.
    act: usize,
    /// Largest u8 block input (channel quads, or V1's bordered interleaved frames).
    act_u8: usize,
    /// IT width.
    it: usize,
    /// Classifier head size.
    head: usize,
}

impl StateSizes {
    fn of(cfg: &VisualConfig) -> Self {
        let sh = shapes(cfg);
        StateSizes {
            frames: cfg.channels as usize * cfg.height as usize * cfg.width as usize,
            packed: sh
                .iter()
                .enumerate()
                .map(|(i, (s, _))| {
                    let rows = if rows_layout(i, s) { s.rows_gemm().packed_len_i8() } else { 0 };
                    s.packed_len_i8().max(rows)
                })
                .max()
                .unwrap_or(0),
            conv_out: sh.iter().map(|(s, co)| co * s.n()).max().unwrap_or(0),
            act: sh.iter().map(|(s, co)| co * s.ho().div_ceil(2) * s.wo().div_ceil(2)).max().unwrap_or(0),
            act_u8: hwc_len(&sh),
            it: cfg.widths[3] as usize,
            head: cfg.head_classes as usize,
        }
    }
}

impl<'a> Visual<'a> {
    /// Floats of scratch the pathway needs for these weights: a dry run of [`Self::new`] on a counting arena.
    pub fn scratch_len(cfg: &VisualConfig, vw: &VisualWeights<'_>) -> usize {
        let mut arena = Arena::counting();
        let _ = Visual::new(cfg, vw, &mut arena, Kernels::portable());
        arena.used()
    }

    /// Bind the visual weights (f16 is widened, an int8 V1 in the row layout rearranged, into `arena`) and carve the
    /// run state out of `arena`; the convolutions run `kernels` (the run state's size does not depend on them).
    pub fn new(
        cfg: &VisualConfig,
        vw: &VisualWeights<'a>,
        arena: &mut Arena<'a>,
        kernels: Kernels,
    ) -> Result<Self, Error> {
        let cfg = *cfg;
        let sh = shapes(&cfg);
        let mut blocks =
            [Block { shape: sh[0].0, cout: 0, weights: BlockWeights::F32(&[]), bias: &[], rows: false }; 4];
        for (i, blk) in blocks.iter_mut().enumerate() {
            let (s, cout) = sh[i];
            let src = &vw.blocks[i];
            let rows = matches!(src.weight, ConvView::I8 { .. }) && rows_layout(i, &s);
            let weights = match src.weight {
                ConvView::F32(v) => BlockWeights::F32(v),
                ConvView::F16(v) => BlockWeights::F32(arena.take_widened(v)?),
                ConvView::I8 { data, scales } if rows => {
                    let out = arena.take_bytes(cout * s.kk_rows())?;
                    let out: &'a mut [i8] = bytemuck::cast_slice_mut(out);
                    if !arena.is_counting() {
                        Kernels::repack_rows(&s, cout, data, out).map_err(Error::from)?;
                    }
                    BlockWeights::I8 { data: out, scales }
                }
                ConvView::I8 { data, scales } => BlockWeights::I8 { data, scales },
            };
            *blk = Block { shape: s, cout, weights, bias: src.bias, rows };
        }
        let head = match &vw.head {
            Some(h) => Some(Dense::new(h, arena)?),
            None => None,
        };
        let readout = Readout::new(&vw.readout, arena)?;
        let z = StateSizes::of(&cfg);
        Ok(Visual {
            cfg,
            blocks,
            head,
            readout,
            kernels,
            ring: arena.take_bytes(z.frames)?,
            stack_u8: arena.take_bytes(z.frames)?,
            stack_f32: arena.take(z.frames)?,
            packed: arena.take(z.packed)?,
            conv_out: arena.take(z.conv_out)?,
            act: arena.take(z.act)?,
            act_u8: arena.take_bytes(z.act_u8)?,
            gap: arena.take(z.it)?,
            mean: arena.take(z.it)?,
            m2: arena.take(z.it)?,
            summary: arena.take(2 * z.it)?,
            tmp: arena.take(2 * z.it)?,
            logits: arena.take(z.head)?,
            frames_seen: 0,
            stacks: 0,
            prep: FramePrep::NONE,
        })
    }

    /// Switch per-frame luminance normalisation on or off (see the module docs); takes effect from the next frame.
    pub fn set_luma(&mut self, on: bool) {
        self.prep.luma = on;
    }

    /// What every frame goes through before CORnet-Z (the model's `InputConfig`; see [`FramePrep`]); takes effect
    /// from the next frame.
    pub fn set_frame_prep(&mut self, prep: FramePrep<'a>) {
        self.prep = prep;
    }

    /// The configuration.
    pub fn config(&self) -> &VisualConfig {
        &self.cfg
    }

    /// The convolution kernels this pathway runs.
    pub fn kernels(&self) -> &Kernels {
        &self.kernels
    }

    /// The four blocks (geometry and precision).
    pub fn blocks(&self) -> &[Block<'a>; 4] {
        &self.blocks
    }

    /// Forget the clip: frames, stacks and the temporal summary.
    pub fn reset(&mut self) {
        self.frames_seen = 0;
        self.stacks = 0;
        self.mean.fill(0.0);
        self.m2.fill(0.0);
        self.prep.reset();
    }

    /// The camera has moved, or the scene has changed at once (a head turn, a cut): the visual background (if the
    /// model has one) is learnt afresh from the next frame, as at a clip's start, while the clip goes on (its frames,
    /// stacks and summaries are kept). See [`crate::Pipeline::scene_cut`].
    pub fn scene_cut(&mut self) {
        self.prep.reset();
    }

    /// Stacks processed since the last reset.
    pub fn stacks(&self) -> u32 {
        self.stacks
    }

    /// Push one grayscale frame (`height·width` bytes, row-major). Runs CORnet-Z when a stack is due; returns
    /// whether it did.
    pub fn push_frame(&mut self, frame: &[u8]) -> Result<bool, Error> {
        let n = self.cfg.height as usize * self.cfg.width as usize;
        if frame.len() != n {
            return Err(InputError::FrameSize { expected: n, got: frame.len() }.into());
        }
        let c = self.cfg.channels as usize;
        let slot = (self.frames_seen % c as u64) as usize;
        self.prep.apply(frame, &mut self.ring[slot * n..(slot + 1) * n])?;
        self.frames_seen += 1;
        if self.frames_seen < c as u64 || !(self.frames_seen - c as u64).is_multiple_of(self.cfg.stride_frames as u64) {
            return Ok(false);
        }
        // Oldest frame first: channel i is frame (seen − c + i).
        for i in 0..c {
            let src = ((self.frames_seen - c as u64 + i as u64) % c as u64) as usize;
            self.stack_u8[i * n..(i + 1) * n].copy_from_slice(&self.ring[src * n..(src + 1) * n]);
        }
        self.forward_stack()?;
        // Welford's update: the variance of IT over stacks without the cancellation of Σx² − (Σx)²/n.
        self.stacks += 1;
        let n = self.stacks as f32;
        for ((m, m2), &g) in self.mean.iter_mut().zip(self.m2.iter_mut()).zip(self.gap.iter()) {
            let d = g - *m;
            *m += d / n;
            *m2 += d * (g - *m);
        }
        Ok(true)
    }

    /// CORnet-Z on the current `stack_u8`, leaving IT's global average in `gap`.
    ///
    /// The buffers are sized for these shapes at construction, so the kernels' length checks cannot fail here;
    /// they are propagated rather than unwrapped all the same.
    fn forward_stack(&mut self) -> Result<(), Error> {
        let k = self.kernels;
        // Scale of the u8 input of the next int8 block: frames enter as 7-bit codes, `c` for the value c·2/255
        // (`Kernels::to_quads`, halved with an ordered dither).
        let mut in_scale = 2.0 / 255.0;
        let mut input_is_frames = true;
        let mut act_max = 0.0; // the largest pooled activation of the previous block
        for b in 0..4 {
            let blk = self.blocks[b];
            let s = blk.shape;
            let n_in = s.input_len();
            match blk.weights {
                BlockWeights::F32(w) => {
                    if input_is_frames {
                        for (d, &x) in self.stack_f32[..n_in].iter_mut().zip(self.stack_u8.iter()) {
                            *d = x as f32 * (1.0 / 255.0);
                        }
                        k.im2col_f32(&s, &self.stack_f32[..n_in], self.packed)?;
                    } else {
                        k.im2col_f32(&s, &self.act[..n_in], self.packed)?;
                    }
                    k.gemm_f32(&s, blk.cout, w, self.packed, self.conv_out)?;
                }
                BlockWeights::I8 { data, scales } if blk.rows => {
                    // The frames interleaved with V1's zero border stored, so that every kernel row lies inside
                    // the input (see `Kernels::to_hwc`); the same convolution and output grid.
                    let sp = s.pre_padded();
                    let hwc = &mut self.act_u8[..sp.input_len_hwc()];
                    k.to_hwc(&self.stack_u8[..n_in], (s.cin, s.h, s.w), s.pad, hwc)?;
                    k.im2col_rows(&sp, hwc, self.packed)?;
                    k.gemm_i8(&sp.rows_gemm(), blk.cout, data, scales, in_scale, self.packed, self.conv_out)?;
                }
                BlockWeights::I8 { data, scales } => {
                    let quads = &mut self.act_u8[..s.input_len_u8()];
                    if input_is_frames {
                        k.to_quads(&self.stack_u8[..n_in], (s.cin, s.h * s.w), quads)?;
                    } else {
                        in_scale = k.quantise_u8(&self.act[..n_in], (s.cin, s.h * s.w), act_max, quads)?;
                    }
                    k.im2col_u8(&s, quads, self.packed)?;
                    k.gemm_i8(&s, blk.cout, data, scales, in_scale, self.packed, self.conv_out)?;
                }
            }
            act_max = k.pool_bias_relu(
                &self.conv_out[..blk.cout * s.n()],
                (blk.cout, s.ho(), s.wo()),
                blk.bias,
                self.act,
                self.packed,
            )?;
            input_is_frames = false;
        }
        let it = self.blocks[3];
        let (ph, pw) = it.pooled();
        let area = (ph * pw) as f32;
        for c in 0..it.cout {
            let m = &self.act[c * ph * pw..(c + 1) * ph * pw];
            self.gap[c] = m.iter().sum::<f32>() / area;
        }
        if let Some(head) = &self.head {
            head.forward(self.gap, self.logits);
        }
        Ok(())
    }

    /// IT's global-average vector of the most recent stack.
    pub fn it_features(&self) -> &[f32] {
        self.gap
    }

    /// Logits of the optional classifier head for the most recent stack (empty without a head).
    pub fn head_logits(&self) -> &[f32] {
        self.logits
    }

    /// The temporal summary `[mean; std]` of IT over the clip so far.
    pub fn summary(&mut self) -> Result<&[f32], Error> {
        if self.stacks == 0 {
            return Err(InputError::NoFrames.into());
        }
        let it = self.cfg.widths[3] as usize;
        let k = self.stacks as f32;
        for i in 0..it {
            let m = self.mean[i];
            let var = (self.m2[i] / k).max(0.0);
            self.summary[i] = m;
            self.summary[it + i] = libm::sqrtf(var);
        }
        Ok(self.summary)
    }

    /// The visual feature vector (`features` long) for the clip so far.
    pub fn features(&mut self, out: &mut [f32]) -> Result<(), Error> {
        let f = self.cfg.features as usize;
        if out.len() != f {
            return Err(InputError::ShapeMismatch("visual features").into());
        }
        self.summary()?;
        self.readout.forward(self.summary, self.tmp, out);
        Ok(())
    }
}

/// Max-pool 3/2/1 over `[c][h][w]`, then add the channel bias and apply ReLU (the portable kernel; `rowmax` holds
/// `w + 2` floats); returns the largest output. See [`Kernels::pool_bias_relu`].
pub fn pool_bias_relu(
    x: &[f32],
    c: usize,
    h: usize,
    w: usize,
    bias: &[f32],
    out: &mut [f32],
    rowmax: &mut [f32],
) -> Result<f32, KernelError> {
    Kernels::portable().pool_bias_relu(x, (c, h, w), bias, out, rowmax)
}

/// Quantise non-negative CHW activations (`c` channels of `hw` pixels) to u8 channel quads (`[cpad/4][hw][4]`, the
/// int8 kernels' input layout; channels past `c` zero) with one scale (max/127: 7-bit codes, see
/// [`crate::kernels::ACT_MAX_CODE`]); returns the scale (the portable
/// kernel; see [`Kernels::quantise_u8`]).
pub fn quantise_u8(x: &[f32], c: usize, hw: usize, q: &mut [u8]) -> Result<f32, KernelError> {
    let len = c.checked_mul(hw).ok_or(KernelError::BadShape)?;
    let max = x.get(..len).ok_or(KernelError::BufferTooShort("x"))?.iter().fold(0.0f32, |m, &v| m.max(v));
    Kernels::portable().quantise_u8(x, (c, hw), max, q)
}

/// CHW u8 frames (`c` channels of `hw` pixels) to channel quads (`[cpad/4][hw][4]`, channels past `c` zero) of
/// 7-bit codes, halved with an ordered dither (the portable kernel; see [`Kernels::to_quads`]).
pub fn to_channel_quads(x: &[u8], c: usize, hw: usize, q: &mut [u8]) -> Result<(), KernelError> {
    Kernels::portable().to_quads(x, (c, hw), q)
}
