//! `alsa://DEVICE`: a microphone through ALSA (feature `capture`, the `alsa` crate over libasound). Opened
//! non-blocking and asked for 16-bit mono at the model's rate with ALSA's rate conversion allowed (`plug:` devices
//! and `default` convert anything); whatever rate and channel count the device settles on is then downmixed and
//! resampled here. Read in periods of the model's hop; every wait is a bounded `snd_pcm_wait`, and overruns are
//! recovered. Data that a device delivers faster than real time (ALSA's `file`/`null` plugins) is throttled to its
//! own rate.

use super::{AudioSink, CaptureError, ModelInput, Outcome, Throttle, MAX_LEAD};
use alsa::pcm::{Access, Format, HwParams, PCM};
use alsa::{Direction, ValueOr};

pub(crate) fn capture(device: &str, input: &ModelInput, sink: &mut AudioSink<'_>) -> Result<Outcome, CaptureError> {
    let io = |what: &str, e: alsa::Error| CaptureError::Io(format!("ALSA device {device}: {what}: {e}"));
    let pcm = PCM::new(device, Direction::Capture, true).map_err(|e| io("open", e))?;
    let (rate, channels) = {
        let hw = HwParams::any(&pcm).map_err(|e| io("hardware parameters", e))?;
        hw.set_access(Access::RWInterleaved).map_err(|e| io("interleaved access", e))?;
        hw.set_format(Format::s16()).map_err(|e| {
            CaptureError::Format(format!("ALSA device {device} cannot give 16-bit samples ({e}); use a plug: device"))
        })?;
        hw.set_rate_resample(true).map_err(|e| io("rate conversion", e))?;
        let channels = hw.set_channels_near(1).map_err(|e| io("channels", e))?;
        let rate = hw.set_rate_near(input.sample_rate, ValueOr::Nearest).map_err(|e| io("rate", e))?;
        // Periods of about one hop at the device's rate; a buffer of 8 of them.
        let period =
            (input.hop as u64 * u64::from(rate) / u64::from(input.sample_rate.max(1))).max(32) as alsa::pcm::Frames;
        let period = hw.set_period_size_near(period, ValueOr::Nearest).map_err(|e| io("period", e))?;
        hw.set_buffer_size_near(period * 8).map_err(|e| io("buffer", e))?;
        pcm.hw_params(&hw).map_err(|e| io("apply parameters", e))?;
        (rate, channels as u16)
    };
    if channels == 0 || rate == 0 {
        return Err(CaptureError::Format(format!("ALSA device {device} settled on {rate} Hz, {channels} channels")));
    }
    let period = pcm.hw_params_current().and_then(|h| h.get_period_size()).map_err(|e| io("period", e))? as usize;
    let io16 = pcm.io_i16().map_err(|e| io("16-bit I/O", e))?;
    pcm.start().map_err(|e| io("start", e))?;
    sink.waiting(format!("waiting for the first period ({rate} Hz, {channels} ch)"));
    let mut buf = vec![0i16; period.max(1) * usize::from(channels)];
    let mut throttle = Throttle::new(MAX_LEAD);
    let mut frames = 0u64;
    loop {
        if sink.stopped() {
            let _ = pcm.drop();
            return Ok(Outcome::Stopped);
        }
        match pcm.wait(Some(super::fdio::SLICE_MS as u32)) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(e) => {
                pcm.try_recover(e, true).map_err(|e| io("recover", e))?;
                continue;
            }
        }
        match io16.readi(&mut buf) {
            Ok(0) => {}
            Ok(n) => {
                frames += n as u64;
                let content = (u128::from(frames) * 1_000_000_000 / u128::from(rate)) as u64;
                let Some(ts) = throttle.wait(content, &sink.shared.stop) else { return Ok(Outcome::Stopped) };
                sink.pcm_i16(&buf[..n * usize::from(channels)], rate, channels, ts)?;
            }
            Err(e) if e.errno() == libc::EAGAIN => {}
            Err(e) => pcm.try_recover(e, true).map_err(|e| io("recover after an overrun", e))?,
        }
    }
}
