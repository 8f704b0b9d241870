//! Where the study's ratings are looked for: `--data`, then `$AVF_BEL_DATA`, then `../shared/data`; a folder named
//! explicitly never falls back silently, and every miss says where to get the data.

mod common;

use avf_bel::data::{find_data_in, DataError, DataOrigin, DATA_FILES};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

fn folder(tag: &str, files: &[&str]) -> PathBuf {
    let d = common::scratch_dir("data").join(tag);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    for f in files {
        std::fs::write(d.join(f), "stimulus_id\n").unwrap();
    }
    d
}

#[test]
fn the_lookup_order_is_explicit_then_environment_then_default() {
    let full = folder("full", &DATA_FILES);
    let other = folder("other", &DATA_FILES);
    let empty = folder("empty", &[]);
    let env = |p: &Path| Some(OsString::from(p));
    assert_eq!(find_data_in(Some(&full), env(&other), &other), Ok(full.clone()));
    assert_eq!(find_data_in(None, env(&full), &other), Ok(full.clone()));
    assert_eq!(find_data_in(None, None, &full), Ok(full.clone()));
    // An empty variable counts as unset.
    assert_eq!(find_data_in(None, Some(OsString::new()), &full), Ok(full.clone()));
    // Named folders that lack a file are errors naming the file and who named the folder.
    assert_eq!(
        find_data_in(Some(&empty), None, &full),
        Err(DataError::Incomplete { dir: empty.clone(), origin: DataOrigin::Explicit, missing: "stimuli.csv" })
    );
    let partial = folder("partial", &DATA_FILES[..2]);
    let e = find_data_in(None, env(&partial), &full).unwrap_err();
    assert_eq!(e, DataError::Incomplete { dir: partial, origin: DataOrigin::Env, missing: DATA_FILES[2] });
    assert!(e.to_string().contains("AVF_BEL_DATA") && e.to_string().contains(DATA_FILES[2]), "{e}");
    // Nothing anywhere: where to get the ratings and how to point at them.
    let e = find_data_in(None, None, &empty).unwrap_err();
    assert_eq!(e, DataError::NotFound { default: empty });
    let m = e.to_string();
    for needle in ["not found", "Sievers", "non-commercial", "--data DIR", "AVF_BEL_DATA=DIR", "README"] {
        assert!(m.contains(needle), "`{needle}` missing from: {m}");
    }
}

/// `common::scratch_dir` makes a writable folder under this process's id; run alone, as a child of the next test, it
/// says where.
#[test]
fn scratch_dir_is_a_writable_folder_of_this_process() {
    let d = common::scratch_dir("probe");
    std::fs::write(d.join("file"), b"x").unwrap();
    assert!(d.join("file").is_file());
    assert!(d.to_string_lossy().ends_with(&format!("-{}", std::process::id())), "{}", d.display());
    println!("scratch folder: {}", d.display());
}

/// The tests' scratch folders go when their binary exits, unless `AVF_BEL_KEEP_TEST_DIRS` is set: this binary is run
/// again for the test above alone, and its folder looked for afterwards.
#[test]
fn scratch_folders_are_removed_at_exit_unless_kept() {
    for keep in [false, true] {
        let mut c = common::under_runner(&std::env::current_exe().unwrap());
        c.args(["--exact", "scratch_dir_is_a_writable_folder_of_this_process", "--nocapture"]);
        match keep {
            true => c.env("AVF_BEL_KEEP_TEST_DIRS", "1"),
            false => c.env_remove("AVF_BEL_KEEP_TEST_DIRS"),
        };
        let out = c.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let dir = stdout
            .lines()
            .find_map(|l| l.strip_prefix("scratch folder: "))
            .unwrap_or_else(|| panic!("the child did not say where its folder was:\n{stdout}"));
        let dir = Path::new(dir);
        assert_eq!(dir.join("file").is_file(), keep, "keep = {keep}: {}", dir.display());
        if keep {
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}
