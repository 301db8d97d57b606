//! `flicker ls` and `flicker cat` on real output.

use crate::support::{assert_failed, read_committed, run_flicker, run_job, stdout, write_manifest};

#[test]
fn cat_prints_a_committed_output_and_refuses_an_uncommitted_one() {
    let dir = tempfile::tempdir().unwrap();
    let readings = crate::run::generate_readings(20_000, 21);
    crate::run::write_readings(&dir.path().join("data"), &readings, false);
    let manifest = write_manifest(dir.path(), &crate::run::readings_job("std:max", "", "out/"));
    assert!(run_job(&manifest, &["--workers", "2"]).status.success());
    let out = dir.path().join("out");

    let cat = run_flicker(&["cat", out.to_str().unwrap()]);
    assert!(cat.status.success());
    let expected: String = read_committed(&out).into_iter().map(|(_, text)| text).collect();
    assert_eq!(stdout(&cat), expected, "the parts _SUCCESS lists, in order");

    let ls = stdout(&run_flicker(&["ls", out.to_str().unwrap()]));
    let success = std::fs::metadata(out.join("_SUCCESS")).unwrap().len();
    assert!(
        ls.lines().any(|l| l.ends_with("/out/_SUCCESS") && l.trim_start().starts_with(&success.to_string())),
        "{ls}"
    );
    assert_eq!(ls.lines().filter(|l| l.contains("/out/part-")).count(), 4, "{ls}");

    std::fs::remove_file(out.join("_SUCCESS")).unwrap();
    let error = assert_failed(&run_flicker(&["cat", out.to_str().unwrap()]));
    assert!(
        error.contains(&format!("no committed output at file://{}: `_SUCCESS` is missing", out.display())),
        "{error}"
    );
}
