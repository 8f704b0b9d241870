//! `synth://NAME`: a stimulus rendered once at the model's rate and size, then delivered in real time, looped, as a
//! camera and a microphone would (10 ms audio chunks, one frame per model frame period).

use super::{AudioSink, CaptureError, ModelInput, Outcome, SynthOptions, Throttle, VideoSink};
use crate::host::stimuli::{io::resolve_stimulus, render_audio, render_frames, RenderOptions};
use std::time::Duration;

fn options(input: &ModelInput, o: &SynthOptions) -> RenderOptions {
    RenderOptions {
        seconds: o.seconds,
        seed: o.seed,
        size: input.width,
        fps: input.fps,
        sample_rate: input.sample_rate,
    }
}

pub(crate) fn video(
    name: &str,
    input: &ModelInput,
    o: &SynthOptions,
    sink: &mut VideoSink<'_>,
) -> Result<Outcome, CaptureError> {
    if input.width != input.height {
        return Err(CaptureError::Format("synth:// renders square frames; this model's frames are not square".into()));
    }
    let params = resolve_stimulus(&o.data_dir, name).map_err(|e| CaptureError::Format(e.to_string()))?;
    let frames = render_frames(&params, &options(input, o)).map_err(|e| CaptureError::Format(e.to_string()))?;
    let plane = input.width * input.height;
    let n = frames.len() / plane;
    if n == 0 {
        return Err(CaptureError::Format("the rendered clip has no frames".into()));
    }
    let mut throttle = Throttle::new(Duration::ZERO);
    for k in 0u64.. {
        let content = (u128::from(k) * 1_000_000_000 / u128::from(input.fps.max(1))) as u64;
        let Some(ts) = throttle.wait(content, &sink.shared.stop) else { return Ok(Outcome::Stopped) };
        let i = (k % n as u64) as usize;
        sink.frame(&frames[i * plane..(i + 1) * plane], input.width, input.height, input.width, ts);
    }
    Ok(Outcome::Stopped)
}

pub(crate) fn audio(
    name: &str,
    input: &ModelInput,
    o: &SynthOptions,
    sink: &mut AudioSink<'_>,
) -> Result<Outcome, CaptureError> {
    let params = resolve_stimulus(&o.data_dir, name).map_err(|e| CaptureError::Format(e.to_string()))?;
    let pcm = render_audio(&params, &options(input, o)).map_err(|e| CaptureError::Format(e.to_string()))?;
    if pcm.is_empty() {
        return Err(CaptureError::Format("the rendered clip has no samples".into()));
    }
    let rate = u64::from(input.sample_rate);
    let chunk = (input.sample_rate / 100).max(1) as usize;
    let mut throttle = Throttle::new(Duration::ZERO);
    let (mut pos, mut delivered) = (0usize, 0u64);
    let mut buf = Vec::with_capacity(chunk);
    loop {
        buf.clear();
        while buf.len() < chunk {
            let take = (chunk - buf.len()).min(pcm.len() - pos);
            buf.extend_from_slice(&pcm[pos..pos + take]);
            pos = (pos + take) % pcm.len();
        }
        delivered += chunk as u64;
        let content = (u128::from(delivered) * 1_000_000_000 / u128::from(rate)) as u64;
        let Some(ts) = throttle.wait(content, &sink.shared.stop) else { return Ok(Outcome::Stopped) };
        sink.pcm(&buf, input.sample_rate, 1, ts)?;
    }
}
