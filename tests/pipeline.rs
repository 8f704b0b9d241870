//! The whole pipeline: outputs in range, EPP consistent, typed errors on bad input, determinism, BEL learning.

mod common;
use avf_bel::model::Precision;
use avf_bel::{epp, Error, InputError, Modalities, Pipeline, Weights};
use common::{frame, tiny_model, tones};

fn run_clip(p: &mut Pipeline<'_>, cfg: &avf_bel::ModelConfig, period: usize, m: Modalities) -> avf_bel::Output {
    p.push_audio(&tones(cfg, 1.0, period)).unwrap();
    for t in 0..12 {
        p.push_frame(&frame(cfg, t)).unwrap();
    }
    p.infer(m).unwrap()
}

#[test]
fn outputs_are_intensities_and_epp_follows_them() {
    let (cfg, buf) = tiny_model(1, Precision::F32);
    let w = Weights::parse(buf.as_bytes()).unwrap();
    let mut scratch = vec![0.0; Pipeline::scratch_len(&w)];
    let mut p = Pipeline::new(&w, &mut scratch).unwrap();
    for m in [Modalities::BOTH, Modalities::AUDIO, Modalities::VIDEO] {
        let out = run_clip(&mut p, &cfg, 5000, m);
        assert!(out.emotions.iter().all(|e| (0.0..=1.0).contains(e)), "{m:?}: {:?}", out.emotions);
        assert!((out.epp - epp(&out.emotions)).abs() < 1e-6);
        for e in 0..5 {
            let raw = out.terms.amygdala[e] - out.terms.orbitofrontal[e];
            assert!((raw.clamp(0.0, 1.0) - out.emotions[e]).abs() < 1e-6, "terms explain the output");
        }
        assert_eq!(out.contribution.audio == 0.0, !m.audio, "{m:?}: audio contribution only when audio is used");
        assert_eq!(out.contribution.visual == 0.0, !m.video, "{m:?}: visual contribution only when video is used");
    }
}

#[test]
fn same_input_same_output_and_clips_are_independent() {
    let (cfg, buf) = tiny_model(2, Precision::F32);
    let w = Weights::parse(buf.as_bytes()).unwrap();
    let mut scratch = vec![0.0; Pipeline::scratch_len(&w)];
    let mut p = Pipeline::new(&w, &mut scratch).unwrap();
    let a = run_clip(&mut p, &cfg, 5000, Modalities::BOTH);
    let _ = run_clip(&mut p, &cfg, 3000, Modalities::BOTH);
    let b = run_clip(&mut p, &cfg, 5000, Modalities::BOTH);
    assert_eq!(a, b, "infer resets the clip state");
    let mut scratch2 = vec![0.0; Pipeline::scratch_len(&w)];
    let mut q = Pipeline::new(&w, &mut scratch2).unwrap();
    assert_eq!(run_clip(&mut q, &cfg, 5000, Modalities::BOTH), a);
}

#[test]
fn int8_and_f16_pipelines_agree_with_f32() {
    let mut outs = Vec::new();
    for prec in [Precision::F32, Precision::F16, Precision::Int8] {
        let (cfg, buf) = tiny_model(4, prec);
        let w = Weights::parse(buf.as_bytes()).unwrap();
        let mut scratch = vec![0.0; Pipeline::scratch_len(&w)];
        let mut p = Pipeline::new(&w, &mut scratch).unwrap();
        p.push_audio(&tones(&cfg, 1.0, 5000)).unwrap();
        for t in 0..12 {
            p.push_frame(&frame(&cfg, t)).unwrap();
        }
        p.infer(Modalities::VIDEO).unwrap();
        outs.push(p.features().1.to_vec());
    }
    for (i, name) in [(1, "f16"), (2, "int8")] {
        let num: f32 = outs[i].iter().zip(&outs[0]).map(|(a, b)| (a - b) * (a - b)).sum();
        let den: f32 = outs[0].iter().map(|b| b * b).sum();
        let rel = (num / den).sqrt();
        // Visual features: fp16 storage within 1 %, int8 within 5 % (relative L2) of the f32 path.
        assert!(rel < if i == 1 { 0.01 } else { 0.05 }, "{name}: relative error {rel}");
    }
}

