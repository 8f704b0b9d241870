//! What the fuzz targets share: the tiny model, built once per process, and the checks every read-out must pass.
//!
//! Each target in `fuzz_targets/` is one input boundary of avf-bel; the property every one of them checks is that
//! bad input is a typed error, never a panic, and that whatever is accepted keeps the model's invariants.

use avf_bel::model::{encode, seeded, Precision};
use avf_bel::weights::writer::AlignedBytes;
use avf_bel::{CortexConfig, InputConfig, Modalities, ModelConfig, Output, Pipeline, Weights};
use std::cell::RefCell;
use std::sync::OnceLock;

/// The seed of the models the targets run (the seed files are made with it).
pub const SEED: u64 = 1;

/// The models the targets run: small, so that an input costs microseconds, and built once per process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// `ModelConfig::tiny()`: 32×32×2 frames, a 96-neuron auditory cortex.
    Tiny,
    /// The tiny model with a 16-neuron auditory cortex (8 PYR, 4 PV, 4 SOM, 2 groups): the same code paths, for
    /// targets that push a lot of audio (the cortex is the costly stage: ~6× faster inputs), and with the visual
    /// background on, gated and its rows levelled (`InputConfig::background_tau_ms`, `background_gate`,
    /// `background_level_rows`), so that every frame a target pushes also goes through it.
    Light,
}

impl Model {
    /// Its configuration.
    pub fn config(self) -> ModelConfig {
        let tiny = ModelConfig::tiny();
        match self {
            Model::Tiny => tiny,
            Model::Light => {
                let input = InputConfig {
                    background_tau_ms: avf_bel::BACKGROUND_TAU_MS,
                    background_gate: true,
                    background_level_rows: true,
                    ..tiny.input
                };
                let cortex = CortexConfig { n_pyr: 8, n_pv: 4, n_som: 4, groups: 2, ..tiny.cortex };
                ModelConfig { cortex, input, ..tiny }
            }
        }
    }

    /// The bytes of its weights file (seeded with [`SEED`]).
    pub fn file(self, precision: Precision) -> Vec<u8> {
        let cfg = self.config();
        encode(&cfg, &seeded(&cfg, SEED), precision).expect("the model encodes")
    }

