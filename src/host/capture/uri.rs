//! Input URIs: what `serve --audio/--video` (and board profiles) accept.
//!
//! | URI | sense | what |
//! |---|---|---|
//! | `synth://NAME` | both | a built-in stimulus (or a `stimuli.csv` row), rendered once and looped in real time |
//! | `file://PATH[?end=loop\|stop\|follow]` | both | a Y4M (video) or WAV (audio) file paced in real time, or a FIFO read as it is written; at its end a file loops (default), stops, or waits for more (`follow`: a growing recording) |
//! | `file://PATH?format=s16le&rate=R&channels=C` | audio | headerless 16-bit PCM |
//! | `pipe:COMMAND` | both | `sh -c COMMAND`; its stdout is a Y4M stream (video) or a WAV stream (audio) |
//! | `pipe:s16le:RATE:CHANNELS:COMMAND` | audio | the same with headerless 16-bit PCM on stdout |
//! | `csi://N[?width=W&height=H&fps=F]` | video | Jetson CSI camera N through `gst-launch-1.0 nvarguscamerasrc` (the ISP) as a `pipe:` |
//! | `v4l2:///dev/videoN` | video | a V4L2 (USB/UVC) camera, GREY or YUYV (feature `capture`) |
//! | `alsa://DEVICE` | audio | an ALSA capture device, e.g. `alsa://default`, `alsa://plughw:1,0` (feature `capture`) |

use std::path::PathBuf;

/// Which sense a source feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sense {
    /// Microphone / PCM.
    Audio,
    /// Camera / frames.
    Video,
}

impl Sense {
    /// `"audio"` or `"video"`.
    pub fn name(self) -> &'static str {
        match self {
            Sense::Audio => "audio",
            Sense::Video => "video",
        }
    }
}

/// What a recorded file does at its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtEnd {
    /// Start again from the beginning (the default; the timeline continues).
    Loop,
    /// The source ends (the sense is then missing).
    Stop,
    /// Wait for the file to grow (a recording still being written).
    Follow,
}

/// Headerless PCM: 16-bit little-endian at this rate and channel count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawPcm {
    /// Frames per second.
    pub rate: u32,
    /// Interleaved channels.
    pub channels: u16,
}

/// A parsed input URI (see the module docs for the syntax).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceUri {
    /// `synth://NAME`.
    Synth(String),
    /// `file://PATH`.
    File {
        /// The file or FIFO.
        path: PathBuf,
        /// What happens at the end of a regular file.
        at_end: AtEnd,
        /// Headerless PCM instead of WAV.
        raw: Option<RawPcm>,
    },
    /// `pipe:COMMAND`.
    Pipe {
        /// Run with `sh -c`.
        command: String,
        /// Headerless PCM instead of WAV.
        raw: Option<RawPcm>,
    },
    /// `csi://N`.
    Csi {
        /// `sensor-id` of `nvarguscamerasrc`.
        sensor: u32,
        /// Capture mode asked of the sensor.
        width: u32,
        /// Capture mode asked of the sensor.
        height: u32,
        /// Frames per second asked of the sensor.
        fps: u32,
    },
    /// `v4l2:///dev/videoN`.
    V4l2(PathBuf),
    /// `alsa://DEVICE`.
    Alsa(String),
}

fn query(rest: &str) -> (&str, Vec<(&str, &str)>) {
    match rest.split_once('?') {
        Some((base, q)) => {
            (base, q.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, ""))).collect())
        }
        None => (rest, Vec::new()),
    }
}

fn number<T>(uri: &str, key: &str, v: &str, range: std::ops::RangeInclusive<T>) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match v.parse::<T>() {
        Ok(x) if range.contains(&x) => Ok(x),
        _ => Err(format!("`{uri}`: `{key}={v}` must be a number {}–{}", range.start(), range.end())),
    }
}

fn raw_pcm(uri: &str, rate: &str, channels: &str) -> Result<RawPcm, String> {
    Ok(RawPcm {
        rate: number(uri, "rate", rate, 1_000..=768_000)?,
        channels: number(uri, "channels", channels, 1..=64)?,
    })
}

/// The URI schemes, for messages.
pub const SCHEMES: &str = "synth://NAME, file://PATH, pipe:COMMAND, csi://N, v4l2:///dev/videoN, alsa://DEVICE";

