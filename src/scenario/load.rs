//! Finding and reading scenario files on disk.

use std::path::{Path, PathBuf};

use super::{parse, Scenario, ScenarioError};

/// Most scenario files one invocation reads.
pub const FILES_MAX: usize = 10_000;

/// Why scenario files could not be read.
#[derive(Debug)]
pub enum LoadError {
    /// A path could not be read.
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// A file is not a valid scenario.
    Invalid(Box<ScenarioError>),
    /// Two files use one scenario name.
    DuplicateName {
        /// The name.
        name: String,
        /// The first file with it.
        first: PathBuf,
        /// The second file with it.
        second: PathBuf,
    },
    /// No scenario files were found.
    Empty {
        /// The paths searched.
        paths: Vec<PathBuf>,
    },
    /// More than [`FILES_MAX`] files.
    TooMany,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Io { path, error } => {
                write!(
                    f,
                    "cannot read {}: {error} (hint: check the path; directories are searched for *.toml)",
                    path.display()
                )
            }
            LoadError::Invalid(e) => {
                // `render_plain` is a whole `error: …` screen; the caller adds the `error: `.
                let text = e.render_plain();
                f.write_str(text.strip_prefix("error: ").unwrap_or(&text).trim_end())
            }
            LoadError::DuplicateName { name, first, second } => write!(
                f,
                "scenario name `{name}` is used by both {} and {} (hint: names must be unique; rename one)",
                first.display(),
                second.display()
            ),
            LoadError::Empty { paths } => write!(
                f,
                "no scenario files (*.toml) under {} (hint: try `racehound run scenarios/`)",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            LoadError::TooMany => write!(
                f,
                "more than {FILES_MAX} scenario files (hint: point racehound at a smaller directory)"
            ),
        }
    }
}

impl std::error::Error for LoadError {}

/// Every `*.toml` under `paths` (files as given, directories recursively), sorted.
pub fn find_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut found = Vec::new();
    for path in paths {
        collect(path, &mut found)?;
    }
    found.sort();
    found.dedup();
    if found.is_empty() {
        return Err(LoadError::Empty {
            paths: paths.to_vec(),
        });
    }
    Ok(found)
}

fn collect(path: &Path, found: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let meta = std::fs::metadata(path).map_err(|error| LoadError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    if meta.is_file() {
        found.push(path.to_path_buf());
        return Ok(());
    }
    let entries = std::fs::read_dir(path).map_err(|error| LoadError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    children.sort();
    for child in children {
        if found.len() >= FILES_MAX {
            return Err(LoadError::TooMany);
        }
        if child.is_dir() {
            collect(&child, found)?;
        } else if child.extension().is_some_and(|ext| ext == "toml") {
            found.push(child);
        }
    }
    Ok(())
}

/// Reads and validates every scenario under `paths`.
pub fn load(paths: &[PathBuf], strategy_ids: &[&str]) -> Result<Vec<(PathBuf, Scenario)>, LoadError> {
    let mut loaded: Vec<(PathBuf, Scenario)> = Vec::new();
    for file in find_files(paths)? {
        let text = std::fs::read_to_string(&file).map_err(|error| LoadError::Io {
            path: file.clone(),
            error,
        })?;
        let scenario = parse(&file.display().to_string(), &text, strategy_ids).map_err(LoadError::Invalid)?;
        if let Some((first, _)) = loaded.iter().find(|(_, s)| s.name == scenario.name) {
            return Err(LoadError::DuplicateName {
                name: scenario.name,
                first: first.clone(),
                second: file,
            });
        }
        loaded.push((file, scenario));
    }
    Ok(loaded)
}
