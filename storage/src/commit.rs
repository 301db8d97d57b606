//! Writing output so that readers see all of it or none of it.
//!
//! Each task attempt writes its part to `<dest>/_temporary/<run id>/attempt-<n>/`, which listing
//! skips, so two attempts of one task never write the same object. Part names carry the run id
//! (`part-00003-<run id>.csv`), so a run's parts never overwrite another run's. Committing takes
//! exactly the attempt the caller names for each part, moves the parts into `<dest>`, then
//! replaces `<dest>/_SUCCESS` (a single atomic put) with one listing them, and only then deletes
//! the previous run's parts. An output is complete exactly when its `_SUCCESS` exists, and
//! `_SUCCESS` says which parts (and sizes) make it up: a reader that reads `_SUCCESS` and then the
//! parts it lists sees the old output or the new one, never a mix.
//!
//! **Nothing flicker did not write is ever deleted.** A commit removes only the parts the
//! previous `_SUCCESS` listed and its own run's temporary area. A destination that holds data
//! no `_SUCCESS` lists (files a user put there, or parts of another tool) is *foreign*:
//! [`CommitMode::Refuse`] refuses it ([`StorageError::ForeignObjects`], checked before the run
//! writes anything by [`check_destination`] and again at commit), and [`CommitMode::Replace`]
//! writes the new output beside it and leaves it as it is.
//!
//! ```text
//! write_part ×N                    commit                                      abort
//! _temporary/<run>/attempt-<n>/…  →  move the parts to <dest>/, replace          delete _temporary/<run>/…
//!                                  _SUCCESS, delete the old parts and
//!                                  _temporary/<run>/
//! ```

use std::collections::HashSet;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt, PutMode};

use crate::{Location, ObjectWriter, StorageError, success};

/// Where uncommitted parts are written, below the destination.
const TEMPORARY: &str = "_temporary";
/// The marker of a committed output.
const SUCCESS: &str = "_SUCCESS";
/// The name prefix of part files.
const PART_PREFIX: &str = "part-";
/// The record, in a run's temporary area, of the `_SUCCESS` listing its commit replaces.
const REPLACED: &str = "_REPLACED";
/// How many foreign objects [`StorageError::ForeignObjects`] names.
const NAMED_FOREIGN: usize = 5;

/// One written part of an output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartFile {
    /// The file name, `part-NNNNN.<ext>`.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A part written by one task attempt, not committed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedPart {
    /// The part.
    pub part: PartFile,
    /// The attempt that wrote it.
    pub attempt: u32,
}

/// What [`OutputCommitter::commit`] does when the destination holds another committed output,
/// or data no committed output lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitMode {
    /// Fail, leaving the destination as it is (Spark's `errorifexists`): refused when it holds a
    /// committed output or any foreign data.
    Refuse,
    /// Replace the committed output (Spark's `overwrite`, but foreign objects stay beside it).
    Replace,
}

/// Streams one part of an output to its attempt's temporary area through an [`ObjectWriter`]
/// (one put under 8 MiB, else a multipart upload), so memory stays bounded whatever the part's
/// size. Dropping it unfinished aborts the upload.
#[derive(Debug)]
pub struct PartWriter {
    object: ObjectWriter,
    name: String,
    attempt: u32,
}

impl PartWriter {
    /// Appends `bytes` to the part.
    pub async fn write(&mut self, bytes: Bytes) -> Result<(), StorageError> {
        self.object.write(bytes).await
    }

    /// Whether the part is going up as a multipart upload (it grew past one piece).
    pub fn is_multipart(&self) -> bool {
        self.object.is_multipart()
    }

    /// Completes the part, ready for [`OutputCommitter::commit`].
    pub async fn finish(self) -> Result<StagedPart, StorageError> {
        let size = self.object.finish().await?;
        Ok(StagedPart { part: PartFile { name: self.name, size }, attempt: self.attempt })
    }
}

/// Writes the parts of one run's output and commits or aborts them.
#[derive(Debug, Clone)]
pub struct OutputCommitter {
    dest: Location,
    run_id: String,
}

impl OutputCommitter {
    /// A committer for the output directory `dest`, keeping its parts apart from other runs'
    /// under `run_id`.
    pub fn new(dest: Location, run_id: impl Into<String>) -> Self {
        OutputCommitter { dest, run_id: run_id.into() }
    }