#[test]
fn bad_input_gets_typed_errors() {
    let (cfg, buf) = tiny_model(1, Precision::F32);
    let w = Weights::parse(buf.as_bytes()).unwrap();
    let mut scratch = vec![0.0; Pipeline::scratch_len(&w)];
    let mut p = Pipeline::new(&w, &mut scratch).unwrap();
    let n = cfg.visual.height as usize * cfg.visual.width as usize;
    assert_eq!(p.push_frame(&vec![0; n - 1]), Err(Error::Input(InputError::FrameSize { expected: n, got: n - 1 })));
    assert_eq!(p.push_frame(&[]), Err(Error::Input(InputError::FrameSize { expected: n, got: 0 })));
    assert_eq!(p.push_audio(&[0.0, f32::NAN]), Err(Error::Input(InputError::NonFiniteAudio)));
    assert_eq!(p.push_audio(&[f32::INFINITY]), Err(Error::Input(InputError::NonFiniteAudio)));
    // Nothing pushed: each modality reports what is missing.
    assert_eq!(p.infer(Modalities::VIDEO), Err(Error::Input(InputError::NoFrames)));
    assert_eq!(p.infer(Modalities::AUDIO), Err(Error::Input(InputError::EmptyAudio)));
    // Fewer frames than one stack.
    p.push_frame(&vec![0; n]).unwrap();
    assert_eq!(p.infer(Modalities::VIDEO), Err(Error::Input(InputError::NoFrames)));
    // After errors the pipeline still works.
    let out = run_clip(&mut p, &cfg, 5000, Modalities::BOTH);
    assert!(out.epp.is_finite());
    assert_eq!(p.learn(&[f32::NAN, 0.0, 0.0, 0.0, 0.0]), Err(Error::Input(InputError::BadReward)));
}

#[test]
fn bel_learning_moves_towards_the_reward_and_stays_bounded() {
    let (cfg, buf) = tiny_model(3, Precision::F32);
    let w = Weights::parse(buf.as_bytes()).unwrap();
    let mut scratch = vec![0.0; Pipeline::scratch_len(&w)];
    let mut p = Pipeline::new(&w, &mut scratch).unwrap();
    let before = run_clip(&mut p, &cfg, 5000, Modalities::BOTH);
    let s = p.sensory().to_vec();
    assert!(s.iter().any(|&x| x > 0.0), "the seeded model drives BEL");
    let target = [0.9, 0.1, 0.5, 0.0, 0.3];
    let err = |e: &[f32; 5]| e.iter().zip(&target).map(|(a, b)| (a - b).abs()).sum::<f32>();
    let mut e = before.emotions;
    for _ in 0..300 {
        p.learn(&target).unwrap();
        p.bel_mut().forward(&s, &mut e).unwrap();
    }
    assert!(
        err(&e) < err(&before.emotions) * 0.5,
        "error {} → {}: {:?} → {:?}, s {:?}, terms {:?}",
        err(&before.emotions),
        err(&e),
        before.emotions,
        e,
        s,
        before.terms
    );
    // The learned state is what the next inference uses.
    let after = run_clip(&mut p, &cfg, 5000, Modalities::BOTH);
    assert_eq!(after.emotions, e);
    // Extreme rewards never produce NaN or unbounded weights.
    let bound = cfg.bel.weight_bound;
    for i in 0..500 {
        let r = if i % 2 == 0 { 1e30 } else { -1e30 };
        p.learn(&[r; 5]).unwrap();
        p.bel_mut().forward(&s, &mut e).unwrap();
    }
    let bel = p.bel();
    for v in bel.amygdala().iter().chain(bel.orbitofrontal().iter()).chain(bel.thalamus().iter()) {
        assert!(v.is_finite() && v.abs() <= bound, "weight {v}");
    }
    assert!(e.iter().all(|x| x.is_finite()));
}

#[test]
fn f2_attention_runs_and_changes_the_fusion() {
    use avf_bel::model::{encode, seeded};
    use avf_bel::weights::writer::AlignedBytes;
    let mut with = avf_bel::ModelConfig::tiny();
    with.fusion.attention = true;
    let all = seeded(&with, 9);
    let mut outs = Vec::new();
    for attention in [false, true] {
        // The same weights; without F2 the attention tensors are simply left out.
        let mut cfg = with;
        cfg.fusion.attention = attention;
        let tensors: Vec<_> = all.iter().filter(|t| attention || !t.0.contains("attn")).cloned().collect();
        let buf = AlignedBytes::new(&encode(&cfg, &tensors, Precision::F32).unwrap());
        let w = Weights::parse(buf.as_bytes()).unwrap();
        assert_eq!(w.info("fusion.attn_audio.weight").is_some(), attention);
        let mut scratch = vec![0.0; Pipeline::scratch_len(&w)];
        let mut p = Pipeline::new(&w, &mut scratch).unwrap();
        let out = run_clip(&mut p, &cfg, 5000, Modalities::BOTH);
        assert!(out.emotions.iter().all(|e| (0.0..=1.0).contains(e)));
        outs.push(p.sensory().to_vec());
    }
    // Attention re-weights each modality's hidden units by a softmax (weights < 1), so S must change.
    assert_ne!(outs[0], outs[1]);
}

