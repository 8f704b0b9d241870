//! The kernel battery: every kernel level this machine runs (x86-64: portable, AVX2, AVX-512, AVX-512 VNNI as the CPU
//! allows; aarch64, also under qemu: portable, NEON, NEON + dot product) against a naive direct convolution written
//! independently of the packed layouts, and against the portable level, on many shapes: odd sizes, output channels
//! that are no multiple of any tile height, reductions from 1 to 4,608 steps, narrow and partial panels, strides
//! 1–3; the pooling kernel against its definition. Then the length and shape checks of the safe API.

use avf_bel::kernels::{ConvShape, KernelError, Kernels, Level, ACT_MAX_CODE, BG_GRID, MAX_KK4, NR};
use avf_bel::model::SplitMix64;
use avf_bel::visual::SHIFT;

/// The levels this machine runs; prints the ones it skips and why (a skip is never silent).
fn levels() -> Vec<Kernels> {
    let mut out = Vec::new();
    for level in Level::ALL {
        match Kernels::for_level(level) {
            Ok(k) => out.push(k),
            Err(e) => eprintln!("kernel battery: skipping `{level}`: {e}"),
        }
    }
    let names: Vec<&str> = out.iter().map(|k| k.level().name()).collect();
    eprintln!("kernel battery: testing {names:?}");
    assert_eq!(out[0].level(), Level::Portable, "the portable level runs everywhere");
    out
}

/// Direct convolution in f64, CHW input, PyTorch weight layout `[cout][cin][k][k]`.
fn naive(s: &ConvShape, cout: usize, w: &[f32], x: &[f32]) -> Vec<f64> {
    let (ho, wo) = (s.ho(), s.wo());
    let mut out = vec![0.0f64; cout * ho * wo];
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
                out[(m * ho + oy) * wo + ox] = acc;
            }
        }
    }
    out
}

fn rand_vec(rng: &mut SplitMix64, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| lo + (hi - lo) * rng.next_f32()).collect()
}

fn shape(cin: usize, h: usize, w: usize, k: usize, stride: usize, pad: usize) -> ConvShape {
    ConvShape { cin, h, w, k, stride, pad }
}

/// (shape, output channels): CORnet-Z's own blocks at small sizes, and the awkward cases around them.
fn shapes() -> Vec<(ConvShape, usize)> {
    vec![
        (shape(4, 3, 5, 3, 1, 1), 40),   // n = 15 < 16: one narrow half panel
        (shape(3, 20, 18, 7, 2, 3), 16), // V1-like, n = 90: two full panels and a partial one
        (shape(5, 33, 31, 7, 2, 3), 13), // the model's 5 channels; cout 13 (no multiple of 2, 3, 4, 6, 8)
        (shape(8, 9, 7, 3, 1, 1), 24),   // n = 63
        (shape(16, 4, 4, 3, 1, 1), 9),   // IT-like at 64² input: n = 16, exactly one half panel
        (shape(2, 1, 1, 3, 1, 1), 8),    // one pixel
        (shape(1, 5, 7, 1, 1, 0), 7),    // kk = 1 (1×1 conv, one channel; cpad 4 of which 3 are padding)
        (shape(1, 6, 6, 2, 3, 0), 5),    // stride 3, even kernel
        (shape(7, 6, 17, 3, 2, 2), 11),  // odd channels, pad 2 > needed
        (shape(64, 6, 6, 3, 1, 1), 17),  // kk = 576, n = 36 (a full panel + 4 pixels)
        (shape(16, 6, 6, 3, 1, 1), 70),  // IT-like at 96²: n = 36 (a 4-pixel tail), cout 70
        (shape(512, 3, 3, 3, 1, 1), 19), // kk = 4,608: CORnet-Z IT's reduction length
        (shape(600, 2, 2, 3, 1, 1), 6),  // kk = 5,400: past the AVX2 int8 kernel's widen-ahead limit (4,608)
        (shape(4096, 1, 3, 1, 1, 0), 5), // 3 pixels, 1,024 quads: the longest AVX-512 VNNI pixel-major tail
        (shape(4100, 1, 2, 1, 1, 0), 3), // 2 pixels, 1,025 quads: one past it (the permute tail instead)
        (shape(4100, 6, 6, 1, 1, 0), 3), // n = 36 with 1,025 quads: a full panel, then the permute tail
        (shape(3072, 1, 5, 1, 1, 0), 4), // 5 pixels, 768 quads: the longest AVX-512 VNNI pixel-major narrow panel
        (shape(3076, 1, 5, 1, 1, 0), 2), // 5 pixels, 769 quads: one past it (the 16-row narrow tile)
        (shape(256, 6, 6, 3, 1, 1), 5),  // IT at 96²: kk = 2,304, the longest AVX2 f32 pixel-major tail
        (shape(2305, 2, 2, 1, 1, 0), 3), // 4 pixels, kk = 2,305: one past it (the narrow f32 tile instead)
        (shape(8, 4, 13, 3, 1, 1), 15),  // n = 52 = 32 + 16 + 4: the f32 tail after a 16-pixel tile of its panel
        (shape(3, 11, 11, 3, 1, 1), 1),  // a single output channel
        (shape(6, 8, 12, 5, 1, 2), 33),  // n = 96: three full panels; cout 33
        (shape(8, 6, 8, 3, 1, 1), 200),  // n = 48, cout 200: the ARM int8 driver's groups of 96 rows (96 + 96 + 8)
    ]
}

