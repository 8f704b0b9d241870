//! `avf-bel run`: run a model on a clip (files or a rendered stimulus) and report emotions, EPP and why.

use super::Opts;
use avf_bel::media::{read_wav_at, read_y4m};
use avf_bel::model::read_file;
use avf_bel::stimuli::{io::resolve_stimulus, render, RenderOptions};
use avf_bel::Output;
use avf_bel::{Modalities, Weights, EMOTIONS};
use std::path::Path;

#[repr(C, align(64))]
struct Aligned<T: ?Sized>(T);

/// The default model, built into the binary so a robot needs no file to start.
static DEFAULT_WEIGHTS: &Aligned<[u8]> = &Aligned(*include_bytes!("../../weights/default.avfw"));

/// The built-in default weights file.
pub fn default_weights() -> &'static [u8] {
    &DEFAULT_WEIGHTS.0
}

/// Run.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut o = Opts::new(args);
    let weights = o.value("--weights")?.map(str::to_string);
    let audio = o.value("--audio")?.map(str::to_string);
    let video = o.value("--video")?.map(str::to_string);
    let stimulus = o.value("--stimulus")?.map(str::to_string);
    let data = o.value("--data")?.unwrap_or("../shared/data").to_string();
    let seconds: f64 = o.parse("--seconds", 3.0)?;
    let seed: u64 = o.parse("--seed", 0)?;
    let json = o.flag("--json");
    let device: super::device::Device = o.parse("--device", super::device::Device::Cpu)?;
    o.finish()?;

    let owned;
    let bytes: &[u8] = match &weights {
        Some(p) => {
            owned = read_file(Path::new(p)).map_err(|e| format!("{p}: {e}"))?;
            owned.as_bytes()
        }
        None => default_weights(),
    };
    let w = Weights::parse(bytes).map_err(|e| format!("{}: {e}", weights.as_deref().unwrap_or("built-in weights")))?;
    let cfg = *w.config();
    let (size_h, size_w) = (cfg.visual.height as usize, cfg.visual.width as usize);

    // Gather the clip: audio samples and frames at the model's size.
    let (label, pcm, frames, modalities) = if let Some(name) = &stimulus {
        if audio.is_some() || video.is_some() {
            return Err("give either --stimulus or --audio/--video, not both".into());
        }
        let params = resolve_stimulus(Path::new(&data), name).map_err(|e| e.to_string())?;
        if size_h != size_w {
            return Err("--stimulus renders square frames; this model's frames are not square".into());
        }
        let opts = RenderOptions::for_model(&cfg, seconds, seed);
        let s = render(&params, &opts).map_err(|e| e.to_string())?;
        (format!("stimulus {name}"), Some(s.audio), Some(s.frames), Modalities::BOTH)
    } else {
        if audio.is_none() && video.is_none() {
            return Err("nothing to run: give --stimulus NAME, or --audio WAV and/or --video Y4M".into());
        }
        let pcm = match &audio {
            Some(p) => {
                let b = std::fs::read(p).map_err(|e| format!("{p}: {e}"))?;
                Some(read_wav_at(&b, cfg.audio.sample_rate).map_err(|e| format!("{p}: {e}"))?)
            }
            None => None,
        };
        let frames = match &video {
            Some(p) => {
                let b = std::fs::read(p).map_err(|e| format!("{p}: {e}"))?;
                let y = read_y4m(&b).map_err(|e| format!("{p}: {e}"))?;
                Some(y.frames_at(f64::from(cfg.visual.fps), size_w, size_h))
            }
            None => None,
        };
        let m = Modalities { audio: pcm.is_some(), video: frames.is_some() };
        let label = [audio.as_deref(), video.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" + ");
        (label, pcm, frames, m)
    };

    let (mut scratch, mut gpu_scratch) = (Vec::new(), Vec::new());
    let mut p = super::device::Engine::open(device, &w, bytes, &mut scratch, &mut gpu_scratch)?;
    if let Some(pcm) = &pcm {
        p.push_audio(pcm)?;
    }
    if let Some(frames) = &frames {
        for f in frames.chunks_exact(size_h * size_w) {
            p.push_frame(f)?;
        }
    }
    let out = p.infer(modalities)?;
    // The file says whether it was fitted; seeded (`avf-bel init`) weights give meaningless numbers.
    let untrained = w.trained() == Some(false);
    if untrained {
        eprintln!(
            "warning: {} is UNTRAINED (seeded by `avf-bel init`): its numbers mean nothing",
            weights.as_deref().unwrap_or("the model")
        );
    }
    if json {
        println!("{}", to_json(&label, modalities, &out, w.model_hash(), untrained));
    } else {
        print!("{}", report(&label, modalities, &out, w.model_hash(), untrained));
    }
    Ok(())
}

fn modality_name(m: Modalities) -> &'static str {
    match (m.audio, m.video) {
        (true, true) => "audio+video",
        (true, false) => "audio only",
        _ => "video only",
    }
}

/// One JSON object on one line.
pub fn to_json(label: &str, m: Modalities, o: &Output, hash: u64, untrained: bool) -> String {
    let obj = |v: &[f32; 5]| {
        let f: Vec<String> = EMOTIONS.iter().zip(v).map(|(n, x)| format!("\"{n}\":{x:.6}")).collect();
        format!("{{{}}}", f.join(","))
    };
    format!(
        "{{\"clip\":{:?},\"modalities\":\"{}\",\"epp\":{:.6},\"emotions\":{},\"contribution\":{{\"audio\":{:.6},\"visual\":{:.6}}},\"amygdala\":{},\"orbitofrontal\":{},\"model_hash\":\"{:016x}\",\"untrained\":{}}}",
        label,
        modality_name(m),
        o.epp,
        obj(&o.emotions),
        o.contribution.audio,
        o.contribution.visual,
        obj(&o.terms.amygdala),
        obj(&o.terms.orbitofrontal),
        hash,
        untrained
    )
}

/// The human-readable report.
pub fn report(label: &str, m: Modalities, o: &Output, hash: u64, untrained: bool) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "{label} ({}), model {hash:016x}", modality_name(m));
    if untrained {
        let _ = writeln!(s, "warning: the model is UNTRAINED (seeded); its numbers mean nothing");
    }
    let _ = writeln!(s, "EPP {:.3}  (0 = negative … 1 = positive)", o.epp);
    let _ = writeln!(s, "  emotion    intensity  amygdala  orbitofrontal");
    for (i, n) in EMOTIONS.iter().enumerate() {
        let bar = "#".repeat((o.emotions[i] * 20.0).round() as usize);
        let _ = writeln!(
            s,
            "  {n:<9}  {:>9.3}  {:>8.3}  {:>13.3}  {bar}",
            o.emotions[i], o.terms.amygdala[i], o.terms.orbitofrontal[i]
        );
    }
    let total = (o.contribution.audio + o.contribution.visual).max(1e-9);
    let _ = writeln!(
        s,
        "contribution to BEL input: audio {:.0} %, video {:.0} %",
        100.0 * o.contribution.audio / total,
        100.0 * o.contribution.visual / total
    );
    s
}