#[test]
fn peek_reads_the_running_clip_without_closing_it() {
    let (cfg, buf) = tiny_model(6, Precision::F32);
    let w = Weights::parse(buf.as_bytes()).unwrap();
    let mut scratch = vec![0.0; Pipeline::scratch_len(&w)];
    let mut p = Pipeline::new(&w, &mut scratch).unwrap();
    assert_eq!(p.peek(Modalities::AUDIO), Err(Error::Input(InputError::EmptyAudio)));
    let audio = tones(&cfg, 1.0, 5000);
    let (first, second) = audio.split_at(audio.len() / 2);
    p.push_audio(first).unwrap();
    for t in 0..6 {
        p.push_frame(&frame(&cfg, t)).unwrap();
    }
    let early = p.peek(Modalities::BOTH).unwrap();
    assert!(early.emotions.iter().all(|e| (0.0..=1.0).contains(e)));
    p.push_audio(second).unwrap();
    for t in 6..12 {
        p.push_frame(&frame(&cfg, t)).unwrap();
    }
    let closed = p.infer(Modalities::BOTH).unwrap();
    // Peeking changed nothing: the same clip without a peek infers the same output.
    let mut scratch2 = vec![0.0; Pipeline::scratch_len(&w)];
    let mut q = Pipeline::new(&w, &mut scratch2).unwrap();
    q.push_audio(&audio).unwrap();
    for t in 0..12 {
        q.push_frame(&frame(&cfg, t)).unwrap();
    }
    assert_eq!(q.infer(Modalities::BOTH).unwrap(), closed);
}

#[test]
fn the_cpu_pipeline_is_a_backend() {
    use avf_bel::Backend;
    let (cfg, buf) = common::tiny_model(3, avf_bel::model::Precision::F32);
    let w = Weights::parse(buf.as_bytes()).unwrap();
    let (mut s1, mut s2) = (vec![0.0; Pipeline::scratch_len(&w)], vec![0.0; Pipeline::scratch_len(&w)]);
    let mut direct = Pipeline::new(&w, &mut s1).unwrap();
    let mut through = Pipeline::new(&w, &mut s2).unwrap();
    let b: &mut dyn Backend = &mut through;
    assert_eq!(b.name(), "cpu");
    assert_eq!(b.model_hash(), w.model_hash());
    let pcm = common::tones(&cfg, 1.0, 4000);
    direct.push_audio(&pcm).unwrap();
    b.push_audio(&pcm).unwrap();
    for t in 0..8 {
        let f = common::frame(&cfg, t);
        direct.push_frame(&f).unwrap();
        b.push_frame(&f).unwrap();
    }
    assert_eq!(direct.infer(Modalities::BOTH).unwrap(), b.infer(Modalities::BOTH).unwrap());
    b.learn(&[1.0, 0.0, 0.0, 0.0, 0.0]).unwrap();
    direct.learn(&[1.0, 0.0, 0.0, 0.0, 0.0]).unwrap();
    assert_eq!(direct.bel().amygdala(), b.bel().amygdala());
    // A restored state is bounded and a wrong-sized one is refused without a change.
    let k = b.bel().k();
    let before = b.bel().amygdala().to_vec();
    assert!(b.restore_bel(&[0.0; 3], &[0.0; 5], &[0.0; 3]).is_err());
    assert_eq!(b.bel().amygdala(), &before[..]);
    assert!(b.restore_bel(&vec![f32::NAN; 5 * k], &[0.0; 5], &vec![0.0; 5 * k]).is_err());
    b.restore_bel(&vec![1e9; 5 * k], &[0.0; 5], &vec![0.0; 5 * k]).unwrap();
    assert!(b.bel().amygdala().iter().all(|&v| v == cfg.bel.weight_bound));
    assert_eq!(b.infer(Modalities { audio: false, video: false }), Err(avf_bel::InputError::NoModality.into()));
}
