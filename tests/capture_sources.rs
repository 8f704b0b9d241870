//! Capture sources with real parts and no camera or sound card: GStreamer pipelines through `pipe:`, a paced shell
//! writer, FIFOs (no writer, a writer that dies, a slow writer), growing and looping files, and malformed streams.
//! Each source runs on its own thread into its ring; the test drains the ring as the daemon's tick would.
//!
//! GStreamer tests need `gst-launch-1.0` (Debian: gstreamer1.0-tools, gstreamer1.0-plugins-base/-good). Without it
//! they say so and skip, unless `AVF_BEL_REQUIRE_GST=1` (set by `.ci/steps/60-capture.sh`) makes that a failure.

mod common;

use avf_bel::capture::{open_audio, open_video, Capture, ModelInput, Stamped, Status, SynthOptions};
use avf_bel::stimuli::io::{wav_bytes, y4m_bytes};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn dir() -> PathBuf {
    common::scratch_dir("capture")
}

fn input() -> ModelInput {
    ModelInput { width: 32, height: 32, fps: 30, sample_rate: 22_050, hop: 256 }
}

fn synth() -> SynthOptions {
    SynthOptions { data_dir: "../shared/data".into(), seconds: 1.0, seed: 0 }
}

fn have_gst() -> bool {
    let ok = Command::new("gst-launch-1.0").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("AVF_BEL_REQUIRE_GST").is_none(),
            "AVF_BEL_REQUIRE_GST is set but gst-launch-1.0 does not run"
        );
        eprintln!(
            "skipped: gst-launch-1.0 is not installed (apt-get install gstreamer1.0-tools gstreamer1.0-plugins-good)"
        );
    }
    ok
}

/// Drain `c` until `until(items so far)` or `secs` pass.
fn collect<T: Send + 'static>(c: &Capture<T>, secs: f64, until: impl Fn(&[Stamped<T>]) -> bool) -> Vec<Stamped<T>> {
    let t = Instant::now();
    let mut got = Vec::new();
    while t.elapsed().as_secs_f64() < secs && !until(&got) {
        c.drain_into(&mut got);
        std::thread::sleep(Duration::from_millis(10));
    }
    c.drain_into(&mut got);
    got
}

