//! The embedded kernel source, its entry points, and the kernels' fixed capacities as the host plans with them.

pub use super::launcher::Kernel;

/// The whole kernel source: `kernels/common.cuh`, `cornet.cu`, `cortex.cu` and `head.cu`, in that order, as one
/// NVRTC translation unit (the emulator includes the same files in the same order).
pub const SOURCE: &str = concat!(
    include_str!("../../../kernels/common.cuh"),
    "\n",
    include_str!("../../../kernels/cornet.cu"),
    "\n",
    include_str!("../../../kernels/cortex.cu"),
    "\n",
    include_str!("../../../kernels/head.cu"),
);

/// The name of every entry point of [`SOURCE`].
pub fn entry_points() -> impl Iterator<Item = &'static str> {
    Kernel::ALL.iter().map(|k| k.name())
}

/// Frames of the cortex run per launch: the host queues the front-end's frames and launches when this many wait or
/// when the features are needed.
pub const CORTEX_BATCH: usize = 64;

/// The kernels' compile-time capacities (`#define`s of `kernels/*.cu`), which the host plans launches within. The
/// kernels trap when a launch exceeds them; the emulator tests read the values from the compiled kernels and check
/// these against them.
pub mod caps {
    /// Output channels per CORnet-Z block (`CZ_COB`).
    pub const CZ_COB: usize = 16;
    /// Threads per CORnet-Z block (`CZ_NT`).
    pub const CZ_NT: u32 = 256;
    /// V1's patch capacity in halves (`CZ_PATCH_V1`).
    pub const CZ_PATCH_V1: usize = 4900;
    /// V1's weight capacity in halves (`CZ_W_V1`).
    pub const CZ_W_V1: usize = 3136;
    /// The 3×3 blocks' patch capacity in halves (`CZ_PATCH_K3`).
    pub const CZ_PATCH_K3: usize = 4624;
    /// The 3×3 blocks' weight capacity in halves (`CZ_W_K3`).
    pub const CZ_W_K3: usize = 4608;
    /// The f32 tile buffer in floats (`CZ_F32`).
    pub const CZ_F32: usize = 4096;
    /// Conv-tile values a thread combines across channel groups (`CZ_SUMS`).
    pub const CZ_SUMS: usize = 6;
    /// Most threads of the cortex block (`CX_NT`).
    pub const CX_NT: u32 = 512;
    /// Most tonotopic groups (`CX_MAX_GROUPS`).
    pub const CX_MAX_GROUPS: usize = 64;
    /// Most spike-bitmask words (`CX_MAX_WORDS`).
    pub const CX_MAX_WORDS: usize = 512;
    /// Noise generator lanes (`CX_LANES`).
    pub const CX_LANES: usize = 16;
    /// Threads of the head block (`HD_NT`).
    pub const HD_NT: u32 = 256;
    /// Longest visual summary (`HD_MAX_SUMMARY`).
    pub const HD_MAX_SUMMARY: usize = 4096;
    /// Most hidden units per modality (`HD_MAX_HIDDEN`).
    pub const HD_MAX_HIDDEN: usize = 1024;
    /// Most audio read-out inputs (`HD_MAX_AIN`).
    pub const HD_MAX_AIN: usize = 512;
    /// Most sensory channels (`HD_MAX_SENS`).
    pub const HD_MAX_SENS: usize = 64;
    /// Most features per modality (`HD_MAX_FEATURES`).
    pub const HD_MAX_FEATURES: usize = 64;
}

/// `name value` for every `#define NAME <integer>` of [`SOURCE`] whose name is in `names` (for the test that the
/// host's [`caps`] are the kernels').
pub fn source_defines(names: &[&str]) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for line in SOURCE.lines() {
        let mut it = line.split_whitespace();
        if it.next() != Some("#define") {
            continue;
        }
        let (Some(name), Some(value)) = (it.next(), it.next()) else { continue };
        if names.contains(&name) {
            if let Ok(v) = value.parse::<i64>() {
                out.push((name.to_string(), v));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host's capacities are the kernels' `#define`s, and every entry point is in the source.
    #[test]
    fn caps_are_the_kernels_defines() {
        let want = [
            ("CZ_COB", caps::CZ_COB as i64),
            ("CZ_NT", caps::CZ_NT as i64),
            ("CZ_PATCH_V1", caps::CZ_PATCH_V1 as i64),
            ("CZ_W_V1", caps::CZ_W_V1 as i64),
            ("CZ_PATCH_K3", caps::CZ_PATCH_K3 as i64),
            ("CZ_W_K3", caps::CZ_W_K3 as i64),
            ("CZ_F32", caps::CZ_F32 as i64),
            ("CZ_SUMS", caps::CZ_SUMS as i64),
            ("CX_NT", caps::CX_NT as i64),
            ("CX_MAX_GROUPS", caps::CX_MAX_GROUPS as i64),
            ("CX_MAX_WORDS", caps::CX_MAX_WORDS as i64),
            ("CX_LANES", caps::CX_LANES as i64),
            ("HD_NT", caps::HD_NT as i64),
            ("HD_MAX_SUMMARY", caps::HD_MAX_SUMMARY as i64),
            ("HD_MAX_HIDDEN", caps::HD_MAX_HIDDEN as i64),
            ("HD_MAX_AIN", caps::HD_MAX_AIN as i64),
            ("HD_MAX_SENS", caps::HD_MAX_SENS as i64),
            ("HD_MAX_FEATURES", caps::HD_MAX_FEATURES as i64),
        ];
        let names: Vec<&str> = want.iter().map(|(n, _)| *n).collect();
        let got = source_defines(&names);
        assert_eq!(got.len(), want.len(), "{got:?}");
        for (name, v) in want {
            assert!(got.contains(&(name.to_string(), v)), "{name}: host {v}, kernels {got:?}");
        }
        for name in entry_points() {
            assert!(SOURCE.contains(&format!(" {name}(")), "entry point {name} missing from the source");
        }
    }
}
