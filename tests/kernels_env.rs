//! `AVF_BEL_KERNELS` forces a kernel level at `Pipeline::new`; a name that is no level, or a level this CPU lacks,
//! is a clear error rather than a crash or a silent fallback. One test in its own binary: the environment is
//! process-wide, so nothing else may read it while this test changes it.

mod common;
use avf_bel::kernels::{KernelError, Kernels, Level, ENV_VAR};
use avf_bel::model::Precision;
use avf_bel::{Error, Pipeline, Weights};

fn build(value: Option<&str>) -> Result<Level, Error> {
    match value {
        Some(v) => std::env::set_var(ENV_VAR, v),
        None => std::env::remove_var(ENV_VAR),
    }
    let (_, buf) = common::tiny_model(1, Precision::Int8);
    let w = Weights::parse(buf.as_bytes()).unwrap();
    let mut scratch = vec![0.0; Pipeline::scratch_len(&w)];
    let level = Pipeline::new(&w, &mut scratch).map(|p| p.kernels().level);
    std::env::remove_var(ENV_VAR);
    level
}

#[test]
fn the_environment_forces_a_level_and_refuses_bad_ones() {
    assert_eq!(build(None), Ok(Kernels::detect().level()), "unset: the best level of this CPU");
    assert_eq!(build(Some("")), Ok(Kernels::detect().level()), "empty: as unset");
    for level in Level::ALL {
        let got = build(Some(level.name()));
        if level.supported() {
            assert_eq!(got, Ok(level));
        } else {
            assert_eq!(got, Err(Error::Kernel(KernelError::Unsupported(level))));
            let msg = got.unwrap_err().to_string();
            assert!(msg.contains(level.name()) && msg.contains("not supported"), "{msg}");
        }
    }
    assert_eq!(build(Some(" Portable ")), Ok(Level::Portable), "case and blanks are forgiven");
    let bad = build(Some("sse4"));
    assert_eq!(bad, Err(Error::Kernel(KernelError::UnknownLevel)));
    assert!(bad.unwrap_err().to_string().contains("portable, avx2"), "the error lists the levels");
    // `kernel_name` (what the CLI prints today) follows the same variable.
    std::env::set_var(ENV_VAR, "portable");
    assert_eq!(avf_bel::kernels::kernel_name(), "portable");
    std::env::remove_var(ENV_VAR);
}
