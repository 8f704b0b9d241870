//! YUV4MPEG2 files: any bytes through `read_y4m`, then `Y4m::frame_resized` with arbitrary target sizes, frame
//! indices and output lengths. No panic; a request succeeds exactly when it is valid, and an area average stays
//! within the source frame's range.
//!
//! Input: `[w, h, index, flags]` then the file. Flags bit 0 makes the output one byte too long, bit 1 asks for a
//! width past the limit.
#![no_main]
use avf_bel::media::{read_y4m, Y4M_MAX_SIDE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&[w, h, index, flags], file)) = data.split_first_chunk::<4>() else { return };
    let Ok(y) = read_y4m(file) else { return };
    assert!((1..=Y4M_MAX_SIDE).contains(&y.width) && (1..=Y4M_MAX_SIDE).contains(&y.height));
    assert!(y.frames() >= 1 && y.luma.len() == y.frames() * y.width * y.height);
    assert!(y.fps.is_finite() && y.fps > 0.0, "fps {}", y.fps);
    let w = if flags & 2 != 0 { Y4M_MAX_SIDE + 1 } else { usize::from(w) };
    let (h, i) = (usize::from(h), usize::from(index));
    let len = if w > Y4M_MAX_SIDE { 4 } else { w * h + usize::from(flags & 1) };
    let mut out = vec![0u8; len];
    let valid = w >= 1 && h >= 1 && w <= Y4M_MAX_SIDE && i < y.frames() && len == w * h;
    let r = y.frame_resized(i, w, h, &mut out);
    assert_eq!(r.is_ok(), valid, "{w}x{h} frame {i} of {} into {len} bytes: {r:?}", y.frames());
    if valid {
        let plane = y.width * y.height;
        let src = &y.luma[i * plane..(i + 1) * plane];
        let (lo, hi) = (src.iter().min().unwrap(), src.iter().max().unwrap());
        assert!(out.iter().all(|v| v >= lo && v <= hi), "an average outside the source's range");
    }
});
