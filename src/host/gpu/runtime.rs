//! The CUDA pipeline: device buffers allocated once at load, the per-stack visual path replayed as a CUDA graph, the
//! cortex run frame batch by frame batch, and the read-outs, fusion and BEL in one launch.
//!
//! The host keeps what is not worth a GPU: the audio front-end (STFT, descriptors: `crate::core::audio::frontend`), the
//! cortex's band drive per frame (a few dozen `expf`/`log10f`, computed exactly as the CPU core does so the cortex
//! kernel sees the same input bits), and BEL's online learning (after a learning step the weights are uploaded).

use super::compile::{arch_for, cached_ptx};
use super::kernels::{CX_NT, CZ_COB, CZ_NT, CZ_TP, ENTRY_POINTS, HD_NT};
use crate::core::arena::Arena;
use crate::core::audio::cortex::Cortex;
use crate::core::audio::frontend::FrontEnd;
use crate::core::audio::{FrameFeatures, N_DESCRIPTORS, N_INTERVALS};
use crate::core::bel::{Bel, BelTerms};
use crate::core::config::{CortexConfig, ModelConfig, N_EMOTIONS};
use crate::core::error::InputError;
use crate::core::fusion::Contribution;
use crate::core::kernels::ConvShape;
use crate::core::manifest::{audio_inputs, ConvView, DenseWeights, ModelWeights, CONV_WEIGHTS};
use crate::core::pipeline::{Modalities, Output};
use crate::core::visual::BlockWeights;
use crate::core::weights::Weights;
use cudarc::driver::{
    sys, CudaContext, CudaFunction, CudaGraph, CudaModule, CudaSlice, CudaStream, DeviceRepr, LaunchConfig,
    PushKernelArg,
};
use half::f16;
use std::sync::Arc;

/// Frames of the cortex run per launch (the host queues the front-end's frames and launches when this many wait or
/// when the features are needed).
pub const CORTEX_BATCH: usize = 64;

/// Errors of the CUDA backend are messages (driver, NVRTC or self-test).
pub type GpuResult<T> = Result<T, String>;

fn drv<E: std::fmt::Debug>(what: &'static str) -> impl Fn(E) -> String {
    move |e| format!("CUDA {what}: {e:?}")
}

/// What [`probe`] found.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    /// The GPU's name.
    pub name: String,
    /// Compute capability.
    pub cc: (i32, i32),
    /// Number of CUDA devices.
    pub count: i32,
}

/// Look for a usable CUDA driver, NVRTC and device 0, without panicking (cudarc panics when a library is missing,
/// so both are probed first).
pub fn probe() -> GpuResult<(Arc<CudaContext>, DeviceInfo)> {
    // SAFETY: only tries to open the driver library by its usual names.
    if !unsafe { sys::is_culib_present() } {
        return Err("no CUDA driver: libcuda.so cannot be loaded".into());
    }
    if !super::compile::nvrtc_present() {
        return Err("no NVRTC: libnvrtc.so cannot be loaded (add /usr/local/cuda/lib64 to LD_LIBRARY_PATH)".into());
    }
    let count = CudaContext::device_count().map_err(drv("device count"))?;
    if count < 1 {
        return Err("the CUDA driver reports no device".into());
    }
    let ctx = CudaContext::new(0).map_err(drv("context"))?;
    let name = ctx.name().map_err(drv("device name"))?;
    let cc = ctx.compute_capability().map_err(drv("compute capability"))?;
    Ok((ctx, DeviceInfo { name, cc, count }))
}

/// Kernel parameter: the cortex scratch layout (`CxLayout` in `cortex.cu`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CxLayout {
    ne: i32,
    np: i32,
    ns: i32,
    g: i32,
    we: i32,
    wp: i32,
    ws: i32,
    pyr: i32,
    pv: i32,
    som: i32,
    grp: i32,
    conn: i32,
}
// SAFETY: plain `repr(C)` integers, the layout of the CUDA struct.
unsafe impl DeviceRepr for CxLayout {}

impl CxLayout {
    /// The CPU core's scratch layout (`Layout` in `src/audio/cortex.rs`): SoA populations, group arrays, spike
    /// lists, connectivity.
    pub fn new(cfg: &CortexConfig) -> Self {
        let (ne, np, ns, g) = (cfg.n_pyr as usize, cfg.n_pv as usize, cfg.n_som as usize, cfg.groups as usize);
        let (we, wp, ws) = (ne.div_ceil(32), np.div_ceil(32), ns.div_ceil(32));
        let pyr = 0;
        let pv = pyr + 7 * ne;
        let som = pv + 6 * np;
        let grp = som + 4 * ns;
        let spikes = grp + (6 + 3 * 4) * g;
        let conn = spikes + ne + np + ns;
        let i = |x: usize| x as i32;
        CxLayout {
            ne: i(ne),
            np: i(np),
            ns: i(ns),
            g: i(g),
            we: i(we),
            wp: i(wp),
            ws: i(ws),
            pyr: i(pyr),
            pv: i(pv),
            som: i(som),
            grp: i(grp),
            conn: i(conn),
        }
    }
    /// Floats of the whole state (must equal `Cortex::scratch_len`).
    pub fn total(&self) -> usize {
        let (ne, np, ns) = (self.ne as usize, self.np as usize, self.ns as usize);
        let (we, wp, ws) = (self.we as usize, self.wp as usize, self.ws as usize);
        self.conn as usize + ne * (we + wp + ws) + (np + ns) * (we + wp)
    }
    /// Noise-generator calls per step (32 deviates each).
    pub fn calls(&self) -> usize {
        (self.ne as usize).div_ceil(32) + (self.np as usize).div_ceil(32) + (self.ns as usize).div_ceil(32)
    }
}

