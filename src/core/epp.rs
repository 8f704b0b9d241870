//! The Emotional Positivity Parameter: a fixed weighting of the five emotions.
//!
//! `EPP = (3·angry + 5·happy + 4·peaceful + 2·sad + 1·scared) / 15`. On ratings 0–127 this is the study's `epp_raw`;
//! on intensities 0–1 (ratings / 127) it is EPP on the product's fixed 0–1 scale.

/// Weights of angry, happy, peaceful, sad, scared (the order of [`crate::EMOTIONS`]).
pub const EPP_WEIGHTS: [u8; 5] = [3, 5, 4, 2, 1];

/// EPP of five intensities (any scale: 0–1 in, 0–1 out; 0–127 in, `epp_raw` out).
pub fn epp(e: &[f32; 5]) -> f32 {
    let mut s = 0.0;
    for (w, x) in EPP_WEIGHTS.iter().zip(e) {
        s += *w as f32 * x;
    }
    s / 15.0
}

/// EPP in double precision, for checking the data's `epp_raw` columns.
pub fn epp_f64(e: &[f64; 5]) -> f64 {
    let mut s = 0.0;
    for (w, x) in EPP_WEIGHTS.iter().zip(e) {
        s += *w as f64 * x;
    }
    s / 15.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_and_ordering() {
        assert_eq!(epp(&[0.0; 5]), 0.0);
        assert!((epp(&[1.0; 5]) - 1.0).abs() < 1e-6);
        // Pure happy is the most positive single emotion, pure scared the least.
        let one = |i: usize| {
            let mut e = [0.0; 5];
            e[i] = 1.0;
            epp(&e)
        };
        assert!(one(1) > one(2) && one(2) > one(0) && one(0) > one(3) && one(3) > one(4));
        assert!((one(1) - 5.0 / 15.0).abs() < 1e-7);
    }
}
