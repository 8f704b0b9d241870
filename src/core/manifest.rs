//! The model's tensors, in one place: [`TensorId`] is the table of names, shapes and storage rules that the file
//! format (`docs/weights-format.md`), the CPU pipeline, the GPU runtime, the writer and the trainer all read; and
//! [`ModelWeights`] is every tensor of a weights file resolved once, at load, into typed views (the "weights" struct
//! of llama2.c). After [`ModelWeights::resolve`] nothing looks a tensor up by name again.

use crate::core::audio::cortex::Cortex;
use crate::core::audio::{N_DESCRIPTORS, N_INTERVALS};
use crate::core::config::{ModelConfig, N_EMOTIONS};
use crate::core::error::FormatError;
use crate::core::weights::{TensorView, Weights, MAX_DIMS};
use half::f16;

/// A tensor shape (outermost dimension first).
pub type Shape = heapless::Vec<u32, MAX_DIMS>;

/// What a tensor is, which decides how it may be stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Convolution weights of CORnet-Z block `0..4` (V1, V2, V4, IT): f32, f16, or i8 in the int8 kernel's layout.
    ConvWeight(usize),
    /// A dense layer's weight matrix `[rows, cols]`: f32 or f16.
    Matrix,
    /// A bias, a standardisation vector or a BEL weight: always f32 (small, and BEL learns on them online).
    Vector,
}

macro_rules! tensors {
    ($($id:ident = $name:literal,)*) => {
        /// Every tensor an AVF-BEL model can hold.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum TensorId { $($id,)* }

        impl TensorId {
            /// Every tensor, in file order.
            pub const ALL: &'static [TensorId] = &[$(TensorId::$id,)*];

            /// The tensor's name in the file.
            pub const fn name(self) -> &'static str {
                match self { $(TensorId::$id => $name,)* }
            }
        }
    };
}

tensors! {
    V1Weight = "visual.v1.weight",
    V1Bias = "visual.v1.bias",
    V2Weight = "visual.v2.weight",
    V2Bias = "visual.v2.bias",
    V4Weight = "visual.v4.weight",
    V4Bias = "visual.v4.bias",
    ItWeight = "visual.it.weight",
    ItBias = "visual.it.bias",
    HeadWeight = "visual.head.weight",
    HeadBias = "visual.head.bias",
    VisualReadoutMean = "visual.readout.mean",
    VisualReadoutInvStd = "visual.readout.inv_std",
    VisualReadoutWeight = "visual.readout.weight",
    VisualReadoutBias = "visual.readout.bias",
    AudioReadoutMean = "audio.readout.mean",
    AudioReadoutInvStd = "audio.readout.inv_std",
    AudioReadoutWeight = "audio.readout.weight",
    AudioReadoutBias = "audio.readout.bias",
    FusionAudioWeight = "fusion.audio.weight",
    FusionAudioBias = "fusion.audio.bias",
    FusionVisualWeight = "fusion.visual.weight",
    FusionVisualBias = "fusion.visual.bias",
    FusionAttnAudioWeight = "fusion.attn_audio.weight",
    FusionAttnAudioBias = "fusion.attn_audio.bias",
    FusionAttnVisualWeight = "fusion.attn_visual.weight",
    FusionAttnVisualBias = "fusion.attn_visual.bias",
    FusionOutWeight = "fusion.out.weight",
    FusionOutBias = "fusion.out.bias",
    BelAmygdala = "bel.amygdala",
    BelThalamus = "bel.thalamus",
    BelOrbitofrontal = "bel.orbitofrontal",
}

/// The convolution weights of the four CORnet-Z blocks (V1, V2, V4, IT).
pub const CONV_WEIGHTS: [TensorId; 4] =
    [TensorId::V1Weight, TensorId::V2Weight, TensorId::V4Weight, TensorId::ItWeight];
/// The biases of the four CORnet-Z blocks.
pub const CONV_BIASES: [TensorId; 4] = [TensorId::V1Bias, TensorId::V2Bias, TensorId::V4Bias, TensorId::ItBias];

