//! Errors, one small enum per layer. Every variant carries enough to say what was wrong without a debugger.

use core::fmt;

pub use crate::core::kernels::KernelError;

/// A model configuration that cannot describe a working model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConfigError {
    /// A size that must be non-zero is zero, or one that must stay small is too large; names the field.
    BadSize(&'static str),
    /// The frame is too small to survive CORnet-Z's four stride-2 poolings (needs at least 16×16).
    FrameTooSmall,
    /// A numeric parameter is NaN, infinite or outside its documented range; names the field.
    BadParameter(&'static str),
}

/// A weights file that does not match the format (see `docs/weights-format.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FormatError {
    /// The file does not start with the magic bytes `b"AVFBELW\0"`.
    BadMagic,
    /// The format version is not one this build reads.
    UnsupportedVersion(u16),
    /// The file ends before the header or a tensor's data does.
    Truncated,
    /// The postcard header could not be decoded.
    BadHeader,
    /// The model configuration stored in the header is invalid.
    Config(ConfigError),
    /// The byte buffer itself does not start on a 64-byte boundary (load it with an aligned buffer).
    UnalignedBuffer,
    /// Tensor number `.0` has an offset that is not a multiple of 64 bytes.
    Misaligned(u16),
    /// Tensor number `.0` has an offset or length pointing outside the data section.
    OutOfRange(u16),
    /// Tensor number `.0` has a byte length that disagrees with its shape and dtype.
    LengthMismatch(u16),
    /// Tensor number `.0`'s stored content hash does not match its bytes.
    HashMismatch(u16),
    /// Tensor number `.0`'s name appears twice.
    DuplicateName(u16),
    /// Tensor number `.0` has NaN or infinite values.
    NonFinite(u16),
    /// Tensor number `.0` has quantisation parameters that are missing, misplaced, non-finite or not positive.
    BadQuantisation(u16),
    /// A tensor the configuration needs has the wrong shape or dtype; names it.
    ShapeMismatch(&'static str),
    /// A tensor the configuration needs is absent; names it.
    MissingTensor(&'static str),
    /// More tensors than the header can describe.
    TooManyTensors,
    /// The output buffer is too small to hold the serialized file.
    BufferTooSmall,
}

/// An input the pipeline refuses: a frame or audio buffer of the wrong shape or with bad values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum InputError {
    /// The frame's byte count does not equal height × width of the configuration.
    FrameSize {
        /// Bytes the configuration needs.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// The audio buffer holds NaN or infinite samples.
    NonFiniteAudio,
    /// No audio (or too little to fill one analysis frame) was given before inference.
    EmptyAudio,
    /// No frames (or fewer than one channel stack) were given before inference.
    NoFrames,
    /// A stage received a vector whose length differs from the configuration; names the stage.
    ShapeMismatch(&'static str),
    /// The reinforcement value given to BEL learning is NaN or infinite.
    BadReward,
    /// A saved BEL state handed to the pipeline holds NaN or infinite weights.
    NonFiniteState,
    /// An inference asked for no sense at all (neither audio nor video).
    NoModality,
}

/// Where an accelerator backend (the CUDA pipeline of the host side) failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum BackendStage {
    /// Finding the driver, the device or the kernel compiler, compiling or loading the kernels.
    Start,
    /// Allocating device or pinned host memory.
    Alloc,
    /// Copying between host and device.
    Copy,
    /// Launching a kernel.
    Launch,
    /// Capturing or replaying a CUDA graph.
    Graph,
    /// Waiting for the device.
    Sync,
    /// The start-up self-test found results out of tolerance.
    SelfTest,
    /// The model's configuration exceeds what the kernels were built for.
    Limits,
}

/// A failure of an accelerator backend: the stage and the driver's (or emulator's) status code, 0 when there is
/// none. Small and `Copy`, like every error of the core; the host side's own error type carries the details.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BackendError {
    /// Where it failed.
    pub stage: BackendStage,
    /// The status code (a `CUresult` on CUDA), or 0.
    pub code: i32,
}

/// Any error of this crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// See [`ConfigError`].
    Config(ConfigError),
    /// See [`FormatError`].
    Format(FormatError),
    /// See [`InputError`].
    Input(InputError),
    /// See [`KernelError`]: a kernel level this CPU lacks (e.g. forced by `AVF_BEL_KERNELS`), or a refused kernel
    /// call.
    Kernel(KernelError),
    /// See [`BackendError`].
    Backend(BackendError),
    /// The caller's scratch buffer is smaller than the configuration needs.
    ScratchTooSmall {
        /// Floats needed.
        needed: usize,
        /// Floats given.
        got: usize,
    },
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}
impl From<FormatError> for Error {
    fn from(e: FormatError) -> Self {
        Error::Format(e)
    }
}
impl From<InputError> for Error {
    fn from(e: InputError) -> Self {
        Error::Input(e)
    }
}
impl From<KernelError> for Error {
    fn from(e: KernelError) -> Self {
        Error::Kernel(e)
    }
}
impl From<BackendError> for Error {
    fn from(e: BackendError) -> Self {
        Error::Backend(e)
    }
}
impl From<ConfigError> for FormatError {
    fn from(e: ConfigError) -> Self {
        FormatError::Config(e)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::BadSize(n) => write!(f, "configuration: `{n}` has an unusable size"),
            ConfigError::FrameTooSmall => write!(f, "configuration: frames must be at least 16×16"),
            ConfigError::BadParameter(n) => {
                write!(f, "configuration: `{n}` is not finite or out of range")
            }
        }
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::BadMagic => write!(f, "not an avf-bel weights file (bad magic bytes)"),
            FormatError::UnsupportedVersion(v) => {
                write!(f, "unsupported weights format version {v}")
            }
            FormatError::Truncated => write!(f, "weights file is truncated"),
            FormatError::BadHeader => write!(f, "weights header cannot be decoded"),
            FormatError::Config(e) => write!(f, "weights header holds a bad {e}"),
            FormatError::UnalignedBuffer => {
                write!(f, "weights buffer is not 64-byte aligned in memory")
            }
            FormatError::Misaligned(i) => {
                write!(f, "tensor #{i}: offset is not a multiple of 64 bytes")
            }
            FormatError::OutOfRange(i) => {
                write!(f, "tensor #{i}: offset or length lies outside the file")
            }
            FormatError::LengthMismatch(i) => {
                write!(f, "tensor #{i}: byte length disagrees with shape and dtype")
            }
            FormatError::HashMismatch(i) => {
                write!(f, "tensor #{i}: content hash does not match its data")
            }
            FormatError::DuplicateName(i) => write!(f, "tensor #{i}: name appears twice"),
            FormatError::NonFinite(i) => write!(f, "tensor #{i}: contains NaN or infinite values"),
            FormatError::BadQuantisation(i) => write!(f, "tensor #{i}: bad quantisation scales"),
            FormatError::ShapeMismatch(n) => write!(f, "tensor `{n}` has the wrong shape or dtype"),
            FormatError::MissingTensor(n) => write!(f, "tensor `{n}` is missing"),
            FormatError::TooManyTensors => write!(f, "too many tensors in the header"),
            FormatError::BufferTooSmall => {
                write!(f, "output buffer too small for the weights file")
            }
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::FrameSize { expected, got } => {
                write!(f, "frame has {got} bytes, the configuration needs {expected}")
            }
            InputError::NonFiniteAudio => write!(f, "audio contains NaN or infinite samples"),
            InputError::EmptyAudio => write!(f, "no audio: at least one analysis frame is needed"),
            InputError::NoFrames => write!(f, "no video: at least one full frame stack is needed"),
            InputError::ShapeMismatch(n) => {
                write!(f, "stage `{n}` got a vector of the wrong length")
            }
            InputError::BadReward => write!(f, "reward is NaN or infinite"),
            InputError::NonFiniteState => write!(f, "saved BEL state holds NaN or infinite weights"),
            InputError::NoModality => write!(f, "no sense selected: use audio, video or both"),
        }
    }
}

impl fmt::Display for BackendStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendStage::Start => "start-up",
            BackendStage::Alloc => "memory allocation",
            BackendStage::Copy => "copy",
            BackendStage::Launch => "kernel launch",
            BackendStage::Graph => "graph capture or replay",
            BackendStage::Sync => "synchronisation",
            BackendStage::SelfTest => "self-test",
            BackendStage::Limits => "kernel limits",
        })
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.code == 0 {
            write!(f, "accelerator {} failed", self.stage)
        } else {
            write!(f, "accelerator {} failed (status {})", self.stage, self.code)
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => e.fmt(f),
            Error::Format(e) => e.fmt(f),
            Error::Input(e) => e.fmt(f),
            Error::Kernel(e) => e.fmt(f),
            Error::Backend(e) => e.fmt(f),
            Error::ScratchTooSmall { needed, got } => {
                write!(f, "scratch buffer holds {got} floats, the configuration needs {needed}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConfigError {}
#[cfg(feature = "std")]
impl std::error::Error for FormatError {}
#[cfg(feature = "std")]
impl std::error::Error for InputError {}
#[cfg(feature = "std")]
impl std::error::Error for BackendError {}
#[cfg(feature = "std")]
impl std::error::Error for Error {}