    /// Writes part `index` of attempt `attempt` in one piece: [`part_writer`], one write,
    /// [`PartWriter::finish`].
    ///
    /// [`part_writer`]: OutputCommitter::part_writer
    pub async fn write_part(
        &self,
        index: u32,
        attempt: u32,
        extension: &str,
        bytes: Bytes,
    ) -> Result<StagedPart, StorageError> {
        let mut writer = self.part_writer(index, attempt, extension).await?;
        writer.write(bytes).await?;
        writer.finish().await
    }

    /// Starts part `index` of attempt `attempt`, to be streamed to
    /// `<dest>/_temporary/<run id>/attempt-<attempt>/part-NNNNN-<run id>.<extension>` (five
    /// digits, no `.` when `extension` is empty). Nothing is visible in `dest` until [`commit`].
    ///
    /// [`commit`]: OutputCommitter::commit
    pub async fn part_writer(
        &self,
        index: u32,
        attempt: u32,
        extension: &str,
    ) -> Result<PartWriter, StorageError> {
        let name =
            part_name(index, &self.run_id, extension).ok_or_else(|| StorageError::InvalidPartExtension {
                url: self.dest.url().to_owned(),
                extension: extension.to_owned(),
            })?;
        let object = ObjectWriter::new(self.staged(attempt, &name));
        Ok(PartWriter { object, name, attempt })
    }

    /// Publishes `parts` (as [`PartWriter::finish`] returned them) as the output of `dest`:
    /// checks every part is there with its size, moves the parts in, writes `_SUCCESS` listing
    /// them (one atomic put), deletes the parts the previous `_SUCCESS` listed (and nothing
    /// else in `dest`), and removes this run's temporary directory (with any part not listed).
    ///
    /// With [`CommitMode::Refuse`], a `dest` that holds another committed output, or foreign
    /// data (see [`check_destination`]), is left as it is and the commit fails with
    /// [`StorageError::AlreadyCommitted`] or [`StorageError::ForeignObjects`]; `_SUCCESS` is
    /// then created only if absent, so of two runs committing at once only one wins. Committing
    /// again after an interrupted commit of the same run is fine in both modes. If the check
    /// fails, `dest` is untouched.
    pub async fn commit(&self, parts: &[StagedPart], mode: CommitMode) -> Result<(), StorageError> {
        let waiting = self.check_parts(parts).await?;
        let committed: Vec<PartFile> = parts.iter().map(|staged| staged.part.clone()).collect();
        let previous = committed_parts(&self.dest).await?;
        // An interrupted commit of this run may have written `_SUCCESS` already.
        let done = previous.as_ref() == Some(&committed);
        if mode == CommitMode::Refuse && previous.is_some() && !done {
            return Err(StorageError::AlreadyCommitted { url: self.dest.url().to_owned() });
        }
        let new_names: HashSet<&str> = parts.iter().map(|staged| staged.part.name.as_str()).collect();
        if mode == CommitMode::Refuse && previous.is_none() {
            // Parts an interrupted commit of this run moved in already are ours, not foreign.
            refuse_foreign(&self.dest, &new_names).await?;
        }
        if !done {
            self.publish(parts, &waiting, &committed, mode).await?;
        }
        // Only what the replaced `_SUCCESS` listed goes, and only names a commit writes.
        let replaced = read_listing(&self.replaced()).await?.unwrap_or_default();
        let old_parts = replaced
            .iter()
            .filter(|part| part.name.starts_with(PART_PREFIX) && !new_names.contains(part.name.as_str()))
            .map(|part| self.dest.child(&part.name).path().clone())
            .collect();
        delete_all(&self.dest, old_parts).await?;
        self.abort().await
    }

