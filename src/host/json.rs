//! The JSON the command line writes: one schema for `run --json`, `read --json` (and `serve --json`) and
//! `bench --json`. Every record is one object on one line with a `"type"` (`clip`, `sample`, `heartbeat`,
//! `bench`); emotions are always the object `{"angry", "happy", "peaceful", "sad", "scared"}` (the keys are
//! [`EMOTIONS`]), model hashes 16 lower-case hex digits. The README's "JSON output" section documents each field.

use crate::core::config::{EMOTIONS, N_EMOTIONS};
use crate::core::fusion::Contribution;
use crate::core::kernels::KernelReport;
use crate::core::link::{Heartbeat, Sample};
use crate::host::link::daemon::flag_names;
use crate::{Modalities, Output};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// Five per-emotion values, serialised as an object keyed by the emotion names.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Emotions(pub [f32; N_EMOTIONS]);

impl Serialize for Emotions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(N_EMOTIONS))?;
        for (name, v) in EMOTIONS.iter().zip(&self.0) {
            m.serialize_entry(name, v)?;
        }
        m.end()
    }
}

/// A model hash, serialised as 16 lower-case hex digits (as `avf-bel inspect` prints it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelHash(pub u64);

impl Serialize for ModelHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:016x}", self.0))
    }
}

/// Each sense's share of the drive into BEL's sensory channels, `[audio, visual]`, summing to 1 (both 0 when
/// there was no drive at all). The drive of a sense is Σ over sensory channels of |its term in the fusion output|
/// ([`Contribution`]); the share is what `run` prints in its text and its JSON alike.
pub fn contribution_shares(c: &Contribution) -> [f32; 2] {
    let total = c.audio + c.visual;
    if total > 0.0 && total.is_finite() {
        [c.audio / total, c.visual / total]
    } else {
        [0.0, 0.0]
    }
}

/// Which senses a clip used: `audio+video`, `audio only` or `video only`.
pub fn modalities_name(m: Modalities) -> &'static str {
    match (m.audio, m.video) {
        (true, true) => "audio+video",
        (true, false) => "audio only",
        _ => "video only",
    }
}

/// The shares of [`contribution_shares`] as `{"audio": …, "visual": …}`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Shares {
    /// The audio share, 0–1.
    pub audio: f32,
    /// The visual share, 0–1.
    pub visual: f32,
}

/// `run`: one clip's result.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ClipRecord {
    /// What ran: `stimulus happy`, or the input file names.
    pub clip: String,
    /// `audio+video`, `audio only` or `video only`.
    pub modalities: &'static str,
    /// EPP, 0–1.
    pub epp: f32,
    /// Intensities 0–1.
    pub emotions: Emotions,
    /// Each sense's share of the drive into BEL (sums to 1).
    pub contribution: Shares,
    /// BEL's amygdala term per emotion (the excitatory part of the explanation).
    pub amygdala: Emotions,
    /// BEL's orbitofrontal term per emotion (the inhibitory part).
    pub orbitofrontal: Emotions,
    /// The weights' model hash.
    pub model_hash: ModelHash,
    /// Whether the weights are a seeded, untrained model.
    pub untrained: bool,
}

impl ClipRecord {
    /// The record of one inference.
    pub fn new(clip: String, m: Modalities, o: &Output, model_hash: u64, untrained: bool) -> Self {
        let [audio, visual] = contribution_shares(&o.contribution);
        ClipRecord {
            clip,
            modalities: modalities_name(m),
            epp: o.epp,
            emotions: Emotions(o.emotions),
            contribution: Shares { audio, visual },
            amygdala: Emotions(o.terms.amygdala),
            orbitofrontal: Emotions(o.terms.orbitofrontal),
            model_hash: ModelHash(model_hash),
            untrained,
        }
    }
}

/// `read --json`, `serve --json`: one sample of the robot link.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SampleRecord {
    /// Sample counter.
    pub seq: u32,
    /// CLOCK_MONOTONIC (ns) of the newest input the sample rests on.
    pub capture_ns: u64,
    /// CLOCK_MONOTONIC (ns) when it was published.
    pub publish_ns: u64,
    /// EPP, 0–1; `null` when the sample carries no estimate (flag `no_estimate`, protocol 2).
    pub epp: Option<f32>,
    /// Intensities 0–1; `null` when the sample carries no estimate.
    pub emotions: Option<Emotions>,
    /// Evidence 0–1.
    pub confidence: f32,
    /// The flag bits.
    pub flags: u8,
    /// The names of the set flag bits.
    pub status: Vec<&'static str>,
    /// The weights' model hash.
    pub model_hash: ModelHash,
}

