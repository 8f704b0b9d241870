//! `avf-bel train`, `avf-bel eval`, `avf-bel export` (feature `train`).

use super::init::write_atomic;
use super::Opts;
use avf_bel::model::{decode, encode, encode_trained, read_file, Precision};
use avf_bel::train::augment::{Augment, Kind};
use avf_bel::train::data;
use avf_bel::train::fuse::FitOptions;
use avf_bel::train::plot;
use avf_bel::train::run::{
    evaluate, perceive, robustness, robustness_json, robustness_markdown, robustness_series, train,
    training_stimulus_jobs, FuseShape, Metrics, RenderSet, TrainOptions,
};
use avf_bel::weights::TensorId;
use avf_bel::{Modalities, ModelConfig, Pipeline, Weights, EMOTIONS};
use std::path::{Path, PathBuf};

fn threads_default() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn fit_options(o: &mut Opts<'_>) -> Result<FitOptions, String> {
    let d = FitOptions::default();
    Ok(FitOptions {
        steps: o.parse("--steps", d.steps)?,
        lr: o.parse("--lr", d.lr)?,
        decay: o.parse("--decay", d.decay)?,
        seed: o.parse("--fit-seed", d.seed)?,
        dropout: o.parse("--dropout", d.dropout)?,
        cv_folds: o.parse("--cv-folds", d.cv_folds)?,
    })
}

