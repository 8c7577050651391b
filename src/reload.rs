//! Hot reload: watches every config and the project folders with `notify` and, after a short
//! quiet spell, loads the whole set of projects again. A good load replaces the engine's
//! workflows and the Workers at once; a bad one is logged and the last good set keeps serving,
//! until a later write loads.
//!
//! Packages in `node_modules` are watched only for the end of an install (a package manager's
//! state file), so an `npm install` reloads once, however many files it writes.
//!
//! Reloads run one at a time, in one task, so a burst of writes gives one reload. Runs in flight
//! keep the code they started with; an instance's next run (after a sleep, an event wait or a
//! retry delay) replays on the new code and records the new version, as after a deploy.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::ModifyKind;
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::engine::{Engine, WorkflowDef};
use crate::project::{self, Project};
use crate::store::Store;
use crate::workers::Workers;

/// How long the files must stay still before a reload: editors write in several steps.
const QUIET: Duration = Duration::from_millis(30);
/// The longest a reload waits for quiet once a change is seen, so steady writes still reload.
const LONGEST_WAIT: Duration = Duration::from_millis(120);
/// Folders that hold state, dependencies or build output, never the project's own sources.
const IGNORED_FOLDERS: [&str; 5] = [".stepflare", ".wrangler", "node_modules", ".git", "target"];
/// Files that package managers write when an install has finished, directly in `node_modules`:
/// npm's hidden lockfile, pnpm's and yarn's state files. A reload waits for one of them, so an
/// `npm install` that touches thousands of files reloads the project once.
const INSTALL_MARKERS: [&str; 5] =
    [".package-lock.json", ".modules.yaml", ".yarn-state.yml", ".yarn-integrity", ".pnpm-workspace-state-v1.json"];
/// What the module loader reads: JavaScript, TypeScript and JSON.
const SOURCE_EXTENSIONS: [&str; 9] = ["js", "mjs", "cjs", "ts", "mts", "cts", "jsx", "tsx", "json"];

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot watch {path}: {source}")]
    Watch { path: String, source: notify::Error },
    #[error("cannot start a file watcher: {0}")]
    Start(notify::Error),
}

/// What a reload loads, and what it replaces.
pub struct Reloader {
    /// The configs as given on the command line (files, or folders to search from).
    pub config_paths: Vec<PathBuf>,
    /// `--env`: the environment of the configs that is loaded.
    pub env: Option<String>,
    pub engine: Engine,
    /// Where versions are recorded.
    pub store: Arc<Store>,
    pub workers: Workers,
    /// The Durable Object classes: replaced with the Workers, so objects run the new code.
    pub durable: crate::durable::DurableObjects,
}

