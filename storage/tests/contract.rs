//! The storage contract: what flicker's sources and sinks promise, checked the same way on every
//! backend: local files, the in-memory store, and S3 (on a real `moto_server`). Google Cloud
//! Storage goes through the same `ObjectStore` trait and differs only in the client object_store
//! ships, so passing here on three stores is what a GCS bucket gets too.

#[path = "../../tests/all/moto.rs"]
#[allow(dead_code)] // what only the end-to-end tests use
mod moto;

use flicker_storage::{
    CommitMode, Compression, InputObject, Location, OutputCommitter, Service, SplitReader, StorageError,
    StoreOptions, check_destination, is_committed, list_inputs, plan_splits, read_committed, read_part,
};
use object_store::ObjectStoreExt;
use object_store::path::Path;

/// Every check of the contract, each under its own prefix of `root`.
async fn keeps_the_contract(root: &Location, options: &StoreOptions) {
    split_reads_at_every_boundary(&root.child("splits")).await;
    listing_and_globs(&root.child("listing"), options).await;
    empty_objects(&root.child("empty")).await;
    compressed_inputs(&root.child("compressed")).await;
    commit_visibility(&root.child("commit")).await;
    overwrite_refusal(&root.child("overwrite")).await;
    foreign_objects_survive(&root.child("foreign")).await;
    multipart_output(&root.child("multipart")).await;
}

#[tokio::test]
async fn local_files_keep_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let root = Location::parse(dir.path().to_str().unwrap(), std::path::Path::new("/")).unwrap();
    keeps_the_contract(&root, &StoreOptions::default()).await;
}

#[tokio::test]
async fn the_memory_store_keeps_the_contract() {
    let root = Location::parse("memory://contract/root", std::path::Path::new("/")).unwrap();
    keeps_the_contract(&root, &StoreOptions::default()).await;
}

#[tokio::test]
async fn s3_on_moto_keeps_the_contract() {
    let moto = moto::Moto::start();
    moto.create_bucket("contract");
    let mut options = StoreOptions::default();
    for (key, value) in moto.env("contract-secret") {
        options.set(Service::S3, &key.to_ascii_lowercase(), value).unwrap();
    }
    let root = Location::parse_with("s3://contract/root", std::path::Path::new("/"), &options).unwrap();
    keeps_the_contract(&root, &options).await;
}

/// The object `relative` (slashes allowed) below `root`.
fn object(root: &Location, relative: &str) -> Location {
    root.at(Path::from(format!("{}/{relative}", root.path())))
}

async fn put(loc: &Location, bytes: &[u8]) {
    loc.store().put(loc.path(), bytes.to_vec().into()).await.unwrap();
}

/// Every split size cuts the object somewhere new: reading all splits gives every line once,
/// each from the split it starts in, in whole lines.
async fn split_reads_at_every_boundary(root: &Location) {
    let text: &[u8] = b"ab\n\ncde\r\nf\n\n\nghij\nk";
    let loc = object(root, "lines.txt");
    put(&loc, text).await;
    let objects = list_inputs(&loc).await.unwrap();
    assert_eq!(objects, [InputObject { path: loc.path().clone(), size: text.len() as u64 }]);
    for split_size in 1..=text.len() as u64 + 1 {
        let mut read = Vec::new();
        for split in plan_splits(&objects, split_size) {
            let mut reader = SplitReader::open(&loc, &split, 3).await.unwrap();
            while let Some(chunk) = reader.next_chunk().await.unwrap() {
                let context =
                    format!("{}: split size {split_size}, split {}..{}", loc.url(), split.start, split.end);
                assert_eq!(chunk.offset, read.len() as u64, "{context}: chunks follow each other");
                assert!(
                    (split.start..split.end).contains(&chunk.offset),
                    "{context}: a line it does not own"
                );
                let end = chunk.offset as usize + chunk.bytes.len();
                assert!(end == text.len() || chunk.bytes.ends_with(b"\n"), "{context}: a cut line");
                read.extend_from_slice(&chunk.bytes);
            }
        }
        assert_eq!(read, text, "{}: split size {split_size}", loc.url());
    }
}

