//! `avf-bel init`: write a seeded, untrained model.

use super::{CliResult, ConfigArg, PrecisionArg};
use avf_bel::model::{encode, seeded, Precision};
use avf_bel::ModelConfig;
use std::path::PathBuf;

/// Examples for `init --help`.
pub const EXAMPLES: &str = "Examples:
  avf-bel init --out my.avfw                               # the default shape, f32, seed 0
  avf-bel init --out tiny.avfw --config tiny --precision int8 --seed 7
  avf-bel inspect my.avfw

The model is UNTRAINED (seeded weights, no ratings involved): train one with `avf-bel train` (feature `train`).";

/// `avf-bel init` options.
#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// The weights file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Seed of the weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Storage precision.
    #[arg(long, value_enum, default_value_t = PrecisionArg::F32)]
    pub precision: PrecisionArg,
    /// Model shape.
    #[arg(long, value_enum, default_value_t = ConfigArg::Default)]
    pub config: ConfigArg,
}

/// Run.
pub fn run(a: InitArgs) -> CliResult {
    let cfg = ModelConfig::from(a.config);
    let precision = Precision::from(a.precision);
    let bytes = encode(&cfg, &seeded(&cfg, a.seed), precision).map_err(|e| e.to_string())?;
    write_atomic(&a.out, &bytes)?;
    println!("wrote {}: {} bytes, UNTRAINED (seed {}, {precision:?})", a.out.display(), bytes.len(), a.seed);
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
