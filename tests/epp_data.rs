//! EPP as the spec defines it, recomputed for every row of the study's ratings (found by
//! `avf_bel::data::find_data`; the test skips, saying why, where there are none).

use avf_bel::epp_f64;
use std::path::Path;

mod common;

fn check(data: &Path, file: &str, cols: [&str; 5], raw_col: &str) -> usize {
    let text = std::fs::read_to_string(data.join(file)).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let idx = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("{file}: no column {name}"));
    let e: Vec<usize> = cols.iter().map(|c| idx(c)).collect();
    let raw = idx(raw_col);
    let mut n = 0;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let r: Vec<f64> = e.iter().map(|&i| f[i].parse().unwrap()).collect();
        let got = epp_f64(&[r[0], r[1], r[2], r[3], r[4]]);
        let want: f64 = f[raw].parse().unwrap();
        assert!((got - want).abs() < 1e-9, "{file} row {n}: {got} vs {want}");
        assert!((0.0..=127.0).contains(&got));
        n += 1;
    }
    n
}

#[test]
fn epp_matches_every_rating_row() {
    let Some(d) = common::study_data("epp_matches_every_rating_row") else { return };
    let five = ["angry", "happy", "peaceful", "sad", "scared"];
    assert_eq!(check(&d, "ratings_music.csv", five, "epp_raw"), 600);
    assert_eq!(check(&d, "ratings_animation.csv", five, "epp_raw"), 600);
    let music = five.map(|e| Box::leak(format!("music_{e}").into_boxed_str()) as &str);
    let anim = five.map(|e| Box::leak(format!("anim_{e}").into_boxed_str()) as &str);
    assert_eq!(check(&d, "paired.csv", music, "music_epp_raw"), 600);
    assert_eq!(check(&d, "paired.csv", anim, "anim_epp_raw"), 600);
}
