//! JavaScript projects: `package.json` names the package and (`"flicker": {"kind": …}`) the
//! operator kind; `app.js` (an ES module) registers the operator with the `flicker-guest`
//! module. `flicker build` copies the project into a scratch folder beside the SDK (as
//! `node_modules/flicker-guest`) and an entry module exporting the kind's interfaces, and runs
//! componentize-qjs on it, with no WASI imports.

use crate::tool::{self, Tool};
use crate::{Kind, Language, Project, ProjectError, io_error, kind_named, read_file};
use std::path::{Path, PathBuf};
use std::process::Command;

/// componentize-qjs, the builder of JavaScript components (QuickJS).
const COMPONENTIZE_QJS: Tool = Tool {
    name: "componentize-qjs",
    env: "FLICKER_COMPONENTIZE_QJS",
    install: "install it with `npm install --save-exact componentize-qjs@0.4.5` (flicker's scripts/setup.sh does, into ~/.cache/flicker/tools), and put its node_modules/.bin on PATH or set FLICKER_COMPONENTIZE_QJS to it",
};

/// The SDK's files, by their path in `node_modules/flicker-guest`.
pub(crate) const SDK: &[(&str, &str)] = &[
    ("package.json", include_str!("../../guest-sdk/js/package.json")),
    ("index.js", include_str!("../../guest-sdk/js/index.js")),
    ("batch.js", include_str!("../../guest-sdk/js/batch.js")),
    ("component.js", include_str!("../../guest-sdk/js/component.js")),
    ("config.js", include_str!("../../guest-sdk/js/config.js")),
    ("errors.js", include_str!("../../guest-sdk/js/errors.js")),
    ("operators.js", include_str!("../../guest-sdk/js/operators.js")),
    ("rows.js", include_str!("../../guest-sdk/js/rows.js")),
];

/// Folders of a project that are never copied into the build: build output, installed packages,
/// version control.
const LEFT_OUT: &[&str] = &["node_modules", "target", ".git"];

/// Opens the JavaScript project in `dir`.
pub(crate) fn open(dir: &Path) -> Result<Project, ProjectError> {
    let file = dir.join("package.json");
    let bad = |problem: String| ProjectError::BadProjectFile { file: file.clone(), problem };
    let doc: serde_json::Value = serde_json::from_str(&read_file(&file)?).map_err(|e| bad(e.to_string()))?;
    let name = doc
        .get("name")
        .and_then(|name| name.as_str())
        .ok_or_else(|| bad("\"name\" is not set".to_owned()))?;
    let kind = doc.get("flicker").and_then(|flicker| flicker.get("kind")).and_then(|kind| kind.as_str());
    let kind = kind_named(&file, kind, "\"flicker\": {\"kind\"}")?;
    if !dir.join("app.js").is_file() {
        return Err(bad("the project has no app.js, the module that registers its operator".to_owned()));
    }
    Ok(Project {
        dir: dir.to_path_buf(),
        language: Language::Js,
        name: crate::file_name(name).map_err(bad)?,
        kind: Some(kind),
    })
}

/// Builds the project with componentize-qjs into `target/<name>.wasm`.
pub(crate) fn build(project: &Project) -> Result<PathBuf, ProjectError> {
    let kind = project.kind.unwrap_or(Kind::Map);
    let program = COMPONENTIZE_QJS.find()?;
    let scratch = tempfile::tempdir().map_err(io_error(Path::new("a temporary folder")))?;
    let root = scratch.path().join("project");
    copy_project(&project.dir, &root)?;
    install_sdk(&root)?;
    let wit = scratch.path().join("wit");
    write(&wit.join("operator.wit"), include_str!("../../wit/operator.wit"))?;
    let entry = root.join("flicker-entry.js");
    let interface = kind.name();
    write(
        &entry,
        &format!(
            "import \"./app.js\";\nexport {{ {interface}, {interface}Schema }} from \"./node_modules/flicker-guest/component.js\";\n"
        ),
    )?;
    let out = project.script_output();
    let partial = out.with_extension("wasm.partial");
    std::fs::create_dir_all(out.parent().expect("target/ is a folder")).map_err(io_error(&out))?;
    let mut command = Command::new(program);
    command
        .current_dir(&root)
        .arg("--wit")
        .arg(&wit)
        .args(["--world", &kind.world(), "--js"])
        .arg(&entry)
        .arg("--module-root")
        .arg(&root)
        .args(["--stub-wasi", "--sync", "-o"])
        .arg(&partial);
    tool::run(command)?;
    std::fs::rename(&partial, &out).map_err(io_error(&out))?;
    Ok(out)
}