#[test]
fn f32_kernels_match_direct_convolution_and_the_portable_level() {
    let levels = levels();
    let mut rng = SplitMix64(7);
    for (s, cout) in shapes() {
        let x = rand_vec(&mut rng, s.cin * s.h * s.w, -1.0, 1.0);
        let w = rand_vec(&mut rng, cout * s.kk(), -0.5, 0.5);
        let want = naive(&s, cout, &w, &x);
        let mut reference: Option<Vec<f32>> = None;
        for k in &levels {
            // NaN-filled buffers: a kernel that skips an element shows up as NaN.
            let mut packed = vec![f32::NAN; s.packed_len()];
            k.im2col_f32(&s, &x, &mut packed).unwrap();
            let mut out = vec![f32::NAN; cout * s.n() + 3];
            k.gemm_f32(&s, cout, &w, &packed, &mut out).unwrap();
            assert!(out[cout * s.n()..].iter().all(|v| v.is_nan()), "{k:?} {s:?}: wrote past cout·n");
            let out = &out[..cout * s.n()];
            for (i, (&o, &r)) in out.iter().zip(&want).enumerate() {
                // f32 sums of ≤ 4,608 terms of magnitude ≤ 0.5: the bound grows with the reduction length.
                let tol = 2e-7 * s.kk() as f64 + 1e-5;
                assert!((o as f64 - r).abs() < tol, "{k:?} {s:?} [{i}]: {o} vs direct {r}");
            }
            match &reference {
                None => reference = Some(out.to_vec()),
                Some(p) => {
                    for (i, (&o, &r)) in out.iter().zip(p).enumerate() {
                        let tol = 1e-6 * s.kk() as f32 + 1e-6;
                        assert!((o - r).abs() < tol, "{k:?} {s:?} [{i}]: {o} vs portable {r}");
                    }
                }
            }
        }
    }
}

/// The canonical f32 order (the module docs of `kernels`), from the packed panels with `f32::mul_add`: for each
/// output, by the width `cols` of its panel, one running fused sum (`cols ≥ 17`), even and odd steps apart and then
/// added (`5 ≤ cols ≤ 16`), or four sums by step modulo 4 over the reduction padded with zero products to a multiple
/// of 4, added as `(s₀ + s₁) + (s₂ + s₃)` (`cols ≤ 4`).
fn canonical(s: &ConvShape, cout: usize, w: &[f32], packed: &[f32]) -> Vec<f32> {
    let (n, kk) = (s.n(), s.kk());
    let mut out = vec![0.0f32; cout * n];
    for m in 0..cout {
        for px in 0..n {
            let (p, j) = (px / NR, px % NR);
            let cols = (n - p * NR).min(NR);
            let ways = match cols {
                0..=4 => 4,
                5..=16 => 2,
                _ => 1,
            };
            let steps = if ways == 4 { kk.next_multiple_of(4) } else { kk };
            let mut sums = [0.0f32; 4];
            for r in 0..steps {
                let (wv, xv) = if r < kk { (w[m * kk + r], packed[p * kk * NR + r * NR + j]) } else { (0.0, 0.0) };
                sums[r % ways] = wv.mul_add(xv, sums[r % ways]);
            }
            out[m * n + px] = match ways {
                4 => (sums[0] + sums[1]) + (sums[2] + sums[3]),
                2 => sums[0] + sums[1],
                _ => sums[0],
            };
        }
    }
    out
}

#[test]
fn f32_simd_levels_are_bit_identical_to_the_canonical_order() {
    let levels: Vec<Kernels> = levels().into_iter().filter(|k| k.level() != Level::Portable).collect();
    if levels.is_empty() {
        eprintln!("canonical f32 order: skipped, this machine runs no SIMD level (only `portable`, which is unfused)");
        return;
    }
    let mut rng = SplitMix64(11);
    let mut cases = shapes();
    // Every width of a last panel (n = 33..=64 over one row of pixels), reductions of every residue modulo 4, and
    // output channel counts that leave every tile height a remainder.
    for (i, n) in (33..=64).enumerate() {
        cases.push((shape(1 + i % 5, 1, n, 1, 1, 0), 7 + i % 6));
        cases.push((shape(3, 1, n - 32, 3, 1, 1), 13));
    }
    cases.push((shape(2309, 1, 3, 1, 1, 0), 9)); // 3 pixels, kk = 2,309: the AVX2 tail's scalar path
    cases.push((shape(64, 4, 4, 3, 1, 1), 100)); // 16 pixels, kk = 576, cout 100: reduction blocks and row chunks
    cases.push((shape(259, 1, 9, 1, 1, 0), 5)); // 9 pixels, kk = 259: an odd step in the last reduction block
    for (s, cout) in cases {
        let x = rand_vec(&mut rng, s.cin * s.h * s.w, -1.0, 1.0);
        let w = rand_vec(&mut rng, cout * s.kk(), -0.5, 0.5);
        let mut packed = vec![f32::NAN; s.packed_len()];
        Kernels::for_level(Level::Portable).unwrap().im2col_f32(&s, &x, &mut packed).unwrap();
        let want = canonical(&s, cout, &w, &packed);
        for k in &levels {
            let mut mine = vec![f32::NAN; s.packed_len()];
            k.im2col_f32(&s, &x, &mut mine).unwrap();
            assert!(mine.iter().zip(&packed).all(|(a, b)| a.to_bits() == b.to_bits()), "{k:?} {s:?}: im2col differs");
            let mut out = vec![f32::NAN; cout * s.n()];
            k.gemm_f32(&s, cout, &w, &mine, &mut out).unwrap();
            for (i, (&o, &r)) in out.iter().zip(&want).enumerate() {
                assert_eq!(o.to_bits(), r.to_bits(), "{k:?} {s:?} cout {cout} [{i}]: {o} vs canonical {r}");
            }
        }
    }
}

/// The int8 kernels' layouts: weights `[cout][ky][kx][cpad]` from `[cout][cin][k][k]`, input in channel quads
/// `[cpad/4][h][w][4]` from CHW.
fn int8_layouts(s: &ConvShape, cout: usize, wq: &[i8], xq: &[u8]) -> (Vec<i8>, Vec<u8>) {
    let (kk4, cpad, taps) = (s.kk4(), s.cpad(), s.k * s.k);
    let mut wpad = vec![0i8; cout * kk4];
    for m in 0..cout {
        for c in 0..s.cin {
            for t in 0..taps {
                wpad[m * kk4 + t * cpad + c] = wq[(m * s.cin + c) * taps + t];
            }
        }
    }
    let hw = s.h * s.w;
    let mut x_quads = vec![0u8; hw * cpad];
    for c in 0..s.cin {
        for p in 0..hw {
            x_quads[(c / 4) * hw * 4 + p * 4 + c % 4] = xq[c * hw + p];
        }
    }
    (wpad, x_quads)
}

