//! Per-layer GEMM rates of CORnet-Z's convolutions at 96² (and V2 at 64²) for each kernel level named on the
//! command line: the int8 GEMM on channel quads and the f32 packing and GEMM, best of repeated runs, in multiply-
//! accumulates per second. A diagnostic for kernel work (which layer, which panel shape is slow), not a benchmark of
//! the model: `cargo bench --bench pipeline` and `benches/compare.sh` are those.
//!
//! `cargo run --release --example gemm_layers -- avx2 avxvnni avx512vnni`
//!
//! "IT 32px" and "IT 4px" split IT at 96² (36 output pixels) into its full panel and its 4-pixel tail.

use avf_bel::kernels::{ConvShape, Kernels, Level};
use std::time::Instant;

/// Best time of `runs` calls of `f`, in seconds.
fn best(runs: usize, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

fn main() {
    let conv = |cin, h, w, k, stride, pad| ConvShape { cin, h, w, k, stride, pad };
    let layers = [
        ("V1 96 (quads)", conv(3, 96, 96, 7, 2, 3), 64),
        ("V2 96", conv(64, 24, 24, 3, 1, 1), 128),
        ("V4 96", conv(128, 12, 12, 3, 1, 1), 256),
        ("IT 96", conv(256, 6, 6, 3, 1, 1), 512),
        ("IT 32px", conv(256, 4, 8, 3, 1, 1), 512),
        ("IT 4px", conv(256, 2, 2, 3, 1, 1), 512),
        ("V2 64", conv(64, 16, 16, 3, 1, 1), 128),
        ("V4 64", conv(128, 8, 8, 3, 1, 1), 256),
        ("IT 64", conv(256, 4, 4, 3, 1, 1), 512),
    ];
    let levels: Vec<String> = std::env::args().skip(1).collect();
    if levels.is_empty() {
        eprintln!("usage: gemm_layers LEVEL... (e.g. avx2 avx512vnni)");
        std::process::exit(2);
    }
    for name in &levels {
        let kernels = match name
            .parse::<Level>()
            .map_err(|e| e.to_string())
            .and_then(|l| Kernels::for_level(l).map_err(|e| e.to_string()))
        {
            Ok(k) => k,
            Err(e) => {
                eprintln!("{name}: {e}");
                continue;
            }
        };
        for (layer, s, cout) in &layers {
            let cout = *cout;
            let mut out = vec![0f32; cout * s.n()];
            // int8: 7-bit activation codes, as the pipeline makes them.
            let x: Vec<u8> = (0..s.input_len_u8()).map(|i| (i * 7 % 128) as u8).collect();
            let mut packed = vec![0f32; s.packed_len_i8()];
            kernels.im2col_u8(s, &x, &mut packed).expect("valid shape");
            let w: Vec<i8> = (0..cout * s.kk4()).map(|i| (i * 13 % 255) as i8).collect();
            let scale = vec![1.0f32; cout];
            let t = best(200, || kernels.gemm_i8(s, cout, &w, &scale, 1.0, &packed, &mut out).expect("valid"));
            let macs = (cout * s.kk4() * s.n()) as f64;
            println!("{name:10} {layer:14} int8 gemm {:7.3} ms {:6.1} G MAC/s", t * 1e3, macs / t / 1e9);
            // f32
            let x: Vec<f32> = (0..s.input_len()).map(|i| (i * 7 % 128) as f32 / 128.0).collect();
            let mut packed = vec![0f32; s.packed_len()];
            let w: Vec<f32> = (0..cout * s.kk()).map(|i| (i * 13 % 255) as f32 / 255.0 - 0.5).collect();
            let tp = best(100, || kernels.im2col_f32(s, &x, &mut packed).expect("valid shape"));
            let t = best(100, || kernels.gemm_f32(s, cout, &w, &packed, &mut out).expect("valid"));
            let macs = (cout * s.kk() * s.n()) as f64;
            println!(
                "{name:10} {layer:14} f32  gemm {:7.3} ms {:6.1} G MAC/s (packing {:.3} ms)",
                t * 1e3,
                macs / t / 1e9,
                tp * 1e3
            );
        }
    }
}
