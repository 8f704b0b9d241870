use avf_bel::visual::conv::{self, ConvShape};
use std::time::Instant;
fn main() {
    let size: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(64);
    let c: usize = 3;
    let widths = [64usize, 128, 256, 512];
    let (mut cin, mut h) = (c, size);
    for (i, &cout) in widths.iter().enumerate() {
        let (k, st, pad) = if i == 0 { (7, 2, 3) } else { (3, 1, 1) };
        let s = ConvShape { cin, h, w: h, k, stride: st, pad };
        let x: Vec<f32> = (0..cin * h * h).map(|j| (j % 17) as f32 * 0.1).collect();
        let w: Vec<f32> = (0..cout * s.kk()).map(|j| (j % 13) as f32 * 0.01).collect();
        let mut packed = vec![0.0; s.packed_len()];
        let mut out = vec![0.0; cout * s.n()];
        let mut pooled = vec![0.0; cout * s.n()];
        let mut rowmax = vec![0.0; s.wo() + 2];
        let bias = vec![0.0; cout];
        let reps = 200;
        let t = Instant::now();
        for _ in 0..reps {
            conv::im2col_f32(&s, &x, &mut packed);
        }
        let t1 = t.elapsed().as_secs_f64() / reps as f64 * 1e3;
        let t = Instant::now();
        for _ in 0..reps {
            conv::gemm_f32(&s, cout, &w, &packed, &mut out);
        }
        let t2 = t.elapsed().as_secs_f64() / reps as f64 * 1e3;
        let t = Instant::now();
        for _ in 0..reps {
            avf_bel::visual::pool_bias_relu(&out, cout, s.ho(), s.wo(), &bias, &mut pooled, &mut rowmax);
        }
        let t3 = t.elapsed().as_secs_f64() / reps as f64 * 1e3;
        let macs = (cout * s.kk() * s.n()) as f64;
        println!(
            "block {i}: {}x{}x{} -> {}  im2col {:.3} ms  gemm {:.3} ms ({:.0} GMAC/s)  pool {:.3} ms",
            cin,
            h,
            h,
            cout,
            t1,
            t2,
            macs / t2 / 1e6,
            t3
        );
        cin = cout;
        h = s.ho().div_ceil(2);
    }
}