/// Kernel parameter: the step-size dependent factors (`CxSteps` in `cortex.cu`), computed as the CPU's `Steps`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CxSteps {
    dt: f32,
    ref_steps: f32,
    ke: f32,
    kp: f32,
    ks: f32,
    kw: f32,
    noise_e: f32,
    noise_p: f32,
    noise_s: f32,
    dec_ee: f32,
    dec_ep: f32,
    dec_es: f32,
    dec_pe: f32,
    dec_pp: f32,
    dec_ps: f32,
    dec_se: f32,
    inc_ee: f32,
    inc_pe: f32,
    inc_se: f32,
    inc_ep: f32,
    inc_pp: f32,
    inc_es: f32,
    inc_ps: f32,
    gain: f32,
}
// SAFETY: plain `repr(C)` floats, the layout of the CUDA struct.
unsafe impl DeviceRepr for CxSteps {}

impl CxSteps {
    /// Same expressions, same order as `Steps::new` in `src/audio/cortex.rs` (constants of spec §3.2).
    pub fn new(cfg: &CortexConfig, gain: f32) -> Self {
        let dt = cfg.dt_us as f32 * 1e-3;
        let dec = |tau: f32| 1.0 - dt / tau;
        let (ne, np, ns) = (cfg.n_pyr as f32, cfg.n_pv as f32, cfg.n_som as f32);
        let (c_e, c_p, c_s, sigma) = (180.0f32, 80.0f32, 80.0f32, 20.0f32);
        CxSteps {
            dt,
            ref_steps: libm::roundf(2.0 / dt).max(1.0),
            ke: dt / c_e,
            kp: dt / c_p,
            ks: dt / c_s,
            kw: dt / 150.0,
            noise_e: sigma * libm::sqrtf(dt / c_e),
            noise_p: sigma * libm::sqrtf(dt / c_p),
            noise_s: sigma * libm::sqrtf(dt / c_s),
            dec_ee: dec(1.0),
            dec_ep: dec(1.0),
            dec_es: dec(1.0),
            dec_pe: dec(25.0),
            dec_pp: dec(1.0),
            dec_ps: dec(1.0),
            dec_se: dec(15.0),
            inc_ee: 20.0 / ne,
            inc_pe: 2.0 / ne,
            inc_se: 120.0 / ne,
            inc_ep: 40.0 / np,
            inc_pp: 40.0 / np,
            inc_es: 20.0 / ns,
            inc_ps: 40.0 / ns,
            gain,
        }
    }
}

/// Kernel parameter: the head's sizes (`HdDims` in `head.cu`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct HdDims {
    it: i32,
    features: i32,
    n_a: i32,
    fa: i32,
    hidden: i32,
    sensory: i32,
    attention: i32,
    audio: i32,
    video: i32,
}
// SAFETY: plain `repr(C)` integers.
unsafe impl DeviceRepr for HdDims {}

/// The cortex's initial noise state, `s[word][lane]` (64 words): the CPU core's own generator state.
pub fn cortex_noise_seed(cfg: &CortexConfig) -> [u32; 64] {
    let st = crate::core::audio::cortex::NoiseRng::for_cortex(cfg.seed).state();
    let mut s = [0u32; 64];
    for (k, word) in st.iter().enumerate() {
        s[k * 16..(k + 1) * 16].copy_from_slice(word);
    }
    s
}

/// The band drive `s_g` of one frame with the default drive parameters, computed exactly as the CPU core's
/// `band_drive` (same `libm` calls, same order), so that the cortex kernel sees the same bits.
pub fn band_drive(frame: &FrameFeatures, s: &mut [f32]) {
    let (floor_db, ceil_db, onset_ref, onset_share) = (-40.0f32, 20.0f32, 10.0f32, 0.5f32);
    let mel = frame.mel_db;
    let m = mel.len();
    let groups = s.len();
    let onset = if frame.onset > 0.0 { (frame.onset / onset_ref).min(1.0) } else { 0.0 };
    let scale = 1.0 - onset_share + onset_share * onset;
    let span = ceil_db - floor_db;
    for (g, sg) in s.iter_mut().enumerate() {
        let (a, b) = (g * m / groups, (g + 1) * m / groups);
        let mut power = 0.0f32;
        for &db in &mel[a..b] {
            if db > -200.0 {
                power += libm::expf(db.min(200.0) * (core::f32::consts::LN_10 / 10.0));
            }
        }
        let x = if b > a && power > 0.0 {
            let level = 10.0 * libm::log10f(power / (b - a) as f32);
            ((level - floor_db) / span).clamp(0.0, 1.0)
        } else {
            0.0
        };
        *sg = if x.is_nan() { 0.0 } else { x * scale };
    }
}

/// Conv weights of one block on the device.
enum DevConvW {
    F16(CudaSlice<f16>),
    I8(CudaSlice<i8>),
}

/// One CORnet-Z block on the device.
struct DevBlock {
    w: DevConvW,
    scale: CudaSlice<f16>,
    bias: CudaSlice<f32>,
    dims: [i32; 10], // cin, h, w, cout, ho, wo, ph, pw, tiles_x, tiles
    cout_pad: usize,
}

/// The device layout `[cout_pad/COB][cin][k·k][COB]` of a block's weights (see `kernels/cornet.cu`), dequantised
/// to f32 here when the file holds i8 (the i8 form is built by [`conv_weights_i8`]).
fn conv_weights_f32(w: &[f32], cout: usize, cin: usize, k: usize, cout_pad: usize) -> Vec<f32> {
    let kk = k * k;
    let mut out = vec![0.0f32; cout_pad * cin * kk];
    for co in 0..cout {
        let (cob, j) = (co / CZ_COB, co % CZ_COB);
        for ci in 0..cin {
            for t in 0..kk {
                out[((cob * cin + ci) * kk + t) * CZ_COB + j] = w[(co * cin + ci) * kk + t];
            }
        }
    }
    out
}

