//! Rendering a 3-second stimulus (audio at 22,050 Hz and 64×64 frames at 30 fps) on one core.

use avf_bel::stimuli::{render, render_audio, render_frames, Params, RenderOptions};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let opts = RenderOptions::default();
    for name in ["angry", "peaceful"] {
        let p = Params::prototype(name).unwrap();
        c.bench_function(&format!("render 3 s {name} (audio + 64x64 frames)"), |b| {
            b.iter(|| render(black_box(&p), black_box(&opts)).unwrap())
        });
    }
    let p = Params::prototype("angry").unwrap();
    c.bench_function("render 3 s angry audio only", |b| {
        b.iter(|| render_audio(black_box(&p), black_box(&opts)).unwrap())
    });
    c.bench_function("render 3 s angry frames only", |b| {
        b.iter(|| render_frames(black_box(&p), black_box(&opts)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
