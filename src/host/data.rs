//! Where the study's ratings are: the one lookup that the commands (`--data`) and the tests use.
//!
//! The ratings (Sievers et al., published with the AVF-BEL paper under a non-commercial licence) are never part of
//! this repository. They are looked for, in order, in the folder given explicitly (`--data DIR`), in
//! `$AVF_BEL_DATA`, then in `../shared/data` (relative to the working directory: beside a checkout, as in this
//! project's layout and in CI). A folder counts only if it holds every file the code reads.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// The environment variable naming the data folder.
pub const DATA_ENV: &str = "AVF_BEL_DATA";

/// The folder looked in last, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "../shared/data";

/// The files a data folder must hold (what `synth`/`run --stimulus`, `train`, `eval`, `export` and the tests read).
pub const DATA_FILES: [&str; 4] = ["stimuli.csv", "paired.csv", "ratings_music.csv", "ratings_animation.csv"];

/// Where the ratings come from, in one sentence for error messages (the README's "Data" section says more).
pub const WHERE_TO_GET: &str = "the ratings are the cross-modal emotion study's (Sievers et al.), published with the \
     AVF-BEL paper (arXiv 2503.16454) under a non-commercial licence and not shipped here; put their CSV files \
     (stimuli.csv, paired.csv, ratings_music.csv, ratings_animation.csv) in a folder and pass --data DIR or set \
     AVF_BEL_DATA=DIR (see the README, section \"Data\")";

/// Where a candidate folder came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataOrigin {
    /// Given explicitly (`--data DIR`).
    Explicit,
    /// `$AVF_BEL_DATA`.
    Env,
    /// `../shared/data`.
    Default,
}

impl fmt::Display for DataOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataOrigin::Explicit => "--data",
            DataOrigin::Env => DATA_ENV,
            DataOrigin::Default => "the default place",
        })
    }
}

/// The ratings could not be found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataError {
    /// A folder named explicitly (`--data` or `$AVF_BEL_DATA`) lacks a file. Named folders never fall back to the
    /// default place: a typo there should be reported, not hidden.
    Incomplete {
        /// The folder.
        dir: PathBuf,
        /// Who named it.
        origin: DataOrigin,
        /// The first file missing from it.
        missing: &'static str,
    },
    /// Nothing was named and the default place holds no ratings.
    NotFound {
        /// The default place that was looked in.
        default: PathBuf,
    },
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Incomplete { dir, origin, missing } => write!(
                f,
                "the study's ratings are not in {} (given by {origin}): {missing} is missing; {WHERE_TO_GET}",
                dir.display()
            ),
            DataError::NotFound { default } => write!(
                f,
                "the study's ratings were not found (no --data, {DATA_ENV} unset, no ratings in {}); {WHERE_TO_GET}",
                default.display()
            ),
        }
    }
}

impl std::error::Error for DataError {}

/// The folder holding the study's ratings: `explicit` (`--data DIR`) if given, else `$AVF_BEL_DATA` if set, else
/// `../shared/data`. A named folder that lacks a file is an error, never a silent fall-back.
pub fn find_data(explicit: Option<&Path>) -> Result<PathBuf, DataError> {
    find_data_in(explicit, std::env::var_os(DATA_ENV), Path::new(DEFAULT_DATA_DIR))
}

/// [`find_data`] with the environment and the default place passed in (what it does, testable without touching
/// the process environment). An empty `env` counts as unset.
pub fn find_data_in(explicit: Option<&Path>, env: Option<OsString>, default: &Path) -> Result<PathBuf, DataError> {
    let (dir, origin) = match (explicit, env.filter(|v| !v.is_empty())) {
        (Some(d), _) => (d.to_path_buf(), DataOrigin::Explicit),
        (None, Some(e)) => (PathBuf::from(e), DataOrigin::Env),
        (None, None) => (default.to_path_buf(), DataOrigin::Default),
    };
    match DATA_FILES.iter().find(|f| !dir.join(f).is_file()) {
        None => Ok(dir),
        Some(_) if origin == DataOrigin::Default => Err(DataError::NotFound { default: dir }),
        Some(missing) => Err(DataError::Incomplete { dir, origin, missing }),
    }
}