impl From<&Sample> for SampleRecord {
    fn from(s: &Sample) -> Self {
        SampleRecord {
            seq: s.seq,
            capture_ns: s.capture_ns,
            publish_ns: s.publish_ns,
            epp: s.has_estimate().then_some(s.epp),
            emotions: s.has_estimate().then_some(Emotions(s.emotions)),
            confidence: if s.confidence.is_finite() { s.confidence } else { 0.0 },
            flags: s.flags,
            status: flag_names(s.flags),
            model_hash: ModelHash(s.model_hash),
        }
    }
}

/// `read --json --heartbeats`: the daemon's liveness message.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct HeartbeatRecord {
    /// Heartbeat counter.
    pub seq: u32,
    /// CLOCK_MONOTONIC (ns) when sent.
    pub now_ns: u64,
    /// Samples published since start.
    pub samples: u32,
    /// Messages dropped since start.
    pub dropped: u32,
    /// Rewards applied to BEL.
    pub updates: u32,
    /// The flag bits of the latest sample.
    pub flags: u8,
    /// The weights' model hash.
    pub model_hash: ModelHash,
}

impl From<&Heartbeat> for HeartbeatRecord {
    fn from(h: &Heartbeat) -> Self {
        HeartbeatRecord {
            seq: h.seq,
            now_ns: h.now_ns,
            samples: h.samples,
            dropped: h.dropped,
            updates: h.updates,
            flags: h.flags,
            model_hash: ModelHash(h.model_hash),
        }
    }
}

/// `bench --json`: the timing of one stage.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BenchRecord {
    /// `visual`, `audio` or `pipeline`.
    pub stage: String,
    /// What one timed run does.
    pub unit: &'static str,
    /// Frame width = height.
    pub size: u16,
    /// Frames per CORnet-Z stack.
    pub channels: u8,
    /// Threads.
    pub threads: usize,
    /// `f32` or `int8`.
    pub precision: String,
    /// Timed runs.
    pub iters: usize,
    /// Median, 10th and 90th percentile of one run, milliseconds.
    pub median_ms: f64,
    /// 10th percentile, ms.
    pub p10_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// The kernels that ran: the CPU level (`portable`, `avx2`, `avxvnni`, `avx512`, `avx512vnni`, `neon`, `dotprod`) or
    /// `cuda-fp16`.
    pub kernel: &'static str,
    /// The CPU kernel table that ran (`null` on CUDA): its level and the name of each GEMM.
    pub kernels: Option<KernelsRecord>,
    /// The seeded model's hash.
    pub model_hash: ModelHash,
}

/// Which CPU kernels a pipeline runs, as `bench --json` reports them:
/// `{"level": "avx2", "f32_gemm": "avx2+fma 6x16", "int8_gemm": "avx2 vpmaddwd 5x8"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KernelsRecord {
    /// The instruction-set level ([`crate::kernels::Level::name`]).
    pub level: &'static str,
    /// The f32 GEMM.
    pub f32_gemm: &'static str,
    /// The int8 GEMM.
    pub int8_gemm: &'static str,
}

impl From<KernelReport> for KernelsRecord {
    fn from(k: KernelReport) -> Self {
        KernelsRecord { level: k.level.name(), f32_gemm: k.f32_gemm, int8_gemm: k.int8_gemm }
    }
}

/// Every record, tagged by `"type"`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Record {
    /// `run`.
    Clip(ClipRecord),
    /// A link sample.
    Sample(SampleRecord),
    /// A link heartbeat.
    Heartbeat(HeartbeatRecord),
    /// `bench`.
    Bench(BenchRecord),
}

impl Record {
    /// One line of JSON (no newline). Serialising these types cannot fail (no maps with non-string keys).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|e| serde_json::json!({"type": "error", "message": e.to_string()}).to_string())
    }
}