/// Inputs of the audio read-out: the five clip descriptors, the interval-class profile and the cortex's features.
pub fn audio_inputs(cfg: &ModelConfig) -> usize {
    N_DESCRIPTORS + N_INTERVALS + Cortex::n_features(&cfg.cortex)
}

/// Length of the visual temporal summary `[mean; std]` of IT.
pub fn visual_summary_len(cfg: &ModelConfig) -> usize {
    2 * cfg.visual.widths[3] as usize
}

/// CORnet-Z geometry of block `b`: (output channels, input channels, kernel size).
pub fn conv_geometry(cfg: &ModelConfig, b: usize) -> (usize, usize, usize) {
    let v = &cfg.visual;
    let cin = if b == 0 { v.channels as usize } else { v.widths[b - 1] as usize };
    (v.widths[b] as usize, cin, if b == 0 { 7 } else { 3 })
}

/// Row stride of block `b`'s int8 weights: `k·k·cpad(cin)`, channels fastest and padded to a multiple of 4 (the
/// int8 kernel's `(ky, kx, channel)` reduction order).
pub fn conv_kk4(cfg: &ModelConfig, b: usize) -> usize {
    let (_, cin, k) = conv_geometry(cfg, b);
    k * k * cin.div_ceil(4) * 4
}

fn shape(dims: &[usize]) -> Shape {
    let mut s = Shape::new();
    for &d in dims {
        // At most MAX_DIMS dimensions by construction below; sizes fit in u32 for any valid configuration.
        let _ = s.push(d as u32);
    }
    s
}

impl TensorId {
    /// Look a name up.
    pub fn from_name(name: &str) -> Option<TensorId> {
        TensorId::ALL.iter().copied().find(|t| t.name() == name)
    }

    /// What the tensor is.
    pub fn role(self) -> Role {
        use TensorId::*;
        match self {
            V1Weight => Role::ConvWeight(0),
            V2Weight => Role::ConvWeight(1),
            V4Weight => Role::ConvWeight(2),
            ItWeight => Role::ConvWeight(3),
            HeadWeight
            | VisualReadoutWeight
            | AudioReadoutWeight
            | FusionAudioWeight
            | FusionVisualWeight
            | FusionAttnAudioWeight
            | FusionAttnVisualWeight
            | FusionOutWeight => Role::Matrix,
            _ => Role::Vector,
        }
    }

    /// The tensor's logical shape under `cfg` (f32/f16 form; int8 convolutions are stored `[cout, kk4]`), or `None`
    /// when this configuration has no such tensor (the classifier head without `head_classes`, attention without F2).
    pub fn shape(self, cfg: &ModelConfig) -> Option<Shape> {
        use TensorId::*;
        let v = &cfg.visual;
        let f = &cfg.fusion;
        let (it, feat, fa, h, k) = (
            v.widths[3] as usize,
            v.features as usize,
            f.audio_features as usize,
            f.hidden as usize,
            f.sensory as usize,
        );
        let (sum, n_a, head) = (visual_summary_len(cfg), audio_inputs(cfg), v.head_classes as usize);
        Some(match self {
            V1Weight | V2Weight | V4Weight | ItWeight => {
                let b = CONV_WEIGHTS.iter().position(|&t| t == self).unwrap_or(0);
                let (cout, cin, ks) = conv_geometry(cfg, b);
                shape(&[cout, cin, ks, ks])
            }
            V1Bias => shape(&[v.widths[0] as usize]),
            V2Bias => shape(&[v.widths[1] as usize]),
            V4Bias => shape(&[v.widths[2] as usize]),
            ItBias => shape(&[it]),
            HeadWeight | HeadBias if head == 0 => return None,
            HeadWeight => shape(&[head, it]),
            HeadBias => shape(&[head]),
            VisualReadoutMean | VisualReadoutInvStd => shape(&[sum]),
            VisualReadoutWeight => shape(&[feat, sum]),
            VisualReadoutBias => shape(&[feat]),
            AudioReadoutMean | AudioReadoutInvStd => shape(&[n_a]),
            AudioReadoutWeight => shape(&[fa, n_a]),
            AudioReadoutBias => shape(&[fa]),
            FusionAudioWeight => shape(&[h, fa]),
            FusionVisualWeight => shape(&[h, feat]),
            FusionAudioBias | FusionVisualBias => shape(&[h]),
            FusionAttnAudioWeight | FusionAttnAudioBias | FusionAttnVisualWeight | FusionAttnVisualBias
                if !f.attention =>
            {
                return None
            }
            FusionAttnAudioWeight | FusionAttnVisualWeight => shape(&[h, h]),
            FusionAttnAudioBias | FusionAttnVisualBias => shape(&[h]),
            FusionOutWeight => shape(&[k, 2 * h]),
            FusionOutBias => shape(&[k]),
            BelAmygdala | BelOrbitofrontal => shape(&[N_EMOTIONS, k]),
            BelThalamus => shape(&[N_EMOTIONS]),
        })
    }