/// The same layout for i8 weights stored `[cout][ky][kx][cpad]`.
fn conv_weights_i8(q: &[i8], cout: usize, cin: usize, k: usize, cout_pad: usize) -> Vec<i8> {
    let kk = k * k;
    let cpad = cin.div_ceil(4) * 4;
    let mut out = vec![0i8; cout_pad * cin * kk];
    for co in 0..cout {
        let (cob, j) = (co / CZ_COB, co % CZ_COB);
        for ci in 0..cin {
            for t in 0..kk {
                out[((cob * cin + ci) * kk + t) * CZ_COB + j] = q[co * kk * cpad + t * cpad + ci];
            }
        }
    }
    out
}

/// A block's weights as f32 `[cout][cin][k][k]` (i8 dequantised): the reference the self-test convolves with.
pub fn block_weights_f32(b: &crate::core::visual::Block<'_>) -> Vec<f32> {
    let (cout, cin, k) = (b.cout, b.shape.cin, b.shape.k);
    match b.weights {
        BlockWeights::F32(w) => w[..cout * cin * k * k].to_vec(),
        BlockWeights::I8 { data, scales } => {
            let cpad = cin.div_ceil(4) * 4;
            let mut out = vec![0.0f32; cout * cin * k * k];
            for co in 0..cout {
                for ci in 0..cin {
                    for t in 0..k * k {
                        out[(co * cin + ci) * k * k + t] = data[co * k * k * cpad + t * cpad + ci] as f32 * scales[co];
                    }
                }
            }
            out
        }
    }
}

fn to_f16(v: &[f32]) -> Vec<f16> {
    v.iter().map(|&x| f16::from_f32(x)).collect()
}

/// A dense layer on the device: fp16 weights, f32 bias.
struct DevDense {
    w: CudaSlice<f16>,
    b: CudaSlice<f32>,
}

/// Device copies of the cortex state and its per-launch buffers.
struct DevCortex {
    lay: CxLayout,
    steps: CxSteps,
    st: CudaSlice<f32>,
    init: CudaSlice<f32>,
    rng: CudaSlice<u32>,
    rng0: [u32; 64],
    noise_raw: CudaSlice<u32>,
    noise: CudaSlice<f32>,
    stat: CudaSlice<i32>,
    drive: CudaSlice<f32>,
    nsteps: CudaSlice<i32>,
    // Host queue of frames not yet run (capacity CORTEX_BATCH, allocated once).
    q_drive: Vec<f32>,
    q_steps: Vec<i32>,
    time_acc: u64,
    frame_units: u64,
    step_units: u64,
    frames: u32,
}

impl DevCortex {
    /// Run the queued frames.
    fn flush(&mut self, stream: &Arc<CudaStream>, f: &CudaFunction) -> GpuResult<()> {
        let n = self.q_steps.len();
        if n == 0 {
            return Ok(());
        }
        let g = self.lay.g as usize;
        stream.memcpy_htod(&self.q_drive[..n * g], &mut self.drive.slice_mut(..n * g)).map_err(drv("copy"))?;
        stream.memcpy_htod(&self.q_steps[..n], &mut self.nsteps.slice_mut(..n)).map_err(drv("copy"))?;
        let nframes = n as i32;
        let mut b = stream.launch_builder(f);
        b.arg(&mut self.st)
            .arg(&mut self.rng)
            .arg(&mut self.noise_raw)
            .arg(&mut self.noise)
            .arg(&mut self.stat)
            .arg(&self.drive)
            .arg(&self.nsteps)
            .arg(&nframes)
            .arg(&self.lay)
            .arg(&self.steps);
        let cfg = LaunchConfig { grid_dim: (1, 1, 1), block_dim: (CX_NT, 1, 1), shared_mem_bytes: 0 };
        // SAFETY: the argument list matches `cortex_frames` in cortex.cu; every buffer is sized from the layout.
        unsafe { b.launch(cfg) }.map_err(drv("cortex launch"))?;
        self.q_drive.clear();
        self.q_steps.clear();
        Ok(())
    }

    /// Queue one front-end frame (its drive and step count, exactly as the CPU's `step_frame`).
    fn push(&mut self, frame: &FrameFeatures) {
        let g = self.lay.g as usize;
        let at = self.q_drive.len();
        self.q_drive.resize(at + g, 0.0);
        band_drive(frame, &mut self.q_drive[at..at + g]);
        self.time_acc += self.frame_units;
        let steps = self.time_acc / self.step_units;
        self.time_acc %= self.step_units;
        self.q_steps.push(steps as i32);
        self.frames = self.frames.wrapping_add(1);
    }

    fn reset(&mut self, stream: &Arc<CudaStream>) -> GpuResult<()> {
        stream.memcpy_dtod(&self.init, &mut self.st).map_err(drv("copy"))?;
        stream.memcpy_htod(&self.rng0, &mut self.rng).map_err(drv("copy"))?;
        stream.memcpy_htod(&[0i32], &mut self.stat).map_err(drv("copy"))?;
        self.q_drive.clear();
        self.q_steps.clear();
        self.time_acc = 0;
        self.frames = 0;
        Ok(())
    }
}

/// How the per-stack visual path is launched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Launch {
    /// Replayed from a CUDA graph captured at the first stack.
    Graph,
    /// Launched kernel by kernel (graph capture failed: the reason).
    Sequence(String),
}

