use avf_bel::train::data;
use avf_bel::train::fuse::{Example, FitOptions, FuseParams};
use avf_bel::train::normalised;
use avf_bel::train::run::metrics;
fn main() {
    let rows = data::load(std::path::Path::new("../shared/data")).unwrap();
    let truth: Vec<[f64; 5]> = rows.iter().map(|r| r.fused()).collect();
    for (decay, steps, noise) in
        [(1e-3f32, 1500usize, 0.0f64), (1e-3, 1500, 0.05), (1e-2, 1500, 0.05), (1e-3, 3000, 0.05), (1e-4, 1500, 0.05)]
    {
        let mut preds = Vec::new();
        for fold in 0..rows.len() {
            let mut data = Vec::new();
            let mut rng = avf_bel::model::SplitMix64(5);
            for (i, r) in rows.iter().enumerate() {
                if i == fold {
                    continue;
                }
                for _ in 0..8 {
                    let x: Vec<f32> = normalised(&r.params)
                        .iter()
                        .map(|v| (v + noise * (rng.next_f32() as f64 * 2.0 - 1.0)) as f32)
                        .collect();
                    data.push(Example { xa: Some(x.clone()), xv: Some(x), y: truth[i].map(|v| v as f32) });
                }
            }
            let mut p = FuseParams::init(5, 5, 64, 8, 1);
            p.fit(&data, &FitOptions { decay, steps, dropout: 0.0, ..FitOptions::default() });
            let x: Vec<f32> = normalised(&rows[fold].params).iter().map(|v| *v as f32).collect();
            let y = p.predict(Some(&x), Some(&x));
            preds.push(y.map(|v| v as f64));
        }
        let m = metrics(&preds, &truth);
        println!("decay {decay} steps {steps} noise {noise}: MAE {:.4} mean r {:.3}", m.profile_mae, m.mean_r);
    }
}
