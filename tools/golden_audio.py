#!/usr/bin/env python3
"""Golden values for the audio front-end (tests/audio_frontend.rs), computed with librosa.

Run from the repository root with a Python that has librosa 0.11 and numpy:

    /work/venv/bin/python tools/golden_audio.py            # writes tests/data/audio_golden.txt

CI never runs this script; the output file is committed. The test signals are defined by formulas that
tests/audio_frontend.rs implements identically (computed in float64, then rounded to float32 samples); the
librosa analysis runs in float64 on those float32 samples.

Output format (plain text, one record per line, fields separated by spaces, `#` starts a comment line):

    signal NAME SR N_FFT HOP N_MELS TEMPO_FRAMES N_SAMPLES N_FRAMES
    dbmax MAX_DB ARGMAX_FRAME          # whole-clip maximum of the dB mel spectrogram and the frame holding it
    summary PITCH_MEAN TONNETZ_MEAN RMS_MEAN TEMPO_BPM DURATION_S
    frame T RMS PITCH_MEAN TONNETZ0..TONNETZ5 ONSET     # every frame
    mel T DB0..DB(N_MELS-1)                              # a few frames
    end
"""

import os
import sys

import librosa
import numpy as np

SR = 22050


def midi_hz(m):
    return 440.0 * 2.0 ** ((m - 69) / 12.0)


def sine440():
    n = np.arange(3 * SR, dtype=np.float64)
    return 0.5 * np.sin(2.0 * np.pi * 440.0 * n / SR)


def chord():
    n = np.arange(3 * SR, dtype=np.float64)
    y = np.zeros_like(n)
    for m in (60, 64, 67):
        y = y + 0.25 * np.sin(2.0 * np.pi * midi_hz(m) * n / SR)
    return y


def clicks():
    # 120 bpm: a decaying 1 kHz burst (50 ms) every 0.5 s, 10 s (longer than the default tempo window).
    n = np.arange(10 * SR, dtype=np.int64)
    k = (n % (SR // 2)).astype(np.float64)
    burst = 0.8 * np.sin(2.0 * np.pi * 1000.0 * k / SR) * np.exp(-k / (0.01 * SR))
    return np.where(k < 1102, burst, 0.0)


PIANO_NOTES = (60, 64, 67, 72, 69, 65, 62, 71)
NOTE_LEN = 8820  # 0.4 s


def piano():
    # Three harmonics (1, 1/2, 1/3 amplitude), exponential decay (0.15 s), 64-sample linear attack.
    k = np.arange(NOTE_LEN, dtype=np.float64)
    env = np.exp(-k / (0.15 * SR)) * np.minimum(1.0, k / 64.0)
    parts = []
    for m in PIANO_NOTES:
        f = midi_hz(m)
        tone = np.zeros_like(k)
        for h in (1, 2, 3):
            tone = tone + (0.4 / h) * np.sin(2.0 * np.pi * (h * f) * k / SR)
        parts.append(tone * env)
    return np.concatenate(parts)


def noise():
    # 32-bit LCG (Numerical Recipes constants), seed 1, 24 high bits mapped to [-1, 1), scaled by 0.3; 2 s.
    out = np.empty(2 * SR, dtype=np.float64)
    s = 1
    for i in range(out.size):
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        out[i] = 0.3 * ((s >> 8) / 16777216.0 * 2.0 - 1.0)
    return out


DEFAULT = dict(n_fft=2048, hop=512, n_mels=128, tempo_frames=344)
TINY = dict(n_fft=512, hop=256, n_mels=32, tempo_frames=128)

SIGNALS = [
    ("sine440", sine440, DEFAULT),
    ("chord", chord, DEFAULT),
    ("clicks", clicks, DEFAULT),
    ("piano", piano, DEFAULT),
    ("noise", noise, DEFAULT),
    ("piano_tiny", piano, TINY),
]


def analyse(y32, n_fft, hop, n_mels, tempo_frames):
    y = y32.astype(np.float64)
    rms = librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop)[0]
    pitches, _ = librosa.piptrack(y=y, sr=SR, n_fft=n_fft, hop_length=hop)
    chroma = librosa.feature.chroma_stft(y=y, sr=SR, n_fft=n_fft, hop_length=hop, tuning=0.0)
    ton = librosa.feature.tonnetz(chroma=chroma)
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=n_fft, hop_length=hop, n_mels=n_mels)
    mel_db = librosa.power_to_db(mel)
    onset = librosa.onset.onset_strength(y=y, sr=SR, n_fft=n_fft, hop_length=hop, n_mels=n_mels)
    tg = librosa.feature.tempogram(
        onset_envelope=onset, sr=SR, hop_length=hop, win_length=tempo_frames
    )
    tempo = librosa.feature.tempo(onset_envelope=onset, sr=SR, hop_length=hop, tg=tg)

    # Self-check of the alignment the Rust side documents: onset[t] = mean(max(0, S[t-D] - S[t-D-1])).
    d = n_fft // (2 * hop)
    want = np.zeros_like(onset)
    diff = np.maximum(0.0, mel_db[:, 1:] - mel_db[:, :-1]).mean(axis=0)
    want[d + 1 :] = diff[: onset.size - d - 1]
    assert np.allclose(want, onset, rtol=1e-6, atol=1e-9), "onset alignment"

    n_frames = rms.size
    assert pitches.shape[1] == n_frames == ton.shape[1] == mel_db.shape[1] == onset.size
    return dict(
        rms=rms,
        pitch=pitches.mean(axis=0),
        pitch_clip=pitches.mean(),
        ton=ton,
        mel_db=mel_db,
        onset=onset,
        tempo=float(np.asarray(tempo).ravel()[0]),
        dbmax=float(mel_db.max()),
        argmax_frame=int(np.unravel_index(np.argmax(mel_db), mel_db.shape)[1]),
        n_frames=n_frames,
    )


