//! Convolution kernels against a naive direct convolution written independently of the packed layout.

use avf_bel::model::SplitMix64;
use avf_bel::visual::conv::{self, ConvShape};

fn naive(s: &ConvShape, cout: usize, w: &[f32], x: &[f32]) -> Vec<f32> {
    let (ho, wo) = (s.ho(), s.wo());
    let mut out = vec![0.0f32; cout * ho * wo];
    for m in 0..cout {
        for oy in 0..ho {
            for ox in 0..wo {
                let mut acc = 0.0f64;
                for ci in 0..s.cin {
                    for ky in 0..s.k {
                        for kx in 0..s.k {
                            let iy = (oy * s.stride + ky) as isize - s.pad as isize;
                            let ix = (ox * s.stride + kx) as isize - s.pad as isize;
                            if iy >= 0 && ix >= 0 && (iy as usize) < s.h && (ix as usize) < s.w {
                                let xv = x[(ci * s.h + iy as usize) * s.w + ix as usize] as f64;
                                acc += xv * w[((m * s.cin + ci) * s.k + ky) * s.k + kx] as f64;
                            }
                        }
                    }
                }
                out[(m * ho + oy) * wo + ox] = acc as f32;
            }
        }
    }
    out
}

fn rand_vec(rng: &mut SplitMix64, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| lo + (hi - lo) * rng.next_f32()).collect()
}

const SHAPES: [(ConvShape, usize); 6] = [
    (ConvShape { cin: 4, h: 3, w: 5, k: 3, stride: 1, pad: 1 }, 40),
    (ConvShape { cin: 3, h: 20, w: 18, k: 7, stride: 2, pad: 3 }, 16),
    (ConvShape { cin: 5, h: 33, w: 31, k: 7, stride: 2, pad: 3 }, 13),
    (ConvShape { cin: 8, h: 9, w: 7, k: 3, stride: 1, pad: 1 }, 24),
    (ConvShape { cin: 16, h: 4, w: 4, k: 3, stride: 1, pad: 1 }, 9),
    (ConvShape { cin: 2, h: 1, w: 1, k: 3, stride: 1, pad: 1 }, 8),
];

#[test]
fn f32_gemm_matches_direct_convolution() {
    let mut rng = SplitMix64(7);
    for (s, cout) in SHAPES {
        let x = rand_vec(&mut rng, s.cin * s.h * s.w, -1.0, 1.0);
        let w = rand_vec(&mut rng, cout * s.kk(), -0.5, 0.5);
        let mut packed = vec![f32::NAN; s.packed_len()];
        conv::im2col_f32(&s, &x, &mut packed);
        let mut out = vec![f32::NAN; cout * s.n()];
        conv::gemm_f32(&s, cout, &w, &packed, &mut out);
        let mut reference = vec![f32::NAN; cout * s.n()];
        conv::gemm_f32_portable(s.n(), s.kk(), cout, &w, &packed, &mut reference);
        let want = naive(&s, cout, &w, &x);
        for i in 0..want.len() {
            // f32 accumulation over ≤ 245 terms of magnitude ≤ 0.5: 1e-4 absolute is ~100 ulp of the sums.
            assert!((out[i] - want[i]).abs() < 1e-4, "{s:?} dispatch [{i}] {} vs {}", out[i], want[i]);
            assert!((reference[i] - want[i]).abs() < 1e-4, "{s:?} portable [{i}] {} vs {}", reference[i], want[i]);
        }
    }
}

#[test]
fn int8_gemm_matches_portable_reference_exactly_and_direct_convolution_closely() {
    let mut rng = SplitMix64(11);
    for (s, cout) in SHAPES {
        let xq: Vec<u8> = (0..s.cin * s.h * s.w).map(|_| (rng.next_u64() % 256) as u8).collect();
        let wq: Vec<i8> = (0..cout * s.kk()).map(|_| ((rng.next_u64() % 255) as i32 - 127) as i8).collect();
        // The int8 kernel's layouts: weights [cout][ky][kx][cpad], input channels-last [h][w][cpad].
        let (kk4, cpad, kk) = (s.kk4(), s.cpad(), s.k * s.k);
        let mut wpad = vec![0i8; cout * kk4];
        for m in 0..cout {
            for c in 0..s.cin {
                for t in 0..kk {
                    wpad[m * kk4 + t * cpad + c] = wq[(m * s.cin + c) * kk + t];
                }
            }
        }
        let mut x_hwc = vec![0u8; s.h * s.w * cpad];
        for c in 0..s.cin {
            for p in 0..s.h * s.w {
                x_hwc[p * cpad + c] = xq[c * s.h * s.w + p];
            }
        }
        let scales: Vec<f32> = (0..cout).map(|m| 0.01 + 0.001 * m as f32).collect();
        let sx = 1.0 / 255.0;
        let mut packed = vec![0xAAu8; s.packed_len_u8()];
        conv::im2col_u8(&s, &x_hwc, &mut packed);
        let mut out = vec![f32::NAN; cout * s.n()];
        conv::gemm_i8(&s, cout, &wpad, &scales, sx, &packed, &mut out);
        let mut reference = vec![f32::NAN; cout * s.n()];
        conv::gemm_i8_portable(&s, cout, &wpad, &scales, sx, &packed, &mut reference);
        assert_eq!(out, reference, "{s:?}: SIMD and portable int8 kernels differ");
        // Dequantised direct convolution in f64: the int8 kernel's only rounding is the final f32 scaling.
        let xf: Vec<f32> = xq.iter().map(|&v| v as f32 * sx).collect();
        let mut wf = vec![0.0f32; cout * s.kk()];
        for m in 0..cout {
            for r in 0..s.kk() {
                wf[m * s.kk() + r] = wq[m * s.kk() + r] as f32 * scales[m];
            }
        }
        let want = naive(&s, cout, &wf, &xf);
        for i in 0..want.len() {
            let tol = 1e-5 * want[i].abs().max(1.0);
            assert!((out[i] - want[i]).abs() < tol, "{s:?} [{i}] {} vs {}", out[i], want[i]);
        }
    }
}
