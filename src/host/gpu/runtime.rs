//! The GPU pipeline: device buffers allocated once at load, the per-stack visual path replayed as a captured graph,
//! the cortex run in batches of frames, and the read-outs, fusion and BEL in one launch. Every device operation goes
//! through a [`Launcher`]: CUDA on a GPU, or the CPU emulator in tests and CI, so this code is the same for both.
//!
//! The host keeps what is not worth a GPU: the audio front-end (STFT, descriptors: `crate::core::audio::frontend`), the
//! cortex's band drive per frame (the CPU core's own `band_drive`, so the kernel sees the same input bits and
//! [`GpuPipeline::set_drive`] is honoured), and BEL's online learning (after a learning step the weights are
//! uploaded). The auditory cortex itself runs where [`CortexPlacement`] says: on the device (`cortex_frames`), or on
//! the host as the CPU core's own `Cortex`; both give the same bits (the kernel reproduces the CPU spike trains), so
//! the choice is one of speed only.

use super::kernels::{caps, CORTEX_BATCH};
use super::launcher::{Arg, Buf, DeviceInfo, Fence, GpuError, GpuResult, Graph, Kernel, Launcher, LauncherExt};
use crate::core::arena::Arena;
use crate::core::audio::cortex::{band_drive, Cortex, DriveConfig, KernelParams, NoiseRng, NOISE_LANES};
use crate::core::audio::frontend::FrontEnd;
use crate::core::audio::{FrameFeatures, N_DESCRIPTORS};
use crate::core::bel::{Bel, BelTerms};
use crate::core::config::{ModelConfig, N_EMOTIONS};
use crate::core::epp::EPP_WEIGHTS;
use crate::core::error::{BackendStage, Error, InputError};
use crate::core::fusion::Contribution;
use crate::core::kernels::{ConvShape, Kernels};
use crate::core::manifest::{audio_inputs, ConvView, DenseWeights, ModelWeights};
use crate::core::pipeline::{Modalities, Output, CORTEX_AT};
use crate::core::visual::{shapes, FramePrep};
use crate::core::weights::Weights;
use half::f16;

const _: () = assert!(NOISE_LANES == caps::CX_LANES, "the cortex kernel's noise lanes are the CPU core's");
const _: () = assert!(N_EMOTIONS == 5, "head.cu's output layout holds five emotions");

/// Where the head kernel writes what (`out` of `head_fusion_bel`).
mod head_out {
    use crate::core::config::N_EMOTIONS;
    /// The emotions.
    pub const EMOTIONS: usize = 0;
    /// EPP.
    pub const EPP: usize = N_EMOTIONS;
    /// Contribution of the audio and the visual pathway.
    pub const CONTRIB: usize = N_EMOTIONS + 1;
    /// Amygdala terms.
    pub const AMYGDALA: usize = N_EMOTIONS + 3;
    /// Orbitofrontal terms.
    pub const ORBITOFRONTAL: usize = 2 * N_EMOTIONS + 3;
    /// The sensory vector S, then x_a, then x_v.
    pub const SENSORY: usize = 3 * N_EMOTIONS + 3;
}

/// A CORnet-Z block's geometry and tile plan (`CzDims` in `kernels/cornet.cu`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct CzDims {
    /// Input channels.
    pub cin: i32,
    /// Input height.
    pub h: i32,
    /// Input width.
    pub w: i32,
    /// Output channels.
    pub cout: i32,
    /// Conv output height.
    pub ho: i32,
    /// Conv output width.
    pub wo: i32,
    /// Pooled height.
    pub ph: i32,
    /// Pooled width.
    pub pw: i32,
    /// Tiles per row of the pooled map.
    pub tiles_x: i32,
    /// Pooled tile side.
    pub tp: i32,
    /// Channel groups splitting the reduction over input channels.
    pub ks: i32,
    /// Input channels staged per pass.
    pub cch: i32,
    /// Blocks splitting the reduction over input channels (the grid's z; 1: no split).
    pub kslices: i32,
    /// Input channels per slice (the last may have fewer).
    pub cps: i32,
}

/// The tile plan of one block: tile side, channel groups, channels per pass, tiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TilePlan {
    /// Pooled tile side TP (the conv tile is 2·TP+1 square).
    pub tp: usize,
    /// Channel groups (threads of a block = groups × conv tile positions ≤ 256).
    pub ks: usize,
    /// Input channels staged in shared memory per pass.
    pub cch: usize,
    /// Tiles per row and in all.
    pub tiles_x: usize,
    /// Tiles of the pooled map.
    pub tiles: usize,
    /// Blocks splitting the reduction over input channels (1: each block reduces over all of them).
    pub kslices: usize,
    /// Input channels per slice.
    pub cps: usize,
}

/// Fewest input channels a slice of a split reduction gets: below this the slices' extra f32 traffic and the last
/// block's adding-up are no longer small next to the slice's own work.
pub const MIN_SLICE_CHANNELS: usize = 16;

/// Plan the tiles of a block with a `k`×`k` stride-`stride` conv over `cin` channels and a `ph`×`pw` pooled output,
/// within the kernel's shared-memory capacities (`patch_cap`, `w_cap` halves): the tile side among 7, 4, 3, 2, 1
/// whose tiles cover the map with the fewest conv positions (ties to the larger tile: fewer blocks, less halo), then
/// as many channel groups as the free threads allow (at most `cin`), and the input channels in as few passes as fit,
/// balanced.
///
/// Then, when the grid (tiles × `cout_blocks` channel blocks) would leave most of the device's `sms`
/// multiprocessors idle, the reduction over input channels is split across blocks (`kslices`, at most one block
/// per multiprocessor and at least [`MIN_SLICE_CHANNELS`] channels a slice), and each slice's passes are balanced.
/// At 64×64 frames on a 132-SM GPU the 3×3 blocks' grids are 16–32 blocks, and a block's time is its chain of
/// passes over the input channels; split, V2 and V4 run one pass per block and IT two. A GPU with few
/// multiprocessors (a Jetson: 1–16) is already full and gets no split; `sms` ≤ 1 never splits.
#[allow(clippy::too_many_arguments)]
pub fn tile_plan(
    k: usize,
    stride: usize,
    cin: usize,
    ph: usize,
    pw: usize,
    patch_cap: usize,
    w_cap: usize,
    cout_blocks: usize,
    sms: usize,
) -> TilePlan {
    let mut best = (usize::MAX, 7usize);
    for tp in [7usize, 4, 3, 2, 1] {
        let tc = 2 * tp + 1;
        let work = ph.div_ceil(tp) * pw.div_ceil(tp) * tc * tc;
        if work < best.0 {
            best = (work, tp);
        }
    }
    let tp = best.1;
    let tc2 = (2 * tp + 1) * (2 * tp + 1);
    let nt = caps::CZ_NT as usize;
    let mut ks = (nt / tc2).clamp(1, cin.max(1));
    if ks > 1 {
        // The groups' partial sums share the conv tile's buffer; every thread combines at most CZ_SUMS values.
        ks = ks.min(caps::CZ_F32 / (tc2 * caps::CZ_COB));
        if caps::CZ_COB * tc2 > caps::CZ_SUMS * nt {
            ks = 1;
        }
    }
    let ps = 2 * tp * stride + k;
    let cap = (patch_cap / (ps * ps)).min(w_cap / (k * k * caps::CZ_COB)).max(1);
    let tiles_x = pw.div_ceil(tp);
    let tiles = tiles_x * ph.div_ceil(tp);
    let cin = cin.max(1);
    let blocks = (tiles * cout_blocks).max(1);
    let kslices = (sms / blocks).clamp(1, (cin / MIN_SLICE_CHANNELS).max(1));
    let cps = cin.div_ceil(kslices);
    // Balanced passes, as few as fit: 64 channels with room for 32 a pass are two passes of 32, not 30 + 30 + 4
    // (a multiple of the groups); a pass costs a wait for memory and two barriers, an uneven share of a pass's
    // channels between the groups costs at most one channel.
    let passes = cps.div_ceil(cap);
    let (kslices, cch) = (cin.div_ceil(cps), cps.div_ceil(passes));
    ks = ks.min(cch);
    TilePlan { tp, ks, cch, tiles_x, tiles, kslices, cps }
}