def fmt(x):
    return repr(float(x))


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "tests", "data", "audio_golden.txt")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    lines = [
        "# Golden values for tests/audio_frontend.rs; generated by tools/golden_audio.py with librosa "
        + librosa.__version__
        + ", numpy "
        + np.__version__
        + ". Do not edit by hand.",
    ]
    for name, make, c in SIGNALS:
        y32 = make().astype(np.float32)
        r = analyse(y32, **c)
        dur = y32.size / SR
        lines.append(
            f"signal {name} {SR} {c['n_fft']} {c['hop']} {c['n_mels']} {c['tempo_frames']} {y32.size} {r['n_frames']}"
        )
        lines.append(f"dbmax {fmt(r['dbmax'])} {r['argmax_frame']}")
        lines.append(
            "summary "
            + " ".join(
                fmt(v)
                for v in (r["pitch_clip"], r["ton"].mean(), r["rms"].mean(), r["tempo"], dur)
            )
        )
        for t in range(r["n_frames"]):
            vals = [r["rms"][t], r["pitch"][t], *r["ton"][:, t], r["onset"][t]]
            lines.append(f"frame {t} " + " ".join(fmt(v) for v in vals))
        n = r["n_frames"]
        for t in sorted({0, 1, 2, 5, n // 3, n // 2, n - 2, n - 1}):
            lines.append(f"mel {t} " + " ".join(fmt(v) for v in r["mel_db"][:, t]))
        lines.append("end")
        print(
            f"{name}: {y32.size} samples, {n} frames, tempo {r['tempo']:.3f}, "
            f"pitch {r['pitch_clip']:.4f}, tonnetz {r['ton'].mean():.5f}, rms {r['rms'].mean():.5f}, "
            f"dB max {r['dbmax']:.2f} at frame {r['argmax_frame']}",
            file=sys.stderr,
        )
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