/// `avf-bel train --data DIR --out DIR [...]`.
pub fn run_train(args: &[String]) -> Result<(), String> {
    let mut o = Opts::new(args);
    let data_dir = PathBuf::from(o.value("--data")?.unwrap_or("../shared/data"));
    let out = PathBuf::from(o.value("--out")?.ok_or("`--out DIR` is required")?);
    let mut config = match o.value("--config")?.unwrap_or("default") {
        "default" => ModelConfig::default(),
        "tiny" => ModelConfig::tiny(),
        other => return Err(format!("unknown config `{other}` (expected default or tiny)")),
    };
    match o.value("--normalise")?.unwrap_or("on") {
        "on" => {}
        "off" => {
            config.input.loudness_tau_ms = 0;
            config.input.luma = false;
        }
        other => return Err(format!("`--normalise {other}`: expected on or off")),
    }
    match o.value("--substitute")?.unwrap_or("on") {
        "on" => {}
        "off" => config.input.substitute = false,
        other => return Err(format!("`--substitute {other}`: expected on or off")),
    }
    let augment_spec = o.value("--augment")?.unwrap_or("default");
    let opts = TrainOptions {
        config,
        random_clips: o.parse("--clips", 3000)?,
        renders: o.parse("--renders", 8)?,
        seconds: o.parse("--seconds", 3.0)?,
        threads: o.parse("--threads", threads_default())?,
        seed: o.parse("--seed", 2026)?,
        fuse: fit_options(&mut o)?,
        cornet_epochs: o.parse("--cornet-epochs", 3)?,
        cornet_clips: o.parse("--cornet-clips", 1000)?,
        augment: Augment {
            share: o.parse("--aug-share", Augment::default().share)?,
            max_kinds: o.parse("--aug-max-kinds", Augment::default().max_kinds)?,
            ..Augment::from_spec(augment_spec)?
        },
        aug_renders: o.parse("--aug-renders", 8)?,
        validate: o.parse("--validate", 20)?,
        compare_random: o.flag("--cornet-compare"),
    };
    o.finish()?;
    if opts.random_clips < 20 || opts.renders == 0 {
        return Err("--clips must be at least 20 and --renders at least 1".into());
    }
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let t0 = std::time::Instant::now();
    let (tensors, rep) = train(&data_dir, &opts)?;
    let bytes = encode_trained(&opts.config, &tensors, Precision::F32).map_err(|e| e.to_string())?;
    let model = out.join("model.avfw");
    write_atomic(&model, &bytes)?;
    write_atomic(&out.join("train_loss.png"), &plot::curves(std::slice::from_ref(&rep.fuse_curve)))?;
    let dims = ["bpm", "jitter", "consonance", "bigsmall", "updown"];
    let mut json = String::from("{\"perception_r2\":{\"visual\":{");
    json += &dims.iter().zip(rep.visual_r2).map(|(d, v)| format!("\"{d}\":{v:.4}")).collect::<Vec<_>>().join(",");
    if let Some(r) = rep.visual_r2_random {
        json += "},\"visual_random_features\":{";
        json += &dims.iter().zip(r).map(|(d, v)| format!("\"{d}\":{v:.4}")).collect::<Vec<_>>().join(",");
    }
    json += "},\"audio\":{";
    json += &dims.iter().zip(rep.audio_r2).map(|(d, v)| format!("\"{d}\":{v:.4}")).collect::<Vec<_>>().join(",");
    for (what, (v, a)) in [("clean", rep.clean_r2), ("perturbed", rep.perturbed_r2)] {
        for (name, r) in [("visual", v), ("audio", a)] {
            json += &format!("}},\"{name}_{what}\":{{");
            json += &dims
                .iter()
                .zip(r)
                .map(|(d, v)| if v.is_finite() { format!("\"{d}\":{v:.4}") } else { format!("\"{d}\":null") })
                .collect::<Vec<_>>()
                .join(",");
        }
    }
    json += &format!(
        "}}}},\"cornet_epochs\":{},\"cornet_clips\":{},\"cornet_loss\":[{}],\"fusion_bel_mse\":{:.6},\"fusion_bel_loss_first\":{:.6},\"clips\":{},\"renders\":{},\"seconds\":{:.1}}}",
        opts.cornet_epochs,
        opts.cornet_clips,
        rep.cornet_curve.iter().map(|v| format!("{v:.5}")).collect::<Vec<_>>().join(","),
        rep.fuse_loss,
        rep.fuse_curve.first().copied().unwrap_or(f32::NAN),
        opts.random_clips,
        opts.renders,
        t0.elapsed().as_secs_f64()
    );
    // The settings that shape the model besides the counts above, and the validation.
    json.pop();
    json += ",\"validation_mse\":{";
    json += &rep
        .validation
        .iter()
        .map(|(n, v, a)| format!("\"{n}\":{{\"visual\":{v:.5},\"audio\":{a:.5}}}"))
        .collect::<Vec<_>>()
        .join(",");
    json += "}}";
    json += &format!(
        ",\"fusion_decay\":{},\"cv_folds\":{},\"augment\":{:?},\"aug_renders\":{},\"dropout\":{},\"input\":{{\"loudness_tau_ms\":{},\"luma\":{},\"substitute\":{}}}}}",
        rep.fuse_decay,
        opts.fuse.cv_folds,
        augment_spec,
        opts.aug_renders,
        opts.fuse.dropout,
        opts.config.input.loudness_tau_ms,
        opts.config.input.luma,
        opts.config.input.substitute
    );
    write_atomic(&out.join("train.json"), json.as_bytes())?;
    println!("held-out R² of the perception read-outs (random slider settings, never the ratings):");
    println!("  {:<8} {:>8} {:>8} {:>10} {:>8} {:>8}", "", "bpm", "jitter", "consonance", "bigsmall", "updown");
    if let Some(r) = rep.visual_r2_random {
        println!(
            "  {:<8} {:>8.3} {:>8.3} {:>10.3} {:>8.3} {:>8.3}   (CORnet-Z untrained: seeded random features)",
            "visual", r[0], r[1], r[2], r[3], r[4]
        );
        // The curve starts with the first batch under the initial head, then holds one mean loss per epoch.
        let epochs: Vec<String> = rep.cornet_curve.iter().skip(1).map(|l| format!("{l:.4}")).collect();
        println!(
            "  CORnet-Z trained {} epochs on {} clips (Huber loss per epoch: {}), then:",
            opts.cornet_epochs,
            opts.cornet_clips,
            epochs.join(", ")
        );
    }
    for (name, r) in [("visual", rep.visual_r2), ("audio", rep.audio_r2)] {
        println!("  {name:<8} {:>8.3} {:>8.3} {:>10.3} {:>8.3} {:>8.3}", r[0], r[1], r[2], r[3], r[4]);
    }
    for (what, (v, a)) in [("clean", rep.clean_r2), ("perturbed", rep.perturbed_r2)] {
        for (name, r) in [("visual", v), ("audio", a)] {
            println!(
                "  {name:<8} {:>8.3} {:>8.3} {:>10.3} {:>8.3} {:>8.3}   (held-out {what} clips only)",
                r[0], r[1], r[2], r[3], r[4]
            );
        }
    }
    if !rep.validation.is_empty() {
        println!("read-out mean squared error on fresh random clips (validation; sliders 0..1):");
        let (mut sv, mut sa, mut nv, mut na) = (0.0, 0.0, 0, 0);
        for (name, v, a) in &rep.validation {
            println!("  {name:<14} visual {v:.4}  audio {a:.4}");
            match Kind::from_name(name) {
                Some(k) if k.is_audio() => (sa, na) = (sa + a, na + 1),
                Some(_) => (sv, nv) = (sv + v, nv + 1),
                None => {}
            }
        }
        println!(
            "  mean over the perturbations of the sense they touch: visual {:.4}, audio {:.4}",
            sv / nv.max(1) as f64,
            sa / na.max(1) as f64
        );
    }
    println!(
        "fusion + BEL: MSE {:.5} → {:.5} over {} steps (weight decay {}{})",
        rep.fuse_curve.first().copied().unwrap_or(f32::NAN),
        rep.fuse_loss,
        opts.fuse.steps,
        rep.fuse_decay,
        if opts.fuse.cv_folds >= 2 { ", chosen by cross-validation over stimuli" } else { "" }
    );
    println!("wrote {} ({} bytes) in {:.0} s", model.display(), bytes.len(), t0.elapsed().as_secs_f64());
    Ok(())
}