/// The head's sizes (`HdDims` in `kernels/head.cu`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct HdDims {
    it: i32,
    features: i32,
    n_a: i32,
    fa: i32,
    hidden: i32,
    sensory: i32,
    attention: i32,
    audio: i32,
    video: i32,
    /// `InputConfig::substitute` (1: a missing sense's estimate is the present one's).
    substitute: i32,
    epp_w: [f32; N_EMOTIONS],
    epp_div: f32,
}

impl HdDims {
    /// Byte offset of `epp_w` (for the layout test against the kernel's struct).
    pub const EPP_W_OFFSET: usize = core::mem::offset_of!(HdDims, epp_w);
}

/// The cortex's initial noise state, `s[word][lane]` (64 words): the CPU core's own generator state.
pub fn cortex_noise_seed(seed: u64) -> [u32; 4 * NOISE_LANES] {
    let st = NoiseRng::for_cortex(seed).state();
    let mut s = [0u32; 4 * NOISE_LANES];
    for (k, word) in st.iter().enumerate() {
        s[k * NOISE_LANES..(k + 1) * NOISE_LANES].copy_from_slice(word);
    }
    s
}

/// The device layout `[cout_pad/COB][cin][k·k][COB]` of a block's weights (see `kernels/cornet.cu`) from
/// `[cout][cin][k][k]`.
fn conv_weights_f16(w: impl Fn(usize) -> f32, cout: usize, cin: usize, k: usize, cout_pad: usize) -> Vec<f16> {
    let kk = k * k;
    let cob = caps::CZ_COB;
    let mut out = vec![f16::ZERO; cout_pad * cin * kk];
    for co in 0..cout {
        let (blk, j) = (co / cob, co % cob);
        for ci in 0..cin {
            for t in 0..kk {
                out[((blk * cin + ci) * kk + t) * cob + j] = f16::from_f32(w((co * cin + ci) * kk + t));
            }
        }
    }
    out
}

/// The same layout for int8 weights stored `[cout][ky][kx][cpad]` (the CPU int8 kernel's order).
fn conv_weights_i8(q: &[i8], cout: usize, cin: usize, k: usize, cout_pad: usize) -> Vec<i8> {
    let kk = k * k;
    let cob = caps::CZ_COB;
    let cpad = cin.div_ceil(4) * 4;
    let mut out = vec![0i8; cout_pad * cin * kk];
    for co in 0..cout {
        let (blk, j) = (co / cob, co % cob);
        for ci in 0..cin {
            for t in 0..kk {
                out[((blk * cin + ci) * kk + t) * cob + j] = q[co * kk * cpad + t * cpad + ci];
            }
        }
    }
    out
}

/// One CORnet-Z block on the device.
struct DevBlock {
    kernel: Kernel,
    w: Buf,
    scale: Buf,
    bias: Buf,
    dims: CzDims,
    grid: [u32; 3],
    /// The slices' conv-tile sums and the per-tile counters of a split reduction (one-value placeholders without).
    part: Buf,
    count: Buf,
}

/// A dense layer on the device (f32, the CPU core's values).
struct DevDense {
    w: Buf,
    b: Buf,
}

/// The read-outs, fusion and BEL weights on the device.
struct DevHead {
    v_mean: Buf,
    v_inv_std: Buf,
    v_ro: DevDense,
    a_mean: Buf,
    a_inv_std: Buf,
    a_ro: DevDense,
    f_audio: DevDense,
    f_visual: DevDense,
    f_attn: Option<(DevDense, DevDense)>,
    f_out: DevDense,
    amyg: Buf,
    thal: Buf,
    orbi: Buf,
}

/// Where the frames go: a device buffer (frames are copied), or mapped host memory on an integrated GPU (written in
/// place; the device reads it without a copy).
enum Ring {
    Device(Buf),
    Mapped { buf: Buf, host: *mut u8, len: usize },
}

impl Ring {
    fn buf(&self) -> Buf {
        match self {
            Ring::Device(b) | Ring::Mapped { buf: b, .. } => *b,
        }
    }
}

/// The cortex on the device and the host queue of frames not yet run.
struct DevCortex {
    params: KernelParams,
    threads: u32,
    st: Buf,
    init: Buf,
    rng: Buf,
    rng0: [u32; 4 * NOISE_LANES],
    noise_raw: Buf,
    noise: Buf,
    stat: Buf,
    drive: Buf,
    nsteps: Buf,
    // Frames not yet run: at most CORTEX_BATCH (allocated once, never grown past it).
    q_drive: Vec<f32>,
    q_steps: Vec<i32>,
    time_acc: u64,
    frame_units: u64,
    step_units: u64,
}

impl DevCortex {
    /// Run the queued frames. The queue is emptied only when the launch succeeded.
    fn flush(&mut self, dev: &mut dyn Launcher) -> GpuResult<()> {
        let n = self.q_steps.len();
        if n == 0 {
            return Ok(());
        }
        let g = self.params.g as usize;
        dev.upload_at(self.drive, 0, &self.q_drive[..n * g])?;
        dev.upload_at(self.nsteps, 0, &self.q_steps[..n])?;
        let args = [
            Arg::Buf(self.st),
            Arg::Buf(self.rng),
            Arg::Buf(self.noise_raw),
            Arg::Buf(self.noise),
            Arg::Buf(self.stat),
            Arg::Buf(self.drive),
            Arg::Buf(self.nsteps),
            Arg::I32(n as i32),
            Arg::Pod(bytemuck::bytes_of(&self.params)),
        ];
        // SAFETY: the argument list is `cortex_frames`' in cortex.cu; every buffer was sized in `GpuPipeline::build`
        // from the same `KernelParams` (state, noise for `calls`, CORTEX_BATCH frames), and n <= CORTEX_BATCH.
        unsafe { dev.launch(Kernel::CortexFrames, [1, 1, 1], [self.threads, 1, 1], &args)? };
        self.q_drive.clear();
        self.q_steps.clear();
        Ok(())
    }

    /// Queue one front-end frame (its drive and step count, exactly as the CPU's `step_frame`). A full queue is run
    /// first; if that fails the frame is not queued and the error returned, so the queue never outgrows its batch.
    fn push(&mut self, dev: &mut dyn Launcher, drive: &DriveConfig, frame: &FrameFeatures) -> GpuResult<()> {
        if self.q_steps.len() >= CORTEX_BATCH {
            self.flush(dev)?;
        }
        let g = self.params.g as usize;
        let at = self.q_drive.len();
        self.q_drive.resize(at + g, 0.0);
        band_drive(drive, frame, &mut self.q_drive[at..at + g]);
        self.time_acc += self.frame_units;
        let steps = self.time_acc / self.step_units;
        self.time_acc %= self.step_units;
        self.q_steps.push(steps as i32);
        Ok(())
    }