/// Every level's int8 output for one case; asserts nothing is written past `cout·n`.
fn int8_outputs(
    levels: &[Kernels],
    s: &ConvShape,
    cout: usize,
    wpad: &[i8],
    x_hwc: &[u8],
    scales: &[f32],
    sx: f32,
) -> Vec<Vec<f32>> {
    levels
        .iter()
        .map(|k| {
            // Garbage-filled packed buffer: im2col must write every byte the GEMM reads.
            let mut packed = vec![f32::from_bits(0xAAAA_AAAA); s.packed_len_i8()];
            k.im2col_u8(s, x_hwc, &mut packed).unwrap();
            let mut out = vec![f32::NAN; cout * s.n() + 3];
            k.gemm_i8(s, cout, wpad, scales, sx, &packed, &mut out).unwrap();
            assert!(out[cout * s.n()..].iter().all(|v| v.is_nan()), "{k:?} {s:?}: wrote past cout·n");
            out.truncate(cout * s.n());
            out
        })
        .collect()
}

/// Activation codes up to 127 (what the pipeline feeds: the AVX2 level's `vpmaddubsw` kernel) and up to 255 (any u8
/// input: its widening kernel) alike.
#[test]
fn int8_kernels_are_bit_identical_on_every_level_and_match_direct_convolution() {
    let levels = levels();
    let mut rng = SplitMix64(11);
    for ((s, cout), top) in shapes().into_iter().flat_map(|sc| [(sc, 127u64), (sc, 255)]) {
        let xq: Vec<u8> = (0..s.cin * s.h * s.w).map(|_| (rng.next_u64() % (top + 1)) as u8).collect();
        let wq: Vec<i8> = (0..cout * s.kk()).map(|_| ((rng.next_u64() % 255) as i32 - 127) as i8).collect();
        let (wpad, x_hwc) = int8_layouts(&s, cout, &wq, &xq);
        let scales: Vec<f32> = (0..cout).map(|m| 0.01 + 0.001 * m as f32).collect();
        let sx = 1.0 / 255.0;
        let outs = int8_outputs(&levels, &s, cout, &wpad, &x_hwc, &scales, sx);
        for (k, out) in levels.iter().zip(&outs).skip(1) {
            assert_eq!(out, &outs[0], "{k:?} {s:?}: int8 output differs from the portable level");
        }
        // Dequantised direct convolution in f64: the int8 kernels' only rounding is the final f32 scaling.
        let xf: Vec<f32> = xq.iter().map(|&v| v as f32 * sx).collect();
        let mut wf = vec![0.0f32; cout * s.kk()];
        for m in 0..cout {
            for r in 0..s.kk() {
                wf[m * s.kk() + r] = wq[m * s.kk() + r] as f32 * scales[m];
            }
        }
        let want = naive(&s, cout, &wf, &xf);
        for (i, (&o, &r)) in outs[0].iter().zip(&want).enumerate() {
            let tol = 1e-5 * r.abs().max(1.0);
            assert!((o as f64 - r).abs() < tol, "{s:?} [{i}]: {o} vs direct {r}");
        }
    }
}

/// The extremes: every activation 255 (or 127, the largest 7-bit code) against weights of +127 and −128. At 255 a
/// `vpmaddubsw` kernel would saturate its i16 pair sums (2·255·127 > 32,767) and the AVX2 level must take its
/// widening kernel; at 127 its `vpmaddubsw` kernel reaches its largest pair sums (2·127·128 = 32,512); the portable
/// level's exact f32 runs reach their largest partial sums. Every level must return the exact integer sum.
#[test]
fn int8_kernels_are_exact_at_the_extremes() {
    let levels = levels();
    let shapes = [
        (shape(512, 3, 3, 3, 1, 1), 4),
        (shape(520, 3, 3, 3, 1, 1), 4), // past the AVX2 widening kernel's widen-ahead limit
        (shape(3, 9, 9, 7, 2, 3), 3),
        (shape(40, 2, 2, 3, 1, 1), 7),
    ];
    for ((s, cout), a) in shapes.into_iter().flat_map(|sc| [(sc, 255u8), (sc, 127)]) {
        let taps = s.k * s.k;
        let xq = vec![a; s.cin * s.h * s.w];
        // Row m: all +127, all −128, alternating, then cycling through the three.
        let wq: Vec<i8> = (0..cout * s.kk())
            .map(|i| match (i / s.kk()) % 3 {
                0 => 127,
                1 => -128,
                _ => {
                    if i % 2 == 0 {
                        127
                    } else {
                        -128
                    }
                }
            })
            .collect();
        let (wpad, x_hwc) = int8_layouts(&s, cout, &wq, &xq);
        let scales = vec![1.0f32; cout];
        let outs = int8_outputs(&levels, &s, cout, &wpad, &x_hwc, &scales, 1.0);
        // Exact integer sums, computed directly (the centre pixel sees every tap inside the image).
        let (ho, wo) = (s.ho(), s.wo());
        for m in 0..cout {
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut sum = 0i64;
                    for c in 0..s.cin {
                        for t in 0..taps {
                            let (ky, kx) = (t / s.k, t % s.k);
                            let iy = (oy * s.stride + ky) as isize - s.pad as isize;
                            let ix = (ox * s.stride + kx) as isize - s.pad as isize;
                            if iy >= 0 && ix >= 0 && (iy as usize) < s.h && (ix as usize) < s.w {
                                sum += i64::from(a) * wq[(m * s.cin + c) * taps + t] as i64;
                            }
                        }
                    }
                    let want = sum as f32; // the kernels convert the exact i32 sum to f32, then scale by 1
                    for (k, out) in levels.iter().zip(&outs) {
                        let got = out[m * ho * wo + oy * wo + ox];
                        assert_eq!(got, want, "{k:?} {s:?} m {m} ({oy},{ox}): not the exact sum");
                    }
                }
            }
        }
    }
}

