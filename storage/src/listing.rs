//! Finding the objects an input location stands for.

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt};

use crate::glob;
use crate::{Location, StorageError};

/// One object to read, as found by [`list_inputs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputObject {
    /// The object's full path in the store.
    pub path: Path,
    /// Its size in bytes when it was listed.
    pub size: u64,
}

/// Lists the objects `loc` stands for, sorted by path.
///
/// - A glob (the path contains `*`, `?` or `[`): the objects below the glob's longest literal
///   directory prefix whose path matches it (see the glob rules in this crate's docs; a
///   wildcard never matches a name starting with `_` or `.`).
/// - An existing object: that object alone.
/// - Otherwise a prefix: every object below it, recursively, except those with a path segment
///   below the prefix starting with `_` or `.` (the Hadoop convention: `_SUCCESS`,
///   `_temporary/…`, `.crc` files).
///
/// Finding nothing is [`StorageError::NoInput`].
pub async fn list_inputs(loc: &Location) -> Result<Vec<InputObject>, StorageError> {
    let pattern = loc.path().as_ref();
    let mut found = if glob::is_glob(pattern) {
        let prefix = Path::parse(glob::literal_prefix(pattern))
            .map_err(|source| StorageError::InvalidPath { url: loc.url().to_owned(), source })?;
        list_below(loc, &prefix, |path| glob::matches(pattern, path.as_ref())).await?
    } else {
        match head(loc).await? {
            Some(object) => vec![object],
            None => list_below(loc, loc.path(), |path| !has_hidden_segment(path, loc.path())).await?,
        }
    };
    if found.is_empty() {
        return Err(StorageError::NoInput { url: loc.url().to_owned() });
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// Every object at or below `loc`, hidden ones (`_SUCCESS`, `_temporary/…`) included, sorted by
/// path: what `flicker ls` shows.
pub async fn list_all(loc: &Location) -> Result<Vec<InputObject>, StorageError> {
    let mut found = match head(loc).await? {
        Some(object) => vec![object],
        None => list_below(loc, loc.path(), |_| true).await?,
    };
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// The object at `loc` itself, if there is one.
async fn head(loc: &Location) -> Result<Option<InputObject>, StorageError> {
    if loc.path().is_root() {
        return Ok(None);
    }
    match loc.store().head(loc.path()).await {
        Ok(meta) => Ok(Some(input(meta))),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(source) => Err(loc.store_error(source)),
    }
}

/// Every object below `prefix` (recursively) that `keep` accepts.
async fn list_below(
    loc: &Location,
    prefix: &Path,
    keep: impl Fn(&Path) -> bool,
) -> Result<Vec<InputObject>, StorageError> {
    let listed: Vec<ObjectMeta> =
        loc.store().list(Some(prefix)).try_collect().await.map_err(|source| loc.store_error(source))?;
    Ok(listed.into_iter().filter(|meta| keep(&meta.location)).map(input).collect())
}

fn input(meta: ObjectMeta) -> InputObject {
    InputObject { path: meta.location, size: meta.size }
}

/// Whether a segment of `path` below `prefix` starts with `_` or `.`; a path outside `prefix`
/// counts as hidden.
fn has_hidden_segment(path: &Path, prefix: &Path) -> bool {
    match path.prefix_match(prefix) {
        Some(mut below) => below.any(|part| part.as_ref().starts_with(['_', '.'])),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use object_store::ObjectStoreExt;

    use super::*;

    async fn store_with(name: &str, objects: &[&str]) -> Location {
        let root = Location::parse(&format!("memory://{name}/"), std::path::Path::new("/")).unwrap();
        for object in objects {
            let loc = root.at(Path::parse(object).unwrap());
            loc.store().put(loc.path(), object.as_bytes().to_vec().into()).await.unwrap();
        }
        root
    }

    async fn listed(url: &str) -> Result<Vec<String>, StorageError> {
        let loc = Location::parse(url, std::path::Path::new("/")).unwrap();
        Ok(list_inputs(&loc).await?.into_iter().map(|o| o.path.to_string()).collect())
    }

    const TREE: &[&str] = &[
        "in/b.csv",
        "in/a.csv",
        "in/notes.txt",
        "in/_SUCCESS",
        "in/.a.csv.crc",
        "in/_temporary/0/part-00000",
        "in/2024/c.csv",
        "in/2024/.hidden/d.csv",
        "inbox/x.csv",
    ];

    #[tokio::test]
    async fn an_object_lists_itself() {
        store_with("listing-object", TREE).await;
        assert_eq!(listed("memory://listing-object/in/a.csv").await.unwrap(), ["in/a.csv"]);
        let loc = Location::parse("memory://listing-object/in/a.csv", std::path::Path::new("/")).unwrap();
        assert_eq!(list_inputs(&loc).await.unwrap()[0].size, "in/a.csv".len() as u64);
    }

    #[tokio::test]
    async fn a_prefix_lists_visible_objects_recursively_in_order() {
        store_with("listing-prefix", TREE).await;
        let expected = ["in/2024/c.csv", "in/a.csv", "in/b.csv", "in/notes.txt"];
        assert_eq!(listed("memory://listing-prefix/in").await.unwrap(), expected);
        assert_eq!(listed("memory://listing-prefix/in/").await.unwrap(), expected);
        // Only segments below the prefix count: naming a hidden directory lists it.
        assert_eq!(
            listed("memory://listing-prefix/in/_temporary").await.unwrap(),
            ["in/_temporary/0/part-00000"]
        );
    }

    #[tokio::test]
    async fn a_glob_keeps_matching_objects_only() {
        store_with("listing-glob", TREE).await;
        assert_eq!(listed("memory://listing-glob/in/*.csv").await.unwrap(), ["in/a.csv", "in/b.csv"]);
        assert_eq!(
            listed("memory://listing-glob/in*/*.csv").await.unwrap(),
            ["in/a.csv", "in/b.csv", "inbox/x.csv"]
        );
        assert_eq!(listed("memory://listing-glob/in/*/*.csv").await.unwrap(), ["in/2024/c.csv"]);
        assert_eq!(listed("memory://listing-glob/in/_*").await.unwrap(), ["in/_SUCCESS"]);
    }

    #[tokio::test]
    async fn nothing_matched_is_no_input_naming_the_url() {
        store_with("listing-none", TREE).await;
        for url in
            ["memory://listing-none/in/*.json", "memory://listing-none/out", "memory://listing-none/inb"]
        {
            match listed(url).await {
                Err(StorageError::NoInput { url: named }) => assert_eq!(named, url),
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn local_directories_files_and_globs() {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in [("a.csv", "1"), ("b.csv", "22"), ("_SUCCESS", ""), ("sub/c.csv", "333")] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        let list = |url: &str| {
            let loc = Location::parse(url, dir.path()).unwrap();
            async move {
                list_inputs(&loc).await.map(|found| {
                    found.iter().map(|o| (o.path.filename().unwrap().to_owned(), o.size)).collect::<Vec<_>>()
                })
            }
        };
        let name = |n: &str| (n.to_owned(), 0);
        let sized = |n: &str, s: u64| (n.to_owned(), s);
        assert_eq!(list(".").await.unwrap(), [sized("a.csv", 1), sized("b.csv", 2), sized("c.csv", 3)]);
        assert_eq!(list("b.csv").await.unwrap(), [sized("b.csv", 2)]);
        assert_eq!(list("*.csv").await.unwrap(), [sized("a.csv", 1), sized("b.csv", 2)]);
        assert_eq!(list("_SUCCESS").await.unwrap(), [name("_SUCCESS")]);
        assert!(matches!(list("missing/").await, Err(StorageError::NoInput { .. })));
    }

    #[tokio::test]
    async fn list_all_shows_hidden_objects_too() {
        store_with("list-all", &["out/_SUCCESS", "out/part-0", "out/_temporary/x", "other/y"]).await;
        let loc = Location::parse("memory://list-all/out", std::path::Path::new("/")).unwrap();
        let names: Vec<String> = list_all(&loc).await.unwrap().iter().map(|o| o.path.to_string()).collect();
        assert_eq!(names, ["out/_SUCCESS", "out/_temporary/x", "out/part-0"]);
        let empty = Location::parse("memory://list-all/none", std::path::Path::new("/")).unwrap();
        assert!(list_all(&empty).await.unwrap().is_empty());
    }
}
