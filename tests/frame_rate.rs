//! Frames reach the model at its own frame rate (`visual.fps` in the configuration), whatever the source's rate.

use avf_bel::media::read_y4m;
use avf_bel::stimuli::io::y4m_bytes;

/// A mono-ish Y4M whose frame `i` is filled with the value `i`.
fn numbered(n: usize, fps: u32) -> Vec<u8> {
    let frames: Vec<u8> = (0..n).flat_map(|i| vec![i as u8; 16 * 16]).collect();
    y4m_bytes(&frames, 16, 16, fps)
}

fn shown(fps_in: u32, n: usize, fps_out: f64) -> Vec<u8> {
    let y = read_y4m(&numbered(n, fps_in)).unwrap();
    y.frames_at(fps_out, 16, 16).unwrap().chunks_exact(256).map(|f| f[0]).collect()
}

#[test]
fn the_same_rate_keeps_every_frame() {
    assert_eq!(shown(30, 9, 30.0), (0..9).collect::<Vec<u8>>());
}

#[test]
fn faster_sources_are_decimated() {
    assert_eq!(shown(60, 12, 30.0), vec![0, 2, 4, 6, 8, 10]);
    assert_eq!(shown(90, 9, 30.0), vec![0, 3, 6]);
}

#[test]
fn slower_sources_hold_their_frames() {
    // 25 fps shown at 30 fps: frame k is the one on screen at k/30 s; one second of input stays one second.
    let out = shown(25, 25, 30.0);
    assert_eq!(out.len(), 30);
    for (k, &f) in out.iter().enumerate() {
        assert_eq!(f as usize, k * 25 / 30, "output frame {k}");
    }
    // 15 fps: each frame twice.
    assert_eq!(shown(15, 4, 30.0), vec![0, 0, 1, 1, 2, 2, 3, 3]);
}

#[test]
fn a_model_at_another_rate_gets_its_own_rate() {
    // A model built for 20 fps sees 2 of every 3 frames of a 30 fps source, spaced in time.
    assert_eq!(shown(30, 6, 20.0), vec![0, 1, 3, 4]);
}

#[test]
fn an_implausible_frame_rate_is_an_error_not_an_allocation() {
    // One frame every 11.6 days, shown at 30 fps: 30 million copies of each frame. Found by fuzzing.
    let mut b = numbered(2, 30);
    let text = String::from_utf8_lossy(&b[..40]).into_owned();
    let at = text.find("F30:1").unwrap();
    b.splice(at..at + 5, b"F1:1000000".iter().copied());
    let y = read_y4m(&b).unwrap();
    assert!(matches!(y.frames_at(30.0, 64, 64), Err(avf_bel::media::MediaError::FrameRequest(_))));
}