#[test]
fn short_buffers_and_bad_shapes_are_errors_not_writes() {
    let s = shape(3, 10, 10, 3, 1, 1);
    let cout = 5;
    for k in levels() {
        let x = vec![0.5f32; s.input_len()];
        let w = vec![0.1f32; cout * s.kk()];
        let mut packed = vec![0.0f32; s.packed_len()];
        let mut out = vec![0.0f32; cout * s.n()];
        let short = KernelError::BufferTooShort;
        assert_eq!(k.im2col_f32(&s, &x[1..], &mut packed), Err(short("x")));
        assert_eq!(k.im2col_f32(&s, &x, &mut packed[NR..]), Err(short("packed")));
        k.im2col_f32(&s, &x, &mut packed).unwrap();
        assert_eq!(k.gemm_f32(&s, cout, &w[1..], &packed, &mut out), Err(short("w")));
        assert_eq!(k.gemm_f32(&s, cout, &w, &packed[1..], &mut out), Err(short("packed")));
        // The release-build overflow issue 12 names: a short `out` is refused, and nothing is written.
        let mut short_out = vec![7.0f32; cout * s.n() - 1];
        assert_eq!(k.gemm_f32(&s, cout, &w, &packed, &mut short_out), Err(short("out")));
        assert!(short_out.iter().all(|&v| v == 7.0));
        k.gemm_f32(&s, cout, &w, &packed, &mut out).unwrap();

        let xq = vec![9u8; s.input_len_u8()];
        let wq = vec![3i8; cout * s.kk4()];
        let scales = vec![0.5f32; cout];
        let mut pq = vec![0.0f32; s.packed_len_i8()];
        assert_eq!(k.im2col_u8(&s, &xq[1..], &mut pq), Err(short("x")));
        assert_eq!(k.im2col_u8(&s, &xq, &mut pq[1..]), Err(short("packed")));
        k.im2col_u8(&s, &xq, &mut pq).unwrap();
        assert_eq!(k.gemm_i8(&s, cout, &wq[1..], &scales, 1.0, &pq, &mut out), Err(short("w")));
        assert_eq!(k.gemm_i8(&s, cout, &wq, &scales[1..], 1.0, &pq, &mut out), Err(short("w_scale")));
        assert_eq!(k.gemm_i8(&s, cout, &wq, &scales, 1.0, &pq[1..], &mut out), Err(short("packed")));
        let mut short_out = vec![7.0f32; cout * s.n() - 1];
        assert_eq!(k.gemm_i8(&s, cout, &wq, &scales, 1.0, &pq, &mut short_out), Err(short("out")));
        assert!(short_out.iter().all(|&v| v == 7.0));
        k.gemm_i8(&s, cout, &wq, &scales, 1.0, &pq, &mut out).unwrap();

        // Geometry: empty, a kernel larger than the padded input, zero stride, absurd sizes.
        for bad in [
            shape(0, 10, 10, 3, 1, 1),
            shape(3, 0, 10, 3, 1, 1),
            shape(3, 2, 2, 7, 1, 1),
            shape(3, 10, 10, 3, 0, 1),
            shape(3, 10, 10, 0, 1, 1),
            shape(usize::MAX / 2, 10, 10, 3, 1, 1),
            shape(3, usize::MAX, usize::MAX, 3, 1, 1),
        ] {
            assert_eq!(bad.validate(), Err(KernelError::BadShape), "{bad:?}");
            assert_eq!(k.im2col_f32(&bad, &x, &mut packed), Err(KernelError::BadShape), "{bad:?}");
            assert_eq!(k.gemm_f32(&bad, cout, &w, &packed, &mut out), Err(KernelError::BadShape), "{bad:?}");
            assert_eq!(k.gemm_i8(&bad, cout, &wq, &scales, 1.0, &pq, &mut out), Err(KernelError::BadShape));
            // The size methods saturate or return 0 instead of panicking.
            let _ = (bad.n(), bad.packed_len(), bad.packed_len_i8(), bad.input_len_u8());
        }
        // An int8 reduction longer than MAX_KK4 could overflow i32 partial sums: refused.
        let long = shape(MAX_KK4 / 9 + 4, 1, 1, 3, 1, 1);
        assert!(long.validate().is_ok() && long.kk4() > MAX_KK4);
        assert_eq!(k.gemm_i8(&long, 1, &[], &[1.0], 1.0, &[], &mut out), Err(KernelError::BadShape));
    }
}

#[test]
fn levels_parse_report_and_refuse_what_the_cpu_lacks() {
    for level in Level::ALL {
        assert_eq!(level.name().parse::<Level>(), Ok(level));
        assert_eq!(level.name().to_uppercase().parse::<Level>(), Ok(level));
        match Kernels::for_level(level) {
            Ok(k) => {
                assert!(level.supported());
                let r = k.report();
                assert_eq!(r.level, level);
                assert_eq!(r.name(), level.name());
                let line = r.to_string();
                assert!(line.starts_with(level.name()) && line.contains("f32: ") && line.contains("int8: "), "{line}");
            }
            Err(e) => {
                assert!(!level.supported());
                assert_eq!(e, KernelError::Unsupported(level));
                assert!(e.to_string().contains(level.name()));
            }
        }
    }
    assert_eq!("sse9".parse::<Level>(), Err(KernelError::UnknownLevel));
    assert_eq!("".parse::<Level>(), Err(KernelError::UnknownLevel));
    // The detected table is the last (highest) supported level, and a foreign architecture's levels are refused.
    let best = Level::ALL.into_iter().filter(|l| l.supported()).max().unwrap();
    assert_eq!(Kernels::detect().level(), best);
    let foreign = if cfg!(target_arch = "x86_64") { Level::Neon } else { Level::Avx2 };
    assert_eq!(Kernels::for_level(foreign).unwrap_err(), KernelError::Unsupported(foreign));
    if cfg!(target_arch = "x86_64") {
        assert!(Level::Avx2.supported() || !Level::Avx512.supported(), "AVX-512 implies AVX2 here");
    }
    if cfg!(target_arch = "aarch64") {
        assert!(Level::Neon.supported(), "NEON is part of the aarch64 baseline");
    }
}