    fn reset(&mut self, dev: &mut dyn Launcher) -> GpuResult<()> {
        self.q_drive.clear();
        self.q_steps.clear();
        self.time_acc = 0;
        dev.copy(self.st, self.init)?;
        dev.upload_at(self.rng, 0, &self.rng0)?;
        dev.zero(self.stat)
    }

    /// Launch `cortex_features` into `out` at byte `offset`.
    fn features(&mut self, dev: &mut dyn Launcher, out: Buf, offset: usize) -> GpuResult<()> {
        let args = [
            Arg::Buf(self.st),
            Arg::Buf(self.stat),
            Arg::Pod(bytemuck::bytes_of(&self.params)),
            Arg::BufAt(out, offset),
        ];
        // SAFETY: `cortex_features`' parameter list; it writes 6·groups floats at `offset`, which every caller sized.
        unsafe { dev.launch(Kernel::CortexFeatures, [1, 1, 1], [caps::HD_NT, 1, 1], &args) }
    }
}

/// Step the auditory cortex, where `placement` puts it, by one front-end frame. The front-end's callback cannot
/// return an error, so the first device error is kept in `err` and no frame is queued after it.
fn step_cortex(
    placement: CortexPlacement,
    host: &mut Cortex<'_>,
    device: &mut DevCortex,
    dev: &mut dyn Launcher,
    drive: &DriveConfig,
    err: &mut Option<GpuError>,
    f: &FrameFeatures,
) {
    match placement {
        CortexPlacement::Host => host.step_frame(f),
        CortexPlacement::Device => {
            if err.is_none() {
                *err = device.push(dev, drive, f).err();
            }
        }
    }
}

/// Threads of the cortex block: the noise warp plus the cells rounded up to a warp, at most `CX_NT`.
pub fn cortex_threads(cells: usize) -> u32 {
    (32 + cells.div_ceil(32) * 32).clamp(64, caps::CX_NT as usize) as u32
}

/// How the per-stack visual path is launched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Launch {
    /// Not launched yet (the graph is captured at the first stack).
    NotYet,
    /// Replayed from a graph captured at the first stack.
    Graph,
    /// Launched kernel by kernel (graph capture failed: the reason).
    Sequence(String),
}

/// Where a [`GpuPipeline`] runs the auditory cortex. Both give the same bits: the kernel reproduces the CPU core's
/// spike trains bit for bit (the start-up self-test checks it on every device), so this is a choice of speed only.
///
/// The cortex is a small network (1,200 cells) stepped 10,000 times per second of audio, each step depending on the
/// last: on a GPU it is one thread block, bound by the latency of its barriers and memory, not by arithmetic. On the
/// first GPU it ran on (an H200, 2026-12-04) the kernel took about 132 ms per second of audio where one core of the
/// same machine's Xeon ran the whole audio stage (front-end, cortex, read-out) in 32–49 ms, hence the default: the
/// host, while the device runs CORnet-Z and the head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CortexPlacement {
    /// On the host: the CPU core's own `Cortex`, at the CPU's best kernel level (or `AVF_BEL_KERNELS`).
    #[default]
    Host,
    /// On the device: the `cortex_frames` kernel, in batches of frames.
    Device,
}

impl CortexPlacement {
    /// Environment variable that chooses the placement for [`crate::backend::open`]: `host` (default) or `device`.
    pub const ENV_VAR: &'static str = "AVF_BEL_GPU_CORTEX";

    /// The placement `AVF_BEL_GPU_CORTEX` names (`host` when unset or empty); a typed error for anything else.
    pub fn from_env() -> GpuResult<Self> {
        match std::env::var(Self::ENV_VAR) {
            Ok(v) => v.parse(),
            Err(std::env::VarError::NotPresent) => Ok(CortexPlacement::Host),
            Err(std::env::VarError::NotUnicode(v)) => {
                Err(GpuError::Setting { name: Self::ENV_VAR, value: v.to_string_lossy().into_owned() })
            }
        }
    }

    /// `host` or `device`.
    pub fn name(self) -> &'static str {
        match self {
            CortexPlacement::Host => "host",
            CortexPlacement::Device => "device",
        }
    }
}

impl core::str::FromStr for CortexPlacement {
    type Err = GpuError;
    fn from_str(s: &str) -> GpuResult<Self> {
        match s.trim() {
            "" | "host" | "cpu" => Ok(CortexPlacement::Host),
            "device" | "gpu" | "cuda" => Ok(CortexPlacement::Device),
            other => Err(GpuError::Setting { name: Self::ENV_VAR, value: other.to_string() }),
        }
    }
}

/// The head's inputs and outputs as they are on the device after an inference (for the self-test's check of the
/// head alone).
#[derive(Clone, Debug)]
pub struct HeadIo {
    /// IT's running mean over the stacks.
    pub it_mean: Vec<f32>,
    /// IT's running sum of squared deviations.
    pub it_m2: Vec<f32>,
    /// Stacks of the clip.
    pub stacks: u32,
    /// The audio read-out's input (descriptors, intervals, cortex features).
    pub a_in: Vec<f32>,
    /// What the head wrote (see `kernels/head.cu`).
    pub out: Vec<f32>,
}

/// The model on a GPU (or the CPU emulator), with the API of [`crate::Pipeline`]; see [`crate::Backend`].
pub struct GpuPipeline<'a> {
    dev: Box<dyn Launcher>,
    graph: Option<Graph>,
    launch: Launch,
    cfg: ModelConfig,
    model_hash: u64,
    // Visual.
    blocks: Vec<DevBlock>,
    ring: Ring,
    params: Buf,
    acts: Vec<Buf>,
    gap: Buf,
    it_mean: Buf,
    it_m2: Buf,
    frames_seen: u64,
    stacks: u32,
    visual_fence: Option<Fence>,
    // Audio.
    frontend: FrontEnd<'a>,
    drive: DriveConfig,
    cortex: DevCortex,
    /// The CPU core's cortex, used when `placement` is `Host` (allocated in the host scratch either way).
    host_cortex: Cortex<'a>,
    placement: CortexPlacement,
    /// The audio read-out's input assembled on the host (descriptors, intervals, then the host cortex's features).
    a_in_host: Vec<f32>,
    a_in: Buf,
    // Head.
    head: DevHead,
    bel: Bel<'a>,
    out: Buf,
    host_out: Vec<f32>,
    /// What each frame goes through before upload (background, luminance normalisation: `InputConfig`), on the
    /// host, by the CPU core's own code; its state in the host scratch.
    prep: FramePrep<'a>,
    /// The prepared frame, uploaded.
    prepared: Vec<u8>,
    sensory: Vec<f32>,
    /// A failure of [`crate::Backend::reset`] (which cannot return one), reported by the next call.
    pub(crate) pending: Option<Error>,
}

impl<'a> GpuPipeline<'a> {
    /// Floats of host scratch a GPU pipeline over `w` needs (the audio front-end, BEL's learned state, the host
    /// cortex and the frame preparation's background if the model has one).
    pub fn scratch_len(w: &Weights<'_>) -> usize {
        let Ok(mw) = ModelWeights::resolve(w) else { return 0 };
        let mut arena = Arena::counting();
        let _ = FrontEnd::in_arena(&mw.config.audio, &mut arena);
        let _ = Bel::new(&mw.config.bel, &mw.bel, &mut arena);
        let _ = Cortex::in_arena(&mw.config.cortex, &mw.config.audio, &mut arena);
        let _ = FramePrep::in_arena(&mw.config.visual, &mw.config.input, Kernels::portable(), &mut arena);
        arena.used()
    }