    /// The tensors a model of `cfg` holds, in file order.
    pub fn present(cfg: &ModelConfig) -> impl Iterator<Item = TensorId> + '_ {
        TensorId::ALL.iter().copied().filter(|t| t.shape(cfg).is_some())
    }
}

/// A dense weight matrix as stored: f32 (a view into the file) or f16 (expanded to f32 when a pipeline is built).
#[derive(Clone, Copy, Debug)]
pub enum MatrixView<'a> {
    /// f32, row-major.
    F32(&'a [f32]),
    /// f16, row-major.
    F16(&'a [f16]),
}

impl MatrixView<'_> {
    /// Element count.
    pub fn len(&self) -> usize {
        match self {
            MatrixView::F32(v) => v.len(),
            MatrixView::F16(v) => v.len(),
        }
    }

    /// Whether the matrix is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` as f32.
    pub fn at(&self, i: usize) -> f32 {
        match self {
            MatrixView::F32(v) => v[i],
            MatrixView::F16(v) => v[i].to_f32(),
        }
    }
}

/// A CORnet-Z block's convolution weights as stored.
#[derive(Clone, Copy, Debug)]
pub enum ConvView<'a> {
    /// `[cout][cin][k][k]` f32.
    F32(&'a [f32]),
    /// `[cout][cin][k][k]` f16.
    F16(&'a [f16]),
    /// `[cout][kk4]` i8 in the int8 kernel's `(ky, kx, channel)` order, one scale per output channel.
    I8 {
        /// Quantised weights.
        data: &'a [i8],
        /// Per-output-channel scales.
        scales: &'a [f32],
    },
}

/// One CORnet-Z block.
#[derive(Clone, Copy, Debug)]
pub struct ConvWeights<'a> {
    /// Convolution weights.
    pub weight: ConvView<'a>,
    /// Bias `[cout]`.
    pub bias: &'a [f32],
}

/// A dense layer `y = W·x + b`.
#[derive(Clone, Copy, Debug)]
pub struct DenseWeights<'a> {
    /// `W`, `[rows][cols]`.
    pub weight: MatrixView<'a>,
    /// `b`, `[rows]`.
    pub bias: &'a [f32],
    /// Output size.
    pub rows: usize,
    /// Input size.
    pub cols: usize,
}

/// A read-out: standardisation `(x − mean)·inv_std`, then a dense layer.
#[derive(Clone, Copy, Debug)]
pub struct ReadoutWeights<'a> {
    /// Per-input mean.
    pub mean: &'a [f32],
    /// Per-input reciprocal standard deviation.
    pub inv_std: &'a [f32],
    /// The dense layer.
    pub dense: DenseWeights<'a>,
}

