//! `server.watch_config`: a reload when the configuration file changes, debounced.
//!
//! The directory holding the file is watched (not the file): an editor that writes a new file
//! and renames it over the old one, and a Kubernetes ConfigMap volume, which swaps a `..data`
//! symlink, both change the directory without touching the old file's inode. Every change in
//! that directory counts; a burst of them within `DEBOUNCE` (300 ms) is one reload.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// How long the directory must be quiet before a burst of changes becomes one reload.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// Why the configuration file cannot be watched.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {}: {source}", dir.display())]
pub struct WatchError {
    dir: PathBuf,
    #[source]
    source: notify::Error,
}

/// Changes to the directory of one configuration file.
pub struct ConfigWatch {
    // Dropping the watcher ends the events.
    _watcher: RecommendedWatcher,
    events: mpsc::UnboundedReceiver<()>,
}

impl ConfigWatch {
    /// Starts watching the directory of `file`.
    pub fn new(file: &Path) -> Result<Self, WatchError> {
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let (tx, events) = mpsc::unbounded_channel();
        let err = |source| WatchError {
            dir: dir.clone(),
            source,
        };
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                // Access events (open, read) change nothing; errors are worth a look anyway.
                if event.is_ok_and(|e| e.kind.is_access()) {
                    return;
                }
                // The receiver is gone only when the gateway stops.
                tx.send(()).ok();
            })
            .map_err(err)?;
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(err)?;
        Ok(Self {
            _watcher: watcher,
            events,
        })
    }

    /// Completes after the next burst of changes, once the directory has been quiet for
    /// `DEBOUNCE`; never when watching has ended.
    pub async fn changed(&mut self) {
        if self.events.recv().await.is_none() {
            return std::future::pending().await;
        }
        loop {
            match tokio::time::timeout(DEBOUNCE, self.events.recv()).await {
                Ok(Some(())) => continue,
                Ok(None) | Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_of_changes_is_one_and_a_later_change_another() {
        let dir = std::env::temp_dir().join(format!("cec-gw-watch-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("config.toml");
        std::fs::write(&file, "a").expect("write");
        let mut watch = ConfigWatch::new(&file).expect("watch");
        for i in 0..5 {
            let tmp = dir.join(format!(".config.toml.{i}"));
            std::fs::write(&tmp, format!("v{i}")).expect("write");
            std::fs::rename(&tmp, &file).expect("rename over");
        }
        tokio::time::timeout(Duration::from_secs(5), watch.changed())
            .await
            .expect("a change is seen");
        // The burst was one: nothing more is pending.
        let again = tokio::time::timeout(DEBOUNCE * 3, watch.changed()).await;
        assert!(again.is_err(), "the burst was reported more than once");
        std::fs::write(&file, "later").expect("write");
        tokio::time::timeout(Duration::from_secs(5), watch.changed())
            .await
            .expect("a later change is seen");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
