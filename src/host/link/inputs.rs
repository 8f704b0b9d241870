//! The daemon's inputs: one capture thread per configured sense ([`crate::host::capture`]); per tick the rings are
//! drained into the backend (frames retimed to the model's frame rate from their capture timestamps), and each sense
//! is judged live or missing. Nothing here waits on a source.

use crate::core::backend::Backend;
use crate::host::capture::frames::Retimer;
use crate::host::capture::{self, AudioCapture, ModelInput, Stamped, Status, SynthOptions, VideoCapture};
use std::time::{Duration, Instant};

/// A sense is live while its newest data is at most this old.
pub const STALE: Duration = Duration::from_millis(500);

/// Whether a configured sense can be used this tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SenseState {
    /// Not configured.
    Off,
    /// Delivered data within [`STALE`].
    Live,
    /// Configured but silent, failing, failed for good or ended.
    Missing,
}

impl SenseState {
    /// Configured at all.
    pub fn configured(self) -> bool {
        self != SenseState::Off
    }
    /// Usable.
    pub fn live(self) -> bool {
        self == SenseState::Live
    }
}

/// What feeding the backend found this tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fed {
    pub(crate) audio: SenseState,
    pub(crate) video: SenseState,
    /// Capture time of the newest data given to the backend (this tick or earlier).
    pub(crate) newest_ns: Option<u64>,
    /// The backend refused some data (never expected: the capture side shapes everything).
    pub(crate) error: bool,
}

struct Input<T: Send + 'static> {
    cap: capture::Capture<T>,
    reported: Option<Status>,
    items: Vec<Stamped<T>>,
}

impl<T: Send + 'static> Input<T> {
    fn new(cap: capture::Capture<T>) -> Self {
        Input { cap, reported: None, items: Vec::new() }
    }

    fn state(&self, now_ns: u64) -> SenseState {
        match self.cap.last_ts() {
            Some(ts) if now_ns.saturating_sub(ts) <= STALE.as_nanos() as u64 => SenseState::Live,
            _ => SenseState::Missing,
        }
    }

    /// Tell the operator when the source changes state (once per change, not per tick).
    fn report(&mut self) {
        let s = self.cap.status();
        if self.reported.as_ref() == Some(&s) {
            return;
        }
        let uri = self.cap.uri();
        match &s {
            Status::Opening(what) if what != "starting" => eprintln!("input {uri}: {what}"),
            Status::Opening(_) => {}
            // Said on every start, also when the source was already delivering at the first report: an operator
            // (and a test) can wait for this line whatever the timing of the capture thread.
            Status::Running => eprintln!("input {uri}: delivering"),
            Status::Retrying(e) => {
                eprintln!("warning: input {uri} unavailable ({e}); reopening with backoff, samples flagged degraded")
            }
            Status::Failed(e) => eprintln!("error: {e}; this input is not retried"),
            Status::Ended => eprintln!("input {uri} ended"),
        }
        self.reported = Some(s);
    }

    /// Failed for good or ended: it will never deliver again.
    fn gone(&self) -> Option<String> {
        match self.cap.status() {
            Status::Failed(e) => Some(e),
            Status::Ended => Some(format!("input {} ended", self.cap.uri())),
            _ => None,
        }
    }
}

/// Every configured input.
pub(crate) struct Inputs {
    audio: Option<Input<Vec<f32>>>,
    video: Option<(Input<Vec<u8>>, Retimer)>,
    newest_ns: Option<u64>,
}

impl Inputs {
    /// Start a capture thread per configured sense; frames are retimed to `input.fps` from `epoch_ns`.
    pub(crate) fn open(
        audio: Option<&str>,
        video: Option<&str>,
        input: &ModelInput,
        synth: &SynthOptions,
        epoch_ns: u64,
    ) -> Result<Inputs, String> {
        let audio: Option<AudioCapture> = audio.map(|u| capture::open_audio(u, input, synth)).transpose()?;
        let video: Option<VideoCapture> = video.map(|u| capture::open_video(u, input, synth)).transpose()?;
        Ok(Inputs {
            audio: audio.map(Input::new),
            video: video.map(|v| (Input::new(v), Retimer::new(input.fps, epoch_ns, STALE.as_nanos() as u64))),
            newest_ns: None,
        })
    }

    /// Configured senses.
    pub(crate) fn configured(&self) -> usize {
        usize::from(self.audio.is_some()) + usize::from(self.video.is_some())
    }

    /// Drain every ring into `backend` (frames through the retimer up to `now_ns`) and judge the senses.
    pub(crate) fn feed(&mut self, now_ns: u64, backend: &mut dyn Backend) -> Fed {
        let mut error = false;
        let mut newest = self.newest_ns;
        let audio = match &mut self.audio {
            None => SenseState::Off,
            Some(a) => {
                a.report();
                a.cap.drain_into(&mut a.items);
                for s in a.items.drain(..) {
                    error |= backend.push_audio(&s.item).is_err();
                    newest = newest.max(Some(s.ts_ns));
                }
                a.state(now_ns)
            }
        };
        let video = match &mut self.video {
            None => SenseState::Off,
            Some((v, retimer)) => {
                v.report();
                v.cap.drain_into(&mut v.items);
                let mut push = |f: &[u8]| error |= backend.push_frame(f).is_err();
                for s in v.items.drain(..) {
                    retimer.push(&s.item, s.ts_ns, &mut push);
                    newest = newest.max(Some(s.ts_ns));
                }
                retimer.advance_to(now_ns, &mut push);
                v.state(now_ns)
            }
        };
        self.newest_ns = newest;
        Fed { audio, video, newest_ns: newest, error }
    }

    /// Each sense's state at `now_ns` from what was captured so far.
    pub(crate) fn states(&self, now_ns: u64) -> (SenseState, SenseState) {
        (
            self.audio.as_ref().map_or(SenseState::Off, |a| a.state(now_ns)),
            self.video.as_ref().map_or(SenseState::Off, |(v, _)| v.state(now_ns)),
        )
    }

    /// If no configured input can ever deliver again (all failed for good or ended), why.
    pub(crate) fn all_gone(&self) -> Option<String> {
        let mut why = Vec::new();
        if let Some(a) = &self.audio {
            why.push(a.gone()?);
        }
        if let Some((v, _)) = &self.video {
            why.push(v.gone()?);
        }
        (!why.is_empty()).then(|| why.join("; "))
    }

    /// Items the capture rings dropped because the tick was late.
    pub(crate) fn dropped(&self) -> u64 {
        self.audio.as_ref().map_or(0, |a| a.cap.counts().1) + self.video.as_ref().map_or(0, |(v, _)| v.cap.counts().1)
    }

    /// Stop every capture thread, waiting at most until `deadline` (child processes are killed).
    pub(crate) fn stop(&mut self, deadline: Instant) {
        if let Some(a) = &self.audio {
            a.cap.request_stop();
        }
        if let Some((v, _)) = &self.video {
            v.cap.request_stop();
        }
        if let Some(a) = &mut self.audio {
            a.cap.stop_until(deadline);
        }
        if let Some((v, _)) = &mut self.video {
            v.cap.stop_until(deadline);
        }
    }
}