fn metrics_table(m: &[(&str, Metrics)]) -> String {
    let mut s = String::from(
        "| model | r angry | r happy | r peaceful | r sad | r scared | mean r | profile MAE | EPP MAE | EPP r | EPP CCC |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (name, x) in m {
        s += &format!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | **{:.3}** | **{:.4}** | {:.4} | {:.2} | {:.2} |\n",
            x.r[0], x.r[1], x.r[2], x.r[3], x.r[4], x.mean_r, x.profile_mae, x.epp_mae, x.epp_r, x.epp_ccc
        );
    }
    s
}

/// `avf-bel eval --data DIR --weights W [--renders K] [--out DIR]`.
pub fn run_eval(args: &[String]) -> Result<(), String> {
    let mut o = Opts::new(args);
    let data_dir = PathBuf::from(o.value("--data")?.unwrap_or("../shared/data"));
    let weights = o.value("--weights")?.map(str::to_string);
    let out = PathBuf::from(o.value("--out")?.unwrap_or("eval"));
    let renders: usize = o.parse("--renders", 8)?;
    let aug_renders: usize = o.parse("--aug-renders", 8)?;
    let augment = Augment::from_spec(o.value("--augment")?.unwrap_or("default"))?;
    let robust = o.flag("--robustness");
    let robust_renders: usize = o.parse("--robustness-renders", 4)?;
    let kinds: Vec<Kind> = match o.value("--perturbations")? {
        None => Kind::ALL.to_vec(),
        Some(list) => list
            .split(',')
            .map(|k| Kind::from_name(k.trim()).ok_or_else(|| format!("unknown perturbation `{k}`")))
            .collect::<Result<_, _>>()?,
    };
    let seconds: f64 = o.parse("--seconds", 3.0)?;
    let threads: usize = o.parse("--threads", threads_default())?;
    let fit = fit_options(&mut o)?;
    o.finish()?;
    if renders == 0 || threads == 0 || robust_renders == 0 {
        return Err("--renders, --robustness-renders and --threads must be at least 1".into());
    }
    let buf;
    let bytes: &[u8] = match &weights {
        Some(p) => {
            buf = read_file(Path::new(p)).map_err(|e| format!("{p}: {e}"))?;
            buf.as_bytes()
        }
        None => super::run::default_weights(),
    };
    let w = Weights::parse(bytes).map_err(|e| e.to_string())?;
    let cfg = *w.config();
    let rows = data::load(&data_dir)?;
    // Training renders as `train` makes them (clean, then perturbed); the clean ones are also the test renders.
    let per = renders + aug_renders;
    let jobs = training_stimulus_jobs(&rows, renders, aug_renders, &augment);
    let perceived = perceive(bytes, &jobs, seconds, threads, "stimulus renders")?;
    let clean: Vec<_> = perceived.chunks(per).flat_map(|c| c[..renders].to_vec()).collect();
    let (rep, folds) = evaluate(
        &rows,
        RenderSet { perceived: &perceived, per },
        RenderSet { perceived: &clean, per: renders },
        &fit,
        FuseShape::of(&cfg),
        threads,
    );
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let table = metrics_table(&rep.metrics);
    let md = format!(
        "Leave-one-stimulus-out over {} stimuli: fusion + BEL refit per fold on {renders} clean and {aug_renders} \
         perturbed renders of each other stimulus (modality dropout {}), perception fixed; each held-out stimulus \
         predicted as the mean over its {renders} clean renders. Targets: consensus (participant-mean) profiles, \
         mean of music and animation ratings / 127.\n\n{table}",
        rows.len(),
        fit.dropout
    );
    write_atomic(&out.join("eval.md"), md.as_bytes())?;
    let mut json = String::from("{");
    json += &rep
        .metrics
        .iter()
        .map(|(n, m)| {
            format!(
                "\"{n}\":{{\"r\":[{}],\"mean_r\":{:.4},\"profile_mae\":{:.5},\"epp_mae\":{:.5},\"epp_r\":{:.4},\"epp_ccc\":{:.4}}}",
                m.r.iter().map(|v| format!("{v:.4}")).collect::<Vec<_>>().join(","),
                m.mean_r,
                m.profile_mae,
                m.epp_mae,
                m.epp_r,
                m.epp_ccc
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    json += "}";
    write_atomic(&out.join("eval.json"), json.as_bytes())?;
    let fused = &rep.preds[0].1;
    let series: Vec<(&str, Vec<(f64, f64)>)> =
        (0..5).map(|e| (EMOTIONS[e], rep.truth.iter().zip(fused).map(|(t, p)| (t[e], p[e])).collect())).collect();
    write_atomic(&out.join("pred_vs_consensus.png"), &plot::scatter_panels(&series))?;
    write_atomic(&out.join("loss_curves.png"), &plot::curves(&rep.curves))?;
    let k = cfg.fusion.sensory as usize;
    let get = |t: TensorId| w.require_f32(t.name(), &[5, k as u32]).map(|v| v.to_vec()).unwrap_or_default();
    write_atomic(
        &out.join("bel_weights.png"),
        &plot::heatmaps(&[(5, k, get(TensorId::BelAmygdala)), (5, k, get(TensorId::BelOrbitofrontal))]),
    )?;
    println!("{md}");
    println!("wrote {}/{{eval.md, eval.json, pred_vs_consensus.png, loss_curves.png, bel_weights.png}}", out.display());
    if robust {
        let clean_set = RenderSet { perceived: &clean, per: renders };
        let r = robustness(bytes, &rows, &folds, &kinds, robust_renders.min(renders), seconds, threads, clean_set)?;
        let clean_all = &rep.metrics[0].1;
        let single: Vec<(&str, Metrics)> = rep.metrics[1..3].iter().map(|(n, m)| (*n, m.clone())).collect();
        let table = robustness_markdown(&r.clean, clean_all, &single, &r.rows);
        let md = format!(
            "Robustness, leave-one-stimulus-out over {} stimuli: the fused model (fusion + BEL refit per fold as \
             above) on {} renders of each held-out stimulus under one perturbation at a time (render seeds as the \
             clean ones, so only the perturbation differs); profile MAE against the consensus; `clean` is the same \
             renders unperturbed. The last rows are the same model on all {renders} clean test renders, with both \
             senses and with one missing.\n\n{table}",
            rows.len(),
            robust_renders.min(renders)
        );
        write_atomic(&out.join("robustness.md"), md.as_bytes())?;
        write_atomic(&out.join("robustness.json"), robustness_json(&r.clean, clean_all, &single, &r.rows).as_bytes())?;
        let series = robustness_series(&r.clean, &r.rows);
        write_atomic(&out.join("robustness.png"), &plot::robustness_curves(&series))?;
        println!("{md}");
        println!("wrote {}/{{robustness.md, robustness.json, robustness.png}}", out.display());
    }
    Ok(())
}

/// `avf-bel export --weights W --out DIR`: f32, f16 and int8 files and the int8-vs-f32 difference on the stimuli.
pub fn run_export(args: &[String]) -> Result<(), String> {
    let mut o = Opts::new(args);
    let weights = o.value("--weights")?.ok_or("`--weights FILE` is required")?.to_string();
    let out = PathBuf::from(o.value("--out")?.ok_or("`--out DIR` is required")?);
    let data_dir = PathBuf::from(o.value("--data")?.unwrap_or("../shared/data"));
    o.finish()?;
    let buf = read_file(Path::new(&weights)).map_err(|e| format!("{weights}: {e}"))?;
    let w = Weights::parse(buf.as_bytes()).map_err(|e| format!("{weights}: {e}"))?;
    let cfg = *w.config();
    let tensors = decode(&w);
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut files = Vec::new();
    for (p, name) in
        [(Precision::F32, "model-f32.avfw"), (Precision::F16, "model-f16.avfw"), (Precision::Int8, "model-int8.avfw")]
    {
        // An export keeps its source's mark: only a file that says it is seeded stays marked untrained.
        let b = if w.trained() == Some(false) { encode(&cfg, &tensors, p) } else { encode_trained(&cfg, &tensors, p) }
            .map_err(|e| e.to_string())?;
        write_atomic(&out.join(name), &b)?;
        println!("wrote {}: {} bytes", out.join(name).display(), b.len());
        files.push(avf_bel::weights::writer::AlignedBytes::new(&b));
    }
    // int8 and f16 against f32 on every study stimulus (seed 0 render).
    let rows = data::load(&data_dir)?;
    let mut worst = [(0.0f32, 0.0f32); 2];
    let mut outs: Vec<Vec<avf_bel::Output>> = Vec::new();
    for f in &files {
        let wf = Weights::parse(f.as_bytes()).map_err(|e| e.to_string())?;
        let mut scratch = vec![0.0f32; Pipeline::scratch_len(&wf)];
        let mut p = Pipeline::new(&wf, &mut scratch).map_err(|e| e.to_string())?;
        let mut v = Vec::new();
        for r in &rows {
            let opts = avf_bel::stimuli::RenderOptions::for_model(&cfg, 3.0, 1000 * r.id as u64);
            let s = avf_bel::stimuli::render(&r.params, &opts).map_err(|e| e.to_string())?;
            p.push_audio(&s.audio).map_err(|e| e.to_string())?;
            for fr in s.frames.chunks_exact(opts.size * opts.size) {
                p.push_frame(fr).map_err(|e| e.to_string())?;
            }
            v.push(p.infer(Modalities::BOTH).map_err(|e| e.to_string())?);
        }
        outs.push(v);
    }
    for (k, other) in [1usize, 2].iter().enumerate() {
        for (a, b) in outs[0].iter().zip(&outs[*other]) {
            worst[k].0 = worst[k].0.max((a.epp - b.epp).abs());
            for e in 0..5 {
                worst[k].1 = worst[k].1.max((a.emotions[e] - b.emotions[e]).abs());
            }
        }
    }
    println!("on the {} study stimuli, against f32:", rows.len());
    println!("  f16:  max |ΔEPP| {:.5}, max |Δemotion| {:.5}", worst[0].0, worst[0].1);
    println!("  int8: max |ΔEPP| {:.5}, max |Δemotion| {:.5}", worst[1].0, worst[1].1);
    Ok(())
}