/// Writes the SDK into `<dir>/node_modules/flicker-guest`, where `import … from "flicker-guest"`
/// finds it (in a build, and for tests run by Node in a project `flicker new` made).
pub(crate) fn install_sdk(dir: &Path) -> Result<(), ProjectError> {
    let sdk = dir.join("node_modules").join("flicker-guest");
    for (path, text) in SDK {
        write(&sdk.join(path), text)?;
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), ProjectError> {
    std::fs::create_dir_all(path.parent().expect("written files live in folders")).map_err(io_error(path))?;
    std::fs::write(path, text).map_err(io_error(path))
}

/// The files of a project a build copies: modules, and the JSON they may read.
const MODULES: &[&str] = &["js", "mjs", "json"];

/// Copies the project's modules ([`MODULES`]) into `to`, folder by folder, leaving out
/// [`LEFT_OUT`], other files (sample data need not be copied on every build) and anything that is
/// not a plain file or folder (a symlink could reach outside the project).
fn copy_project(from: &Path, to: &Path) -> Result<(), ProjectError> {
    std::fs::create_dir_all(to).map_err(io_error(to))?;
    for entry in std::fs::read_dir(from).map_err(io_error(from))? {
        let entry = entry.map_err(io_error(from))?;
        let kind = entry.file_type().map_err(io_error(&entry.path()))?;
        let name = entry.file_name();
        if kind.is_dir() && !LEFT_OUT.iter().any(|left| name == *left) {
            copy_project(&entry.path(), &to.join(&name))?;
        } else if kind.is_file()
            && Path::new(&name).extension().is_some_and(|ext| MODULES.iter().any(|m| ext == *m))
        {
            std::fs::copy(entry.path(), to.join(&name)).map_err(io_error(&entry.path()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(package: &str, app: bool) -> Result<Project, ProjectError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("package.json"), package).unwrap();
        if app {
            std::fs::write(dir.path().join("app.js"), "").unwrap();
        }
        Project::open(dir.path())
    }

    #[test]
    fn a_js_project_names_its_package_and_kind() {
        let opened = project(r#"{"name": "celsius", "flicker": {"kind": "format"}}"#, true).unwrap();
        assert_eq!(
            (opened.language, opened.name.as_str(), opened.kind),
            (Language::Js, "celsius", Some(Kind::Format))
        );
    }

    #[test]
    fn a_js_project_file_missing_what_the_build_needs_is_refused_naming_it() {
        let cases = [
            (r#"{"name": "x"}"#, true, "\"flicker\": {\"kind\"} is not set"),
            (r#"{"name": "x", "flicker": {"kind": "sort"}}"#, true, "\"sort\" is not a kind"),
            (r#"{"flicker": {"kind": "map"}}"#, true, "\"name\" is not set"),
            (r#"{"name": "a/../../b", "flicker": {"kind": "map"}}"#, true, "cannot name a file"),
            (r#"{"name": "x", "flicker": {"kind": "map"}}"#, false, "no app.js"),
            ("{", true, "package.json"),
        ];
        for (text, app, expected) in cases {
            let error = project(text, app).unwrap_err();
            assert!(matches!(error, ProjectError::BadProjectFile { .. }), "{error}");
            assert!(error.to_string().contains(expected), "{expected:?} in {error}");
        }
    }

    #[test]
    fn a_build_copies_the_project_s_modules_but_not_its_data_packages_output_or_links() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        for file in [
            "app.js",
            "lib/util.mjs",
            "package.json",
            "data/big.txt",
            "node_modules/big/index.js",
            "target/old.wasm",
        ] {
            write(&from.join(file), "x").unwrap();
        }
        std::os::unix::fs::symlink("/etc", from.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", from.join("passwd.js")).unwrap();
        let to = dir.path().join("to");
        copy_project(&from, &to).unwrap();
        assert!(
            to.join("app.js").is_file()
                && to.join("lib/util.mjs").is_file()
                && to.join("package.json").is_file()
        );
        for left in ["node_modules", "target", "etc", "passwd.js", "data/big.txt"] {
            assert!(!to.join(left).exists(), "{left}");
        }
    }
}