    /// Build the pipeline on `dev`: upload the weights and allocate every device buffer. Fails with a typed error
    /// (never panics) when something is missing or the model exceeds the kernels' limits.
    pub fn with_launcher(mut dev: Box<dyn Launcher>, w: &Weights<'a>, scratch: &'a mut [f32]) -> GpuResult<Self> {
        let mw = ModelWeights::resolve(w).map_err(Error::from)?;
        let cfg = mw.config;
        check_limits(&cfg)?;
        let needed = Self::scratch_len(w);
        if scratch.len() < needed {
            return Err(Error::ScratchTooSmall { needed, got: scratch.len() }.into());
        }
        let mut arena = Arena::new(scratch);
        let mut frontend = FrontEnd::in_arena(&cfg.audio, &mut arena)?;
        // The running loudness normaliser runs in the host front-end, as in the CPU core.
        frontend.set_loudness(cfg.input.loudness_tau_ms);
        frontend.set_onset_range(cfg.input.onset_range_db);
        let bel = Bel::new(&cfg.bel, &mw.bel, &mut arena)?;
        let mut host_cortex = Cortex::in_arena(&cfg.cortex, &cfg.audio, &mut arena)?;
        host_cortex.set_drive(DriveConfig::for_input(&cfg.input))?;
        // The host cortex and the frames' background run at the level the CPU pipeline would choose (their bits are
        // the same at every level).
        let kernels = Kernels::from_env().map_err(Error::from)?;
        host_cortex.set_level(kernels.level()).map_err(Error::from)?;
        let prep = FramePrep::in_arena(&cfg.visual, &cfg.input, kernels, &mut arena)?;
        let d: &mut dyn Launcher = dev.as_mut();

        // CORnet-Z: the CPU core's geometry (`visual::shapes`), weights re-laid out once.
        let sms = d.info().sms as usize;
        let mut blocks = Vec::with_capacity(4);
        let mut acts = Vec::with_capacity(4);
        for (b, (s, cout)) in shapes(&cfg.visual).into_iter().enumerate() {
            blocks.push(dev_block(d, b, &s, cout, &mw, sms)?);
            acts.push(d.alloc_n::<f16>(cout * s.ho().div_ceil(2) * s.wo().div_ceil(2))?);
        }
        let vc = cfg.visual;
        let it = vc.widths[3] as usize;
        let frame = vc.height as usize * vc.width as usize;
        let ring_len = vc.channels as usize * frame;
        let ring = match d.alloc_mapped(ring_len)? {
            Some((buf, host)) => Ring::Mapped { buf, host, len: ring_len },
            None => Ring::Device(d.alloc(ring_len)?),
        };
        let dense = |d: &mut dyn Launcher, x: &DenseWeights<'_>| -> GpuResult<DevDense> {
            let wf: Vec<f32> = (0..x.weight.len()).map(|i| x.weight.at(i)).collect();
            Ok(DevDense { w: d.alloc_from(&wf)?, b: d.alloc_from(x.bias)? })
        };
        let head = DevHead {
            v_mean: d.alloc_from(mw.visual.readout.mean)?,
            v_inv_std: d.alloc_from(mw.visual.readout.inv_std)?,
            v_ro: dense(d, &mw.visual.readout.dense)?,
            a_mean: d.alloc_from(mw.audio_readout.mean)?,
            a_inv_std: d.alloc_from(mw.audio_readout.inv_std)?,
            a_ro: dense(d, &mw.audio_readout.dense)?,
            f_audio: dense(d, &mw.fusion.audio)?,
            f_visual: dense(d, &mw.fusion.visual)?,
            f_attn: match &mw.fusion.attention {
                Some((a, v)) => Some((dense(d, a)?, dense(d, v)?)),
                None => None,
            },
            f_out: dense(d, &mw.fusion.out)?,
            amyg: d.alloc_from(bel.amygdala())?,
            thal: d.alloc_from(bel.thalamus())?,
            orbi: d.alloc_from(bel.orbitofrontal())?,
        };