/// Max-pool 3/2/1 + bias + ReLU, written directly from the definition.
fn naive_pool(x: &[f32], c: usize, h: usize, w: usize, bias: &[f32]) -> Vec<f32> {
    let (ph, pw) = (h.div_ceil(2), w.div_ceil(2));
    let mut out = vec![0.0f32; c * ph * pw];
    for ch in 0..c {
        for py in 0..ph {
            for px in 0..pw {
                let mut m = f32::NEG_INFINITY;
                for y in (2 * py).saturating_sub(1)..(2 * py + 2).min(h) {
                    for xx in (2 * px).saturating_sub(1)..(2 * px + 2).min(w) {
                        m = m.max(x[(ch * h + y) * w + xx]);
                    }
                }
                out[(ch * ph + py) * pw + px] = (m + bias[ch]).max(0.0);
            }
        }
    }
    out
}

#[test]
fn pooling_matches_the_definition_on_every_level() {
    let levels = levels();
    let mut rng = SplitMix64(5);
    // Maps narrower than 16 columns (CORnet-Z's V4 and IT; AVX2's narrow code), exactly 16, with and without a
    // scalar tail, odd widths and heights, and V1's at 96².
    let maps = [
        (3, 32, 32),
        (5, 7, 9),
        (2, 1, 1),
        (4, 2, 3),
        (1, 16, 1),
        (6, 5, 31),
        (2, 9, 16),
        (3, 4, 17),
        (2, 3, 40),
        (64, 48, 48),
        (8, 12, 12), // V4 at 96²
        (16, 6, 6),  // IT at 96²
        (4, 8, 8),   // V4 at 64²
        (5, 4, 4),   // IT at 64²
        (3, 5, 15),
        (2, 6, 9),
        (3, 1, 8),
    ];
    for (c, h, w) in maps {
        let x = rand_vec(&mut rng, c * h * w, -1.0, 1.0);
        let bias = rand_vec(&mut rng, c, -0.3, 0.3);
        let want = naive_pool(&x, c, h, w, &bias);
        let want_max = want.iter().fold(0.0f32, |m, &v| m.max(v));
        for k in &levels {
            let mut out = vec![f32::NAN; want.len() + 1];
            let mut rowmax = vec![f32::NAN; w + 2];
            let max = k.pool_bias_relu(&x, (c, h, w), &bias, &mut out, &mut rowmax).unwrap();
            assert_eq!(&out[..want.len()], &want[..], "{k:?} {c}x{h}x{w}");
            assert!(out[want.len()].is_nan(), "{k:?}: wrote past the output");
            assert_eq!(max, want_max, "{k:?} {c}x{h}x{w}: returned maximum");
            // Short buffers and empty shapes are errors.
            let short = KernelError::BufferTooShort;
            assert_eq!(k.pool_bias_relu(&x[1..], (c, h, w), &bias, &mut out, &mut rowmax), Err(short("x")));
            assert_eq!(k.pool_bias_relu(&x, (c, h, w), &bias[1..], &mut out, &mut rowmax), Err(short("bias")));
            assert_eq!(
                k.pool_bias_relu(&x, (c, h, w), &bias, &mut out[..want.len() - 1], &mut rowmax),
                Err(short("out"))
            );
            assert_eq!(k.pool_bias_relu(&x, (c, h, w), &bias, &mut out, &mut rowmax[1..]), Err(short("rowmax")));
            assert_eq!(k.pool_bias_relu(&x, (0, h, w), &bias, &mut out, &mut rowmax), Err(KernelError::BadShape));
        }
    }
}

/// The 7-bit code of frame byte `b` at pixel + channel `at`, by definition: `b` = 2m or 2m + 1 becomes m, or m + 1
/// for an odd `b` where `at` is odd (an ordered dither: half the odd bytes up, half down), at most 127.
fn dithered(b: u8, at: usize) -> u8 {
    let m = u32::from(b) / 2;
    let up = u32::from(b % 2 == 1 && at % 2 == 1);
    (m + up).min(127) as u8
}

/// The definition of the int8 path's input layout: `[cpad/4][hw][4]`, channel `ch` of pixel `p` at
/// `(ch/4)·hw·4 + 4p + ch%4`, channels past `c` zero.
fn naive_quads(c: usize, hw: usize, code: impl Fn(usize, usize) -> u8) -> Vec<u8> {
    let mut q = vec![0u8; c.div_ceil(4) * 4 * hw];
    for ch in 0..c {
        for p in 0..hw {
            q[(ch / 4) * hw * 4 + 4 * p + ch % 4] = code(ch, p);
        }
    }
    q
}