    /// Its weights, parsed once per process and kept in statics (not leaked: the leak sanitizer would report it).
    pub fn weights(self, precision: Precision) -> &'static Weights<'static> {
        const N: usize = 6;
        static FILES: [OnceLock<AlignedBytes>; N] = [const { OnceLock::new() }; N];
        static PARSED: [OnceLock<Weights<'static>>; N] = [const { OnceLock::new() }; N];
        let slot = 3 * (self as usize)
            + match precision {
                Precision::F32 => 0,
                Precision::F16 => 1,
                _ => 2,
            };
        PARSED[slot].get_or_init(|| {
            let file = FILES[slot].get_or_init(|| AlignedBytes::new(&self.file(precision)));
            Weights::parse(file.as_bytes()).expect("the model parses")
        })
    }

    /// Run `f` on a fresh pipeline of this model (bound to [`poisoned_scratch`]: one input never sees another's
    /// state).
    pub fn with_pipeline<R>(self, precision: Precision, f: impl FnOnce(&mut Pipeline<'_>) -> R) -> R {
        let w = self.weights(precision);
        poisoned_scratch(Pipeline::scratch_len(w), |scratch| {
            let mut p = Pipeline::new(w, scratch).expect("the model binds");
            f(&mut p)
        })
    }
}

/// Run `f` on `n` floats of scratch filled with NaN: a buffer kept by the thread and re-poisoned for every input.
///
/// Keeping it saves each input a large allocation and its page faults (about 5–8 % of the pipeline targets' time in
/// perf);
/// poisoning it checks more than a fresh zeroed buffer did: `Pipeline::new` must set every float it later reads, or
/// the NaN reaches a read-out and `check_output` fails. Inputs stay independent and reproducible.
pub fn poisoned_scratch<R>(n: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    thread_local! {
        static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    }
    SCRATCH.with_borrow_mut(|buf| {
        buf.clear();
        buf.resize(n, f32::NAN);
        f(&mut buf[..])
    })
}

/// A tiny pipeline (f32) shared by the inputs of one process, primed once with a stack of frames, for targets that
/// only read out and learn (rewards, state files): building and priming a pipeline costs ~0.2 ms, which would cap
/// them at a few hundred inputs per second under the sanitizer.
///
/// Every input starts from the same state: BEL's weights are put back to the model's and a streaming read-out
/// (`peek`, which does not close the clip) sets BEL's last input, before `f` runs. `f` must not push input, close
/// or reset the clip (that would carry state into the next input); a target that needs that uses
/// [`Model::with_pipeline`].
pub fn with_primed_pipeline<R>(f: impl FnOnce(&mut Pipeline<'static>) -> R) -> R {
    struct Primed {
        p: Pipeline<'static>,
        bel: [Vec<f32>; 3],
    }
    thread_local! {
        static PRIMED: RefCell<Option<Primed>> = const { RefCell::new(None) };
    }
    PRIMED.with_borrow_mut(|slot| {
        let primed = slot.get_or_insert_with(|| {
            let w = Model::Tiny.weights(Precision::F32);
            // Leaked on purpose (once per process) and reachable from the thread-local: no leak report.
            let scratch: &'static mut [f32] = Vec::leak(vec![0.0f32; Pipeline::scratch_len(w)]);
            let mut p = Pipeline::new(w, scratch).expect("the tiny model binds");
            prime_video(&mut p, &[]);
            let b = p.bel();
            let bel = [b.amygdala().to_vec(), b.thalamus().to_vec(), b.orbitofrontal().to_vec()];
            Primed { p, bel }
        });
        let [a, t, o] = &primed.bel;
        primed.p.bel_mut().restore(a, t, o).expect("the primed state restores");
        check_output(&primed.p.peek(Modalities::VIDEO).expect("a primed pipeline reads out"));
        f(&mut primed.p)
    })
}

/// A grayscale frame of the pipeline's size, filled from `pattern` (cycled; mid-grey when empty).
pub fn frame_from(p: &Pipeline<'_>, pattern: &[u8]) -> Vec<u8> {
    let n = p.config().visual.height as usize * p.config().visual.width as usize;
    if pattern.is_empty() {
        return vec![128; n];
    }
    pattern.iter().copied().cycle().take(n).collect()
}

/// Push enough frames for one visual read-out (one full stack of `channels` frames).
pub fn prime_video(p: &mut Pipeline<'_>, pattern: &[u8]) {
    let f = frame_from(p, pattern);
    let stack = p.config().visual.channels as usize * p.config().visual.stride_frames.max(1) as usize;
    for _ in 0..stack {
        p.push_frame(&f).expect("a frame of the model's size is accepted");
    }
}

/// What every read-out the model gives must satisfy, whatever came in: intensities and EPP finite, in 0–1.
pub fn check_output(o: &Output) {
    for (e, x) in o.emotions.iter().enumerate() {
        assert!(x.is_finite() && (0.0..=1.0).contains(x), "emotion {e} = {x}");
    }
    assert!(o.epp.is_finite() && (0.0..=1.0).contains(&o.epp), "EPP = {}", o.epp);
}

/// BEL's learned weights must stay finite and within the configured bound, whatever it was taught.
pub fn check_bel(p: &mut Pipeline<'_>) {
    let bound = p.config().bel.weight_bound;
    let bel = p.bel();
    for (name, w) in
        [("amygdala", bel.amygdala()), ("thalamus", bel.thalamus()), ("orbitofrontal", bel.orbitofrontal())]
    {
        for (i, x) in w.iter().enumerate() {
            assert!(x.is_finite() && x.abs() <= bound, "{name}[{i}] = {x} (bound {bound})");
        }
    }
}