/// Parse an input URI for `sense`; the error says what is wrong and what is expected.
pub fn parse_uri(uri: &str, sense: Sense) -> Result<SourceUri, String> {
    let wrong_sense = |what: &str, want: Sense| {
        Err(format!("`{uri}`: {what} gives {}, not {} (give it as --{})", want.name(), sense.name(), want.name()))
    };
    if let Some(name) = uri.strip_prefix("synth://") {
        if name.is_empty() {
            return Err(format!("`{uri}`: synth:// needs a stimulus name, e.g. synth://happy"));
        }
        return Ok(SourceUri::Synth(name.to_string()));
    }
    if let Some(rest) = uri.strip_prefix("file://") {
        let (path, q) = query(rest);
        if path.is_empty() {
            return Err(format!("`{uri}`: file:// needs a path, e.g. file:///home/robot/clip.y4m"));
        }
        let (mut at_end, mut format, mut rate, mut channels) = (AtEnd::Loop, None, None, None);
        for (k, v) in q {
            match k {
                "end" => {
                    at_end = match v {
                        "loop" => AtEnd::Loop,
                        "stop" => AtEnd::Stop,
                        "follow" => AtEnd::Follow,
                        _ => return Err(format!("`{uri}`: `end={v}` must be loop, stop or follow")),
                    }
                }
                "format" => format = Some(v),
                "rate" => rate = Some(v),
                "channels" => channels = Some(v),
                _ => return Err(format!("`{uri}`: unknown option `{k}` (file:// takes end, format, rate, channels)")),
            }
        }
        let raw = match (format, rate, channels) {
            (None, None, None) => None,
            (Some("s16le"), r, c) => {
                if sense == Sense::Video {
                    return Err(format!("`{uri}`: format=s16le is audio"));
                }
                Some(raw_pcm(uri, r.unwrap_or("22050"), c.unwrap_or("1"))?)
            }
            (Some(f), _, _) => {
                return Err(format!("`{uri}`: `format={f}`: only s16le (headerless 16-bit PCM) is taken"))
            }
            (None, _, _) => return Err(format!("`{uri}`: rate and channels go with format=s16le")),
        };
        return Ok(SourceUri::File { path: PathBuf::from(path), at_end, raw });
    }
    if let Some(rest) = uri.strip_prefix("pipe:") {
        if let Some(raw) = rest.strip_prefix("s16le:") {
            let mut it = raw.splitn(3, ':');
            let (r, c, cmd) = (it.next().unwrap_or(""), it.next().unwrap_or(""), it.next().unwrap_or(""));
            if sense == Sense::Video {
                return Err(format!("`{uri}`: pipe:s16le: is audio"));
            }
            if cmd.trim().is_empty() {
                return Err(format!("`{uri}`: expected pipe:s16le:RATE:CHANNELS:COMMAND"));
            }
            return Ok(SourceUri::Pipe { command: cmd.to_string(), raw: Some(raw_pcm(uri, r, c)?) });
        }
        if rest.trim().is_empty() {
            return Err(format!("`{uri}`: pipe: needs a command, e.g. pipe:gst-launch-1.0 -q … ! y4menc ! fdsink"));
        }
        return Ok(SourceUri::Pipe { command: rest.to_string(), raw: None });
    }
    if let Some(rest) = uri.strip_prefix("csi://") {
        if sense == Sense::Audio {
            return wrong_sense("csi:// (a camera)", Sense::Video);
        }
        let (n, q) = query(rest);
        let sensor = number(uri, "sensor", n, 0..=15)?;
        let (mut width, mut height, mut fps) = (1280, 720, 30);
        for (k, v) in q {
            match k {
                "width" => width = number(uri, k, v, 64..=8192)?,
                "height" => height = number(uri, k, v, 64..=8192)?,
                "fps" => fps = number(uri, k, v, 1..=240)?,
                _ => return Err(format!("`{uri}`: unknown option `{k}` (csi:// takes width, height, fps)")),
            }
        }
        return Ok(SourceUri::Csi { sensor, width, height, fps });
    }
    if let Some(rest) = uri.strip_prefix("v4l2://") {
        if sense == Sense::Audio {
            return wrong_sense("v4l2:// (a camera)", Sense::Video);
        }
        if !rest.starts_with('/') {
            return Err(format!("`{uri}`: expected v4l2:///dev/videoN (an absolute device path)"));
        }
        return Ok(SourceUri::V4l2(PathBuf::from(rest)));
    }
    if let Some(dev) = uri.strip_prefix("alsa://") {
        if sense == Sense::Video {
            return wrong_sense("alsa:// (a microphone)", Sense::Audio);
        }
        if dev.is_empty() {
            return Err(format!("`{uri}`: alsa:// needs a device, e.g. alsa://default or alsa://plughw:1,0"));
        }
        return Ok(SourceUri::Alsa(dev.to_string()));
    }
    Err(format!("`{uri}`: unknown input; expected one of {SCHEMES}"))
}

