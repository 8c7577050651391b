//! Compiled JavaScript, kept so that no code is compiled twice: ES modules and the wrapper
//! functions of CommonJS modules and built-ins, as QuickJS bytecode, in memory for as long as a
//! project version lives, and on disk (in the user's cache folder, keyed by the source, the
//! module's name and the running stepflare executable) so that a later start of the same project
//! only reads it. Compiling is most of the time a large package costs (zod's 850 kB take QuickJS
//! about 90 ms); reading its bytecode takes a few.

use std::collections::HashMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rquickjs::module::{Declared, WriteOptions};
use rquickjs::{Ctx, Error, Function, Module, Value, qjs};

/// Bytecode by module name, in memory and maybe on disk.
#[derive(Debug, Default)]
pub(super) struct BytecodeCache {
    memory: Mutex<HashMap<String, Arc<[u8]>>>,
    disk: Option<DiskCache>,
}

impl BytecodeCache {
    /// A cache that also reads and writes the user's cache folder, when there is one.
    pub fn with_disk() -> Self {
        BytecodeCache { memory: Mutex::default(), disk: DiskCache::open() }
    }

    /// The ES module `name`, from bytecode when it was compiled before, else compiled from
    /// `source()` and remembered.
    pub fn module<'js>(
        &self,
        ctx: &Ctx<'js>,
        name: &str,
        source: impl FnOnce() -> rquickjs::Result<Arc<str>>,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        self.cached(
            "module",
            name,
            source,
            // SAFETY: the bytes were written by `Module::write` of this same QuickJS build, in
            // this process or (on disk) by this same executable, and checked whole since.
            |bytes| unsafe { Module::load(ctx.clone(), bytes) },
            |source| {
                let module = Module::declare(ctx.clone(), name, source.as_bytes())?;
                let bytes = module.write(WriteOptions::default()).ok();
                Ok((module, bytes))
            },
        )
    }

    /// The function that the script `source()` evaluates to (a CommonJS wrapper, `(function
    /// (exports, require, module) {…})`), compiled as sloppy-mode global code under `name`, from
    /// bytecode when it was compiled before.
    pub fn script_function<'js>(
        &self,
        ctx: &Ctx<'js>,
        name: &str,
        source: impl FnOnce() -> rquickjs::Result<String>,
    ) -> rquickjs::Result<Function<'js>> {
        let compiled = self.cached(
            "script",
            name,
            source,
            // SAFETY: written by `write_script` of this same QuickJS build, and checked since.
            |bytes| unsafe { read_script(ctx, bytes) },
            |source| {
                let compiled = compile_script(ctx, name, source)?;
                let bytes = write_script(ctx, &compiled);
                Ok((compiled, bytes))
            },
        )?;
        run_script(ctx, compiled)?.into_function().ok_or_else(|| Error::new_from_js("value", "function"))
    }

    /// What `kind` of code `name` compiles to: read from the bytecode remembered in memory, else
    /// from the disk cache (a file that does not read back is passed over), else compiled from
    /// `source()`, whose bytecode is then remembered and written to disk.
    fn cached<T, S: AsRef<str>>(
        &self,
        kind: &str,
        name: &str,
        source: impl FnOnce() -> rquickjs::Result<S>,
        read: impl Fn(&[u8]) -> rquickjs::Result<T>,
        compile: impl FnOnce(&str) -> rquickjs::Result<(T, Option<Vec<u8>>)>,
    ) -> rquickjs::Result<T> {
        let remembered_as = format!("{kind}:{name}");
        if let Some(bytes) = self.remembered(&remembered_as) {
            return read(&bytes);
        }
        let source = source()?;
        let key = self.disk.as_ref().map(|disk| disk.key(kind, name, source.as_ref()));
        if let Some(bytes) = key.as_ref().and_then(|key| self.disk.as_ref()?.read(key))
            && let Ok(compiled) = read(&bytes)
        {
            self.remember(&remembered_as, bytes);
            return Ok(compiled);
        }
        let (compiled, bytes) = compile(source.as_ref())?;
        if let Some(bytes) = bytes {
            if let (Some(disk), Some(key)) = (&self.disk, &key) {
                disk.write(key, &bytes);
            }
            self.remember(&remembered_as, bytes.into());
        }
        Ok(compiled)
    }

    fn remembered(&self, name: &str) -> Option<Arc<[u8]>> {
        self.lock().get(name).cloned()
    }

    fn remember(&self, name: &str, bytes: Arc<[u8]>) {
        self.lock().insert(name.to_owned(), bytes);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<[u8]>>> {
        self.memory.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Compiles `source` as global script code without running it.
fn compile_script<'js>(ctx: &Ctx<'js>, name: &str, source: &str) -> rquickjs::Result<Value<'js>> {
    let text = CString::new(source)?;
    let file = CString::new(name)?;
    let flags = (qjs::JS_EVAL_TYPE_GLOBAL | qjs::JS_EVAL_FLAG_COMPILE_ONLY) as i32;
    // SAFETY: both strings are NUL-terminated and outlive the call; the result is owned by us.
    let compiled =
        unsafe { qjs::JS_Eval(ctx.as_raw().as_ptr(), text.as_ptr(), source.len() as _, file.as_ptr(), flags) };
    owned(ctx, compiled)
}