    /// Moves the `waiting` ones of `parts` into `dest` and writes `_SUCCESS` listing
    /// `committed`, created only if absent with [`CommitMode::Refuse`]. With
    /// [`CommitMode::Replace`], the listing it replaces is first recorded in this run's temporary
    /// area, so that a commit interrupted after the swap still knows which parts to delete.
    async fn publish(
        &self,
        parts: &[StagedPart],
        waiting: &[bool],
        committed: &[PartFile],
        mode: CommitMode,
    ) -> Result<(), StorageError> {
        if mode == CommitMode::Replace
            && let Some(replaced) = committed_parts(&self.dest).await?
        {
            let record = self.replaced();
            let listing = success::render(&replaced);
            record
                .store()
                .put(record.path(), listing.into())
                .await
                .map_err(|source| record.store_error(source))?;
        }
        for (staged, _) in parts.iter().zip(waiting).filter(|(_, waiting)| **waiting) {
            let (from, to) =
                (self.staged(staged.attempt, &staged.part.name), self.dest.child(&staged.part.name));
            from.store().rename(from.path(), to.path()).await.map_err(|source| from.store_error(source))?;
        }
        let success = self.dest.child(SUCCESS);
        let put_mode = match mode {
            CommitMode::Refuse => PutMode::Create,
            CommitMode::Replace => PutMode::Overwrite,
        };
        let marker = success::render(committed);
        match success.store().put_opts(success.path(), marker.into(), put_mode.into()).await {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. }) => {
                // Another run committed since the check: leave its output whole.
                let moved = parts.iter().map(|staged| self.dest.child(&staged.part.name).path().clone());
                delete_all(&self.dest, moved.collect()).await?;
                return Err(StorageError::AlreadyCommitted { url: self.dest.url().to_owned() });
            }
            Err(source) => return Err(success.store_error(source)),
        }
        tracing::debug!(dest = self.dest.url(), parts = committed.len(), "output committed");
        Ok(())
    }

    /// Deletes everything this run wrote under `<dest>/_temporary/<run id>/`, leaving `dest` as
    /// it was. On a local file system the emptied directories go too.
    pub async fn abort(&self) -> Result<(), StorageError> {
        let temporary = self.temporary();
        let leftovers: Vec<ObjectMeta> = temporary
            .store()
            .list(Some(temporary.path()))
            .try_collect()
            .await
            .map_err(|source| temporary.store_error(source))?;
        delete_all(&temporary, leftovers.into_iter().map(|meta| meta.location).collect()).await?;
        if let Some(dir) = temporary.local_path()
            && let Ok(mut attempts) = tokio::fs::read_dir(&dir).await
        {
            while let Ok(Some(attempt)) = attempts.next_entry().await {
                remove_empty_local_dir(&temporary.child(&attempt.file_name().to_string_lossy())).await;
            }
        }
        remove_empty_local_dir(&temporary).await;
        remove_empty_local_dir(&self.dest.child(TEMPORARY)).await;
        Ok(())
    }

    /// This run's temporary directory.
    fn temporary(&self) -> Location {
        self.dest.child(TEMPORARY).child(&self.run_id)
    }

    /// Where [`publish`](Self::publish) records the listing of the output it replaces.
    fn replaced(&self) -> Location {
        self.temporary().child(REPLACED)
    }

    /// Where attempt `attempt` writes part `name`.
    fn staged(&self, attempt: u32, name: &str) -> Location {
        self.temporary().child(&format!("attempt-{attempt}")).child(name)
    }

    /// Checks that `parts` are distinct and written with the sizes they claim; returns, for each,
    /// whether it still waits in its attempt's area (`false`: an interrupted commit of this run
    /// moved it into place already, which makes committing again safe).
    async fn check_parts(&self, parts: &[StagedPart]) -> Result<Vec<bool>, StorageError> {
        let mut names = HashSet::new();
        let mut staged = Vec::with_capacity(parts.len());
        for StagedPart { part, attempt } in parts {
            if !names.insert(&part.name) {
                let (url, name) = (self.dest.url().to_owned(), part.name.clone());
                return Err(StorageError::DuplicatePart { url, name });
            }
            let written = self.staged(*attempt, &part.name);
            let (meta, waiting) = match written.store().head(written.path()).await {
                Ok(meta) => (meta, true),
                Err(object_store::Error::NotFound { .. }) => {
                    let moved = self.dest.child(&part.name);
                    match moved.store().head(moved.path()).await {
                        Ok(meta) => (meta, false),
                        Err(object_store::Error::NotFound { .. }) => {
                            return Err(StorageError::MissingPart { url: written.url().to_owned() });
                        }
                        Err(source) => return Err(moved.store_error(source)),
                    }
                }
                Err(source) => return Err(written.store_error(source)),
            };
            if meta.size != part.size {
                let url = written.url().to_owned();
                return Err(StorageError::ObjectChanged { url, expected: part.size, actual: meta.size });
            }
            staged.push(waiting);
        }
        Ok(staged)
    }
}