        // The cortex: the CPU core builds the initial state and the connectivity in its own layout; upload that.
        let drive = DriveConfig::for_input(&cfg.input);
        let params = KernelParams::new(&cfg.cortex, &drive).ok_or(GpuError::Limits("cortex state offsets"))?;
        let mut host_state = vec![0.0f32; Cortex::scratch_len(&cfg.cortex)];
        if host_state.len() != KernelParams::total(&cfg.cortex) {
            return Err(GpuError::Limits("cortex state layout"));
        }
        Cortex::new(&cfg.cortex, &cfg.audio, &mut host_state)?;
        let g = cfg.cortex.groups as usize;
        let cells = (params.ne + params.np + params.ns) as usize;
        let calls = cells_calls(&params);
        let rng0 = cortex_noise_seed(cfg.cortex.seed);
        let cortex = DevCortex {
            params,
            threads: cortex_threads(cells),
            st: d.alloc_from(&host_state)?,
            init: d.alloc_from(&host_state)?,
            rng: d.alloc_from(&rng0)?,
            rng0,
            noise_raw: d.alloc_n::<u32>(2 * 2 * NOISE_LANES * calls)?,
            noise: d.alloc_n::<f32>(2 * NOISE_LANES * calls)?,
            stat: d.alloc_n::<i32>(1)?,
            drive: d.alloc_n::<f32>(CORTEX_BATCH * g)?,
            nsteps: d.alloc_n::<i32>(CORTEX_BATCH)?,
            q_drive: Vec::with_capacity(CORTEX_BATCH * g),
            q_steps: Vec::with_capacity(CORTEX_BATCH),
            time_acc: 0,
            frame_units: cfg.audio.hop as u64 * 1_000_000,
            step_units: cfg.audio.sample_rate as u64 * cfg.cortex.dt_us as u64,
        };
        let k = cfg.fusion.sensory as usize;
        let n_out = head_out::SENSORY + k + cfg.fusion.audio_features as usize + vc.features as usize;
        let mut p = GpuPipeline {
            graph: None,
            launch: Launch::NotYet,
            cfg,
            model_hash: w.model_hash(),
            blocks,
            ring,
            params: d.alloc_n::<i32>(4)?,
            acts,
            gap: d.alloc_n::<f32>(it)?,
            it_mean: d.alloc_n::<f32>(it)?,
            it_m2: d.alloc_n::<f32>(it)?,
            frames_seen: 0,
            stacks: 0,
            visual_fence: None,
            frontend,
            drive,
            cortex,
            host_cortex,
            placement: CortexPlacement::Device,
            a_in_host: vec![0.0; audio_inputs(&cfg)],
            a_in: d.alloc_n::<f32>(audio_inputs(&cfg))?,
            head,
            bel,
            out: d.alloc_n::<f32>(n_out)?,
            host_out: vec![0.0; n_out],
            prep,
            prepared: vec![0u8; cfg.visual.height as usize * cfg.visual.width as usize],
            sensory: vec![0.0; k],
            pending: None,
            dev,
        };
        p.dev.synchronize()?;
        p.reset()?;
        Ok(p)
    }

    /// The model configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// CRC-64 of the weights header this pipeline was built from.
    pub fn model_hash(&self) -> u64 {
        self.model_hash
    }

    /// The device in use.
    pub fn device(&self) -> &DeviceInfo {
        self.dev.info()
    }

    /// How the visual path is launched (graph or kernel sequence, with the reason).
    pub fn launch_mode(&self) -> &Launch {
        &self.launch
    }

    /// Whether frames are written in place to mapped host memory (integrated GPUs) rather than copied.
    pub fn frames_mapped(&self) -> bool {
        matches!(self.ring, Ring::Mapped { .. })
    }

    /// Where the auditory cortex runs. A pipeline is built with [`CortexPlacement::Device`] (so that the self-test
    /// runs the kernel inside the whole pipeline); [`crate::backend::open`] then sets the placement that
    /// `AVF_BEL_GPU_CORTEX` names, the host by default.
    pub fn cortex_placement(&self) -> CortexPlacement {
        self.placement
    }

    /// Run the auditory cortex on the host or the device from now on; the clip starts again (as after
    /// [`GpuPipeline::reset`]), since its cortex state is on the other side.
    pub fn set_cortex_placement(&mut self, placement: CortexPlacement) -> GpuResult<()> {
        self.placement = placement;
        // Both sides start afresh: `reset` (per clip) touches only the cortex in use.
        self.host_cortex.reset();
        self.cortex.reset(self.dev.as_mut())?;
        self.reset()
    }

    /// The tile plan of each CORnet-Z block (see `kernels/cornet.cu`).
    pub fn tile_plans(&self) -> [CzDims; 4] {
        core::array::from_fn(|b| self.blocks[b].dims)
    }

    /// Replace the cortex's drive parameters (as [`Cortex::set_drive`]; takes effect from the next frame: the frames
    /// queued so far are run first, with the drive they were queued with).
    pub fn set_drive(&mut self, drive: DriveConfig) -> Result<(), Error> {
        drive.validate()?;
        self.cortex.flush(self.dev.as_mut())?;
        self.host_cortex.set_drive(drive)?;
        self.drive = drive;
        self.cortex.params.gain = drive.gain;
        Ok(())
    }

    /// The drive parameters in use.
    pub fn drive_config(&self) -> DriveConfig {
        self.drive
    }

    /// BEL's learned state.
    pub fn bel(&self) -> &Bel<'a> {
        &self.bel
    }

    /// The camera has just moved: the visual background (prepared on the host, before upload) restarts from the next
    /// frame while the clip goes on, as on the CPU (`Pipeline::scene_cut`).
    pub fn scene_cut(&mut self) {
        self.prep.reset();
    }

    /// Start a new clip (BEL's learning is kept).
    pub fn reset(&mut self) -> GpuResult<()> {
        self.frontend.reset();
        self.prep.reset();
        self.frames_seen = 0;
        self.stacks = 0;
        // Only the cortex in use: the other is reset when the placement changes.
        match self.placement {
            CortexPlacement::Host => self.host_cortex.reset(),
            CortexPlacement::Device => self.cortex.reset(self.dev.as_mut())?,
        }
        self.dev.zero(self.it_mean)?;
        self.dev.zero(self.it_m2)
    }

    /// Launch the four CORnet-Z blocks and the IT pooling/accumulation.
    fn launch_visual(&mut self) -> GpuResult<()> {
        let dev = self.dev.as_mut();
        for b in 0..4 {
            let blk = &self.blocks[b];
            let dims = bytemuck::bytes_of(&blk.dims);
            let args: Vec<Arg<'_>> = if b == 0 {
                vec![
                    Arg::Buf(self.ring.buf()),
                    Arg::Buf(self.params),
                    Arg::Buf(blk.w),
                    Arg::Buf(blk.scale),
                    Arg::Buf(blk.bias),
                    Arg::Buf(self.acts[0]),
                    Arg::Pod(dims),
                ]
            } else {
                vec![
                    Arg::Buf(self.acts[b - 1]),
                    Arg::Buf(blk.w),
                    Arg::Buf(blk.scale),
                    Arg::Buf(blk.bias),
                    Arg::Buf(self.acts[b]),
                    Arg::Buf(blk.part),
                    Arg::Buf(blk.count),
                    Arg::Pod(dims),
                ]
            };
            // SAFETY: the parameter lists of `cz_v1_*` and `cz_k3_*` in cornet.cu; weights, scales, biases and maps
            // were sized in `dev_block` from the same CzDims (cout padded to the launch's channel blocks), and so were
            // a split reduction's sums and counters (zeroed at allocation; the last block of a tile re-zeroes its
            // counter).
            unsafe { dev.launch(blk.kernel, blk.grid, [caps::CZ_NT, 1, 1], &args)? };
        }
        let it = self.cfg.visual.widths[3] as i32;
        let d = self.blocks[3].dims;
        let args = [
            Arg::Buf(self.acts[3]),
            Arg::Buf(self.params),
            Arg::I32(it),
            Arg::I32(d.ph * d.pw),
            Arg::Buf(self.gap),
            Arg::Buf(self.it_mean),
            Arg::Buf(self.it_m2),
        ];
        let blocks = (it as u32 * 32).div_ceil(256);
        // SAFETY: `cz_gap_accumulate`'s parameter list; IT's map has `it` channels of ph·pw, the vectors `it` floats.
        unsafe { dev.launch(Kernel::CzGap, [blocks, 1, 1], [256, 1, 1], &args) }
    }

    /// Capture the visual path as a graph (once); on failure keep launching kernel by kernel.
    fn capture(&mut self) {
        let r = (|| -> GpuResult<Graph> {
            self.dev.begin_capture()?;
            let launched = self.launch_visual();
            let graph = self.dev.end_capture();
            launched?;
            graph
        })();
        match r {
            Ok(g) => {
                self.graph = Some(g);
                self.launch = Launch::Graph;
            }
            Err(e) => self.launch = Launch::Sequence(e.to_string()),
        }
    }

    /// Push one grayscale frame of `height·width` bytes; runs CORnet-Z when a stack is due. Returns whether it did.
    pub fn push_frame(&mut self, frame: &[u8]) -> GpuResult<bool> {
        let vc = self.cfg.visual;
        let n = vc.height as usize * vc.width as usize;
        if frame.len() != n {
            return Err(Error::from(InputError::FrameSize { expected: n, got: frame.len() }).into());
        }
        let c = vc.channels as u64;
        let slot = (self.frames_seen % c) as usize;
        self.prep.apply(frame, &mut self.prepared)?;
        let frame = &self.prepared[..];
        match self.ring {
            Ring::Device(b) => self.dev.upload(b, slot * n, frame)?,
            Ring::Mapped { host, len, .. } => {
                // The last stack's kernels may still read this slot.
                if let Some(f) = self.visual_fence.take() {
                    self.dev.wait(f)?;
                }
                if (slot + 1) * n > len {
                    return Err(GpuError::device(BackendStage::Copy, "frame ring", 0));
                }
                // SAFETY: `host` is the mapped allocation of `len` bytes made in `with_launcher` and owned by the
                // launcher for the pipeline's lifetime; the range was checked; no launch that reads it is in flight
                // (the fence above).
                unsafe { core::ptr::copy_nonoverlapping(frame.as_ptr(), host.add(slot * n), n) };
            }
        }
        self.frames_seen += 1;
        if self.frames_seen < c || !(self.frames_seen - c).is_multiple_of(vc.stride_frames as u64) {
            return Ok(false);
        }
        // Channel i of the stack is ring slot (seen + i) % c: the oldest frame first. params[1]: the stack count.
        let stacks = self.stacks + 1;
        self.dev.upload_at(self.params, 0, &[(self.frames_seen % c) as i32, stacks as i32, 0, 0])?;
        if self.launch == Launch::NotYet {
            self.capture();
        }
        match self.graph {
            Some(g) => self.dev.replay(g)?,
            None => self.launch_visual()?,
        }
        if matches!(self.ring, Ring::Mapped { .. }) {
            self.visual_fence = Some(self.dev.fence()?);
        }
        self.stacks = stacks;
        Ok(true)
    }

    /// Push mono PCM samples in −1..1; the front-end runs on the CPU, the cortex on the host frame by frame or on
    /// the device in frame batches ([`CortexPlacement`]).
    pub fn push_audio(&mut self, pcm: &[f32]) -> GpuResult<()> {
        let GpuPipeline { frontend, cortex, host_cortex, placement, dev, drive, .. } = self;
        let mut err = None;
        frontend.push(pcm, &mut |f: &FrameFeatures| {
            step_cortex(*placement, host_cortex, cortex, dev.as_mut(), drive, &mut err, f)
        })?;
        err.map_or(Ok(()), Err)
    }

    /// Close the clip and infer with the chosen senses; the clip state is reset afterwards (also on error).
    pub fn infer(&mut self, m: Modalities) -> GpuResult<Output> {
        let r = self.output(m, true);
        let r2 = self.reset();
        let out = r?;
        r2.map(|_| out)
    }

    /// Infer from the clip so far without closing it (as [`crate::Pipeline::peek`]).
    pub fn peek(&mut self, m: Modalities) -> GpuResult<Output> {
        self.output(m, false)
    }

    fn output(&mut self, m: Modalities, close: bool) -> GpuResult<Output> {
        if !m.audio && !m.video {
            return Err(Error::from(InputError::NoModality).into());
        }
        if m.audio {
            let GpuPipeline { frontend, cortex, host_cortex, placement, dev, drive, a_in_host, .. } = self;
            if close {
                let mut err = None;
                frontend.finish(&mut |f: &FrameFeatures| {
                    step_cortex(*placement, host_cortex, cortex, dev.as_mut(), drive, &mut err, f)
                })?;
                if let Some(e) = err {
                    return Err(e);
                }
            } else if frontend.frames() == 0 {
                return Err(Error::from(InputError::EmptyAudio).into());
            }
            a_in_host[..N_DESCRIPTORS].copy_from_slice(&frontend.summary().as_array());
            a_in_host[N_DESCRIPTORS..CORTEX_AT].copy_from_slice(&frontend.interval_profile());
            match placement {
                CortexPlacement::Host => {
                    host_cortex.features(&mut a_in_host[CORTEX_AT..]);
                    dev.upload_at(self.a_in, 0, a_in_host)?;
                }
                CortexPlacement::Device => {
                    cortex.flush(dev.as_mut())?;
                    dev.upload_at(self.a_in, 0, &a_in_host[..CORTEX_AT])?;
                    cortex.features(dev.as_mut(), self.a_in, CORTEX_AT * 4)?;
                }
            }
        }
        if m.video && self.stacks == 0 {
            return Err(Error::from(InputError::NoFrames).into());
        }
        self.run_head(m)?;
        let o = &self.host_out;
        let k = self.cfg.fusion.sensory as usize;
        let mut out = Output {
            epp: o[head_out::EPP],
            contribution: Contribution { audio: o[head_out::CONTRIB], visual: o[head_out::CONTRIB + 1] },
            terms: BelTerms::default(),
            ..Default::default()
        };
        if self.cfg.input.substitute {
            // As the CPU core: a substituted sense's branch is the present sense's drive.
            out.contribution = out.contribution.substituted(m.audio, m.video);
        }
        out.emotions.copy_from_slice(&o[head_out::EMOTIONS..head_out::EMOTIONS + N_EMOTIONS]);
        out.terms.amygdala.copy_from_slice(&o[head_out::AMYGDALA..head_out::AMYGDALA + N_EMOTIONS]);
        out.terms.orbitofrontal.copy_from_slice(&o[head_out::ORBITOFRONTAL..head_out::ORBITOFRONTAL + N_EMOTIONS]);
        self.sensory.copy_from_slice(&o[head_out::SENSORY..head_out::SENSORY + k]);
        // BEL learns on the host: remember this input there (its own forward pass is 80 multiply-adds).
        let mut e = [0.0; N_EMOTIONS];
        self.bel.forward(&self.sensory, &mut e)?;
        Ok(out)
    }

    fn run_head(&mut self, m: Modalities) -> GpuResult<()> {
        let c = &self.cfg;
        let mut epp_w = [0.0f32; N_EMOTIONS];
        for (w, &x) in epp_w.iter_mut().zip(EPP_WEIGHTS.iter()) {
            *w = x as f32;
        }
        let dims = HdDims {
            it: c.visual.widths[3] as i32,
            features: c.visual.features as i32,
            n_a: audio_inputs(c) as i32,
            fa: c.fusion.audio_features as i32,
            hidden: c.fusion.hidden as i32,
            sensory: c.fusion.sensory as i32,
            attention: c.fusion.attention as i32,
            audio: m.audio as i32,
            video: m.video as i32,
            substitute: c.input.substitute as i32,
            epp_w,
            epp_div: epp_w.iter().sum(),
        };
        let h = &self.head;
        // Without attention its weights are never read; any buffer will do.
        let (att_a, att_v) = match &h.f_attn {
            Some((a, v)) => (a, v),
            None => (&h.f_audio, &h.f_audio),
        };
        let args = [
            Arg::Pod(bytemuck::bytes_of(&dims)),
            Arg::Buf(self.it_mean),
            Arg::Buf(self.it_m2),
            Arg::F32(self.stacks.max(1) as f32),
            Arg::Buf(h.v_mean),
            Arg::Buf(h.v_inv_std),
            Arg::Buf(h.v_ro.w),
            Arg::Buf(h.v_ro.b),
            Arg::Buf(self.a_in),
            Arg::Buf(h.a_mean),
            Arg::Buf(h.a_inv_std),
            Arg::Buf(h.a_ro.w),
            Arg::Buf(h.a_ro.b),
            Arg::Buf(h.f_audio.w),
            Arg::Buf(h.f_audio.b),
            Arg::Buf(h.f_visual.w),
            Arg::Buf(h.f_visual.b),
            Arg::Buf(att_a.w),
            Arg::Buf(att_a.b),
            Arg::Buf(att_v.w),
            Arg::Buf(att_v.b),
            Arg::Buf(h.f_out.w),
            Arg::Buf(h.f_out.b),
            Arg::Buf(h.amyg),
            Arg::Buf(h.thal),
            Arg::Buf(h.orbi),
            Arg::Buf(self.out),
        ];
        // SAFETY: `head_fusion_bel`'s parameter list in head.cu; every buffer holds the CPU core's tensor of the
        // size the dims give, and `check_limits` keeps the sizes within the kernel's shared arrays.
        unsafe { self.dev.launch(Kernel::Head, [1, 1, 1], [caps::HD_NT, 1, 1], &args)? };
        let out = self.out;
        self.dev.download(out, 0, bytemuck::cast_slice_mut(&mut self.host_out))
    }

    /// One BEL learning step on the last inference's input (on the host), then the weights go back to the device.
    pub fn learn(&mut self, reward: &[f32; N_EMOTIONS]) -> GpuResult<()> {
        self.bel.learn(reward)?;
        self.upload_bel()
    }

    /// Replace BEL's learned weights with a saved state (see [`Bel::restore`]) and upload them.
    pub fn restore_bel(&mut self, amygdala: &[f32], thalamus: &[f32], orbitofrontal: &[f32]) -> GpuResult<()> {
        self.bel.restore(amygdala, thalamus, orbitofrontal)?;
        self.upload_bel()
    }

    fn upload_bel(&mut self) -> GpuResult<()> {
        self.dev.upload_at(self.head.amyg, 0, self.bel.amygdala())?;
        self.dev.upload_at(self.head.thal, 0, self.bel.thalamus())?;
        self.dev.upload_at(self.head.orbi, 0, self.bel.orbitofrontal())
    }

    /// The fused sensory vector of the last inference.
    pub fn sensory(&self) -> &[f32] {
        &self.sensory
    }

    /// Wait for the device (for timing).
    pub fn synchronize(&mut self) -> GpuResult<()> {
        self.dev.synchronize()
    }

    /// Host copies of the four blocks' pooled maps (f32) and IT's last global average (self-test).
    pub fn visual_maps(&mut self) -> GpuResult<(Vec<Vec<f32>>, Vec<f32>)> {
        let mut maps = Vec::with_capacity(4);
        for (b, (s, cout)) in shapes(&self.cfg.visual).into_iter().enumerate() {
            let n = cout * s.ho().div_ceil(2) * s.wo().div_ceil(2);
            let v: Vec<f16> = self.dev.download_vec(self.acts[b], n)?;
            maps.push(v.iter().map(|x| x.to_f32()).collect());
        }
        let it = self.cfg.visual.widths[3] as usize;
        let gap = self.dev.download_vec(self.gap, it)?;
        Ok((maps, gap))
    }

    /// The head's inputs and outputs of the last inference or peek, as they are on the device (self-test).
    pub fn head_io(&mut self) -> GpuResult<HeadIo> {
        let it = self.cfg.visual.widths[3] as usize;
        Ok(HeadIo {
            it_mean: self.dev.download_vec(self.it_mean, it)?,
            it_m2: self.dev.download_vec(self.it_m2, it)?,
            stacks: self.stacks,
            a_in: self.dev.download_vec(self.a_in, audio_inputs(&self.cfg))?,
            out: self.host_out.clone(),
        })
    }

    /// The cortex features over the clip so far (runs the queued frames first).
    pub fn cortex_features(&mut self) -> GpuResult<Vec<f32>> {
        self.cortex.flush(self.dev.as_mut())?;
        let n = Cortex::n_features(&self.cfg.cortex);
        let out = self.dev.alloc_n::<f32>(n)?;
        self.cortex.features(self.dev.as_mut(), out, 0)?;
        self.dev.download_vec(out, n)
    }

    /// Feed the cortex one front-end frame directly (self-test: the same frames the CPU cortex gets).
    pub fn cortex_step_frame(&mut self, f: &FrameFeatures) -> GpuResult<()> {
        self.cortex.push(self.dev.as_mut(), &self.drive, f)
    }

    /// Frames queued for the cortex and not yet run (at most the batch size).
    pub fn cortex_queued(&self) -> usize {
        self.cortex.q_steps.len()
    }
}