impl SourceUri {
    /// Whether this build can open it (`v4l2://` and `alsa://` need the `capture` feature).
    pub fn check_build(&self, uri: &str) -> Result<(), String> {
        match self {
            SourceUri::V4l2(_) | SourceUri::Alsa(_) if !cfg!(feature = "capture") => Err(format!(
                "`{uri}`: this avf-bel was built without live capture; rebuild with `--features capture` \
                 (needs libasound2-dev and pkg-config), or read the device through pipe:COMMAND"
            )),
            _ => Ok(()),
        }
    }

    /// The `gst-launch-1.0` pipeline behind `csi://N`: the Argus camera source (through the ISP, so the image is
    /// debayered and exposed), scaled by the VIC to a quarter of the sensor mode, as 8-bit I420 Y4M on stdout.
    pub fn csi_command(sensor: u32, width: u32, height: u32, fps: u32) -> String {
        let (ow, oh) = ((width / 4).max(64) & !1, (height / 4).max(64) & !1);
        format!(
            "gst-launch-1.0 -q nvarguscamerasrc sensor-id={sensor} ! \
             'video/x-raw(memory:NVMM),width={width},height={height},framerate={fps}/1' ! \
             nvvidconv ! 'video/x-raw,format=I420,width={ow},height={oh}' ! y4menc ! fdsink fd=1"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheme_parses() {
        assert_eq!(parse_uri("synth://happy", Sense::Audio), Ok(SourceUri::Synth("happy".into())));
        assert_eq!(
            parse_uri("file:///tmp/a.y4m?end=follow", Sense::Video),
            Ok(SourceUri::File { path: "/tmp/a.y4m".into(), at_end: AtEnd::Follow, raw: None })
        );
        assert_eq!(
            parse_uri("file:///tmp/a.raw?format=s16le&rate=44100&channels=2", Sense::Audio),
            Ok(SourceUri::File {
                path: "/tmp/a.raw".into(),
                at_end: AtEnd::Loop,
                raw: Some(RawPcm { rate: 44_100, channels: 2 })
            })
        );
        assert_eq!(
            parse_uri("pipe:s16le:48000:2:arecord -t raw -f S16_LE -r 48000 -c 2", Sense::Audio),
            Ok(SourceUri::Pipe {
                command: "arecord -t raw -f S16_LE -r 48000 -c 2".into(),
                raw: Some(RawPcm { rate: 48_000, channels: 2 })
            })
        );
        assert_eq!(
            parse_uri("pipe:cat x.y4m | tee /dev/null", Sense::Video),
            Ok(SourceUri::Pipe { command: "cat x.y4m | tee /dev/null".into(), raw: None })
        );
        assert_eq!(
            parse_uri("csi://1?fps=60&width=1920&height=1080", Sense::Video),
            Ok(SourceUri::Csi { sensor: 1, width: 1920, height: 1080, fps: 60 })
        );
        assert_eq!(parse_uri("v4l2:///dev/video2", Sense::Video), Ok(SourceUri::V4l2("/dev/video2".into())));
        assert_eq!(parse_uri("alsa://plughw:1,0", Sense::Audio), Ok(SourceUri::Alsa("plughw:1,0".into())));
    }

    #[test]
    fn mistakes_are_explained() {
        let e = |u: &str, s| parse_uri(u, s).unwrap_err();
        assert!(e("v4l2:///dev/video0", Sense::Audio).contains("--video"));
        assert!(e("alsa://default", Sense::Video).contains("--audio"));
        assert!(e("v4l2://dev/video0", Sense::Video).contains("absolute"));
        assert!(e("file:///a.wav?end=forever", Sense::Audio).contains("loop, stop or follow"));
        assert!(e("file:///a.wav?speed=2", Sense::Audio).contains("unknown option `speed`"));
        assert!(e("pipe:s16le:44100:2:", Sense::Audio).contains("RATE:CHANNELS:COMMAND"));
        assert!(e("pipe:s16le:x:2:cat", Sense::Audio).contains("rate=x"));
        assert!(e("rtsp://cam/stream", Sense::Video).contains("pipe:COMMAND"));
        assert!(e("csi://x", Sense::Video).contains("sensor=x"));
    }

    #[test]
    fn the_csi_pipeline_goes_through_the_isp() {
        let c = SourceUri::csi_command(0, 1280, 720, 30);
        assert!(
            c.contains("nvarguscamerasrc sensor-id=0") && c.contains("y4menc") && c.contains("width=320,height=180")
        );
    }
}
