//! `avf-bel init`: write a seeded, untrained model.

use super::Opts;
use avf_bel::model::{encode, seeded, Precision};
use avf_bel::ModelConfig;

/// Run.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut o = Opts::new(args);
    let out = o.value("--out")?.ok_or("`--out FILE` is required")?.to_string();
    let seed: u64 = o.parse("--seed", 0)?;
    let precision: Precision = o.parse("--precision", Precision::F32)?;
    let cfg = match o.value("--config")?.unwrap_or("default") {
        "default" => ModelConfig::default(),
        "tiny" => ModelConfig::tiny(),
        other => return Err(format!("unknown config `{other}` (expected default or tiny)")),
    };
    o.finish()?;
    let bytes = encode(&cfg, &seeded(&cfg, seed), precision).map_err(|e| e.to_string())?;
    write_atomic(std::path::Path::new(&out), &bytes)?;
    println!("wrote {out}: {} bytes, UNTRAINED (seed {seed}, {precision:?})", bytes.len());
    Ok(())
}

/// Write through a temporary file and rename, so an existing file is never left half-written.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}
