//! Which git commit each view file comes from, read with the `git` command.
//!
//! The git CLI is used rather than a git library: it is on every machine that has a work tree,
//! it answers `log -- <file>` and `status` exactly as the user sees them, and a library (gix,
//! git2) would add a large build for three read-only questions.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitInfo {
    /// Last commit that touched the file; None when the file was never committed.
    pub commit: Option<String>,
    /// Author time of that commit, microseconds since the epoch.
    pub author_time: Option<i64>,
    /// The file differs from that commit (modified, added or untracked).
    pub dirty: bool,
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

impl GitInfo {
    /// Git facts for each file; empty when `dir` is not in a git work tree.
    pub fn for_files<'a>(
        dir: &Path,
        files: impl Iterator<Item = &'a Path>,
    ) -> HashMap<PathBuf, GitInfo> {
        let mut out = HashMap::new();
        let Some(top) = git(dir, &["rev-parse", "--show-toplevel"]) else {
            return out;
        };
        let top = PathBuf::from(top.trim());
        let top = std::fs::canonicalize(&top).unwrap_or(top);
        let dirty: HashSet<PathBuf> = git(
            dir,
            &[
                "status",
                "--porcelain=v1",
                "-z",
                "--untracked-files=all",
                "--",
                ".",
            ],
        )
        .unwrap_or_default()
        .split('\0')
        .filter(|e| e.len() > 3)
        .map(|e| top.join(&e[3..]))
        .collect();
        for file in files {
            let abs = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
            let log = git(
                dir,
                &["log", "-1", "--format=%H %at", "--"]
                    .iter()
                    .copied()
                    .chain(std::iter::once(abs.to_str().unwrap_or_default()))
                    .collect::<Vec<_>>(),
            );
            let (commit, author_time) = match log.as_deref().map(str::trim) {
                Some(l) if !l.is_empty() => {
                    let mut p = l.split(' ');
                    let c = p.next().map(str::to_string);
                    let t = p
                        .next()
                        .and_then(|t| t.parse::<i64>().ok())
                        .map(|s| s * 1_000_000);
                    (c, t)
                }
                _ => (None, None),
            };
            out.insert(
                file.to_path_buf(),
                GitInfo {
                    commit,
                    author_time,
                    dirty: dirty.contains(&abs),
                },
            );
        }
        out
    }
}