#[test]
fn quantisation_and_quads_match_their_definition_on_every_level() {
    let mut rng = SplitMix64(0x0_0AD5);
    // Channel counts with and without a partial quad (V1's 3 frames), pixel counts with and without vector tails
    // (IT's 36 at 96², 1, odd), and the pipeline's own planes.
    let shapes = [(3, 9216), (3, 37), (4, 1), (5, 36), (8, 16), (64, 576), (128, 144), (7, 23), (256, 36)];
    for k in levels() {
        for &(c, hw) in &shapes {
            let max = 3.7f32;
            let mut x = rand_vec(&mut rng, c * hw, 0.0, max);
            // Exact ends and ties of the rounding: 0, max, and values that land on .5 steps.
            x[0] = 0.0;
            x[c * hw - 1] = max;
            if c * hw > 3 {
                x[1] = max * 0.5 / 127.0;
                x[2] = max * 63.5 / 127.0;
            }
            // 7-bit codes: round(v·127/max), at most ACT_MAX_CODE.
            assert_eq!(ACT_MAX_CODE, 127);
            let inv = 127.0 / max;
            let want = naive_quads(c, hw, |ch, p| ((x[ch * hw + p] * inv + 0.5).clamp(0.0, 127.0)) as u8);
            let mut q = vec![0xAAu8; want.len()];
            let scale = k.quantise_u8(&x, (c, hw), max, &mut q).unwrap();
            assert_eq!(scale, max / 127.0);
            assert_eq!(q, want, "quantise {} c {c} hw {hw}", k.level());

            // Frames: half of each byte; an odd byte rounded up where pixel + channel is odd, down where it is even
            // (an ordered dither); 255 kept at 127.
            let mut frames: Vec<u8> = (0..c * hw).map(|_| (rng.next_u64() >> 56) as u8).collect();
            frames[0] = 255;
            if c * hw > 3 {
                (frames[1], frames[2]) = (255, 1);
            }
            let want = naive_quads(c, hw, |ch, p| dithered(frames[ch * hw + p], ch + p));
            let mut q = vec![0xAAu8; want.len()];
            k.to_quads(&frames, (c, hw), &mut q).unwrap();
            assert_eq!(q, want, "quads {} c {c} hw {hw}", k.level());

            // The dither keeps the lost bit on average: a flat odd frame (each plane one odd byte) reads back, over
            // any two neighbouring pixels, as exactly its value (two codes summing to the byte).
            let flat: Vec<u8> = (0..c * hw).map(|i| (2 * ((i / hw) % 100) + 3) as u8).collect();
            k.to_quads(&flat, (c, hw), &mut q).unwrap();
            for ch in 0..c {
                for p in 0..hw - 1 {
                    let (a, b) = (q[(ch / 4) * hw * 4 + 4 * p + ch % 4], q[(ch / 4) * hw * 4 + 4 * (p + 1) + ch % 4]);
                    assert_eq!(
                        u32::from(a) + u32::from(b),
                        u32::from(flat[ch * hw]),
                        "{} channel {ch} pixel {p}",
                        k.level()
                    );
                }
            }
        }
        // Out of range and NaN saturate the same way on every level; an unusable max zeroes the output.
        let (c, hw) = (4, 19);
        let mut x = rand_vec(&mut rng, c * hw, -1.0, 3.0);
        x[5] = f32::NAN;
        x[9] = f32::INFINITY;
        x[11] = f32::NEG_INFINITY;
        let mut reference = vec![0u8; c * hw];
        Kernels::portable().quantise_u8(&x, (c, hw), 2.0, &mut reference).unwrap();
        // Channel 0, pixels 5, 9 and 11.
        assert_eq!((reference[4 * 5], reference[4 * 9], reference[4 * 11]), (0, 127, 0));
        let mut q = vec![0u8; c * hw];
        k.quantise_u8(&x, (c, hw), 2.0, &mut q).unwrap();
        assert_eq!(q, reference, "{} saturation", k.level());
        for bad_max in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            let mut q = vec![9u8; c * hw];
            assert_eq!(k.quantise_u8(&x, (c, hw), bad_max, &mut q), Ok(1.0));
            assert!(q.iter().all(|&v| v == 0));
        }
        // Lengths and shapes are checked, and nothing is written on a refusal.
        let short = KernelError::BufferTooShort;
        let mut q = vec![7u8; c * hw - 1];
        assert_eq!(k.quantise_u8(&x, (c, hw), 2.0, &mut q), Err(short("q")));
        assert_eq!(k.to_quads(&[0u8; 76], (c, hw), &mut q), Err(short("q")));
        assert!(q.iter().all(|&v| v == 7));
        let mut q = vec![0u8; c * hw];
        assert_eq!(k.quantise_u8(&x[1..], (c, hw), 2.0, &mut q), Err(short("x")));
        assert_eq!(k.to_quads(&[0u8; 75], (c, hw), &mut q), Err(short("x")));
        assert_eq!(k.quantise_u8(&x, (0, hw), 2.0, &mut q), Err(KernelError::BadShape));
        assert_eq!(k.to_quads(&[], (usize::MAX, 2), &mut q), Err(KernelError::BadShape));
    }
}

