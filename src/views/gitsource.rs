//! Views served from a git branch: clone once, fetch every `poll`, serve the branch head.
//!
//! The checkout lives in a local cache folder. A fetch that fails (network, auth, a force-push
//! gone wrong) leaves the checkout as it was, so the last good commit keeps being served.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{ViewError, ViewRegistry};
use crate::config::GitViews;

pub struct GitSource {
    cfg: GitViews,
    checkout: PathBuf,
}

fn run(dir: Option<&Path>, args: &[&'static str]) -> Result<String, ViewError> {
    run_with(dir, args, &[])
}

/// `git <args> <more>`; `more` holds the arguments that are not static (URL, paths).
fn run_with(dir: Option<&Path>, args: &[&'static str], more: &[&str]) -> Result<String, ViewError> {
    let mut cmd = Command::new("git");
    if let Some(d) = dir {
        cmd.arg("-C").arg(d);
    }
    let out = cmd
        .args(args)
        .args(more)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(ViewError::GitMissing)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(ViewError::Git {
            command: args.first().copied().unwrap_or("git"),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

impl GitSource {
    /// `cache` defaults to `$HOME/.cache/lakegate/views`.
    pub fn new(cfg: GitViews, cache: Option<&Path>) -> GitSource {
        let root = cache.map(Path::to_path_buf).unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir)
                .join(".cache/lakegate/views")
        });
        let key = hex::encode(Sha256::digest(
            format!("{}#{}", cfg.git, cfg.branch).as_bytes(),
        ));
        GitSource {
            checkout: root.join(&key[..16]),
            cfg,
        }
    }

    pub fn views_dir(&self) -> PathBuf {
        self.checkout.join(&self.cfg.path)
    }

    /// Brings the checkout to the branch head; `Ok(true)` when the commit changed.
    pub fn sync(&self) -> Result<bool, ViewError> {
        let branch = self.cfg.branch.as_str();
        if !self.checkout.join(".git").exists() {
            let parent = self.checkout.parent().unwrap_or(&self.checkout);
            std::fs::create_dir_all(parent).map_err(|source| ViewError::Cache {
                path: parent.to_path_buf(),
                source,
            })?;
            let dest = self.checkout.to_string_lossy().to_string();
            run_with(
                None,
                &["clone", "--quiet", "--single-branch", "--branch"],
                &[branch, &self.cfg.git, &dest],
            )?;
            return Ok(true);
        }
        let before = run(Some(&self.checkout), &["rev-parse", "HEAD"])?;
        run_with(
            Some(&self.checkout),
            &["fetch", "--quiet", "origin"],
            &[branch],
        )?;
        run(
            Some(&self.checkout),
            &["reset", "--quiet", "--hard", "FETCH_HEAD"],
        )?;
        let after = run(Some(&self.checkout), &["rev-parse", "HEAD"])?;
        Ok(before != after)
    }

    /// Fetches every `poll` and asks the registry to reload when the head moved.
    pub fn spawn_poller(
        self: Arc<Self>,
        registry: Arc<ViewRegistry>,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(self.cfg.poll);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let src = self.clone();
                match tokio::task::spawn_blocking(move || src.sync()).await {
                    Ok(Ok(true)) => {
                        info!(repo = %self.cfg.git, branch = %self.cfg.branch, "views branch moved");
                        registry.trigger_reload();
                    }
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => {
                        warn!(repo = %self.cfg.git, error = %e, "views fetch failed; serving the last good commit")
                    }
                    Err(e) => warn!(error = %e, "views fetch task failed"),
                }
            }
        })
    }
}