/// Watching goes on while this lives.
pub struct Watching {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts watching the folders of `projects` (their configs and loaded sources), leaving out
/// everything under `ignored` (the state folder), and reloading through `reloader`.
pub fn watch(projects: &[Project], ignored: Vec<PathBuf>, reloader: Reloader) -> Result<Watching, WatchError> {
    let (sender, events) = mpsc::unbounded_channel();
    let watcher = notify::recommended_watcher(move |event| {
        let _ = sender.send(event);
    })
    .map_err(WatchError::Start)?;
    let mut tree = Tree {
        watcher,
        roots: project_folders(projects),
        ignored,
        source_folders: HashSet::new(),
        package_folders: HashSet::new(),
    };
    for root in tree.roots.clone() {
        tree.watch_root(&root)?;
    }
    tree.watch_source_folders(source_folders(projects));
    Ok(Watching { task: tokio::spawn(reload_on_change(tree, events, reloader)) })
}

/// Waits for a change that concerns the project, then for quiet, then reloads; forever.
async fn reload_on_change(
    mut tree: Tree,
    mut events: mpsc::UnboundedReceiver<notify::Result<Event>>,
    reloader: Reloader,
) {
    while let Some(event) = events.recv().await {
        if !tree.take(event) {
            continue;
        }
        let latest = Instant::now() + LONGEST_WAIT;
        let mut quiet_from = Instant::now() + QUIET;
        loop {
            let until = quiet_from.min(latest);
            match tokio::time::timeout_at(until, events.recv()).await {
                Ok(Some(event)) => {
                    if tree.take(event) {
                        quiet_from = Instant::now() + QUIET;
                    }
                }
                Ok(None) => return,
                Err(_elapsed) => break,
            }
            if Instant::now() >= latest {
                break;
            }
        }
        if let Some(folders) = reloader.reload().await {
            tree.watch_source_folders(folders);
        }
    }
}

impl Reloader {
    /// Loads every config again and, when all load, serves the result. Returns the folders of
    /// the sources loaded, or `None` when the last good set stays.
    async fn reload(&self) -> Option<Vec<PathBuf>> {
        match project::load_all(&self.config_paths, self.env.as_deref(), &self.store, self.engine.now_ms()).await {
            Ok(projects) => {
                let folders = source_folders(&projects);
                self.serve(projects);
                Some(folders)
            }
            Err(error) => {
                tracing::error!("reload failed, the last good version keeps serving: {error}");
                None
            }
        }
    }