/// Noise-generator calls per step (32 deviates each), the CPU's chunking.
fn cells_calls(p: &KernelParams) -> usize {
    (p.ne as usize).div_ceil(32) + (p.np as usize).div_ceil(32) + (p.ns as usize).div_ceil(32)
}

/// Upload block `b`'s weights in the device layout and plan its tiles.
/// `sms`: the device's multiprocessors, for the split of the 3×3 blocks' reductions (V1's kernel does not split).
fn dev_block(
    d: &mut dyn Launcher,
    b: usize,
    s: &ConvShape,
    cout: usize,
    mw: &ModelWeights<'_>,
    sms: usize,
) -> GpuResult<DevBlock> {
    let cob = caps::CZ_COB;
    let cout_pad = cout.div_ceil(cob) * cob;
    let (ph, pw) = (s.ho().div_ceil(2), s.wo().div_ceil(2));
    let (patch_cap, w_cap, sms) =
        if b == 0 { (caps::CZ_PATCH_V1, caps::CZ_W_V1, 1) } else { (caps::CZ_PATCH_K3, caps::CZ_W_K3, sms) };
    let plan = tile_plan(s.k, s.stride, s.cin, ph, pw, patch_cap, w_cap, cout_pad / cob, sms);
    let kk = s.k * s.k;
    let (w, scales, int8) = match mw.visual.blocks[b].weight {
        ConvView::I8 { data, scales } => {
            if data.len() != cout * s.kk4() || scales.len() < cout {
                return Err(Error::from(crate::core::error::FormatError::ShapeMismatch("conv weights")).into());
            }
            let mut sc = vec![1.0f32; cout_pad];
            sc[..cout].copy_from_slice(&scales[..cout]);
            (d.alloc_from(&conv_weights_i8(data, cout, s.cin, s.k, cout_pad))?, sc, true)
        }
        ConvView::F32(v) => {
            if v.len() != cout * s.cin * kk {
                return Err(Error::from(crate::core::error::FormatError::ShapeMismatch("conv weights")).into());
            }
            (d.alloc_from(&conv_weights_f16(|i| v[i], cout, s.cin, s.k, cout_pad))?, vec![1.0f32; cout_pad], false)
        }
        ConvView::F16(v) => {
            if v.len() != cout * s.cin * kk {
                return Err(Error::from(crate::core::error::FormatError::ShapeMismatch("conv weights")).into());
            }
            (
                d.alloc_from(&conv_weights_f16(|i| v[i].to_f32(), cout, s.cin, s.k, cout_pad))?,
                vec![1.0f32; cout_pad],
                false,
            )
        }
    };
    let kernel = match (b == 0, int8) {
        (true, false) => Kernel::CzV1F16,
        (true, true) => Kernel::CzV1I8,
        (false, false) => Kernel::CzK3F16,
        (false, true) => Kernel::CzK3I8,
    };
    let i = |x: usize| x as i32;
    let dims = CzDims {
        cin: i(s.cin),
        h: i(s.h),
        w: i(s.w),
        cout: i(cout),
        ho: i(s.ho()),
        wo: i(s.wo()),
        ph: i(ph),
        pw: i(pw),
        tiles_x: i(plan.tiles_x),
        tp: i(plan.tp),
        ks: i(plan.ks),
        cch: i(plan.cch),
        kslices: i(plan.kslices),
        cps: i(plan.cps),
    };
    let tc = 2 * plan.tp + 1;
    let tile_blocks = plan.tiles * (cout_pad / cob);
    let (part, count) = if plan.kslices > 1 {
        (d.alloc_n::<f32>(tile_blocks * plan.kslices * cob * tc * tc)?, d.alloc_n::<i32>(tile_blocks)?)
    } else {
        (d.alloc_n::<f32>(1)?, d.alloc_n::<i32>(1)?)
    };
    Ok(DevBlock {
        kernel,
        w,
        scale: d.alloc_from(&scales)?,
        bias: d.alloc_from(mw.visual.blocks[b].bias)?,
        dims,
        grid: [plan.tiles as u32, (cout_pad / cob) as u32, plan.kslices as u32],
        part,
        count,
    })
}

