//! `avf-bel inspect FILE`: header, tensors, sizes and hashes of a weights file.

use super::CliResult;
use avf_bel::kernels::{Kernels, Level, ENV_VAR};
use avf_bel::model::{dtype_name, read_file};
use avf_bel::weights::Weights;
use avf_bel::Pipeline;
use std::path::PathBuf;

/// Examples for `inspect --help`.
pub const EXAMPLES: &str = "Examples:
  avf-bel inspect weights/default.avfw      # the shipped model
  avf-bel inspect my.avfw || echo bad       # exit 1 on a truncated, corrupted or foreign file";

/// `avf-bel inspect` options.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// The weights file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Run.
pub fn run(a: InspectArgs) -> CliResult {
    let path = a.file.display();
    let buf = read_file(&a.file).map_err(|e| format!("{path}: {e}"))?;
    let w = Weights::parse(buf.as_bytes()).map_err(|e| format!("{path}: {e}"))?;
    print!("{}", report(&w));
    Ok(())
}

/// The human-readable report.
pub fn report(w: &Weights<'_>) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let c = w.config();
    let _ = writeln!(s, "format      avf-bel weights v{}", w.version());
    let trained = match w.trained() {
        Some(true) => "trained",
        Some(false) => "UNTRAINED (seeded by `avf-bel init`)",
        None => "not recorded (version 1 file)",
    };
    let _ = writeln!(s, "weights     {trained}");
    let _ = writeln!(s, "file size   {} bytes", w.file_len());
    let _ = writeln!(s, "model hash  {:016x}", w.model_hash());
    let v = &c.visual;
    let _ = writeln!(
        s,
        "visual      CORnet-Z {}x{}x{} widths {:?}, {} fps, stride {} frames, head {}, features {}",
        v.channels, v.height, v.width, v.widths, v.fps, v.stride_frames, v.head_classes, v.features
    );
    let a = &c.audio;
    let _ = writeln!(
        s,
        "audio       {} Hz, n_fft {}, hop {}, {} mels, tempo window {} frames",
        a.sample_rate, a.n_fft, a.hop, a.n_mels, a.tempo_frames
    );
    let k = &c.cortex;
    let _ = writeln!(
        s,
        "cortex      PYR {} PV {} SOM {}, {} groups, dt {} us, seed {}",
        k.n_pyr, k.n_pv, k.n_som, k.groups, k.dt_us, k.seed
    );
    let f = &c.fusion;
    let _ = writeln!(
        s,
        "fusion      {} audio + {} visual features, hidden {}, sensory {}, attention {}",
        f.audio_features, v.features, f.hidden, f.sensory, f.attention
    );
    let b = &c.bel;
    let _ = writeln!(s, "bel         alpha {} beta {} bound {}", b.alpha, b.beta, b.weight_bound);
    let i = &c.input;
    let on = |b: bool| if b { "on" } else { "off" };
    let _ = writeln!(
        s,
        "input       loudness normaliser {}, luminance normaliser {}, substitute a missing sense {}, onset range {} dB, \
         drive floor {} dB, background {}",
        if i.loudness_tau_ms == 0 { "off".to_string() } else { format!("{} ms", i.loudness_tau_ms) },
        on(i.luma),
        on(i.substitute),
        i.onset_range_db,
        i.drive_floor_db,
        match (i.background_tau_ms, i.background_gate) {
            (0, _) => "off".to_string(),
            (tau, gate) => format!(
                "{tau} ms, {}{}",
                if gate { "gated" } else { "per pixel" },
                if i.background_level_rows { ", rows levelled" } else { "" }
            ),
        }
    );
    let _ = writeln!(s, "scratch     {} floats ({} bytes)", Pipeline::scratch_len(w), 4 * Pipeline::scratch_len(w));
    // The kernels `Pipeline::new` would choose on this machine for this file (one table for every block).
    match Kernels::from_env() {
        Ok(k) => {
            let why = match std::env::var(ENV_VAR) {
                Ok(v) if !v.trim().is_empty() => format!("forced by {ENV_VAR}"),
                _ => "the best level of this CPU".to_string(),
            };
            let _ = writeln!(s, "kernels     {} ({why})", k.report());
        }
        Err(e) => {
            let _ = writeln!(s, "kernels     none: {e}");
        }
    }
    let levels: Vec<&str> = Level::ALL.into_iter().filter(|l| l.supported()).map(Level::name).collect();
    let _ = writeln!(s, "levels      {} (runnable here; force one with {ENV_VAR}=LEVEL)", levels.join(" "));
    let _ = writeln!(s, "tensors     {}", w.header().tensors.len());
    let _ = writeln!(s, "  {:<28} {:<5} {:<20} {:>10} {:>10}  hash", "name", "dtype", "shape", "offset", "bytes");
    let mut params = 0usize;
    for t in w.header().tensors.iter() {
        params += t.elements();
        let shape = format!("{:?}", t.shape.as_slice());
        let _ = writeln!(
            s,
            "  {:<28} {:<5} {:<20} {:>10} {:>10}  {:016x}{}",
            t.name,
            dtype_name(t.dtype),
            shape,
            t.offset,
            t.len,
            t.hash,
            if t.quant.is_some() { "  (per-channel scales)" } else { "" }
        );
    }
    let _ = writeln!(s, "parameters  {params}");
    s
}