/// The model on a CUDA GPU, with the API of [`crate::Pipeline`].
pub struct GpuPipeline<'a> {
    // Dropped first: the graph refers to the buffers below.
    graph: Option<CudaGraph>,
    launch: Launch,
    cfg: ModelConfig,
    model_hash: u64,
    info: DeviceInfo,
    ptx_cached: bool,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    _module: Arc<CudaModule>,
    f_v1: CudaFunction,
    f_k3: CudaFunction,
    f_v1_i8: CudaFunction,
    f_k3_i8: CudaFunction,
    f_gap: CudaFunction,
    f_cortex: CudaFunction,
    f_cfeat: CudaFunction,
    f_head: CudaFunction,
    // Visual.
    blocks: Vec<DevBlock>,
    ring: CudaSlice<u8>,
    params: CudaSlice<i32>,
    acts: Vec<CudaSlice<f16>>,
    gap: CudaSlice<f32>,
    vsum: CudaSlice<f32>,
    vsumsq: CudaSlice<f32>,
    frames_seen: u64,
    stacks: u32,
    // Audio.
    frontend: FrontEnd<'a>,
    cortex: DevCortex,
    a_in: CudaSlice<f32>,
    // Head.
    v_mean: CudaSlice<f32>,
    v_inv_std: CudaSlice<f32>,
    v_ro: DevDense,
    a_mean: CudaSlice<f32>,
    a_inv_std: CudaSlice<f32>,
    a_ro: DevDense,
    f_audio: DevDense,
    f_visual: DevDense,
    f_attn: Option<(DevDense, DevDense)>,
    f_out: DevDense,
    bel: Bel<'a>,
    d_amyg: CudaSlice<f32>,
    d_thal: CudaSlice<f32>,
    d_orbi: CudaSlice<f32>,
    out: CudaSlice<f32>,
    host_out: Vec<f32>,
    sensory: Vec<f32>,
}

impl<'a> GpuPipeline<'a> {
    /// Floats of host scratch a GPU pipeline over `w` needs (the audio front-end and BEL's learned state).
    pub fn scratch_len(w: &Weights<'_>) -> usize {
        let Ok(mw) = ModelWeights::resolve(w) else { return 0 };
        let mut arena = Arena::counting();
        let _ = FrontEnd::in_arena(&mw.config.audio, &mut arena);
        let _ = Bel::new(&mw.config.bel, &mw.bel, &mut arena);
        arena.used()
    }

    /// Probe the GPU, compile (or load from the cache) the kernels for its architecture, upload the weights and
    /// allocate every device buffer. Fails with a message (never panics) when something is missing.
    pub fn new(w: &Weights<'a>, scratch: &'a mut [f32]) -> GpuResult<Self> {
        let (ctx, info) = probe()?;
        let arch = arch_for(info.cc);
        let (ptx, ptx_cached) = cached_ptx(arch)?;
        // One stream, no cross-stream event tracking (and none inside graph capture).
        // SAFETY: every launch and copy of this pipeline goes through `stream`, so no cross-stream sync is needed.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.new_stream().map_err(drv("stream"))?;
        let module = ctx.load_module(cudarc::nvrtc::Ptx::from_src(ptx)).map_err(drv("module load"))?;
        let func = |name: &str| module.load_function(name).map_err(|e| format!("CUDA kernel {name}: {e:?}"));
        for name in ENTRY_POINTS {
            func(name)?;
        }
        let mw = ModelWeights::resolve(w).map_err(str_err)?;
        let cfg = mw.config;
        let needed = Self::scratch_len(w);
        if scratch.len() < needed {
            return Err(format!("host scratch too small: {needed} floats needed, {} given", scratch.len()));
        }
        let mut arena = Arena::new(scratch);
        let frontend = FrontEnd::in_arena(&cfg.audio, &mut arena).map_err(str_err)?;
        let bel = Bel::new(&cfg.bel, &mw.bel, &mut arena).map_err(str_err)?;

        let up32 = |v: &[f32]| stream.clone_htod(v).map_err(drv("upload"));
        let up16 = |v: &[f32]| stream.clone_htod(&to_f16(v)).map_err(drv("upload"));
        let mut blocks = Vec::with_capacity(4);
        let mut acts = Vec::with_capacity(4);
        for (b, s) in block_shapes(&cfg).into_iter().enumerate() {
            let cout = cfg.visual.widths[b] as usize;
            let cout_pad = cout.div_ceil(CZ_COB) * CZ_COB;
            let (ph, pw) = (s.ho().div_ceil(2), s.wo().div_ceil(2));
            let tiles_x = pw.div_ceil(CZ_TP);
            let tiles = tiles_x * ph.div_ceil(CZ_TP);
            let name = CONV_WEIGHTS[b].name();
            let (wdev, scale) = match mw.visual.blocks[b].weight {
                ConvView::I8 { data, scales } => {
                    if data.len() != cout * s.kk4() {
                        return Err(format!("{name}: shape mismatch"));
                    }
                    let mut sc = vec![1.0f32; cout_pad];
                    sc[..cout].copy_from_slice(&scales[..cout]);
                    let q = conv_weights_i8(data, cout, s.cin, s.k, cout_pad);
                    (DevConvW::I8(stream.clone_htod(&q).map_err(drv("upload"))?), up16(&sc)?)
                }
                ConvView::F32(v) => {
                    let wf = v.to_vec();
                    (
                        DevConvW::F16(up16(&conv_weights_f32(&wf, cout, s.cin, s.k, cout_pad))?),
                        up16(&vec![1.0; cout_pad])?,
                    )
                }
                ConvView::F16(v) => {
                    let wf: Vec<f32> = v.iter().map(|h| h.to_f32()).collect();
                    (
                        DevConvW::F16(up16(&conv_weights_f32(&wf, cout, s.cin, s.k, cout_pad))?),
                        up16(&vec![1.0; cout_pad])?,
                    )
                }
            };
            let bias = mw.visual.blocks[b].bias;
            let i = |x: usize| x as i32;
            blocks.push(DevBlock {
                w: wdev,
                scale,
                bias: up32(bias)?,
                dims: [i(s.cin), i(s.h), i(s.w), i(cout), i(s.ho()), i(s.wo()), i(ph), i(pw), i(tiles_x), i(tiles)],
                cout_pad,
            });
            acts.push(stream.alloc_zeros::<f16>(cout * ph * pw).map_err(drv("alloc"))?);
        }
        let vc = cfg.visual;
        let it = vc.widths[3] as usize;
        let frame = vc.height as usize * vc.width as usize;
        let dense = |d: &DenseWeights<'_>| {
            let wf: Vec<f32> = (0..d.weight.len()).map(|i| d.weight.at(i)).collect();
            Ok::<_, String>(DevDense { w: up16(&wf)?, b: up32(d.bias)? })
        };
        let v_ro = dense(&mw.visual.readout.dense)?;
        let n_a = audio_inputs(&cfg);
        let fa = cfg.fusion.audio_features as usize;
        let a_ro = dense(&mw.audio_readout.dense)?;
        let f_audio = dense(&mw.fusion.audio)?;
        let f_visual = dense(&mw.fusion.visual)?;
        let f_attn = match &mw.fusion.attention {
            Some((a, v)) => Some((dense(a)?, dense(v)?)),
            None => None,
        };
        let k = cfg.fusion.sensory as usize;
        let f_out = dense(&mw.fusion.out)?;

