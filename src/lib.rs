#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

// The tree has one boundary that matters: `core/` is the `no_std`, allocation-free inference core (it builds for
// bare-metal targets); `host/` is the `std` companion built on it. The binary's command line lives in `cli/`
// beside `main.rs` and is not part of the library. Modules are private; this file is the public surface.
mod core;
#[cfg(feature = "std")]
mod host;

pub use crate::core::backend::Backend;
pub use crate::core::bel::{Bel, BelTerms};
pub use crate::core::config::{
    AudioConfig, BelConfig, CortexConfig, FusionConfig, InputConfig, ModelConfig, VisualConfig, BACKGROUND_TAU_MS,
    DRIVE_FLOOR_DB, EMOTIONS, LIBROSA_TOP_DB, N_EMOTIONS, ONSET_RANGE_DB, SOUND_FLOOR,
};
pub use crate::core::epp::{epp, epp_f64, EPP_WEIGHTS};
pub use crate::core::error::{BackendError, BackendStage, ConfigError, Error, FormatError, InputError};
pub use crate::core::fusion::Contribution;
pub use crate::core::manifest::audio_inputs;
pub use crate::core::pipeline::{Modalities, Output, Pipeline};
pub use crate::core::weights::Weights;

/// The weights file format (`docs/weights-format.md`): the validating reader, the model's tensor manifest, and on
/// the host the writer.
pub mod weights {
    pub use crate::core::manifest::{
        conv_geometry, conv_kk4, BelWeights, ConvView, ConvWeights, DenseWeights, FusionWeights, MatrixView,
        ModelWeights, ReadoutWeights, Role, Shape, TensorId, VisualWeights, CONV_BIASES, CONV_WEIGHTS,
    };
    pub use crate::core::weights::{
        align_up, DType, Header, Quant, TensorInfo, TensorView, Weights, ALIGN, CRC64, MAGIC, MAX_DIMS, MAX_TENSORS,
        PREAMBLE, VERSION, VERSION_1, VERSION_2, VERSION_3, VERSION_4, VERSION_5, VERSION_6,
    };
    /// Writing weights files and holding them 64-byte aligned in memory (host only).
    #[cfg(feature = "std")]
    pub mod writer {
        pub use crate::host::writer::{to_bytes, AlignedBytes, OwnedTensor};
    }
}

/// The visual pathway (CORnet-Z), for per-stage use and benchmarks.
pub mod visual {
    pub use crate::core::visual::{
        noise_sigma, normalise_luma, pool_bias_relu, quantise_u8, shapes, summary_len, to_channel_quads, update_weight,
        Background, Block, BlockWeights, FramePrep, Visual, BLOCKS, CORE_SIGMAS, LEVEL_GAINS, LEVEL_REACH, LUMA_MEAN,
        LUMA_STD, MID, SHIFT,
    };
}

/// The auditory pathway: the streaming front-end and the PYR/PV/SOM auditory cortex.
pub mod audio {
    pub use crate::core::audio::{Descriptors, FrameFeatures, N_DESCRIPTORS, N_INTERVALS, TONNETZ_DIMS};
    /// The streaming librosa-equivalent front-end.
    pub mod frontend {
        pub use crate::core::audio::frontend::{FrontEnd, LOUDNESS_FLOOR_RMS, LOUDNESS_TARGET_RMS};
    }
    /// The PYR/PV/SOM auditory cortex (`docs/cortex.md`).
    pub mod cortex {
        pub use crate::core::audio::cortex::{Cortex, DriveConfig};
    }
}

/// The robot link (`docs/wire.md`): the `no_std` message codec, and on the host the daemon and its transports.
pub mod link {
    pub use crate::core::link::{
        decode_stream, flags, frame, Heartbeat, LinkError, Message, MessageDecoder, Reward, Sample, SceneCut,
        MAX_FRAME, MAX_PAYLOAD, PROTOCOL_VERSION,
    };
    #[cfg(feature = "ros2")]
    pub use crate::host::link::ros2;
    #[cfg(feature = "std")]
    pub use crate::host::link::{board, daemon, notify, serial, socket, state, sys};
}

/// The visual kernels: instruction-set levels, the kernel table chosen once per pipeline, and which kernels run.
///
/// `Pipeline::new` picks the best level of this CPU (or the one `AVF_BEL_KERNELS` names); `Pipeline::with_kernels`
/// takes a [`kernels::Kernels`] table, `Pipeline::kernels` reports it. The table's safe methods (im2col + GEMM,
/// f32 and int8, and the visual background's alignment search) check every shape and length.
pub mod kernels {
    pub use crate::core::kernels::{
        ConvShape, KernelError, KernelReport, Kernels, Level, ACT_MAX_CODE, BG_GRID, ENV_VAR, MAX_KK4, NR,
    };

    /// The level [`crate::Pipeline::new`] would choose here (`AVF_BEL_KERNELS` if set and valid, else the best
    /// this CPU runs), or `"invalid AVF_BEL_KERNELS"`. Prefer [`crate::Pipeline::kernels`], which reports the
    /// kernels a pipeline actually runs. (`std` only: without it there is no environment.)
    #[cfg(feature = "std")]
    pub fn kernel_name() -> &'static str {
        Kernels::from_env().map(|k| k.level().name()).unwrap_or("invalid AVF_BEL_KERNELS")
    }
}

/// Choosing the backend at run time: `Device` (auto, cpu, cuda) and `open` (host only).
#[cfg(feature = "std")]
pub mod backend {
    #[cfg(feature = "cuda-emulator")]
    pub use crate::host::backend::start_emulator;
    pub use crate::host::backend::{open, open_with, Device, GpuStarter, GpuUnusable, OpenError, UnknownDevice};
}

/// Live inputs for `serve` (capture threads, rings, URIs) and the frame/sound conversions shared with `run`.
#[cfg(feature = "std")]
pub mod capture {
    pub use crate::host::capture::*;
}

#[cfg(any(feature = "cuda", feature = "cuda-emulator"))]
pub use crate::host::gpu;
#[cfg(feature = "train")]
pub use crate::host::train;
#[cfg(feature = "std")]
pub use crate::host::{json, logging, media, model, stimuli};

/// Figures as PNG (feature `plot`): the error type of `stimuli::preview` and `train::plot`, and the font family.
#[cfg(feature = "plot")]
pub mod plot {
    pub use crate::host::plot::{PlotError, FONT};
}

/// Where the study's ratings are (`--data`, `$AVF_BEL_DATA`, `../shared/data`): the one lookup the commands and
/// the tests use.
#[cfg(feature = "std")]
pub mod data {
    pub use crate::host::data::{
        find_data, find_data_in, DataError, DataOrigin, DATA_ENV, DATA_FILES, DEFAULT_DATA_DIR, WHERE_TO_GET,
    };
}