    fn serve(&self, projects: Vec<Project>) {
        for warning in projects.iter().flat_map(|project| &project.config.warnings) {
            tracing::warn!("{warning}");
        }
        let before: HashMap<String, String> =
            self.engine.workflows().iter().map(|def| (def.name.to_string(), def.version_id.clone())).collect();
        let defs: Vec<WorkflowDef> = projects.iter().flat_map(|project| project.workflows.iter().cloned()).collect();
        log_changes(&before, &defs);
        self.engine.set_workflows(defs);
        self.durable.replace(project::durable_classes(&projects));
        self.workers.replace(project::worker_codes(projects));
    }
}

/// One line per workflow whose version changed, that came or that went.
fn log_changes(before: &HashMap<String, String>, after: &[WorkflowDef]) {
    let mut changed = false;
    for def in after {
        match before.get(def.name.as_str()) {
            Some(version) if *version == def.version_id => {}
            Some(_) => tracing::info!("reloaded: {} version {}", def.name, def.version_id),
            None => tracing::info!("reloaded: {} version {} (added to the config)", def.name, def.version_id),
        }
        changed |= before.get(def.name.as_str()) != Some(&def.version_id);
    }
    let mut removed: Vec<&String> =
        before.keys().filter(|name| !after.iter().any(|def| def.name.as_str() == name.as_str())).collect();
    removed.sort();
    for name in &removed {
        tracing::info!("reloaded: {name} removed from the config; its instances wait until it is back");
    }
    if !changed && removed.is_empty() {
        tracing::debug!("reloaded: no workflow changed");
    }
}

/// The watcher and what it covers.
struct Tree {
    watcher: RecommendedWatcher,
    /// The folders of the configs, none inside another.
    roots: Vec<PathBuf>,
    ignored: Vec<PathBuf>,
    /// Folders of loaded sources outside every root, watched without their subfolders.
    source_folders: HashSet<PathBuf>,
    /// The `node_modules` folders that loaded packages came from, watched without their
    /// subfolders for the end of an install ([`INSTALL_MARKERS`]).
    package_folders: HashSet<PathBuf>,
}

impl Tree {
    /// Watches `root` itself and each of its folders that may hold sources, with their
    /// subfolders. Going one level down by hand keeps `node_modules` and the like out of the
    /// watch list, which matters with inotify's per-folder watches.
    fn watch_root(&mut self, root: &Path) -> Result<(), WatchError> {
        let watch_error = |path: &Path, source| WatchError::Watch { path: path.display().to_string(), source };
        self.watcher.watch(root, RecursiveMode::NonRecursive).map_err(|source| watch_error(root, source))?;
        let Ok(entries) = std::fs::read_dir(root) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) && !self.is_ignored(&path) {
                self.watcher.watch(&path, RecursiveMode::Recursive).map_err(|source| watch_error(&path, source))?;
            }
        }
        Ok(())
    }

    fn watch_source_folders(&mut self, folders: Vec<PathBuf>) {
        for folder in folders {
            if let Some(packages) = node_modules_of(&folder) {
                self.watch_package_folder(packages);
                continue;
            }
            let covered = self.roots.iter().any(|root| folder.starts_with(root));
            if covered || self.source_folders.contains(&folder) {
                continue;
            }
            match self.watcher.watch(&folder, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.source_folders.insert(folder);
                }
                Err(error) => {
                    tracing::warn!("cannot watch {}: {error}; its changes are not reloaded", folder.display())
                }
            }
        }
    }

    fn watch_package_folder(&mut self, folder: PathBuf) {
        if self.package_folders.contains(&folder) {
            return;
        }
        match self.watcher.watch(&folder, RecursiveMode::NonRecursive) {
            Ok(()) => {
                self.package_folders.insert(folder);
            }
            Err(error) => tracing::warn!("cannot watch {}: {error}; installs there are not reloaded", folder.display()),
        }
    }

    /// Whether `path` is an install marker in a watched `node_modules` folder.
    fn is_install_marker(&self, path: &Path) -> bool {
        let name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default();
        INSTALL_MARKERS.contains(&name) && path.parent().is_some_and(|folder| self.package_folders.contains(folder))
    }

    /// Whether `event` concerns the project's sources; also starts watching folders that appear
    /// directly in a root.
    fn take(&mut self, event: notify::Result<Event>) -> bool {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!("file watcher: {error}");
                return false;
            }
        };
        let changes_files = match event.kind {
            EventKind::Create(_) | EventKind::Remove(_) | EventKind::Any => true,
            EventKind::Modify(kind) => !matches!(kind, ModifyKind::Metadata(notify::event::MetadataKind::AccessTime)),
            EventKind::Access(_) | EventKind::Other => false,
        };
        if !changes_files {
            return false;
        }
        if event.paths.iter().any(|path| self.is_install_marker(path)) {
            return true;
        }
        let concerned: Vec<&PathBuf> = event.paths.iter().filter(|path| !self.is_ignored(path)).collect();
        for path in &concerned {
            let in_root = path.parent().is_some_and(|parent| self.roots.iter().any(|root| root == parent));
            if in_root
                && path.is_dir()
                && let Err(error) = self.watcher.watch(path, RecursiveMode::Recursive)
            {
                tracing::warn!("cannot watch {}: {error}; its changes are not reloaded", path.display());
            }
        }
        concerned.iter().any(|path| can_change_the_project(path))
    }

    fn is_ignored(&self, path: &Path) -> bool {
        if self.ignored.iter().any(|ignored| path.starts_with(ignored)) {
            return true;
        }
        let inside_ignored_folder = self.roots.iter().filter_map(|root| path.strip_prefix(root).ok()).any(|relative| {
            relative.components().any(|part| IGNORED_FOLDERS.iter().any(|folder| part.as_os_str() == *folder))
        });
        inside_ignored_folder || path.file_name().and_then(|name| name.to_str()).is_some_and(is_editor_scratch)
    }
}

/// The local secrets files `config::load` reads beside a config (`.dev.vars`, `.env` and their
/// `.<env>` and `.local` forms).
fn is_secrets_file(name: &str) -> bool {
    [".dev.vars", ".env"]
        .iter()
        .any(|stem| name == *stem || name.strip_prefix(stem).is_some_and(|rest| rest.starts_with('.')))
}