/// Runs compiled script code; its completion value (the wrapper function) is the result.
fn run_script<'js>(ctx: &Ctx<'js>, compiled: Value<'js>) -> rquickjs::Result<Value<'js>> {
    let raw = compiled.as_raw();
    // SAFETY: JS_EvalFunction takes over one reference, so one is added for it; `compiled`
    // still drops its own.
    let result = unsafe {
        let raw = qjs::JS_DupValue(ctx.as_raw().as_ptr(), raw);
        qjs::JS_EvalFunction(ctx.as_raw().as_ptr(), raw)
    };
    owned(ctx, result)
}

fn write_script(ctx: &Ctx<'_>, compiled: &Value<'_>) -> Option<Vec<u8>> {
    let mut length = 0;
    // SAFETY: `compiled` is a live value of this context; the buffer is ours to free.
    unsafe {
        let buffer = qjs::JS_WriteObject(
            ctx.as_raw().as_ptr(),
            &mut length,
            compiled.as_raw(),
            qjs::JS_WRITE_OBJ_BYTECODE as i32,
        );
        if buffer.is_null() {
            let _ = ctx.catch();
            return None;
        }
        let bytes = std::slice::from_raw_parts(buffer, length as usize).to_vec();
        qjs::js_free(ctx.as_raw().as_ptr(), buffer.cast());
        Some(bytes)
    }
}

/// # Safety
/// `bytes` must be bytecode written by [`write_script`] of this QuickJS build.
unsafe fn read_script<'js>(ctx: &Ctx<'js>, bytes: &[u8]) -> rquickjs::Result<Value<'js>> {
    let flags = qjs::JS_READ_OBJ_BYTECODE as i32;
    let value = unsafe { qjs::JS_ReadObject(ctx.as_raw().as_ptr(), bytes.as_ptr(), bytes.len() as _, flags) };
    owned(ctx, value)
}

/// A value QuickJS handed over, or the exception it raised instead.
fn owned<'js>(ctx: &Ctx<'js>, raw: qjs::JSValue) -> rquickjs::Result<Value<'js>> {
    // SAFETY: `raw` is a value (or the exception marker) returned to us by QuickJS in `ctx`.
    unsafe {
        if qjs::JS_IsException(raw) {
            return Err(Error::Exception);
        }
        Ok(Value::from_raw(ctx.clone(), raw))
    }
}

/// Bytecode files in the user's cache folder. A file holds a magic number, a checksum of the
/// bytecode and the bytecode; it is written beside its final name and renamed into place, so a
/// reader never sees half of one.
#[derive(Debug)]
struct DiskCache {
    folder: PathBuf,
}

const MAGIC: &[u8; 8] = b"SFQJSBC1";

