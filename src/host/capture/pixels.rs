//! Camera pixel formats to luma (the model sees grayscale). Pure functions, so they are tested on recorded buffers
//! on machines without a camera; the V4L2 reader (feature `capture`) uses them on every dequeued buffer.

/// The pixel formats the V4L2 reader asks a camera for, in order of preference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    /// `GREY`: 8-bit luma, one byte per pixel.
    Grey,
    /// `YUYV` (YUY2): packed 4:2:2, `Y0 U Y1 V` per two pixels.
    Yuyv,
}

impl PixelFormat {
    /// The V4L2 fourcc.
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            PixelFormat::Grey => *b"GREY",
            PixelFormat::Yuyv => *b"YUYV",
        }
    }

    /// Bytes per pixel in a row.
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            PixelFormat::Grey => 1,
            PixelFormat::Yuyv => 2,
        }
    }
}

/// Copy the luma of a `width`×`height` image whose rows are `stride` bytes apart into `out` (`width·height` bytes).
/// Returns `false` if `src` is too short for that geometry (a truncated buffer is skipped, never read past).
pub fn to_luma(format: PixelFormat, src: &[u8], width: usize, height: usize, stride: usize, out: &mut [u8]) -> bool {
    let row = width * format.bytes_per_pixel();
    if width == 0
        || height == 0
        || stride < row
        || src.len() < stride * (height - 1) + row
        || out.len() < width * height
    {
        return false;
    }
    for (y, dst) in out.chunks_exact_mut(width).take(height).enumerate() {
        let line = &src[y * stride..y * stride + row];
        match format {
            PixelFormat::Grey => dst.copy_from_slice(line),
            // Luma is every even byte of a YUYV row.
            PixelFormat::Yuyv => dst.iter_mut().zip(line.iter().step_by(2)).for_each(|(d, &s)| *d = s),
        }
    }
    true
}

/// The frame sizes a camera offers for a pixel format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sizes {
    /// A list of fixed sizes.
    Discrete(Vec<(u32, u32)>),
    /// Any size in a range, in steps (continuous ranges have step 1).
    Stepwise {
        /// Smallest width and height.
        min: (u32, u32),
        /// Largest width and height.
        max: (u32, u32),
        /// Width and height steps.
        step: (u32, u32),
    },
}

/// The capture size to ask for: the smallest offered size at least as large as the model's frames both ways (the
/// least data to move, no upscaling); if none is, the largest. `None` if nothing is offered.
pub fn choose_size(sizes: &Sizes, want: (u32, u32)) -> Option<(u32, u32)> {
    match sizes {
        Sizes::Discrete(list) => {
            let big_enough = list
                .iter()
                .filter(|&&(w, h)| w >= want.0 && h >= want.1)
                .min_by_key(|&&(w, h)| u64::from(w) * u64::from(h));
            big_enough.or_else(|| list.iter().max_by_key(|&&(w, h)| u64::from(w) * u64::from(h))).copied()
        }
        Sizes::Stepwise { min, max, step } => {
            let fit = |want: u32, lo: u32, hi: u32, step: u32| {
                let step = step.max(1);
                let v = want.clamp(lo, hi);
                // Round up onto the grid lo + k·step, staying within hi.
                let k = (v - lo).div_ceil(step);
                (lo + k * step).min(hi)
            };
            if min.0 > max.0 || min.1 > max.1 || max.0 == 0 || max.1 == 0 {
                return None;
            }
            Some((fit(want.0, min.0, max.0, step.0), fit(want.1, min.1, max.1, step.1)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_mode_that_covers_the_model() {
        let uvc = Sizes::Discrete(vec![(1280, 720), (640, 480), (320, 240), (160, 120), (176, 144)]);
        assert_eq!(choose_size(&uvc, (64, 64)), Some((160, 120)));
        assert_eq!(choose_size(&uvc, (224, 224)), Some((320, 240)));
        assert_eq!(choose_size(&uvc, (2000, 2000)), Some((1280, 720)), "none covers it: the largest");
        assert_eq!(choose_size(&Sizes::Discrete(vec![]), (64, 64)), None);
        let step = Sizes::Stepwise { min: (48, 32), max: (1920, 1080), step: (16, 8) };
        assert_eq!(choose_size(&step, (64, 64)), Some((64, 64)));
        assert_eq!(choose_size(&step, (70, 30)), Some((80, 32)));
        assert_eq!(choose_size(&step, (4000, 4000)), Some((1920, 1080)));
    }

    #[test]
    fn yuyv_takes_even_bytes_and_honours_the_stride() {
        // 2×2 pixels, rows of 6 bytes (2 bytes of padding each).
        let src = [10, 200, 11, 100, 0xEE, 0xEE, 12, 201, 13, 101, 0xEE, 0xEE];
        let mut out = [0u8; 4];
        assert!(to_luma(PixelFormat::Yuyv, &src, 2, 2, 6, &mut out));
        assert_eq!(out, [10, 11, 12, 13]);
        assert!(!to_luma(PixelFormat::Yuyv, &src[..9], 2, 2, 6, &mut out));
        assert!(!to_luma(PixelFormat::Yuyv, &src, 2, 2, 3, &mut out));
    }

    #[test]
    fn grey_is_copied_row_by_row() {
        let src = [1, 2, 3, 9, 4, 5, 6];
        let mut out = [0u8; 6];
        assert!(to_luma(PixelFormat::Grey, &src, 3, 2, 4, &mut out));
        assert_eq!(out, [1, 2, 3, 4, 5, 6]);
    }
}
