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
use object_store::{ObjectMeta, ObjectStoreExt};

use crate::{Location, StorageError, success};

/// Where uncommitted parts are written, below the destination.
const TEMPORARY: &str = "_temporary";
/// The marker of a committed output.
const SUCCESS: &str = "_SUCCESS";
/// The name prefix of part files.
const PART_PREFIX: &str = "part-";

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

    /// Writes part `index` as attempt `attempt` wrote it, to
    /// `<dest>/_temporary/<run id>/attempt-<attempt>/part-NNNNN.<extension>` (five digits, no `.`
    /// when `extension` is empty). Nothing is visible in `dest` until [`commit`].
    ///
    /// [`commit`]: OutputCommitter::commit
    pub async fn write_part(
        &self,
        index: u32,
        attempt: u32,
        extension: &str,
        bytes: Bytes,
    ) -> Result<StagedPart, StorageError> {
        let name =
            part_name(index, &self.run_id, extension).ok_or_else(|| StorageError::InvalidPartExtension {
                url: self.dest.url().to_owned(),
                extension: extension.to_owned(),
            })?;
        let staged = self.staged(attempt, &name);
        let size = bytes.len() as u64;
        staged.store().put(staged.path(), bytes.into()).await.map_err(|source| staged.store_error(source))?;
        Ok(StagedPart { part: PartFile { name, size }, attempt })
    }

    /// Publishes `parts` (as returned by [`write_part`]) as the output of `dest`, replacing a
    /// previous one: checks every part is there with its size, deletes the old `_SUCCESS` and
    /// then the old `part-*` files directly in `dest`, moves the parts in, writes `_SUCCESS`
    /// listing them, and removes this run's temporary directory (with any part not listed).
    ///
    /// If the check fails, the previous output is untouched.
    ///
    /// [`write_part`]: OutputCommitter::write_part
    pub async fn commit(&self, parts: &[StagedPart]) -> Result<(), StorageError> {
        let waiting = self.check_parts(parts).await?;
        let listing = self
            .dest
            .store()
            .list_with_delimiter(Some(self.dest.path()))
            .await
            .map_err(|source| self.dest.store_error(source))?;
        let new_names: HashSet<&str> = parts.iter().map(|staged| staged.part.name.as_str()).collect();
        let old_parts = listing
            .objects
            .into_iter()
            .map(|meta| meta.location)
            .filter(|path| {
                path.filename().is_some_and(|name| name.starts_with(PART_PREFIX) && !new_names.contains(name))
            })
            .collect();

        for staged in parts.iter().zip(waiting).filter_map(|(staged, waiting)| waiting.then_some(staged)) {
            let (from, to) =
                (self.staged(staged.attempt, &staged.part.name), self.dest.child(&staged.part.name));
            from.store().rename(from.path(), to.path()).await.map_err(|source| from.store_error(source))?;
        }
        let parts: Vec<PartFile> = parts.iter().map(|staged| staged.part.clone()).collect();
        let success = self.dest.child(SUCCESS);
        success
            .store()
            .put(success.path(), success::render(&parts).into())
            .await
            .map_err(|source| success.store_error(source))?;
        tracing::debug!(dest = self.dest.url(), parts = parts.len(), "output committed");
        delete_all(&self.dest, old_parts).await?;
        self.abort().await
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
        if let Some(dir) = temporary.local_dir()
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
    let success = dest.child(SUCCESS);
    let text = match success.store().get(success.path()).await {
        Ok(result) => result.bytes().await.map_err(|source| success.store_error(source))?,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(StorageError::NotCommitted { url: dest.url().to_owned() });
        }
        Err(source) => return Err(success.store_error(source)),
    };
    success::parse(&text)
        .map_err(|line| StorageError::CorruptSuccessFile { url: success.url().to_owned(), line })
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
    let Some(dir) = loc.local_dir() else { return };
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

        committer.commit(&parts).await.unwrap();
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
        first.commit(&parts).await.unwrap();
        dest.store().put(dest.child("README").path(), "kept".into()).await.unwrap();

        let second = OutputCommitter::new(dest.clone(), "run-2");
        let part = second.write_part(0, 0, "txt", bytes("new\n")).await.unwrap();
        second.commit(std::slice::from_ref(&part)).await.unwrap();
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
        first.commit(std::slice::from_ref(&kept)).await.unwrap();

        let second = OutputCommitter::new(dest.clone(), "run-2");
        let written = second.write_part(0, 0, "csv", bytes("b\n")).await.unwrap();
        let missing =
            StagedPart { part: PartFile { name: "part-00001-run-2.csv".into(), size: 1 }, attempt: 0 };
        match second.commit(&[written.clone(), missing]).await {
            Err(StorageError::MissingPart { url }) => {
                assert_eq!(url, "memory://commit-check/out/_temporary/run-2/attempt-0/part-00001-run-2.csv")
            }
            other => panic!("{other:?}"),
        }
        let wrong_size = StagedPart { part: PartFile { size: 99, ..written.part.clone() }, attempt: 0 };
        assert!(matches!(
            second.commit(&[wrong_size]).await,
            Err(StorageError::ObjectChanged { actual: 2, .. })
        ));
        assert!(matches!(
            second.commit(&[written.clone(), written]).await,
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
        old.commit(&old_parts).await.unwrap();

        let new = OutputCommitter::new(dest.clone(), "run-2");
        let parts = vec![new.write_part(0, 0, "csv", bytes("3\n")).await.unwrap()];
        new.commit(&parts).await.unwrap();
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
        first.commit(&old).await.unwrap();
        let listed = read_committed(&dest).await.unwrap();

        let second = OutputCommitter::new(dest.clone(), "run-2");
        let new = vec![second.write_part(0, 0, "csv", bytes("new!\n")).await.unwrap()];
        assert_ne!(new[0].part.name, listed[0].name, "a run's parts never take another run's names");
        second.commit(&new).await.unwrap();
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
        committer.commit(&parts).await.unwrap();
        assert_eq!(objects(&dest).await, ["_SUCCESS", "part-00000-run-1.csv", "part-00001-run-1.csv"]);
        assert_eq!(read(&dest, "part-00001-run-1.csv").await, "bb\n");
    }
}