impl DiskCache {
    /// `$STEPFLARE_CACHE_DIR`, else `$XDG_CACHE_HOME/stepflare`, else `~/.cache/stepflare`; its
    /// `bytecode` folder. `None` when there is none or it cannot be made.
    fn open() -> Option<DiskCache> {
        let base = std::env::var_os("STEPFLARE_CACHE_DIR").map(PathBuf::from).or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))?;
            Some(cache.join("stepflare"))
        })?;
        let folder = base.join("bytecode");
        std::fs::create_dir_all(&folder).ok()?;
        let pruned = folder.clone();
        // Files of older executables and of edited sources are never read again.
        let _ = std::thread::Builder::new().name("bytecode-prune".into()).spawn(move || prune(&pruned));
        Some(DiskCache { folder })
    }

    /// The file for `source` compiled as `kind` under `name` by this executable.
    fn key(&self, kind: &str, name: &str, source: &str) -> PathBuf {
        let mut first = Fnv::new(0xcbf2_9ce4_8422_2325);
        let mut second = Fnv::new(0x6c62_272e_07bb_0142);
        for part in [build_id().as_bytes(), kind.as_bytes(), name.as_bytes(), source.as_bytes()] {
            first.feed(part);
            second.feed(part);
            first.feed(&[0]);
            second.feed(&[0]);
        }
        self.folder.join(format!("{:016x}{:016x}.qjsbc", first.0, second.0))
    }

    fn read(&self, file: &Path) -> Option<Arc<[u8]>> {
        let data = std::fs::read(file).ok()?;
        let payload = data.strip_prefix(MAGIC.as_slice())?;
        let (checksum, bytecode) = payload.split_at_checked(8)?;
        let mut sum = Fnv::new(0xcbf2_9ce4_8422_2325);
        sum.feed(bytecode);
        (checksum == sum.0.to_le_bytes()).then(|| bytecode.into())
    }

    fn write(&self, file: &Path, bytecode: &[u8]) {
        let mut sum = Fnv::new(0xcbf2_9ce4_8422_2325);
        sum.feed(bytecode);
        let mut data = Vec::with_capacity(MAGIC.len() + 8 + bytecode.len());
        data.extend_from_slice(MAGIC);
        data.extend_from_slice(&sum.0.to_le_bytes());
        data.extend_from_slice(bytecode);
        let scratch = file.with_extension(format!("tmp{}", std::process::id()));
        // A cache that cannot be written is only slower.
        if std::fs::write(&scratch, &data).is_ok() && std::fs::rename(&scratch, file).is_err() {
            let _ = std::fs::remove_file(&scratch);
        }
    }
}

/// How long a bytecode file is kept after it was written; one still in use is written again
/// after it is gone, at the cost of one compilation.
const KEPT_FOR: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 60 * 60);

/// Removes the files of `folder` written more than [`KEPT_FOR`] ago.
fn prune(folder: &Path) {
    let Ok(entries) = std::fs::read_dir(folder) else { return };
    for entry in entries.flatten() {
        let old = entry.metadata().and_then(|meta| meta.modified()).ok().and_then(|written| written.elapsed().ok());
        if old.is_some_and(|age| age > KEPT_FOR) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// What identifies the QuickJS build that writes bytecode: stepflare's version and the running
/// executable's size and modification time.
fn build_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let executable = std::env::current_exe().and_then(std::fs::metadata);
        let (size, modified) = match executable {
            Ok(meta) => (
                meta.len(),
                meta.modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos()),
            ),
            Err(_) => (0, std::process::id() as u128),
        };
        format!("{}:{size}:{modified}", env!("CARGO_PKG_VERSION"))
    })
}

/// FNV-1a, 64 bits: stable across runs and Rust versions.
struct Fnv(u64);

impl Fnv {
    fn new(offset: u64) -> Self {
        Fnv(offset)
    }

    fn feed(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_written_more_than_thirty_days_ago_are_pruned() {
        let folder = tempfile::tempdir().expect("a folder");
        let old = folder.path().join("old.qjsbc");
        let recent = folder.path().join("recent.qjsbc");
        std::fs::write(&old, b"old").expect("write");
        std::fs::write(&recent, b"recent").expect("write");
        let long_ago = std::time::SystemTime::now() - KEPT_FOR - std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .and_then(|file| file.set_modified(long_ago))
            .expect("age a file");
        prune(folder.path());
        assert!(!old.exists(), "an old file stays");
        assert!(recent.exists(), "a recent file went");
    }

    #[test]
    fn a_damaged_file_is_not_read_back() {
        let folder = tempfile::tempdir().expect("a folder");
        let disk = DiskCache { folder: folder.path().to_path_buf() };
        let file = disk.key("module", "/p/a.js", "export {}");
        disk.write(&file, b"bytecode");
        assert_eq!(disk.read(&file).as_deref(), Some(b"bytecode".as_slice()));
        let mut bytes = std::fs::read(&file).expect("read");
        *bytes.last_mut().expect("a byte") ^= 1;
        std::fs::write(&file, bytes).expect("damage");
        assert_eq!(disk.read(&file), None);
        assert_ne!(file, disk.key("module", "/p/a.js", "export { x }"), "another source, another file");
    }
}
