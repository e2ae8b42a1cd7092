//! Embeds every schema file under `schemas/` into the crate at compile time,
//! so the registry is the files and nothing else.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    println!("cargo:rerun-if-changed={}", root.display());

    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();

    let mut out = String::from("/// (event name, version, path under schemas/, schema text)\n");
    out.push_str("pub(crate) static SCHEMA_FILES: &[(&str, u32, &str, &str)] = &[\n");
    for file in files {
        let relative = file.strip_prefix(&root).expect("file is under schemas/");
        let parts: Vec<String> = relative
            .iter()
            .map(|part| part.to_string_lossy().into_owned())
            .collect();
        let [domain, event, version_file] = parts.as_slice() else {
            panic!("schema file {relative:?} is not at schemas/<domain>/<event>/<version>.json");
        };
        let version: u32 = version_file
            .strip_suffix(".json")
            .and_then(|number| number.parse().ok())
            .unwrap_or_else(|| panic!("schema file {relative:?} is not named <version>.json"));
        writeln!(
            out,
            "    ({:?}, {version}, {:?}, include_str!({:?})),",
            format!("{domain}.{event}"),
            relative.to_string_lossy(),
            file.display().to_string(),
        )
        .expect("writing to a String cannot fail");
    }
    out.push_str("];\n");

    let target = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("schemas.rs");
    fs::write(target, out).expect("OUT_DIR is writable");
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("schemas/ is readable") {
        let path = entry.expect("schemas/ is readable").path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "json") {
            files.push(path);
        }
    }
}