/// Configs, local secrets files and the files a module can be: anything else in the project's folders (logs, data,
/// a database written while serving) does not cause a reload, so a log file kept in the
/// project cannot make stepflare reload itself in a loop.
fn can_change_the_project(path: &Path) -> bool {
    let name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default();
    let extension = path.extension().and_then(|extension| extension.to_str()).unwrap_or_default();
    crate::config::CONFIG_FILE_NAMES.contains(&name) || is_secrets_file(name) || SOURCE_EXTENSIONS.contains(&extension)
}

/// The outermost `node_modules` folder that `folder` lies in (pnpm's store lies in another one).
fn node_modules_of(folder: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in folder.components() {
        out.push(part);
        if part.as_os_str() == "node_modules" {
            return Some(out);
        }
    }
    None
}

/// Backups, swap files and the other files editors write beside the one being saved.
fn is_editor_scratch(name: &str) -> bool {
    name.ends_with('~')
        || name.starts_with(".#")
        || (name.starts_with('#') && name.ends_with('#'))
        || [".swp", ".swo", ".swx", ".tmp", "___jb_tmp___", "___jb_old___"].iter().any(|end| name.ends_with(end))
        || name == "4913"
}

/// The folders of the configs, without those inside another (a recursive watch covers them).
fn project_folders(projects: &[Project]) -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> =
        projects.iter().filter_map(|project| project.config.path.parent().map(Path::to_path_buf)).collect();
    folders.sort();
    folders.dedup();
    let mut roots: Vec<PathBuf> = Vec::new();
    for folder in folders {
        if !roots.iter().any(|root| folder.starts_with(root)) {
            roots.push(folder);
        }
    }
    roots
}

/// The folders of every source the projects loaded, which may lie outside the config's folder.
fn source_folders(projects: &[Project]) -> Vec<PathBuf> {
    let codes = projects.iter().flat_map(|project| {
        project.worker.iter().map(|worker| &worker.code).chain(project.workflows.iter().map(|def| &def.code))
    });
    let mut folders: Vec<PathBuf> = codes
        .flat_map(|code| code.loaded_sources())
        .filter_map(|(path, _)| path.parent().map(Path::to_path_buf))
        .collect();
    folders.sort();
    folders.dedup();
    folders
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{can_change_the_project, is_editor_scratch, node_modules_of};

    #[test]
    fn packages_are_watched_from_their_outermost_node_modules() {
        let folder = |path: &str| node_modules_of(Path::new(path)).map(|p| p.display().to_string());
        assert_eq!(folder("/p/node_modules/hono/dist").as_deref(), Some("/p/node_modules"));
        assert_eq!(
            folder("/p/node_modules/.pnpm/a@1/node_modules/a/lib").as_deref(),
            Some("/p/node_modules"),
            "pnpm's store is inside the project's node_modules"
        );
        assert_eq!(folder("/p/src/lib"), None);
    }

    #[test]
    fn only_configs_and_modules_cause_a_reload() {
        for path in [
            "/p/wrangler.jsonc",
            "/p/wrangler.toml",
            "/p/src/index.ts",
            "/p/src/a.mjs",
            "/p/data.json",
            "/p/.dev.vars",
            "/p/.env",
            "/p/.dev.vars.staging",
            "/p/.env.local",
        ] {
            assert!(can_change_the_project(Path::new(path)), "{path}");
        }
        for path in ["/p/dev.log", "/p/out.txt", "/p/src/notes.md", "/p/db.sqlite-wal", "/p/src"] {
            assert!(!can_change_the_project(Path::new(path)), "{path}");
        }
    }

    #[test]
    fn editor_scratch_files_are_told_from_sources() {
        for scratch in ["index.ts~", ".#index.ts", "#index.ts#", ".index.ts.swp", "4913", "index.ts___jb_tmp___"] {
            assert!(is_editor_scratch(scratch), "{scratch}");
        }
        for source in ["index.ts", "wrangler.jsonc", "swap.ts", "tmp.js"] {
            assert!(!is_editor_scratch(source), "{source}");
        }
    }
}
