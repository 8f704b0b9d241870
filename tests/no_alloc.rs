//! The core's promise: once a pipeline is built, a steady-state run (audio, frames, inference, learning) makes zero
//! heap allocations. A counting global allocator checks it.

mod common;
use avf_bel::model::Precision;
use avf_bel::{Modalities, Pipeline, Weights};
use common::{frame, tiny_model, tones};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_pipeline_run_does_not_allocate() {
    // Each precision, and the f32 model with the visual background on (its state is in the scratch too).
    for (prec, background) in
        [(Precision::F32, false), (Precision::Int8, false), (Precision::F16, false), (Precision::F32, true)]
    {
        let (cfg, buf) = if background {
            let mut cfg = avf_bel::ModelConfig::tiny();
            cfg.input.background_tau_ms = avf_bel::BACKGROUND_TAU_MS;
            let bytes = avf_bel::model::encode(&cfg, &avf_bel::model::seeded(&cfg, 1), prec).unwrap();
            (cfg, avf_bel::weights::writer::AlignedBytes::new(&bytes))
        } else {
            tiny_model(1, prec)
        };
        let w = Weights::parse(buf.as_bytes()).unwrap();
        let mut scratch = vec![0.0; Pipeline::scratch_len(&w)];
        let mut p = Pipeline::new(&w, &mut scratch).unwrap();
        let audio = tones(&cfg, 1.0, 4000);
        let frames: Vec<Vec<u8>> = (0..12).map(|t| frame(&cfg, t)).collect();
        let clip = |p: &mut Pipeline<'_>| {
            for chunk in audio.chunks(700) {
                p.push_audio(chunk).unwrap();
            }
            for f in &frames {
                p.push_frame(f).unwrap();
            }
            let out = p.infer(Modalities::BOTH).unwrap();
            p.learn(&[0.5; 5]).unwrap();
            out
        };
        clip(&mut p); // warm-up: lazily initialised std state (CPU feature detection) settles here
        let before = ALLOCS.load(Ordering::SeqCst);
        let mut acc = 0.0;
        for _ in 0..3 {
            acc += clip(&mut p).epp;
        }
        let after = ALLOCS.load(Ordering::SeqCst);
        assert!(acc.is_finite());
        assert_eq!(
            after - before,
            0,
            "{prec:?} (background {background}): {} heap allocations in steady state",
            after - before
        );
        // The counter itself works: building a pipeline's scratch allocates.
        let v = vec![0u8; 16];
        assert!(ALLOCS.load(Ordering::SeqCst) > after);
        drop(v);
    }
}