        // The cortex: the CPU core builds the initial state and the connectivity in its own layout; upload that.
        let lay = CxLayout::new(&cfg.cortex);
        let mut host_state = vec![0.0f32; Cortex::scratch_len(&cfg.cortex)];
        if host_state.len() != lay.total() {
            return Err(format!("cortex layout mismatch: {} vs {}", host_state.len(), lay.total()));
        }
        Cortex::new(&cfg.cortex, &cfg.audio, &mut host_state).map_err(str_err)?;
        let g = cfg.cortex.groups as usize;
        let cortex = DevCortex {
            lay,
            steps: CxSteps::new(&cfg.cortex, 1.0),
            st: up32(&host_state)?,
            init: up32(&host_state)?,
            rng: stream.clone_htod(&cortex_noise_seed(&cfg.cortex)).map_err(drv("upload"))?,
            rng0: cortex_noise_seed(&cfg.cortex),
            noise_raw: stream.alloc_zeros::<u32>(2 * 16 * lay.calls()).map_err(drv("alloc"))?,
            noise: stream.alloc_zeros::<f32>(32 * lay.calls()).map_err(drv("alloc"))?,
            stat: stream.alloc_zeros::<i32>(1).map_err(drv("alloc"))?,
            drive: stream.alloc_zeros::<f32>(CORTEX_BATCH * g).map_err(drv("alloc"))?,
            nsteps: stream.alloc_zeros::<i32>(CORTEX_BATCH).map_err(drv("alloc"))?,
            q_drive: Vec::with_capacity(CORTEX_BATCH * g),
            q_steps: Vec::with_capacity(CORTEX_BATCH),
            time_acc: 0,
            frame_units: cfg.audio.hop as u64 * 1_000_000,
            step_units: cfg.audio.sample_rate as u64 * cfg.cortex.dt_us as u64,
            frames: 0,
        };
        let n_out = 18 + k + fa + vc.features as usize;
        let mut p = GpuPipeline {
            graph: None,
            launch: Launch::Sequence("not captured yet".into()),
            cfg,
            model_hash: w.model_hash(),
            info,
            ptx_cached,
            f_v1: func("cz_v1_f16w")?,
            f_k3: func("cz_k3_f16w")?,
            f_v1_i8: func("cz_v1_i8w")?,
            f_k3_i8: func("cz_k3_i8w")?,
            f_gap: func("cz_gap_accumulate")?,
            f_cortex: func("cortex_frames")?,
            f_cfeat: func("cortex_features")?,
            f_head: func("head_fusion_bel")?,
            _module: module.clone(),
            blocks,
            ring: stream.alloc_zeros::<u8>(vc.channels as usize * frame).map_err(drv("alloc"))?,
            params: stream.alloc_zeros::<i32>(4).map_err(drv("alloc"))?,
            acts,
            gap: stream.alloc_zeros::<f32>(it).map_err(drv("alloc"))?,
            vsum: stream.alloc_zeros::<f32>(it).map_err(drv("alloc"))?,
            vsumsq: stream.alloc_zeros::<f32>(it).map_err(drv("alloc"))?,
            frames_seen: 0,
            stacks: 0,
            frontend,
            cortex,
            a_in: stream.alloc_zeros::<f32>(n_a).map_err(drv("alloc"))?,
            v_mean: up32(mw.visual.readout.mean)?,
            v_inv_std: up32(mw.visual.readout.inv_std)?,
            v_ro,
            a_mean: up32(mw.audio_readout.mean)?,
            a_inv_std: up32(mw.audio_readout.inv_std)?,
            a_ro,
            f_audio,
            f_visual,
            f_attn,
            f_out,
            d_amyg: up32(bel.amygdala())?,
            d_thal: up32(bel.thalamus())?,
            d_orbi: up32(bel.orbitofrontal())?,
            bel,
            out: stream.alloc_zeros::<f32>(n_out).map_err(drv("alloc"))?,
            host_out: vec![0.0; n_out],
            sensory: vec![0.0; k],
            ctx,
            stream,
        };
        p.stream.synchronize().map_err(drv("sync"))?;
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