/// The visual pathway's tensors.
#[derive(Clone, Copy, Debug)]
pub struct VisualWeights<'a> {
    /// V1, V2, V4, IT.
    pub blocks: [ConvWeights<'a>; 4],
    /// The optional classifier head on IT.
    pub head: Option<DenseWeights<'a>>,
    /// IT's temporal summary to the visual features.
    pub readout: ReadoutWeights<'a>,
}

/// The fusion MLP's tensors.
#[derive(Clone, Copy, Debug)]
pub struct FusionWeights<'a> {
    /// Audio features to the audio hidden layer.
    pub audio: DenseWeights<'a>,
    /// Visual features to the visual hidden layer.
    pub visual: DenseWeights<'a>,
    /// F2 attention (audio, visual), if the configuration has it.
    pub attention: Option<(DenseWeights<'a>, DenseWeights<'a>)>,
    /// Both hidden layers to BEL's sensory inputs.
    pub out: DenseWeights<'a>,
}

/// BEL's initial weights (copied into the run state, where online learning changes them).
#[derive(Clone, Copy, Debug)]
pub struct BelWeights<'a> {
    /// Amygdala `V`, `[5][K]`.
    pub amygdala: &'a [f32],
    /// Thalamic amygdala weights `V_th`, `[5]`.
    pub thalamus: &'a [f32],
    /// Orbitofrontal `W`, `[5][K]`.
    pub orbitofrontal: &'a [f32],
}

/// Every tensor of a model, resolved once from a validated file: names and shapes are checked here and nowhere else.
#[derive(Clone, Copy, Debug)]
pub struct ModelWeights<'a> {
    /// The configuration the shapes follow.
    pub config: ModelConfig,
    /// Visual pathway.
    pub visual: VisualWeights<'a>,
    /// Audio read-out.
    pub audio_readout: ReadoutWeights<'a>,
    /// Fusion.
    pub fusion: FusionWeights<'a>,
    /// BEL.
    pub bel: BelWeights<'a>,
}

/// Resolves tensors of one file against its configuration.
struct Resolver<'w, 'a> {
    w: &'w Weights<'a>,
    cfg: ModelConfig,
}

impl<'a> Resolver<'_, 'a> {
    fn view(&self, id: TensorId) -> Result<(TensorView<'a>, Shape), FormatError> {
        let name = id.name();
        let want = id.shape(&self.cfg).ok_or(FormatError::MissingTensor(name))?;
        let info = self.w.info(name).ok_or(FormatError::MissingTensor(name))?;
        let view = self.w.get(name).ok_or(FormatError::MissingTensor(name))?;
        let stored: &[u32] = &info.shape;
        // Int8 convolutions are stored in the kernel's [cout, kk4] layout; everything else in its logical shape.
        let ok = match (id.role(), view) {
            (Role::ConvWeight(b), TensorView::I8 { .. }) => {
                stored == [want[0], conv_kk4(&self.cfg, b) as u32].as_slice()
            }
            (_, TensorView::I8 { .. }) => false,
            (Role::Vector, TensorView::F16(_)) => false,
            _ => stored == want.as_slice(),
        };
        if !ok {
            return Err(FormatError::ShapeMismatch(name));
        }
        Ok((view, want))
    }

    fn vector(&self, id: TensorId) -> Result<&'a [f32], FormatError> {
        match self.view(id)?.0 {
            TensorView::F32(v) => Ok(v),
            _ => Err(FormatError::ShapeMismatch(id.name())),
        }
    }

    fn dense(&self, weight: TensorId, bias: TensorId) -> Result<DenseWeights<'a>, FormatError> {
        let (view, shape) = self.view(weight)?;
        let weight_view = match view {
            TensorView::F32(v) => MatrixView::F32(v),
            TensorView::F16(v) => MatrixView::F16(v),
            TensorView::I8 { .. } => return Err(FormatError::ShapeMismatch(weight.name())),
        };
        Ok(DenseWeights {
            weight: weight_view,
            bias: self.vector(bias)?,
            rows: shape[0] as usize,
            cols: shape[1] as usize,
        })
    }

    fn readout(
        &self,
        mean: TensorId,
        inv_std: TensorId,
        w: TensorId,
        b: TensorId,
    ) -> Result<ReadoutWeights<'a>, FormatError> {
        Ok(ReadoutWeights { mean: self.vector(mean)?, inv_std: self.vector(inv_std)?, dense: self.dense(w, b)? })
    }

    fn conv(&self, b: usize) -> Result<ConvWeights<'a>, FormatError> {
        let weight = match self.view(CONV_WEIGHTS[b])?.0 {
            TensorView::F32(v) => ConvView::F32(v),
            TensorView::F16(v) => ConvView::F16(v),
            TensorView::I8 { data, scales } => ConvView::I8 { data, scales },
        };
        Ok(ConvWeights { weight, bias: self.vector(CONV_BIASES[b])? })
    }
}