/// The int8 row layout (V1 over stacks of 3 or 5 frames): input interleaved `[h][w][cin]`, weights rearranged by
/// `repack_rows`, packed by `im2col_rows`, multiplied by `gemm_i8` on `rows_gemm()`. It must give every level's
/// quad-layout output bit for bit, on every shape whose channels are no multiple of 4 (borders on every side,
/// strides 1–3, the input buffer exactly as long as the data so that the last pixels cannot read past it), with
/// codes up to 127 and up to 255.
#[test]
fn int8_row_layout_equals_the_quad_layout_on_every_level() {
    let levels = levels();
    let mut rng = SplitMix64(23);
    let mut cases: Vec<(ConvShape, usize)> = shapes().into_iter().filter(|(s, _)| s.rows_pay()).collect();
    cases.extend([
        (shape(3, 37, 41, 7, 2, 3), 20), // V1 over 3 frames, odd sizes: border pixels on all four sides
        (shape(5, 16, 16, 7, 2, 3), 64), // V1 over 5 frames at CORnet-Z's width
        (shape(3, 9, 9, 7, 1, 3), 6),    // stride 1: neighbouring pixels' rows 3 bytes apart, overlapping
        (shape(2, 10, 13, 5, 2, 1), 9),  // stride·cin = 4: rows one word apart
        (shape(6, 7, 8, 3, 3, 0), 5),    // stride 3, no padding
        (shape(1, 1, 1, 7, 2, 3), 3),    // one input pixel, all but one tap in the padding
        (shape(1, 9, 9, 3, 1, 1), 5),    // k·cin = 3: no whole word, every row's bytes in the tail
        (shape(35, 12, 12, 7, 2, 3), 4), // k·cin = 245 (rows of 248 bytes): near the longest it takes (256)
    ]);
    assert!(cases.len() >= 10, "the row layout is tested on {} shapes", cases.len());
    for ((s, cout), top) in cases.into_iter().flat_map(|sc| [(sc, 127u64), (sc, 255)]) {
        assert!(s.rows_pay(), "{s:?}");
        let xq: Vec<u8> = (0..s.cin * s.h * s.w).map(|_| (rng.next_u64() % (top + 1)) as u8).collect();
        let wq: Vec<i8> = (0..cout * s.kk()).map(|_| ((rng.next_u64() % 256) as i32 - 128) as i8).collect();
        let (wpad, x_quads) = int8_layouts(&s, cout, &wq, &xq);
        let scales: Vec<f32> = (0..cout).map(|m| 0.02 - 0.0007 * m as f32).collect();
        let sx = 1.0 / 127.0;
        let want = int8_outputs(&levels[..1], &s, cout, &wpad, &x_quads, &scales, sx).remove(0);

        // The row layout by its definition, written here independently of the library.
        let hw = s.h * s.w;
        let x_hwc: Vec<u8> = (0..hw * s.cin).map(|i| xq[(i % s.cin) * hw + i / s.cin]).collect();
        // Each kernel row's whole 4-byte words in row order, then every row's leftover bytes (k·cin mod 4 of them)
        // in row order, zero-padded once to a whole word.
        let (kc, kr) = (s.k * s.cin, s.kk_rows());
        let (whole, rest) = (kc / 4 * 4, kc % 4);
        assert_eq!(kr, (s.k * kc).div_ceil(4) * 4);
        let mut w_rows_def = vec![0i8; cout * kr];
        for m in 0..cout {
            for c in 0..s.cin {
                for ky in 0..s.k {
                    for kx in 0..s.k {
                        let b = kx * s.cin + c;
                        let at = if b < whole { ky * whole + b } else { s.k * whole + ky * rest + b - whole };
                        assert_eq!(s.row_slot(ky, b), at);
                        w_rows_def[m * kr + at] = wq[((m * s.cin + c) * s.k + ky) * s.k + kx];
                    }
                }
            }
        }
        let mut w_rows = vec![7i8; cout * kr];
        Kernels::repack_rows(&s, cout, &wpad, &mut w_rows).unwrap();
        assert_eq!(w_rows, w_rows_def, "{s:?}: repack_rows");

        let g = s.rows_gemm();
        assert_eq!((g.n(), g.kk4()), (s.n(), kr));
        for k in &levels {
            let mut packed = vec![f32::from_bits(0xAAAA_AAAA); g.packed_len_i8()];
            k.im2col_rows(&s, &x_hwc, &mut packed).unwrap();
            let mut out = vec![f32::NAN; cout * s.n() + 3];
            k.gemm_i8(&g, cout, &w_rows, &scales, sx, &packed, &mut out).unwrap();
            assert!(out[cout * s.n()..].iter().all(|v| v.is_nan()), "{k:?} {s:?}: wrote past cout·n");
            out.truncate(cout * s.n());
            assert_eq!(out, want, "{k:?} {s:?} codes ≤ {top}: the row layout differs from the quad layout");

            // The same convolution over the input with its zero border stored (what the pipeline runs, with the
            // border from `to_hwc`), built here by definition.
            let sp = s.pre_padded();
            assert_eq!((sp.pad, sp.ho(), sp.wo(), sp.rows_gemm()), (0, s.ho(), s.wo(), g));
            let mut x_pad = vec![0u8; sp.input_len_hwc()];
            for y in 0..s.h {
                let at = ((y + s.pad) * sp.w + s.pad) * s.cin;
                x_pad[at..at + s.w * s.cin].copy_from_slice(&x_hwc[y * s.w * s.cin..(y + 1) * s.w * s.cin]);
            }
            let mut packed = vec![f32::from_bits(0xAAAA_AAAA); g.packed_len_i8()];
            k.im2col_rows(&sp, &x_pad, &mut packed).unwrap();
            let mut out = vec![f32::NAN; cout * s.n()];
            k.gemm_i8(&g, cout, &w_rows, &scales, sx, &packed, &mut out).unwrap();
            assert_eq!(out, want, "{k:?} {s:?} codes ≤ {top}: the row layout over a stored border differs");
        }
    }
}

/// `to_hwc` is the frame code of `to_quads`, interleaved, inside a zero border; the row layout's checks refuse what
/// they must.
#[test]
fn row_layout_conversions_and_checks() {
    let mut rng = SplitMix64(29);
    for k in levels() {
        for ((c, h, w), pad) in [((3usize, 9usize, 11usize), 3usize), ((5, 8, 8), 0), ((1, 1, 5), 2), ((7, 3, 11), 1)] {
            let hw = h * w;
            let (hp, wp) = (h + 2 * pad, w + 2 * pad);
            assert_eq!(ConvShape { cin: c, h, w, k: 1, stride: 1, pad }.pre_padded().input_len_hwc(), hp * wp * c);
            let x: Vec<u8> = (0..c * hw).map(|_| rng.next_u64() as u8).collect();
            let len = hp * wp * c;
            let mut out = vec![0xEEu8; len + 2];
            k.to_hwc(&x, (c, h, w), pad, &mut out).unwrap();
            for y in 0..hp {
                for xx in 0..wp {
                    for ch in 0..c {
                        let inside = (pad..pad + h).contains(&y) && (pad..pad + w).contains(&xx);
                        let want = if inside {
                            let at = (y - pad) * w + xx - pad;
                            dithered(x[ch * hw + at], ch + at)
                        } else {
                            0
                        };
                        assert_eq!(out[(y * wp + xx) * c + ch], want, "{k:?} c {c} pad {pad} ({y}, {xx}) channel {ch}");
                    }
                }
            }
            assert_eq!(out[len..], [0xEE, 0xEE], "{k:?}: wrote past the bordered input");
            let short = &mut out[..len - 1];
            assert_eq!(k.to_hwc(&x, (c, h, w), pad, short), Err(KernelError::BufferTooShort("out")), "{k:?}");
            assert_eq!(k.to_hwc(&x[..c * hw - 1], (c, h, w), pad, &mut out), Err(KernelError::BufferTooShort("x")));
            assert_eq!(k.to_hwc(&x, (0, h, w), pad, &mut out), Err(KernelError::BadShape));
            assert_eq!(k.to_hwc(&x, (c, h, w), usize::MAX / 2, &mut out), Err(KernelError::BadShape));
        }
        let s = shape(3, 20, 18, 7, 2, 3);
        let x = vec![1u8; s.input_len_hwc()];
        let mut packed = vec![0.0f32; s.rows_gemm().packed_len_i8()];
        assert_eq!(k.im2col_rows(&s, &x[..x.len() - 1], &mut packed), Err(KernelError::BufferTooShort("x")));
        let short = packed.len() - 1;
        assert_eq!(k.im2col_rows(&s, &x, &mut packed[..short]), Err(KernelError::BufferTooShort("packed")));
        assert_eq!(k.im2col_rows(&shape(3, 2, 2, 7, 1, 0), &x, &mut packed), Err(KernelError::BadShape));
        let wide = shape(37, 8, 8, 7, 2, 3); // k·cin = 259 > 256: the quads keep it
        assert!(!wide.rows_pay());
        let xw = vec![0u8; wide.input_len_hwc()];
        let mut pw = vec![0.0f32; wide.rows_gemm().packed_len_i8()];
        assert_eq!(k.im2col_rows(&wide, &xw, &mut pw), Err(KernelError::BadShape));
    }
    let s = shape(5, 8, 8, 7, 2, 3);
    assert_eq!((s.row_bytes(), s.kk_rows(), s.kk4()), (36, 248, 392));
    assert_eq!((shape(3, 8, 8, 7, 2, 3).kk_rows(), shape(3, 8, 8, 7, 2, 3).kk4()), (148, 196));
    assert!(s.rows_pay() && !shape(4, 8, 8, 7, 2, 3).rows_pay());
    let w = vec![0i8; 2 * s.kk4()];
    let mut out = vec![0i8; 2 * s.kk_rows()];
    assert_eq!(Kernels::repack_rows(&s, 2, &w[1..], &mut out), Err(KernelError::BufferTooShort("w")));
    assert_eq!(Kernels::repack_rows(&s, 2, &w, &mut out[1..]), Err(KernelError::BufferTooShort("out")));
}