/// The bytes of `part` of the committed output in `dest`, checked against the size `_SUCCESS`
/// gives it.
pub async fn read_part(dest: &Location, part: &PartFile) -> Result<Bytes, StorageError> {
    let object = dest.child(&part.name);
    let bytes = match object.store().get(object.path()).await {
        Ok(result) => result.bytes().await.map_err(|source| object.store_error(source))?,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(StorageError::MissingPart { url: object.url().to_owned() });
        }
        Err(source) => return Err(object.store_error(source)),
    };
    if bytes.len() as u64 != part.size {
        let url = object.url().to_owned();
        return Err(StorageError::ObjectChanged { url, expected: part.size, actual: bytes.len() as u64 });
    }
    Ok(bytes)
}

/// The parts of the committed output in `dest`, as its `_SUCCESS` lists them.
pub async fn read_committed(dest: &Location) -> Result<Vec<PartFile>, StorageError> {
    committed_parts(dest).await?.ok_or_else(|| StorageError::NotCommitted { url: dest.url().to_owned() })
}

/// Checks, before a run writes anything, that `dest` may take its output in `mode`: with
/// [`CommitMode::Refuse`] it must hold neither a committed output
/// ([`StorageError::AlreadyCommitted`]) nor data no committed output lists
/// ([`StorageError::ForeignObjects`]: objects or folders whose names do not start with `_` or
/// `.`). [`CommitMode::Replace`] takes any destination: it replaces only what a `_SUCCESS`
/// lists.
pub async fn check_destination(dest: &Location, mode: CommitMode) -> Result<(), StorageError> {
    if mode == CommitMode::Replace {
        return Ok(());
    }
    if is_committed(dest).await? {
        return Err(StorageError::AlreadyCommitted { url: dest.url().to_owned() });
    }
    refuse_foreign(dest, &HashSet::new()).await
}

/// Fails with [`StorageError::ForeignObjects`] if `dest` holds visible objects or folders other
/// than `ours`.
async fn refuse_foreign(dest: &Location, ours: &HashSet<&str>) -> Result<(), StorageError> {
    let listing = dest
        .store()
        .list_with_delimiter(Some(dest.path()))
        .await
        .map_err(|source| dest.store_error(source))?;
    let folders = listing.common_prefixes.iter().filter_map(|path| path.filename().map(|n| format!("{n}/")));
    let objects = listing.objects.iter().filter_map(|meta| meta.location.filename().map(str::to_owned));
    let mut foreign: Vec<String> = objects
        .chain(folders)
        .filter(|name| !name.starts_with(['_', '.']) && !ours.contains(name.as_str()))
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    foreign.sort();
    let count = foreign.len();
    foreign.truncate(NAMED_FOREIGN);
    Err(StorageError::ForeignObjects { url: dest.url().to_owned(), names: foreign.join(", "), count })
}

/// Whether `dest` holds a committed output (a `_SUCCESS`).
pub async fn is_committed(dest: &Location) -> Result<bool, StorageError> {
    let success = dest.child(SUCCESS);
    match success.store().head(success.path()).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(source) => Err(success.store_error(source)),
    }
}

/// The parts `dest`'s `_SUCCESS` lists, or `None` without one.
async fn committed_parts(dest: &Location) -> Result<Option<Vec<PartFile>>, StorageError> {
    read_listing(&dest.child(SUCCESS)).await
}

/// The parts a listing object (a `_SUCCESS`, or a commit's record of one) names, or `None`
/// without one.
async fn read_listing(object: &Location) -> Result<Option<Vec<PartFile>>, StorageError> {
    let text = match object.store().get(object.path()).await {
        Ok(result) => result.bytes().await.map_err(|source| object.store_error(source))?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(source) => return Err(object.store_error(source)),
    };
    success::parse(&text)
        .map(Some)
        .map_err(|line| StorageError::CorruptSuccessFile { url: object.url().to_owned(), line })
}

/// `part-NNNNN.<extension>`, if `extension` makes a plain file name.
fn part_name(index: u32, run_id: &str, extension: &str) -> Option<String> {
    let plain = |text: &str| text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !plain(extension) || !plain(run_id) {
        return None;
    }
    Some(match extension {
        "" => format!("{PART_PREFIX}{index:05}-{run_id}"),
        _ => format!("{PART_PREFIX}{index:05}-{run_id}.{extension}"),
    })
}