impl<'a> ModelWeights<'a> {
    /// Resolve every tensor `w`'s configuration needs, checking names, shapes and storage types. Tensors the
    /// configuration does not use are ignored.
    pub fn resolve(w: &Weights<'a>) -> Result<Self, FormatError> {
        use TensorId::*;
        let cfg = *w.config();
        let r = Resolver { w, cfg };
        let head = if cfg.visual.head_classes > 0 { Some(r.dense(HeadWeight, HeadBias)?) } else { None };
        let attention = if cfg.fusion.attention {
            Some((
                r.dense(FusionAttnAudioWeight, FusionAttnAudioBias)?,
                r.dense(FusionAttnVisualWeight, FusionAttnVisualBias)?,
            ))
        } else {
            None
        };
        Ok(ModelWeights {
            config: cfg,
            visual: VisualWeights {
                blocks: [r.conv(0)?, r.conv(1)?, r.conv(2)?, r.conv(3)?],
                head,
                readout: r.readout(VisualReadoutMean, VisualReadoutInvStd, VisualReadoutWeight, VisualReadoutBias)?,
            },
            audio_readout: r.readout(AudioReadoutMean, AudioReadoutInvStd, AudioReadoutWeight, AudioReadoutBias)?,
            fusion: FusionWeights {
                audio: r.dense(FusionAudioWeight, FusionAudioBias)?,
                visual: r.dense(FusionVisualWeight, FusionVisualBias)?,
                attention,
                out: r.dense(FusionOutWeight, FusionOutBias)?,
            },
            bel: BelWeights {
                amygdala: r.vector(BelAmygdala)?,
                thalamus: r.vector(BelThalamus)?,
                orbitofrontal: r.vector(BelOrbitofrontal)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        for (i, a) in TensorId::ALL.iter().enumerate() {
            assert_eq!(TensorId::from_name(a.name()), Some(*a));
            for b in &TensorId::ALL[i + 1..] {
                assert_ne!(a.name(), b.name());
            }
        }
    }

    #[test]
    fn optional_tensors_follow_the_configuration() {
        let mut cfg = ModelConfig::default();
        assert!(TensorId::HeadWeight.shape(&cfg).is_none());
        assert!(TensorId::FusionAttnAudioWeight.shape(&cfg).is_none());
        assert_eq!(TensorId::present(&cfg).count(), TensorId::ALL.len() - 6);
        cfg.visual.head_classes = 10;
        cfg.fusion.attention = true;
        assert_eq!(TensorId::present(&cfg).count(), TensorId::ALL.len());
        assert_eq!(TensorId::HeadWeight.shape(&cfg).unwrap().as_slice(), &[10, 512]);
        assert_eq!(TensorId::V1Weight.shape(&cfg).unwrap().as_slice(), &[64, 5, 7, 7]);
        assert_eq!(TensorId::V2Weight.shape(&cfg).unwrap().as_slice(), &[128, 64, 3, 3]);
        assert_eq!(conv_kk4(&cfg, 0), 49 * 8);
    }
}