/// One interior sum of the background's alignment search, written as its definition: the interior row's pixels in
/// chunks of 8, lane `i` of each chunk into sum `i`, the rest into a ninth, rows in order, then the fixed
/// combination. Every level must give these bits.
fn background_sad(frame: &[f32], plane: &[f32], (h, w): (usize, usize), sx: isize, sy: isize) -> f32 {
    let r = SHIFT;
    let cols = w - 2 * r;
    let (mut lanes, mut rest) = ([0.0f32; 8], 0.0f32);
    for y in r..h - r {
        for x in 0..cols {
            let f = frame[(y as isize + sy) as usize * w + (r as isize + sx) as usize + x];
            let d = (f - plane[y * w + r + x]).abs();
            if x < cols / 8 * 8 {
                lanes[x % 8] += d;
            } else {
                rest += d;
            }
        }
    }
    ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7])) + rest
}

#[test]
fn background_search_rows_are_bit_identical_on_every_level() {
    let levels = levels();
    let mut rng = SplitMix64(41);
    let r = SHIFT as isize;
    let mut abandoned = 0;
    let mut kept = 0;
    for (h, w) in [(7, 7), (16, 16), (29, 40), (17, 61), (64, 64), (96, 96), (20, 200)] {
        for scene in 0..6 {
            // Pixel levels as the background holds them: whole levels in the frame, any float in the plane; some
            // scenes plain (ties), some a ramp, some noise, so every lane and the remainder carry different sums.
            let frame: Vec<f32> = (0..h * w)
                .map(|i| match scene % 3 {
                    0 => 100.0,
                    1 => ((i % w) * 3 + i / w) as f32 % 256.0,
                    _ => (rng.next_f32() * 255.0).round(),
                })
                .collect();
            let plane: Vec<f32> = frame.iter().map(|&v| (v + (rng.next_f32() - 0.5) * 40.0).max(0.0)).collect();
            for sy in -r..=r {
                let exact: Vec<f32> = (-r..=r).map(|sx| background_sad(&frame, &plane, (h, w), sx, sy)).collect();
                let mut sorted = exact.clone();
                sorted.sort_by(f32::total_cmp);
                // No bound, a bound between the sums (some shifts abandoned, some kept), and none at all (0).
                for bound in [f32::INFINITY, sorted[3], 0.0] {
                    let want = Kernels::portable().background_row_sads(&frame, &plane, (h, w), sy, bound).unwrap();
                    for (k, (&got, &full)) in want.iter().zip(&exact).enumerate() {
                        if got.is_infinite() {
                            abandoned += 1;
                            assert!(full > bound, "{h}x{w} sy {sy} shift {k}: abandoned but {full} ≤ {bound}");
                        } else {
                            kept += 1;
                            assert_eq!(got.to_bits(), full.to_bits(), "{h}x{w} sy {sy} shift {k}: the definition");
                        }
                    }
                    for k in &levels {
                        let got = k.background_row_sads(&frame, &plane, (h, w), sy, bound).unwrap();
                        let (got, want): (Vec<u32>, Vec<u32>) =
                            (got.iter().map(|v| v.to_bits()).collect(), want.iter().map(|v| v.to_bits()).collect());
                        assert_eq!(got, want, "{}: {h}x{w} scene {scene} sy {sy} bound {bound}", k.level());
                    }
                }
            }
        }
    }
    assert!(abandoned > 100 && kept > 100, "both outcomes exercised ({abandoned} abandoned, {kept} kept)");
}

#[test]
fn background_search_refuses_what_it_cannot_read() {
    for k in levels() {
        let (h, w) = (16, 20);
        let plane = vec![1.0f32; h * w];
        let short = KernelError::BufferTooShort;
        assert_eq!(k.background_row_sads(&plane[1..], &plane, (h, w), 0, 1.0), Err(short("frame")));
        assert_eq!(k.background_row_sads(&plane, &plane[1..], (h, w), 0, 1.0), Err(short("plane")));
        let r = SHIFT as isize;
        for (hw, sy) in
            [((h, w), r + 1), ((h, w), -r - 1), ((2 * SHIFT, w), 0), ((h, 2 * SHIFT), 0), ((usize::MAX / 2, 8), 0)]
        {
            assert_eq!(k.background_row_sads(&plane, &plane, hw, sy, 1.0), Err(KernelError::BadShape), "{hw:?} {sy}");
        }
        assert_eq!(k.background_row_sads(&plane, &plane, (h, w), -r, f32::INFINITY).unwrap(), [0.0; BG_GRID]);
    }
}
