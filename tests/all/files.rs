//! `flicker ls` and `flicker cat` on real output.

use crate::support::{
    assert_failed, assert_mentions, assert_succeeded, header_line, read_committed, run_flicker, run_job,
    stdout, write_manifest,
};
use flicker_storage::{Location, Service, StoreOptions};
use object_store::ObjectStoreExt;
use std::collections::BTreeMap;
use std::path::Path;

#[test]
fn cat_prints_a_committed_output_and_refuses_an_uncommitted_one() {
    let dir = tempfile::tempdir().unwrap();
    let readings = crate::run::generate_readings(20_000, 21);
    crate::run::write_readings(&dir.path().join("data"), &readings, false);
    let manifest = write_manifest(dir.path(), &crate::run::readings_job("std:max", "", "out/"));
    assert!(run_job(&manifest, &["--workers", "2"]).status.success());
    let out = dir.path().join("out");

    let cat = run_flicker(&["cat", "--raw", out.to_str().unwrap()]);
    assert!(cat.status.success());
    let expected: String = read_committed(&out).into_iter().map(|(_, text)| text).collect();
    assert_eq!(stdout(&cat), expected, "the parts _SUCCESS lists, in order");

    // Without `--raw`, the header every CSV part opens with is printed once.
    let cat = run_flicker(&["cat", out.to_str().unwrap()]);
    assert!(cat.status.success());
    let parts = read_committed(&out);
    assert_eq!(parts.len(), 4);
    let header = "station,max\n";
    let rows: String = parts
        .iter()
        .map(|(name, text)| {
            text.strip_prefix(header).unwrap_or_else(|| panic!("{name} opens with the header"))
        })
        .collect();
    assert_eq!(stdout(&cat), format!("{header}{rows}"));

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

/// Objects someone else put into an output location: flicker must never delete them.
const FOREIGN: [(&str, &str); 3] =
    [("notes.txt", "keep me\n"), ("part-00000.csv", "theirs\n"), ("part-00003-older-tool.csv", "older\n")];

/// The visible objects directly in `dest` (not `_SUCCESS`, not `_temporary/`), with their text.
fn visible_objects(io: &tokio::runtime::Runtime, dest: &Location) -> BTreeMap<String, String> {
    let objects = io.block_on(flicker_storage::list_all(dest)).unwrap();
    let mut found = BTreeMap::new();
    for object in objects {
        let relative: Vec<_> = object.path.prefix_match(dest.path()).unwrap().collect();
        let [name] = relative.as_slice() else { continue };
        if name.as_ref().starts_with('_') {
            continue;
        }
        let loc = dest.at(object.path.clone());
        let bytes = io.block_on(async { loc.store().get(loc.path()).await.unwrap().bytes().await.unwrap() });
        found.insert(name.as_ref().to_owned(), String::from_utf8(bytes.to_vec()).unwrap());
    }
    found
}

/// Runs the reference job into `sink_url` (the location `dest` stands for) holding [`FOREIGN`]
/// objects, in every mode and twice in `"overwrite"`: the foreign objects survive each run.
fn foreign_objects_survive_every_mode(dest: &Location, sink_url: &str, env: &[(String, String)]) {
    let io = tokio::runtime::Runtime::new().unwrap();
    for (name, text) in FOREIGN {
        let object = dest.child(name);
        io.block_on(object.store().put(object.path(), text.as_bytes().to_vec().into())).unwrap();
    }
    let foreign: BTreeMap<String, String> =
        FOREIGN.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
    let dir = tempfile::tempdir().unwrap();
    crate::run::write_readings(&dir.path().join("data"), &crate::run::generate_readings(5_000, 4), false);
    let refusing = crate::run::readings_job("std:max", "", sink_url);
    let overwriting = refusing
        .replace(&format!("url = \"{sink_url}\""), &format!("url = \"{sink_url}\"\nmode = \"overwrite\""));
    let run = |manifest: &str| {
        let path = write_manifest(dir.path(), manifest);
        (
            path.clone(),
            crate::support::flicker()
                .arg("run")
                .arg(&path)
                .args(["--workers", "2"])
                .envs(env.iter().cloned())
                .output()
                .unwrap(),
        )
    };

    let (manifest, refused) = run(&refusing);
    let error = assert_failed(&refused);
    assert_mentions(
        &error,
        &[
            format!("{}:{}: sink \"out\"", manifest.display(), header_line(&refusing, "out")),
            "holds 3 object(s) that no committed output lists (notes.txt, part-00000.csv, part-00003-older-tool.csv)".to_owned(),
            "flicker never deletes what it did not write".to_owned(),
            "mode = \"overwrite\"".to_owned(),
        ],
    );
    assert_eq!(visible_objects(&io, dest), foreign, "a refused job changed the location");

    let mut previous: Vec<String> = Vec::new();
    for round in 0..2 {
        assert_succeeded(&run(&overwriting).1);
        let committed = io.block_on(flicker_storage::read_committed(dest)).unwrap();
        assert_eq!(committed.len(), 4, "round {round}: four partitions");
        let mut expected = foreign.clone();
        for part in &committed {
            let text = io.block_on(flicker_storage::read_part(dest, part)).unwrap();
            expected.insert(part.name.clone(), String::from_utf8(text.to_vec()).unwrap());
            assert!(!previous.contains(&part.name), "round {round}: a run's parts have names of their own");
        }
        assert_eq!(
            visible_objects(&io, dest),
            expected,
            "round {round}: foreign objects beside the output, and the previous output gone"
        );
        previous = committed.into_iter().map(|part| part.name).collect();
    }

    let error = assert_failed(&run(&refusing).1);
    assert!(error.contains("already holds a committed output"), "{error}");
    assert!(foreign.iter().all(|(name, text)| visible_objects(&io, dest).get(name) == Some(text)));
}

#[test]
fn foreign_objects_in_a_local_output_survive_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let dest = Location::parse(out.to_str().unwrap(), Path::new("/")).unwrap();
    foreign_objects_survive_every_mode(&dest, &format!("{}/", out.display()), &[]);
}

#[test]
fn foreign_objects_in_an_s3_output_survive_every_mode() {
    let moto = crate::moto::Moto::start();
    moto.create_bucket("foreign");
    let env = moto.env("foreign-secret");
    let mut options = StoreOptions::default();
    for (key, value) in &env {
        options.set(Service::S3, &key.to_ascii_lowercase(), value.clone()).unwrap();
    }
    let dest = Location::parse_with("s3://foreign/out", Path::new("/"), &options).unwrap();
    foreign_objects_survive_every_mode(&dest, "s3://foreign/out/", &env);
}