fn wait_status<T: Send + 'static>(c: &Capture<T>, secs: f64, f: impl Fn(&Status) -> bool) -> Status {
    let t = Instant::now();
    loop {
        let s = c.status();
        if f(&s) || t.elapsed().as_secs_f64() > secs {
            return s;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn mkfifo(p: &std::path::Path) {
    let _ = std::fs::remove_file(p);
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo(3) only creates a file.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", p.display());
}

/// Mean interval between capture timestamps, ms.
fn mean_interval_ms<T>(items: &[Stamped<T>]) -> f64 {
    let n = items.len();
    assert!(n >= 3, "{n} items");
    (items[n - 1].ts_ns - items[0].ts_ns) as f64 / 1e6 / (n - 1) as f64
}

#[test]
fn gstreamer_video_through_a_pipe_at_its_own_rate() {
    if !have_gst() {
        return;
    }
    // 160×120 at 25 fps, live (real-time) source: frames arrive about 40 ms apart, fitted to 32×32.
    let uri = "pipe:gst-launch-1.0 -q videotestsrc is-live=true pattern=ball ! \
               video/x-raw,format=I420,width=160,height=120,framerate=25/1 ! y4menc ! fdsink fd=1";
    let c = open_video(uri, &input(), &synth()).unwrap();
    let got = collect(&c, 20.0, |g| g.len() >= 30);
    assert!(got.len() >= 30, "{} frames; status {:?}", got.len(), c.status());
    assert!(got.iter().all(|f| f.item.len() == 32 * 32));
    let ms = mean_interval_ms(&got[5..]); // past start-up
    assert!((30.0..=55.0).contains(&ms), "frames {ms:.1} ms apart at 25 fps");
    assert_eq!(c.status(), Status::Running);
    // The ball moves: frames differ.
    assert!(got.windows(2).any(|w| w[0].item != w[1].item));
}

#[test]
fn gstreamer_audio_through_a_pipe_is_downmixed_and_resampled() {
    if !have_gst() {
        return;
    }
    // A 440 Hz sine at 44.1 kHz stereo as a streamed WAV (wavenc on a pipe writes no sizes).
    let uri = "pipe:gst-launch-1.0 -q audiotestsrc is-live=true freq=440 volume=0.5 ! \
               audio/x-raw,format=S16LE,rate=44100,channels=2 ! wavenc ! fdsink fd=1";
    let c = open_audio(uri, &input(), &synth()).unwrap();
    let got = collect(&c, 20.0, |g| g.iter().map(|s| s.item.len()).sum::<usize>() >= 24_050);
    let pcm: Vec<f32> = got.iter().flat_map(|s| s.item.iter().copied()).collect();
    assert!(pcm.len() >= 24_050, "{} samples; status {:?}", pcm.len(), c.status());
    // One second at 22,050 Hz: count rising zero crossings (skipping the resampler's start).
    let s = &pcm[2_000..2_000 + 22_050];
    let crossings = s.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
    assert!((438..=442).contains(&crossings), "{crossings} cycles in a second, want 440");
    let peak = s.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!((0.45..0.55).contains(&peak), "peak {peak}");
}

/// A Y4M whose frame `i` is filled with `i` (8×8 at `fps`).
fn numbered_y4m(n: usize, fps: u32) -> Vec<u8> {
    let frames: Vec<u8> = (0..n).flat_map(|i| vec![(i * 10) as u8; 64]).collect();
    y4m_bytes(&frames, 8, 8, fps)
}

#[test]
fn a_paced_shell_writer_through_a_pipe() {
    // The header, then one frame every 100 ms from a shell loop.
    let d = dir();
    let y = numbered_y4m(6, 10);
    let nl = y.iter().position(|&b| b == b'\n').unwrap() + 1;
    std::fs::write(d.join("head.y4m"), &y[..nl]).unwrap();
    let frame_len = (y.len() - nl) / 6;
    for i in 0..6 {
        std::fs::write(d.join(format!("f{i}")), &y[nl + i * frame_len..nl + (i + 1) * frame_len]).unwrap();
    }
    let cmd =
        format!("cd {} && cat head.y4m && for i in 0 1 2 3 4 5; do cat f$i; sleep 0.1; done; sleep 30", d.display());
    let c = open_video(&format!("pipe:{cmd}"), &input(), &synth()).unwrap();
    let got = collect(&c, 10.0, |g| g.len() >= 6);
    assert_eq!(got.len(), 6, "status {:?}", c.status());
    for (i, f) in got.iter().enumerate() {
        assert!(f.item.iter().all(|&v| v == (i * 10) as u8), "frame {i}");
    }
    let ms = mean_interval_ms(&got);
    assert!((70.0..=200.0).contains(&ms), "frames {ms:.1} ms apart, written every 100 ms");
}

#[test]
fn a_fifo_without_a_writer_waits_and_stops_promptly() {
    let p = dir().join("nowriter.fifo");
    mkfifo(&p);
    let mut c = open_video(&format!("file://{}", p.display()), &input(), &synth()).unwrap();
    let s = wait_status(&c, 2.0, |s| matches!(s, Status::Opening(w) if w.contains("waiting for a writer")));
    assert!(matches!(&s, Status::Opening(w) if w.contains("waiting for a writer")), "{s:?}");
    assert!(collect(&c, 0.5, |_| false).is_empty());
    let t = Instant::now();
    assert!(c.stop_until(Instant::now() + Duration::from_secs(2)), "the thread did not end");
    assert!(t.elapsed() < Duration::from_millis(500), "stopping took {:?}", t.elapsed());
}

#[test]
fn a_fifo_writer_that_dies_is_waited_for_again() {
    let p = dir().join("dies.fifo");
    mkfifo(&p);
    let c = open_video(&format!("file://{}", p.display()), &input(), &synth()).unwrap();
    let y = numbered_y4m(5, 30);
    // First writer: a header, three whole frames and half of the fourth, then it dies.
    let cut = y.len() - 64 - 70;
    {
        use std::io::Write;
        let mut w = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        w.write_all(&y[..cut]).unwrap();
    }
    let got = collect(&c, 5.0, |g| g.len() >= 3);
    assert_eq!(got.len(), 3, "the half frame is not delivered");
    let s = wait_status(&c, 3.0, |s| matches!(s, Status::Retrying(_)));
    assert!(matches!(&s, Status::Retrying(m) if m.contains("closed")), "{s:?}");
    // A second writer starts a new stream (with its own header): it is read from the start.
    std::thread::sleep(Duration::from_millis(400));
    {
        use std::io::Write;
        let mut w = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        w.write_all(&y).unwrap();
    }
    let got = collect(&c, 5.0, |g| g.len() >= 5);
    assert_eq!(got.len(), 5, "status {:?}", c.status());
    assert!(got[0].item.iter().all(|&v| v == 0) && got[4].item.iter().all(|&v| v == 40));
}

#[test]
fn a_slow_fifo_writer_is_read_as_it_writes() {
    let p = dir().join("slow.fifo");
    mkfifo(&p);
    let c = open_video(&format!("file://{}", p.display()), &input(), &synth()).unwrap();
    let y = numbered_y4m(4, 30);
    let writer = std::thread::spawn({
        let p = p.clone();
        move || {
            use std::io::Write;
            let mut w = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
            // Byte by byte in 29 pieces per frame, a frame every 300 ms.
            for chunk in y.chunks(y.len() / 29 + 1) {
                w.write_all(chunk).unwrap();
                std::thread::sleep(Duration::from_millis(40));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let got = collect(&c, 10.0, |g| g.len() >= 4);
    writer.join().unwrap();
    assert_eq!(got.len(), 4);
    for (i, f) in got.iter().enumerate() {
        assert!(f.item.iter().all(|&v| v == (i * 10) as u8));
    }
}

#[test]
fn files_loop_stop_or_follow_as_configured() {
    let d = dir();
    // 30 fps, 6 frames = 0.2 s.
    let path = d.join("six.y4m");
    std::fs::write(&path, numbered_y4m(6, 30)).unwrap();
    // Stop: six frames, paced at 30 fps, then the source ends.
    let c = open_video(&format!("file://{}?end=stop", path.display()), &input(), &synth()).unwrap();
    let s = wait_status(&c, 5.0, |s| *s == Status::Ended);
    assert_eq!(s, Status::Ended);
    let got = collect(&c, 0.1, |_| false);
    assert_eq!(got.len(), 6);
    let ms = mean_interval_ms(&got);
    assert!((25.0..=45.0).contains(&ms), "paced at {ms:.1} ms per frame");
    // Loop (the default): more than six frames, in order, wrapping around.
    let c = open_video(&format!("file://{}", path.display()), &input(), &synth()).unwrap();
    let got = collect(&c, 5.0, |g| g.len() >= 14);
    let values: Vec<u8> = got.iter().map(|f| f.item[0]).collect();
    assert_eq!(&values[..14], &[0, 10, 20, 30, 40, 50, 0, 10, 20, 30, 40, 50, 0, 10]);
    // Follow: a recording that grows is read as it grows.
    let growing = d.join("growing.y4m");
    let y = numbered_y4m(5, 30);
    let two = y.len() - 3 * (y.len() - y.iter().position(|&b| b == b'\n').unwrap() - 1) / 5;
    std::fs::write(&growing, &y[..two]).unwrap();
    let c = open_video(&format!("file://{}?end=follow", growing.display()), &input(), &synth()).unwrap();
    assert_eq!(collect(&c, 5.0, |g| g.len() >= 2).len(), 2);
    std::fs::write(&growing, &y).unwrap(); // the writer appends the rest
    let more = collect(&c, 5.0, |g| g.len() >= 3);
    assert_eq!(more.iter().map(|f| f.item[0]).collect::<Vec<_>>(), vec![20, 30, 40]);
    assert_eq!(c.status(), Status::Running, "still following");
}

#[test]
fn wav_files_at_any_rate_reach_the_model_rate() {
    let p = dir().join("tone48k.wav");
    let tone: Vec<f32> =
        (0..24_000).map(|i| 0.5 * (i as f32 * 2.0 * std::f32::consts::PI * 300.0 / 48_000.0).sin()).collect();
    std::fs::write(&p, wav_bytes(&tone, 48_000)).unwrap();
    let c = open_audio(&format!("file://{}?end=stop", p.display()), &input(), &synth()).unwrap();
    assert_eq!(wait_status(&c, 5.0, |s| *s == Status::Ended), Status::Ended);
    let pcm: Vec<f32> = collect(&c, 0.1, |_| false).iter().flat_map(|s| s.item.clone()).collect();
    // Half a second at 48 kHz is 11,025 samples at 22,050 Hz (the resampler is flushed when the file stops).
    assert_eq!(pcm.len(), 11_025);
    let crossings = pcm[500..10_500].windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
    assert!((134..=138).contains(&crossings), "{crossings} cycles in 10,000 samples, want 136 (300 Hz)");
}

#[test]
fn a_stream_in_the_wrong_format_is_retried_and_names_what_it_found() {
    let d = dir();
    let wav = d.join("not-video.wav");
    std::fs::write(&wav, wav_bytes(&[0.1; 100], 22_050)).unwrap();
    let uri = format!("pipe:cat {}", wav.display());
    let c = open_video(&uri, &input(), &synth()).unwrap();
    // A byte stream's next writer may send a good stream: malformed data is retried with backoff, never final.
    let s = wait_status(&c, 5.0, |s| matches!(s, Status::Retrying(_)));
    let Status::Retrying(m) = &s else { panic!("{s:?}") };
    assert!(m.contains("malformed stream") && m.contains("not a YUV4MPEG2 stream") && m.contains("RIFF"), "{m}");
    // A child that exits is retried (not failed): the next attempt may work.
    let c = open_video("pipe:echo oops >&2; exit 3", &input(), &synth()).unwrap();
    let s = wait_status(&c, 5.0, |s| matches!(s, Status::Retrying(_)));
    assert!(matches!(&s, Status::Retrying(m) if m.contains("exit status: 3") && m.contains("oops")), "{s:?}");
    // A missing file too.
    let c = open_audio("file:///nonexistent/a.wav", &input(), &synth()).unwrap();
    let s = wait_status(&c, 5.0, |s| matches!(s, Status::Retrying(_)));
    assert!(matches!(&s, Status::Retrying(m) if m.contains("/nonexistent/a.wav")), "{s:?}");
}

#[test]
fn a_child_that_ignores_sigterm_is_killed_on_stop() {
    let pidfile = dir().join("stubborn.pid");
    let _ = std::fs::remove_file(&pidfile);
    let cmd = format!("trap '' TERM; echo $$ > {}; while true; do sleep 1; done", pidfile.display());
    let mut c = open_video(&format!("pipe:{cmd}"), &input(), &synth()).unwrap();
    let pid = common::wait_for_pid_line(&pidfile);
    let t = Instant::now();
    assert!(c.stop_until(Instant::now() + Duration::from_secs(2)));
    assert!(t.elapsed() < Duration::from_millis(800), "stopping took {:?}", t.elapsed());
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    assert!(!alive, "the child {pid} survived");
}

#[test]
fn synthetic_sources_run_at_the_model_rate() {
    let c = open_video("synth://happy", &input(), &synth()).unwrap();
    let got = collect(&c, 5.0, |g| g.len() >= 15);
    assert!(got.len() >= 15);
    let ms = mean_interval_ms(&got);
    assert!((28.0..=40.0).contains(&ms), "{ms:.1} ms per frame at 30 fps");
    let c = open_audio("synth://nosuchstimulus", &input(), &synth()).unwrap();
    let s = wait_status(&c, 5.0, |s| matches!(s, Status::Failed(_)));
    assert!(matches!(&s, Status::Failed(m) if m.contains("synth://nosuchstimulus")), "{s:?}");
}