/// Prefixes list visible objects recursively; globs match names; hidden files stay out; a
/// source that matches nothing names its URL.
async fn listing_and_globs(root: &Location, options: &StoreOptions) {
    for name in ["in/a.csv", "in/b.csv", "in/2026-01/part-0.csv", "in/2026-02/part-0.csv", "in/2026-02/x.txt"]
    {
        put(&object(root, name), name.as_bytes()).await;
    }
    for hidden in ["in/_SUCCESS", "in/.a.csv.crc", "in/_temporary/0/part-0.csv"] {
        put(&object(root, hidden), b"hidden").await;
    }
    let listed = |pattern: &str| {
        let url = format!("{}/{pattern}", root.url());
        async move {
            let loc = Location::parse_with(&url, std::path::Path::new("/"), options).unwrap();
            let below = format!("{}/", root.path());
            list_inputs(&loc).await.map(|objects| {
                objects
                    .iter()
                    .map(|o| o.path.as_ref().strip_prefix(&below).unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
        }
    };
    assert_eq!(
        listed("in").await.unwrap(),
        ["in/2026-01/part-0.csv", "in/2026-02/part-0.csv", "in/2026-02/x.txt", "in/a.csv", "in/b.csv"]
    );
    assert_eq!(listed("in/*.csv").await.unwrap(), ["in/a.csv", "in/b.csv"]);
    assert_eq!(
        listed("in/2026-*/part-*.csv").await.unwrap(),
        ["in/2026-01/part-0.csv", "in/2026-02/part-0.csv"]
    );
    assert_eq!(listed("in/2026-0[2]/*").await.unwrap(), ["in/2026-02/part-0.csv", "in/2026-02/x.txt"]);
    assert_eq!(listed("in/b.csv").await.unwrap(), ["in/b.csv"]);
    for nothing in ["in/*.json", "missing/"] {
        match listed(nothing).await {
            Err(StorageError::NoInput { url }) => {
                assert!(url.ends_with(nothing.trim_end_matches('/')), "{url}")
            }
            other => panic!("{nothing}: {other:?}"),
        }
    }
}

/// Empty objects are listed but give no split; the others are read as usual.
async fn empty_objects(root: &Location) {
    put(&object(root, "a-empty.txt"), b"").await;
    put(&object(root, "b.txt"), b"x\ny\n").await;
    let objects = list_inputs(root).await.unwrap();
    assert_eq!(objects.iter().map(|o| o.size).collect::<Vec<_>>(), [0, 4]);
    let splits = plan_splits(&objects, 1 << 20);
    assert_eq!(splits.len(), 1);
    let mut reader = SplitReader::open(root, &splits[0], 1 << 20).await.unwrap();
    assert_eq!(&reader.next_chunk().await.unwrap().unwrap().bytes[..], b"x\ny\n");
    assert_eq!(reader.next_chunk().await.unwrap(), None);
}

/// `.gz` and `.zst` objects are one split each, read decompressed in whole lines, whatever the
/// split size; a plain object next to them is split as usual.
async fn compressed_inputs(root: &Location) {
    let text: Vec<u8> =
        (0..20_000).flat_map(|i| format!("Zürich-{i};{}.{}\r\n", i % 40, i % 10).into_bytes()).collect();
    put(&object(root, "a.csv.gz"), &Compression::Gzip.compress(&text)).await;
    let mut frames = Compression::Zstd.compress(&text[..1000]);
    frames.extend(Compression::Zstd.compress(&text[1000..]));
    put(&object(root, "b.csv.zst"), &frames).await;
    put(&object(root, "c.csv"), &text).await;
    let objects = list_inputs(root).await.unwrap();
    let splits = plan_splits(&objects, 64 << 10);
    let per_object = |name: &str| splits.iter().filter(|s| s.object.as_ref().ends_with(name)).count();
    assert_eq!((per_object("a.csv.gz"), per_object("b.csv.zst")), (1, 1));
    assert!(per_object("c.csv") > 1);
    let mut read: Vec<Vec<u8>> = vec![Vec::new(); 3];
    for split in &splits {
        let index = objects.iter().position(|o| o.path == split.object).unwrap();
        let mut reader = SplitReader::open(root, split, 4096).await.unwrap();
        while let Some(chunk) = reader.next_chunk().await.unwrap() {
            assert_eq!(
                chunk.offset,
                read[index].len() as u64,
                "{}: offsets count decompressed bytes",
                split.object
            );
            assert!(chunk.bytes.ends_with(b"\n"), "{}: whole lines", split.object);
            read[index].extend_from_slice(&chunk.bytes);
        }
    }
    for (object, bytes) in objects.iter().zip(&read) {
        assert!(bytes == &text, "{} read back differently", object.path);
    }
}

/// Parts stay invisible until the commit; the commit publishes them all with `_SUCCESS`; an
/// abort leaves nothing.
async fn commit_visibility(root: &Location) {
    let dest = root.child("out");
    let committer = OutputCommitter::new(dest.clone(), "run-1");
    let parts = vec![
        committer.write_part(0, 0, "csv", "a\n".into()).await.unwrap(),
        committer.write_part(1, 1, "csv", "b\n".into()).await.unwrap(),
    ];
    assert!(matches!(list_inputs(&dest).await, Err(StorageError::NoInput { .. })), "parts visible early");
    assert!(matches!(read_committed(&dest).await, Err(StorageError::NotCommitted { .. })));
    committer.commit(&parts, CommitMode::Refuse).await.unwrap();
    let committed = read_committed(&dest).await.unwrap();
    assert_eq!(
        committed.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["part-00000-run-1.csv", "part-00001-run-1.csv"]
    );
    assert_eq!(&read_part(&dest, &committed[1]).await.unwrap()[..], b"b\n");
    assert_eq!(list_inputs(&dest).await.unwrap().len(), 2, "only the parts are input to a later job");

    let aborted = root.child("aborted");
    let committer = OutputCommitter::new(aborted.clone(), "run-2");
    committer.write_part(0, 0, "csv", "a\n".into()).await.unwrap();
    committer.abort().await.unwrap();
    let left: Vec<_> =
        futures::TryStreamExt::try_collect::<Vec<_>>(aborted.store().list(Some(aborted.path())))
            .await
            .unwrap();
    assert!(left.is_empty(), "{left:?}");
}

/// A committed output is kept unless the commit replaces it.
async fn overwrite_refusal(root: &Location) {
    let dest = root.child("out");
    let first = OutputCommitter::new(dest.clone(), "run-1");
    let kept = [first.write_part(0, 0, "csv", "old\n".into()).await.unwrap()];
    first.commit(&kept, CommitMode::Refuse).await.unwrap();
    assert!(is_committed(&dest).await.unwrap());

    let refused = OutputCommitter::new(dest.clone(), "run-2");
    let parts = [refused.write_part(0, 0, "csv", "new\n".into()).await.unwrap()];
    let error = refused.commit(&parts, CommitMode::Refuse).await.unwrap_err();
    assert!(matches!(error, StorageError::AlreadyCommitted { .. }), "{error:?}");
    assert_eq!(read_committed(&dest).await.unwrap(), [kept[0].part.clone()]);
    refused.abort().await.unwrap();

    let replacing = OutputCommitter::new(dest.clone(), "run-3");
    let parts = [replacing.write_part(0, 0, "csv", "newer\n".into()).await.unwrap()];
    replacing.commit(&parts, CommitMode::Replace).await.unwrap();
    let committed = read_committed(&dest).await.unwrap();
    assert_eq!(committed, [parts[0].part.clone()]);
    assert_eq!(&read_part(&dest, &committed[0]).await.unwrap()[..], b"newer\n");
    let listed = list_inputs(&dest).await.unwrap();
    assert_eq!(listed.len(), 1, "the replaced output's part is gone: {listed:?}");
}

/// Objects flicker did not write survive every mode: `Refuse` refuses a location holding them
/// (before writing and at commit), `Replace` writes beside them, and a later `Replace` removes
/// only what the previous `_SUCCESS` listed.
async fn foreign_objects_survive(root: &Location) {
    let dest = root.child("out");
    for (name, bytes) in FOREIGN {
        put(&object(&dest, name), bytes).await;
    }
    let survived = || assert_foreign_objects_unchanged(&dest);

    match check_destination(&dest, CommitMode::Refuse).await {
        Err(StorageError::ForeignObjects { names, count: 4, .. }) => {
            assert_eq!(names, "nested/, notes.txt, part-00000.csv, part-00001-older-tool.csv")
        }
        other => panic!("{other:?}"),
    }
    check_destination(&dest, CommitMode::Replace).await.unwrap();

    let refused = OutputCommitter::new(dest.clone(), "run-1");
    let parts = [refused.write_part(0, 0, "csv", "ours\n".into()).await.unwrap()];
    let error = refused.commit(&parts, CommitMode::Refuse).await.unwrap_err();
    assert!(matches!(error, StorageError::ForeignObjects { count: 4, .. }), "{error:?}");
    assert!(error.to_string().contains("flicker never deletes what it did not write"), "{error}");
    assert!(!is_committed(&dest).await.unwrap());
    refused.abort().await.unwrap();
    survived().await;

    let beside = OutputCommitter::new(dest.clone(), "run-2");
    let parts = [
        beside.write_part(0, 0, "csv", "new 0\n".into()).await.unwrap(),
        beside.write_part(1, 0, "csv", "new 1\n".into()).await.unwrap(),
    ];
    beside.commit(&parts, CommitMode::Replace).await.unwrap();
    survived().await;
    let committed = read_committed(&dest).await.unwrap();
    assert_eq!(committed, parts.iter().map(|p| p.part.clone()).collect::<Vec<_>>());

    // A committed output with foreign objects beside it: `Refuse` names the output.
    let again = OutputCommitter::new(dest.clone(), "run-3");
    let error = check_destination(&dest, CommitMode::Refuse).await.unwrap_err();
    assert!(matches!(error, StorageError::AlreadyCommitted { .. }), "{error:?}");
    let parts = [again.write_part(0, 0, "csv", "newer\n".into()).await.unwrap()];
    let error = again.commit(&parts, CommitMode::Refuse).await.unwrap_err();
    assert!(matches!(error, StorageError::AlreadyCommitted { .. }), "{error:?}");
    survived().await;

    // `Replace` removes run-2's parts, which `_SUCCESS` listed, and nothing else.
    again.commit(&parts, CommitMode::Replace).await.unwrap();
    survived().await;
    assert_eq!(read_committed(&dest).await.unwrap(), [parts[0].part.clone()]);
    for gone in &committed {
        let loc = dest.child(&gone.name);
        assert!(loc.store().head(loc.path()).await.is_err(), "{} was replaced", gone.name);
    }
}

/// Objects put into an output location by someone else.
const FOREIGN: [(&str, &[u8]); 4] = [
    ("part-00000.csv", b"theirs\n"),
    ("part-00001-older-tool.csv", b"older\n"),
    ("notes.txt", b"keep me\n"),
    ("nested/part-00000.csv", b"deep\n"),
];

/// Every object of [`FOREIGN`] is still in `dest`, unchanged.
async fn assert_foreign_objects_unchanged(dest: &Location) {
    for (name, bytes) in FOREIGN {
        let loc = object(dest, name);
        let got = loc.store().get(loc.path()).await.unwrap_or_else(|e| panic!("{name} is gone: {e}"));
        assert_eq!(&got.bytes().await.unwrap()[..], bytes, "{name} changed");
    }
}

/// A part larger than one upload piece goes up as a multipart upload and reads back whole.
async fn multipart_output(root: &Location) {
    let dest = root.child("out");
    let committer = OutputCommitter::new(dest.clone(), "run-1");
    let mut writer = committer.part_writer(0, 0, "csv").await.unwrap();
    let mut expected = Vec::new();
    for i in 0..900_000u32 {
        let line = format!("station-{i:07};{}.{}\n", i % 100, i % 10);
        expected.extend_from_slice(line.as_bytes());
        writer.write(line.into()).await.unwrap();
    }
    assert!(expected.len() > 16 << 20, "three pieces at least");
    assert!(writer.is_multipart());
    let part = writer.finish().await.unwrap();
    assert_eq!(part.part.size, expected.len() as u64);
    committer.commit(&[part], CommitMode::Refuse).await.unwrap();
    let committed = read_committed(&dest).await.unwrap();
    assert_eq!(read_part(&dest, &committed[0]).await.unwrap(), expected);
}