    /// The GPU in use.
    pub fn device(&self) -> &DeviceInfo {
        &self.info
    }

    /// Whether the PTX came from the on-disk cache.
    pub fn ptx_cached(&self) -> bool {
        self.ptx_cached
    }

    /// How the visual path is launched (CUDA graph or kernel sequence, with the reason).
    pub fn launch_mode(&self) -> &Launch {
        &self.launch
    }

    /// Start a new clip (BEL's learning is kept).
    pub fn reset(&mut self) -> GpuResult<()> {
        self.frontend.reset();
        self.cortex.reset(&self.stream)?;
        self.stream.memset_zeros(&mut self.vsum).map_err(drv("memset"))?;
        self.stream.memset_zeros(&mut self.vsumsq).map_err(drv("memset"))?;
        self.frames_seen = 0;
        self.stacks = 0;
        Ok(())
    }

    /// Launch the four CORnet-Z blocks and the IT pooling/accumulation on `stream`.
    fn launch_visual(&mut self) -> GpuResult<()> {
        let it = self.cfg.visual.widths[3] as usize;
        for b in 0..4 {
            let blk = &self.blocks[b];
            let d = blk.dims;
            let f = match (&blk.w, b == 0) {
                (DevConvW::F16(_), true) => &self.f_v1,
                (DevConvW::F16(_), false) => &self.f_k3,
                (DevConvW::I8(_), true) => &self.f_v1_i8,
                (DevConvW::I8(_), false) => &self.f_k3_i8,
            };
            let (before, after) = self.acts.split_at_mut(b);
            let out = &mut after[0];
            let mut l = self.stream.launch_builder(f);
            if b == 0 {
                l.arg(&self.ring);
            } else {
                l.arg(&before[b - 1]);
            }
            l.arg(&self.params);
            match &blk.w {
                DevConvW::F16(w) => l.arg(w),
                DevConvW::I8(w) => l.arg(w),
            };
            l.arg(&blk.scale).arg(&blk.bias).arg(out);
            for x in &d[..9] {
                l.arg(x);
            }
            let cfg = LaunchConfig {
                grid_dim: (d[9] as u32, (blk.cout_pad / CZ_COB) as u32, 1),
                block_dim: (CZ_NT, 1, 1),
                shared_mem_bytes: 0,
            };
            // SAFETY: arguments match `cz_*` in cornet.cu; buffers are sized from the same geometry.
            unsafe { l.launch(cfg) }.map_err(drv("CORnet-Z launch"))?;
        }
        let d = self.blocks[3].dims;
        let (c, hw) = (it as i32, d[6] * d[7]);
        let mut l = self.stream.launch_builder(&self.f_gap);
        l.arg(&self.acts[3]).arg(&c).arg(&hw).arg(&mut self.gap).arg(&mut self.vsum).arg(&mut self.vsumsq);
        let cfg = LaunchConfig {
            grid_dim: ((it * 32).div_ceil(256) as u32, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: arguments match `cz_gap_accumulate`.
        unsafe { l.launch(cfg) }.map_err(drv("GAP launch"))?;
        Ok(())
    }

    /// Capture the visual path as a CUDA graph (once); on failure keep launching kernel by kernel.
    fn capture(&mut self) {
        let r = (|| -> GpuResult<Option<CudaGraph>> {
            self.stream
                .begin_capture(sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
                .map_err(drv("begin capture"))?;
            let launched = self.launch_visual();
            let graph = self.stream.end_capture(sys::CUgraphInstantiate_flags(0)).map_err(drv("end capture"));
            launched?;
            graph
        })();
        match r {
            Ok(Some(g)) => {
                self.graph = Some(g);
                self.launch = Launch::Graph;
            }
            Ok(None) => self.launch = Launch::Sequence("stream capture returned no graph".into()),
            Err(e) => self.launch = Launch::Sequence(e),
        }
    }

    /// Push one grayscale frame of `height·width` bytes; runs CORnet-Z when a stack is due. Returns whether it did.
    pub fn push_frame(&mut self, frame: &[u8]) -> GpuResult<bool> {
        let vc = self.cfg.visual;
        let n = vc.height as usize * vc.width as usize;
        if frame.len() != n {
            return Err(InputError::FrameSize { expected: n, got: frame.len() }.to_string());
        }
        let c = vc.channels as u64;
        let slot = (self.frames_seen % c) as usize;
        self.stream.memcpy_htod(frame, &mut self.ring.slice_mut(slot * n..(slot + 1) * n)).map_err(drv("copy"))?;
        self.frames_seen += 1;
        if self.frames_seen < c || !(self.frames_seen - c).is_multiple_of(vc.stride_frames as u64) {
            return Ok(false);
        }
        // Channel i of the stack is ring slot (seen + i) % c: the oldest frame first.
        let first = [(self.frames_seen % c) as i32, 0, 0, 0];
        self.stream.memcpy_htod(&first, &mut self.params).map_err(drv("copy"))?;
        if self.graph.is_none() && matches!(&self.launch, Launch::Sequence(r) if r == "not captured yet") {
            self.capture();
        }
        match &self.graph {
            Some(g) => g.launch().map_err(drv("graph launch"))?,
            None => self.launch_visual()?,
        }
        self.stacks += 1;
        Ok(true)
    }

    /// Push mono PCM samples in −1..1; the front-end runs on the CPU, the cortex on the GPU in frame batches.
    pub fn push_audio(&mut self, pcm: &[f32]) -> GpuResult<()> {
        let GpuPipeline { frontend, cortex, stream, f_cortex, .. } = self;
        let mut err = None;
        frontend
            .push(pcm, &mut |f: &FrameFeatures| {
                cortex.push(f);
                if cortex.q_steps.len() == CORTEX_BATCH && err.is_none() {
                    err = cortex.flush(stream, f_cortex).err();
                }
            })
            .map_err(str_err)?;
        err.map_or(Ok(()), Err)
    }

    /// Close the clip and infer with the chosen senses; the clip state is reset afterwards (also on error).
    pub fn infer(&mut self, m: Modalities) -> GpuResult<Output> {
        let r = self.output(m);
        let r2 = self.reset();
        let out = r?;
        r2.map(|_| out)
    }

    fn output(&mut self, m: Modalities) -> GpuResult<Output> {
        if !m.audio && !m.video {
            return Err(InputError::ShapeMismatch("no modality selected").to_string());
        }
        if m.audio {
            let GpuPipeline { frontend, cortex, stream, f_cortex, .. } = self;
            let mut err = None;
            frontend
                .finish(&mut |f: &FrameFeatures| {
                    cortex.push(f);
                    if cortex.q_steps.len() == CORTEX_BATCH && err.is_none() {
                        err = cortex.flush(stream, f_cortex).err();
                    }
                })
                .map_err(str_err)?;
            if let Some(e) = err {
                return Err(e);
            }
            self.cortex.flush(&self.stream, &self.f_cortex)?;
            let mut head = [0.0f32; N_DESCRIPTORS + N_INTERVALS];
            head[..N_DESCRIPTORS].copy_from_slice(&self.frontend.summary().as_array());
            head[N_DESCRIPTORS..].copy_from_slice(&self.frontend.interval_profile());
            self.stream.memcpy_htod(&head, &mut self.a_in.slice_mut(..head.len())).map_err(drv("copy"))?;
            let lay = self.cortex.lay;
            let mut tail = self.a_in.slice_mut(head.len()..);
            let mut l = self.stream.launch_builder(&self.f_cfeat);
            l.arg(&self.cortex.st).arg(&self.cortex.stat).arg(&lay).arg(&mut tail);
            let cfg = LaunchConfig { grid_dim: (1, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 };
            // SAFETY: arguments match `cortex_features`; `tail` holds 6·groups floats.
            unsafe { l.launch(cfg) }.map_err(drv("cortex features launch"))?;
        }
        if m.video && self.stacks == 0 {
            return Err(InputError::NoFrames.to_string());
        }
        self.run_head(m)?;
        let o = &self.host_out;
        let k = self.cfg.fusion.sensory as usize;
        let mut out = Output {
            epp: o[5],
            contribution: Contribution { audio: o[6], visual: o[7] },
            terms: BelTerms::default(),
            ..Default::default()
        };
        out.emotions.copy_from_slice(&o[..N_EMOTIONS]);
        out.terms.amygdala.copy_from_slice(&o[8..13]);
        out.terms.orbitofrontal.copy_from_slice(&o[13..18]);
        self.sensory.copy_from_slice(&o[18..18 + k]);
        // BEL learns on the host: remember this input there (its own forward pass is 80 multiply-adds).
        let mut e = [0.0; N_EMOTIONS];
        self.bel.forward(&self.sensory, &mut e).map_err(str_err)?;
        Ok(out)
    }

    fn run_head(&mut self, m: Modalities) -> GpuResult<()> {
        let c = &self.cfg;
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
        };
        let stacks = self.stacks.max(1) as f32;
        let (att_a, att_v) = match &self.f_attn {
            Some((a, v)) => (a, v),
            None => (&self.f_audio, &self.f_audio), // not read without attention
        };
        let mut l = self.stream.launch_builder(&self.f_head);
        l.arg(&dims)
            .arg(&self.vsum)
            .arg(&self.vsumsq)
            .arg(&stacks)
            .arg(&self.v_mean)
            .arg(&self.v_inv_std)
            .arg(&self.v_ro.w)
            .arg(&self.v_ro.b)
            .arg(&self.a_in)
            .arg(&self.a_mean)
            .arg(&self.a_inv_std)
            .arg(&self.a_ro.w)
            .arg(&self.a_ro.b)
            .arg(&self.f_audio.w)
            .arg(&self.f_audio.b)
            .arg(&self.f_visual.w)
            .arg(&self.f_visual.b)
            .arg(&att_a.w)
            .arg(&att_a.b)
            .arg(&att_v.w)
            .arg(&att_v.b)
            .arg(&self.f_out.w)
            .arg(&self.f_out.b)
            .arg(&self.d_amyg)
            .arg(&self.d_thal)
            .arg(&self.d_orbi)
            .arg(&mut self.out);
        let cfg = LaunchConfig { grid_dim: (1, 1, 1), block_dim: (HD_NT, 1, 1), shared_mem_bytes: 0 };
        // SAFETY: arguments match `head_fusion_bel` in head.cu; sizes are bounded by ModelConfig::validate.
        unsafe { l.launch(cfg) }.map_err(drv("head launch"))?;
        self.stream.memcpy_dtoh(&self.out, &mut self.host_out).map_err(drv("copy"))?;
        self.stream.synchronize().map_err(drv("sync"))?;
        Ok(())
    }

    /// One BEL learning step on the last inference's input (on the host), then the weights go back to the GPU.
    pub fn learn(&mut self, reward: &[f32; N_EMOTIONS]) -> GpuResult<()> {
        self.bel.learn(reward).map_err(str_err)?;
        self.stream.memcpy_htod(self.bel.amygdala(), &mut self.d_amyg).map_err(drv("copy"))?;
        self.stream.memcpy_htod(self.bel.thalamus(), &mut self.d_thal).map_err(drv("copy"))?;
        self.stream.memcpy_htod(self.bel.orbitofrontal(), &mut self.d_orbi).map_err(drv("copy"))?;
        Ok(())
    }

    /// The fused sensory vector of the last inference.
    pub fn sensory(&self) -> &[f32] {
        &self.sensory
    }

    /// Wait for the GPU (for timing).
    pub fn synchronize(&self) -> GpuResult<()> {
        self.stream.synchronize().map_err(drv("sync"))
    }

    /// Host copies of the four blocks' pooled maps (f32) and IT's global average, for the self-test.
    pub fn visual_maps(&self) -> GpuResult<(Vec<Vec<f32>>, Vec<f32>)> {
        let mut maps = Vec::with_capacity(4);
        for a in &self.acts {
            let v: Vec<f16> = self.stream.clone_dtoh(a).map_err(drv("copy"))?;
            maps.push(v.iter().map(|x| x.to_f32()).collect());
        }
        let gap = self.stream.clone_dtoh(&self.gap).map_err(drv("copy"))?;
        Ok((maps, gap))
    }

    /// The cortex features over the clip so far (runs the queued frames first).
    pub fn cortex_features(&mut self) -> GpuResult<Vec<f32>> {
        self.cortex.flush(&self.stream, &self.f_cortex)?;
        let g = self.cfg.cortex.groups as usize;
        let mut out = self.stream.alloc_zeros::<f32>(6 * g).map_err(drv("alloc"))?;
        let lay = self.cortex.lay;
        let mut l = self.stream.launch_builder(&self.f_cfeat);
        l.arg(&self.cortex.st).arg(&self.cortex.stat).arg(&lay).arg(&mut out);
        let cfg = LaunchConfig { grid_dim: (1, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 };
        // SAFETY: arguments match `cortex_features`.
        unsafe { l.launch(cfg) }.map_err(drv("cortex features launch"))?;
        self.stream.clone_dtoh(&out).map_err(drv("copy"))
    }

    /// Feed cortex frames directly (self-test: the same frames the CPU cortex gets).
    pub fn cortex_step_frame(&mut self, f: &FrameFeatures) -> GpuResult<()> {
        self.cortex.push(f);
        if self.cortex.q_steps.len() == CORTEX_BATCH {
            self.cortex.flush(&self.stream, &self.f_cortex)?;
        }
        Ok(())
    }

    /// The context (for timing with events).
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }
}

/// The four blocks' geometry (V1 7×7/2 pad 3, then 3×3/1 pad 1, each followed by max-pool 3/2/1).
pub fn block_shapes(cfg: &ModelConfig) -> [ConvShape; 4] {
    let v = cfg.visual;
    let (mut cin, mut h, mut w) = (v.channels as usize, v.height as usize, v.width as usize);
    core::array::from_fn(|b| {
        let (k, stride, pad) = if b == 0 { (7, 2, 3) } else { (3, 1, 1) };
        let s = ConvShape { cin, h, w, k, stride, pad };
        cin = v.widths[b] as usize;
        h = s.ho().div_ceil(2);
        w = s.wo().div_ceil(2);
        s
    })
}

fn str_err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's view of the cortex scratch is the CPU core's layout.
    #[test]
    fn cortex_layout_matches_the_cpu_core() {
        for cfg in [CortexConfig::default(), ModelConfig::tiny().cortex] {
            let lay = CxLayout::new(&cfg);
            assert_eq!(lay.total(), Cortex::scratch_len(&cfg));
        }
    }

    /// The host's band drive gives the same bits as the CPU core's (what the cortex kernel is fed).
    #[test]
    fn band_drive_matches_the_cpu_core() {
        let cfg = ModelConfig::default();
        let mut buf = vec![0f32; Cortex::scratch_len(&cfg.cortex)];
        let mut c = Cortex::new(&cfg.cortex, &cfg.audio, &mut buf).unwrap();
        let g = cfg.cortex.groups as usize;
        let m = cfg.audio.n_mels as usize;
        for t in 0..40usize {
            let mel: Vec<f32> = (0..m).map(|i| ((i * 37 + t * 11) % 90) as f32 - 70.0).collect();
            let f = FrameFeatures {
                index: t as u32,
                rms: 0.1,
                pitch_mean: 0.0,
                tonnetz: [0.0; crate::core::audio::TONNETZ_DIMS],
                onset: (t % 7) as f32 * 2.5,
                mel_db: &mel,
            };
            c.step_frame(&f);
            let (mut want, mut got) = (vec![0f32; g], vec![0f32; g]);
            c.last_drive(&mut want);
            band_drive(&f, &mut got);
            assert_eq!(
                want.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                got.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            );
        }
    }

    /// The int8 and f32 device layouts put every weight at the same place.
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
        let cout_pad = cout.div_ceil(CZ_COB) * CZ_COB;
        let a = conv_weights_f32(&f, cout, cin, k, cout_pad);
        let b = conv_weights_i8(&q, cout, cin, k, cout_pad);
        assert_eq!(a.len(), b.len());
        assert!(a.iter().zip(&b).all(|(x, y)| *x == *y as f32));
    }

    /// The block geometry is the CPU core's (pooled sizes of `VisualConfig::block_sizes`).
    #[test]
    fn block_shapes_match_config() {
        let mut cfg = ModelConfig::default();
        cfg.visual.height = 224;
        cfg.visual.width = 224;
        let sizes = cfg.visual.block_sizes();
        for (s, (conv, pooled)) in block_shapes(&cfg).iter().zip(sizes) {
            assert_eq!((s.ho(), s.wo()), conv);
            assert_eq!((s.ho().div_ceil(2), s.wo().div_ceil(2)), pooled);
        }
    }
}