/// Check that the configuration fits the kernels' fixed arrays (`check_limits` of each kernel file).
pub fn check_limits(cfg: &ModelConfig) -> GpuResult<()> {
    let c = &cfg.cortex;
    let words = (c.n_pyr as usize).div_ceil(32) + (c.n_pv as usize).div_ceil(32) + (c.n_som as usize).div_ceil(32);
    if c.groups as usize > caps::CX_MAX_GROUPS {
        return Err(GpuError::Limits("cortex.groups > CX_MAX_GROUPS"));
    }
    if words > caps::CX_MAX_WORDS {
        return Err(GpuError::Limits("cortex cells > CX_MAX_WORDS spike words"));
    }
    if cfg.visual.height as usize * cfg.visual.width as usize > 1 << 20 {
        // cornet.cu packs a patch element's channel and input offset into one int (offset below 2^20).
        return Err(GpuError::Limits("frame height·width > 2^20 pixels"));
    }
    if 2 * cfg.visual.widths[3] as usize > caps::HD_MAX_SUMMARY {
        return Err(GpuError::Limits("2·IT > HD_MAX_SUMMARY"));
    }
    if audio_inputs(cfg) > caps::HD_MAX_AIN {
        return Err(GpuError::Limits("audio read-out inputs > HD_MAX_AIN"));
    }
    if cfg.fusion.hidden as usize > caps::HD_MAX_HIDDEN {
        return Err(GpuError::Limits("fusion.hidden > HD_MAX_HIDDEN"));
    }
    if cfg.fusion.sensory as usize > caps::HD_MAX_SENS {
        return Err(GpuError::Limits("fusion.sensory > HD_MAX_SENS"));
    }
    if cfg.fusion.audio_features as usize > caps::HD_MAX_FEATURES
        || cfg.visual.features as usize > caps::HD_MAX_FEATURES
    {
        return Err(GpuError::Limits("features > HD_MAX_FEATURES"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `AVF_BEL_GPU_CORTEX`'s values: host (also empty, `cpu`), device (also `gpu`, `cuda`); anything else is a typed
    /// error that names the setting and the value.
    #[test]
    fn cortex_placement_parses_and_refuses_unknown_values() {
        for (v, p) in [("host", CortexPlacement::Host), ("", CortexPlacement::Host), (" cpu ", CortexPlacement::Host)] {
            assert_eq!(v.parse::<CortexPlacement>().unwrap(), p, "{v:?}");
        }
        for v in ["device", "gpu", "cuda"] {
            assert_eq!(v.parse::<CortexPlacement>().unwrap(), CortexPlacement::Device, "{v:?}");
        }
        let e = "both".parse::<CortexPlacement>().unwrap_err();
        assert!(matches!(&e, GpuError::Setting { name: "AVF_BEL_GPU_CORTEX", value } if value == "both"), "{e:?}");
        assert!(e.to_string().contains("AVF_BEL_GPU_CORTEX=\"both\""), "{e}");
        assert_eq!(CortexPlacement::default(), CortexPlacement::Host);
    }

    /// The int8 and f16 device layouts put every weight at the same place.
    #[test]
    fn conv_weight_layouts_agree() {
        let (cout, cin, k) = (20usize, 5usize, 3usize);
        let cpad = cin.div_ceil(4) * 4;
        let q: Vec<i8> = (0..cout * k * k * cpad).map(|i| ((i * 31) % 255) as i8).collect();
        // The same weights as f32 [cout][cin][k][k].
        let mut f = vec![0.0f32; cout * cin * k * k];
        for co in 0..cout {
            for ci in 0..cin {
                for t in 0..k * k {
                    f[(co * cin + ci) * k * k + t] = q[co * k * k * cpad + t * cpad + ci] as f32;
                }
            }
        }
        let cout_pad = cout.div_ceil(caps::CZ_COB) * caps::CZ_COB;
        let a = conv_weights_f16(|i| f[i], cout, cin, k, cout_pad);
        let b = conv_weights_i8(&q, cout, cin, k, cout_pad);
        assert_eq!(a.len(), b.len());
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_f32() == *y as f32));
    }

    /// Tile plans stay within the kernel's capacities, use the threads, cover the map, and split a reduction only
    /// into non-empty slices that cover the input channels.
    #[test]
    fn tile_plans_fit_the_kernel_and_cover_the_map() {
        for (k, stride, patch, wcap) in
            [(7, 2, caps::CZ_PATCH_V1, caps::CZ_W_V1), (3, 1, caps::CZ_PATCH_K3, caps::CZ_W_K3)]
        {
            for cin in [1usize, 2, 5, 8, 17, 64, 100, 256, 512] {
                for side in [1usize, 2, 3, 4, 5, 6, 7, 8, 12, 16, 24, 28, 56] {
                    for (cob, sms) in [(1usize, 1usize), (1, 16), (8, 132), (32, 132), (2, 1000)] {
                        let p = tile_plan(k, stride, cin, side, side, patch, wcap, cob, sms);
                        let tc = 2 * p.tp + 1;
                        let ps = 2 * p.tp * stride + k;
                        assert!(p.ks >= 1 && p.cch >= 1 && p.ks <= p.cch.max(1), "{p:?}");
                        assert!(p.ks * tc * tc <= caps::CZ_NT as usize, "{p:?}");
                        assert!(p.cch * ps * ps <= patch && p.cch * k * k * caps::CZ_COB <= wcap, "{p:?}");
                        assert!(
                            caps::CZ_COB * tc * tc <= caps::CZ_F32 && p.ks * tc * tc * caps::CZ_COB <= caps::CZ_F32
                        );
                        assert!(p.ks == 1 || caps::CZ_COB * tc * tc <= caps::CZ_SUMS * caps::CZ_NT as usize);
                        assert!(p.tiles_x * p.tp >= side && p.tiles * p.tp * p.tp >= side * side);
                        // Slices: non-empty, covering, within the device, and not thinner than the floor.
                        assert!(p.kslices >= 1 && p.cps >= 1 && p.cch <= p.cps, "{p:?}");
                        assert!((p.kslices - 1) * p.cps < cin && p.kslices * p.cps >= cin, "{cin} {p:?}");
                        assert!(p.kslices == 1 || p.tiles * cob * p.kslices <= sms, "{p:?}");
                        assert!(p.kslices == 1 || p.cps >= MIN_SLICE_CHANNELS, "{p:?}");
                    }
                }
            }
        }
        let k3 = |cin, side, cob, sms| tile_plan(3, 1, cin, side, side, caps::CZ_PATCH_K3, caps::CZ_W_K3, cob, sms);
        // At 64×64 frames the small maps get small tiles (the V4/IT case) and the freed threads split the
        // reduction: V4 (4×4 pooled) and IT (2×2). One multiprocessor: no split.
        let (v4, it) = (k3(128, 4, 16, 1), k3(256, 2, 32, 1));
        assert_eq!((v4.tp, v4.ks, v4.tiles, v4.kslices), (4, 3, 1, 1));
        assert_eq!((it.tp, it.ks, it.tiles, it.kslices, it.cch), (2, 10, 1, 1, 32));
        // A 132-SM GPU: V2 (32 blocks) and V4 (16) are split to one pass per block, IT (32) to two balanced passes.
        let (v2, v4, it) = (k3(64, 8, 8, 132), k3(128, 4, 16, 132), k3(256, 2, 32, 132));
        assert_eq!((v2.kslices, v2.cps, v2.cch), (4, 16, 16));
        assert_eq!((v4.kslices, v4.cps, v4.cch), (8, 16, 16));
        assert_eq!((it.kslices, it.cps, it.cch), (4, 64, 32));
        // A Jetson Orin's 16 SMs are already full at these grids.
        assert_eq!((k3(256, 2, 32, 16).kslices, k3(128, 4, 16, 16).kslices), (1, 1));
        // 224×224 V1 (56×56 pooled) keeps the large tile.
        assert_eq!(tile_plan(7, 2, 3, 56, 56, caps::CZ_PATCH_V1, caps::CZ_W_V1, 4, 1).tp, 7);
    }

    /// The cortex block size follows the network: small networks do not run 512 idle threads.
    #[test]
    fn cortex_block_fits_the_network() {
        assert_eq!(cortex_threads(96), 128);
        assert_eq!(cortex_threads(10), 64);
        assert_eq!(cortex_threads(1200), caps::CX_NT);
    }

    /// The noise seed is the CPU core's generator state, word-major.
    #[test]
    fn noise_seed_is_the_cpu_state() {
        let s = cortex_noise_seed(2);
        let st = NoiseRng::for_cortex(2).state();
        assert_eq!(s[NOISE_LANES + 3], st[1][3]);
        assert!(s.iter().any(|&x| x != 0));
    }
}