/// Deletes `paths` from `loc`'s store; paths already gone are fine.
async fn delete_all(loc: &Location, paths: Vec<Path>) -> Result<(), StorageError> {
    let paths = futures::stream::iter(paths.into_iter().map(Ok)).boxed();
    loc.store()
        .delete_stream(paths)
        .map(|deleted| match deleted {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(loc.store_error(source)),
        })
        .try_collect()
        .await
}

/// Removes the directory `loc` stands for if it is local and empty: object stores have no
/// directories, but a file system keeps them after their files are moved or deleted.
async fn remove_empty_local_dir(loc: &Location) {
    let Some(dir) = loc.local_path() else { return };
    if let Err(error) = tokio::fs::remove_dir(&dir).await {
        use std::io::ErrorKind::{DirectoryNotEmpty, NotFound};
        if !matches!(error.kind(), NotFound | DirectoryNotEmpty) {
            tracing::warn!(dir = loc.url(), %error, "could not remove an empty temporary directory");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list_inputs;

    fn bytes(text: &str) -> Bytes {
        Bytes::copy_from_slice(text.as_bytes())
    }

    /// Every object under `loc`, as paths relative to it.
    async fn objects(loc: &Location) -> Vec<String> {
        let mut found: Vec<String> = loc
            .store()
            .list(Some(loc.path()))
            .map_ok(|meta| {
                meta.location
                    .prefix_match(loc.path())
                    .unwrap()
                    .map(|p| p.as_ref().to_owned())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .try_collect()
            .await
            .unwrap();
        found.sort();
        found
    }

    async fn read(loc: &Location, name: &str) -> String {
        let object = loc.child(name);
        let bytes = object.store().get(object.path()).await.unwrap().bytes().await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn memory(name: &str) -> Location {
        Location::parse(&format!("memory://{name}/out"), std::path::Path::new("/")).unwrap()
    }

    #[test]
    fn part_names_are_zero_padded() {
        assert_eq!(part_name(7, "run-1", "csv").unwrap(), "part-00007-run-1.csv");
        assert_eq!(part_name(123_456, "r", "json.gz").unwrap(), "part-123456-r.json.gz");
        assert_eq!(part_name(0, "r", "").unwrap(), "part-00000-r");
        assert_eq!(part_name(0, "r", "a/b"), None);
        assert_eq!(part_name(0, "r", "x y"), None);
        assert_eq!(part_name(0, "../r", "csv"), None);
    }

    #[tokio::test]
    async fn parts_stay_invisible_until_commit() {
        let dest = memory("commit-invisible");
        let committer = OutputCommitter::new(dest.clone(), "run-1");
        let parts = vec![
            committer.write_part(0, 0, "csv", bytes("a\n")).await.unwrap(),
            committer.write_part(1, 0, "csv", bytes("bb\n")).await.unwrap(),
        ];
        assert_eq!(
            parts[1],
            StagedPart { part: PartFile { name: "part-00001-run-1.csv".into(), size: 3 }, attempt: 0 }
        );
        assert!(matches!(list_inputs(&dest).await, Err(StorageError::NoInput { .. })));
        assert!(matches!(read_committed(&dest).await, Err(StorageError::NotCommitted { .. })));
        assert_eq!(
            objects(&dest).await,
            [
                "_temporary/run-1/attempt-0/part-00000-run-1.csv",
                "_temporary/run-1/attempt-0/part-00001-run-1.csv"
            ]
        );

        committer.commit(&parts, CommitMode::Replace).await.unwrap();
        assert_eq!(objects(&dest).await, ["_SUCCESS", "part-00000-run-1.csv", "part-00001-run-1.csv"]);
        assert_eq!(read(&dest, "_SUCCESS").await, "part-00000-run-1.csv\t2\npart-00001-run-1.csv\t3\n");
        assert_eq!(read(&dest, "part-00001-run-1.csv").await, "bb\n");
        assert_eq!(
            read_committed(&dest).await.unwrap(),
            parts.iter().map(|s| s.part.clone()).collect::<Vec<_>>()
        );
        let inputs = list_inputs(&dest).await.unwrap();
        assert_eq!(
            inputs.iter().map(|o| o.path.filename().unwrap()).collect::<Vec<_>>(),
            ["part-00000-run-1.csv", "part-00001-run-1.csv"]
        );
    }

    #[tokio::test]
    async fn a_commit_replaces_the_previous_output() {
        let dest = memory("commit-replace");
        let first = OutputCommitter::new(dest.clone(), "run-1");
        let mut parts = Vec::new();
        for index in 0..3 {
            parts.push(first.write_part(index, 0, "txt", bytes("old\n")).await.unwrap());
        }
        first.commit(&parts, CommitMode::Replace).await.unwrap();
        dest.store().put(dest.child("README").path(), "kept".into()).await.unwrap();

        let second = OutputCommitter::new(dest.clone(), "run-2");
        let part = second.write_part(0, 0, "txt", bytes("new\n")).await.unwrap();
        second.commit(std::slice::from_ref(&part), CommitMode::Replace).await.unwrap();
        assert_eq!(objects(&dest).await, ["README", "_SUCCESS", "part-00000-run-2.txt"]);
        assert_eq!(read(&dest, "part-00000-run-2.txt").await, "new\n");
        assert_eq!(read_committed(&dest).await.unwrap(), [part.part]);
    }

    #[tokio::test]
    async fn abort_leaves_nothing_behind() {
        let dest = memory("commit-abort");
        let committer = OutputCommitter::new(dest.clone(), "run-1");
        committer.write_part(0, 0, "csv", bytes("a\n")).await.unwrap();
        committer.abort().await.unwrap();
        assert!(objects(&dest).await.is_empty());
    }

    #[tokio::test]
    async fn a_failed_check_keeps_the_previous_output() {
        let dest = memory("commit-check");
        let first = OutputCommitter::new(dest.clone(), "run-1");
        let kept = first.write_part(0, 0, "csv", bytes("a\n")).await.unwrap();
        first.commit(std::slice::from_ref(&kept), CommitMode::Replace).await.unwrap();

        let second = OutputCommitter::new(dest.clone(), "run-2");
        let written = second.write_part(0, 0, "csv", bytes("b\n")).await.unwrap();
        let missing =
            StagedPart { part: PartFile { name: "part-00001-run-2.csv".into(), size: 1 }, attempt: 0 };
        match second.commit(&[written.clone(), missing], CommitMode::Replace).await {
            Err(StorageError::MissingPart { url }) => {
                assert_eq!(url, "memory://commit-check/out/_temporary/run-2/attempt-0/part-00001-run-2.csv")
            }
            other => panic!("{other:?}"),
        }
        let wrong_size = StagedPart { part: PartFile { size: 99, ..written.part.clone() }, attempt: 0 };
        assert!(matches!(
            second.commit(&[wrong_size], CommitMode::Replace).await,
            Err(StorageError::ObjectChanged { actual: 2, .. })
        ));
        assert!(matches!(
            second.commit(&[written.clone(), written], CommitMode::Replace).await,
            Err(StorageError::DuplicatePart { .. })
        ));
        assert_eq!(read_committed(&dest).await.unwrap(), [kept.part]);
        assert_eq!(read(&dest, "part-00000-run-1.csv").await, "a\n");
    }

    #[tokio::test]
    async fn a_corrupt_marker_is_reported() {
        let dest = memory("commit-corrupt");
        dest.store().put(dest.child("_SUCCESS").path(), "part-00000\t1\ngarbage\n".into()).await.unwrap();
        match read_committed(&dest).await {
            Err(StorageError::CorruptSuccessFile { url, line: 2 }) => {
                assert_eq!(url, "memory://commit-corrupt/out/_SUCCESS")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn bad_extensions_are_rejected() {
        let committer = OutputCommitter::new(memory("commit-extension"), "run-1");
        match committer.write_part(0, 0, "../x", bytes("")).await {
            Err(StorageError::InvalidPartExtension { url, extension }) => {
                assert_eq!((url.as_str(), extension.as_str()), ("memory://commit-extension/out", "../x"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn local_outputs_are_committed_and_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let dest = Location::parse("out/", dir.path()).unwrap();
        let old = OutputCommitter::new(dest.clone(), "run-1");
        let old_parts = vec![
            old.write_part(0, 0, "csv", bytes("1\n")).await.unwrap(),
            old.write_part(1, 0, "csv", bytes("2\n")).await.unwrap(),
        ];
        assert!(!dir.path().join("out/part-00000-run-1.csv").exists());
        old.commit(&old_parts, CommitMode::Replace).await.unwrap();

        let new = OutputCommitter::new(dest.clone(), "run-2");
        let parts = vec![new.write_part(0, 0, "csv", bytes("3\n")).await.unwrap()];
        new.commit(&parts, CommitMode::Replace).await.unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("out"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["_SUCCESS", "part-00000-run-2.csv"], "old parts and `_temporary` are gone");
        assert_eq!(
            read_committed(&dest).await.unwrap(),
            parts.iter().map(|s| s.part.clone()).collect::<Vec<_>>()
        );

        let aborted = OutputCommitter::new(dest.clone(), "run-3");
        aborted.write_part(5, 0, "csv", bytes("x\n")).await.unwrap();
        assert!(dir.path().join("out/_temporary/run-3/attempt-0/part-00005-run-3.csv").exists());
        aborted.abort().await.unwrap();
        assert!(!dir.path().join("out/_temporary").exists());
    }

    #[tokio::test]
    async fn a_reader_of_the_old_listing_never_meets_a_new_part() {
        let dest = memory("commit-readers");
        let first = OutputCommitter::new(dest.clone(), "run-1");
        let old = vec![first.write_part(0, 0, "csv", bytes("old\n")).await.unwrap()];
        first.commit(&old, CommitMode::Replace).await.unwrap();
        let listed = read_committed(&dest).await.unwrap();

        let second = OutputCommitter::new(dest.clone(), "run-2");
        let new = vec![second.write_part(0, 0, "csv", bytes("new!\n")).await.unwrap()];
        assert_ne!(new[0].part.name, listed[0].name, "a run's parts never take another run's names");
        second.commit(&new, CommitMode::Replace).await.unwrap();
        // The old part is gone (a slow reader gets an error), never replaced by new bytes.
        assert!(dest.store().get(dest.child(&listed[0].name).path()).await.is_err());
        assert_eq!(read_committed(&dest).await.unwrap(), [new[0].part.clone()]);
    }

    #[tokio::test]
    async fn an_interrupted_commit_can_be_made_again() {
        let dest = memory("commit-again");
        let committer = OutputCommitter::new(dest.clone(), "run-1");
        let parts = vec![
            committer.write_part(0, 0, "csv", bytes("a\n")).await.unwrap(),
            committer.write_part(1, 2, "csv", bytes("bb\n")).await.unwrap(),
        ];
        // A commit stopped after moving the first part, before `_SUCCESS`.
        let (from, to) = (committer.staged(0, &parts[0].part.name), dest.child(&parts[0].part.name));
        from.store().rename(from.path(), to.path()).await.unwrap();
        assert!(matches!(read_committed(&dest).await, Err(StorageError::NotCommitted { .. })));
        committer.commit(&parts, CommitMode::Replace).await.unwrap();
        assert_eq!(objects(&dest).await, ["_SUCCESS", "part-00000-run-1.csv", "part-00001-run-1.csv"]);
        assert_eq!(read(&dest, "part-00001-run-1.csv").await, "bb\n");
    }

    #[tokio::test]
    async fn a_commit_interrupted_after_the_marker_finishes_the_clean_up() {
        let dest = memory("commit-after-marker");
        let old = OutputCommitter::new(dest.clone(), "run-1");
        let old_parts = vec![old.write_part(0, 0, "csv", bytes("old\n")).await.unwrap()];
        old.commit(&old_parts, CommitMode::Replace).await.unwrap();
        let new = OutputCommitter::new(dest.clone(), "run-2");
        let parts = vec![new.write_part(0, 0, "csv", bytes("new\n")).await.unwrap()];
        // Stopped right after `_SUCCESS` was replaced: the old part is still there, and so is the
        // record of the listing the commit replaced.
        new.publish(&parts, &[true], &[parts[0].part.clone()], CommitMode::Replace).await.unwrap();
        assert_eq!(
            objects(&dest).await,
            ["_SUCCESS", "_temporary/run-2/_REPLACED", "part-00000-run-1.csv", "part-00000-run-2.csv"]
        );
        // Committing again, even in refuse mode, sees its own marker and finishes.
        new.commit(&parts, CommitMode::Refuse).await.unwrap();
        assert_eq!(objects(&dest).await, ["_SUCCESS", "part-00000-run-2.csv"]);
    }

    #[tokio::test]
    async fn refuse_mode_keeps_a_committed_output() {
        let dest = memory("commit-refuse");
        let first = OutputCommitter::new(dest.clone(), "run-1");
        let kept = vec![first.write_part(0, 0, "csv", bytes("kept\n")).await.unwrap()];
        assert!(!is_committed(&dest).await.unwrap());
        first.commit(&kept, CommitMode::Refuse).await.unwrap();
        assert!(is_committed(&dest).await.unwrap());

        let second = OutputCommitter::new(dest.clone(), "run-2");
        let parts = vec![second.write_part(0, 0, "csv", bytes("new\n")).await.unwrap()];
        match second.commit(&parts, CommitMode::Refuse).await {
            Err(error @ StorageError::AlreadyCommitted { .. }) => {
                let message = error.to_string();
                assert!(
                    message.contains("memory://commit-refuse/out already holds a committed output"),
                    "{message}"
                );
                assert!(message.contains("mode = \"overwrite\""), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(read_committed(&dest).await.unwrap(), [kept[0].part.clone()]);
        assert_eq!(read(&dest, "part-00000-run-1.csv").await, "kept\n");
        // The refused run's parts wait in its temporary area until it is aborted.
        second.abort().await.unwrap();
        assert_eq!(objects(&dest).await, ["_SUCCESS", "part-00000-run-1.csv"]);
    }

    #[tokio::test]
    async fn a_marker_that_appears_during_the_commit_wins() {
        let dest = memory("commit-race");
        let late = OutputCommitter::new(dest.clone(), "run-late");
        let parts = vec![late.write_part(0, 0, "csv", bytes("late\n")).await.unwrap()];
        // Another run commits between this run's check and its marker.
        let other = OutputCommitter::new(dest.clone(), "run-other");
        let other_parts = vec![other.write_part(0, 0, "csv", bytes("other\n")).await.unwrap()];
        other.commit(&other_parts, CommitMode::Refuse).await.unwrap();
        let refused = late.publish(&parts, &[true], &[parts[0].part.clone()], CommitMode::Refuse).await;
        assert!(matches!(refused, Err(StorageError::AlreadyCommitted { .. })), "{refused:?}");
        assert_eq!(objects(&dest).await, ["_SUCCESS", "part-00000-run-other.csv"]);
        assert_eq!(read_committed(&dest).await.unwrap(), [other_parts[0].part.clone()]);
    }

    #[tokio::test]
    async fn large_parts_go_up_in_pieces() {
        let dest = memory("commit-multipart");
        let committer = OutputCommitter::new(dest.clone(), "run-1");
        let mut writer = committer.part_writer(0, 0, "csv").await.unwrap();
        let line = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n";
        let mut expected = Vec::new();
        for _ in 0..(20 << 20) / line.len() {
            writer.write(Bytes::from_static(line)).await.unwrap();
            expected.extend_from_slice(line);
        }
        assert!(writer.is_multipart(), "a 20 MiB part is a multipart upload");
        let part = writer.finish().await.unwrap();
        assert_eq!(part.part.size, expected.len() as u64);
        let mut small = committer.part_writer(1, 0, "csv").await.unwrap();
        small.write(Bytes::from_static(b"small\n")).await.unwrap();
        assert!(!small.is_multipart());
        let small = small.finish().await.unwrap();
        committer.commit(&[part, small], CommitMode::Refuse).await.unwrap();
        assert_eq!(read(&dest, "part-00000-run-1.csv").await.as_bytes(), expected);
        assert_eq!(read(&dest, "part-00001-run-1.csv").await, "small\n");
    }

    #[tokio::test]
    async fn an_unfinished_multipart_part_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = Location::parse("out", dir.path()).unwrap();
        let committer = OutputCommitter::new(dest.clone(), "run-1");
        let mut writer = committer.part_writer(0, 0, "csv").await.unwrap();
        writer.write(vec![b'x'; 9 << 20].into()).await.unwrap();
        assert!(writer.is_multipart());
        drop(writer);
        // The abort runs on the runtime: give it a moment, then nothing may be left.
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            committer.abort().await.unwrap();
            if !dir.path().join("out").exists() {
                break;
            }
        }
        let left: Vec<_> = walk(&dir.path().join("out"));
        assert!(left.is_empty(), "{left:?}");
    }

    /// Every file below `dir`.
    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
        entries
            .flatten()
            .flat_map(|entry| if entry.path().is_dir() { walk(&entry.path()) } else { vec![entry.path()] })
            .collect()
    }
}
