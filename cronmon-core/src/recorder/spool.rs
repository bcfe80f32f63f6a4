//! The spool: events that could not be delivered, kept as JSON lines until a later `Monitor`
//! of the same destination replays them.
//!
//! Each process appends to a file of its own (`<key>-<pid>-<uuid>.jsonl`, `key` a hash of the
//! destination URL), so writers never interleave, and holds an exclusive `flock` on it for as
//! long as it may append. A replayer claims a file only once it holds that lock itself — the
//! writer closed the file or is gone, whatever pid namespace it ran in — renames it to
//! `….replaying-<pid>` while holding it, and deletes it once delivered. The file of a replayer
//! that died has a free lock again and is claimed the same way. Pids in names only make them
//! unique and keep the names of earlier versions, whose files are replayed alike.
//!
//! An append never follows a half line: each process starts a new file, and a write that fails
//! half-way (a full disk) is cut off again, or the next append starts another file. A half line
//! can thus only end the file of a process that died mid-write; the reader keeps it, with any
//! other line that does not parse, in the dead-letter file.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::hash::Hasher;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Counters, Destination};
use crate::model::Event;

/// The reason kept beside a spool line that does not parse.
const DAMAGED: &str = "damaged spool line";

/// The spool folder: `CRONMON_SPOOL_DIR` when set, else `cronmon/spool` in the per-user state
/// folder (`$XDG_STATE_HOME`, else `~/.local/state` on Linux), else in the per-user local data
/// folder where the platform has no state folder (macOS, Windows).
pub(crate) fn default_spool_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CRONMON_SPOOL_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .map(|d| d.join("cronmon").join("spool"))
}

/// The key that names a destination's spool files: the 64-bit FNV-1a hash of its URL, stable
/// across Rust releases and machines (unlike `DefaultHasher`), so spool files written by one
/// version are replayed by the next.
pub(crate) fn key_of(identity: &str) -> u64 {
    let mut hasher = fnv::FnvHasher::default();
    // `write`, not `Hash::hash`: `str`'s `Hash` adds a terminator byte, which would change
    // every key.
    hasher.write(identity.as_bytes());
    hasher.finish()
}

/// Appends `events` to the destination's spool file of this process and syncs it to disk,
/// counting them as spooled once synced, or as dropped (with a message) when even that fails.
/// Returns whether they were spooled.
pub(super) fn spool(destination: &Destination, events: &[Event], counters: &Counters) -> bool {
    write(destination, events, counters, true)
}

/// [`spool`] from a job's thread (the queue was full): written now, but synced — and counted
/// as spooled — by the next [`sync`] or synced append, so a burst does not make the job wait
/// on the disk for each event.
pub(super) fn spool_from_job(destination: &Destination, events: &[Event], counters: &Counters) {
    write(destination, events, counters, false);
}

/// Syncs what job threads appended to the destination's spool file, counting it as spooled.
pub(super) fn sync(destination: &Destination, counters: &Counters) {
    destination.spool.sync(counters);
}

fn write(destination: &Destination, events: &[Event], counters: &Counters, durable: bool) -> bool {
    if events.is_empty() {
        return true;
    }
    let written = destination.spool.append(
        destination.spool_dir.as_deref(),
        destination.key,
        events,
        durable,
        counters,
    );
    match written {
        Ok(()) => {
            destination.spool_pending.store(true, Ordering::Relaxed);
            true
        }
        Err(e) => {
            Counters::add(&counters.dropped, events.len());
            eprintln!(
                "cronmon: {} events for {} lost: cannot write the spool file ({e})",
                events.len(),
                destination.config.describe()
            );
            false
        }
    }
}

/// One line of the dead-letter file: an event with why it was refused, or the text of a spool
/// line that does not parse.
#[derive(Serialize)]
struct DeadLine<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'a Event>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<&'a str>,
    reason: &'a str,
    at: chrono::DateTime<chrono::Utc>,
}

/// Keeps an event its destination refused for good as invalid in the destination's
/// dead-letter file (`dead-letter-<key>.jsonl` in the spool folder, never replayed), with the
/// reason, so nothing is silently lost; counted as dead-lettered, or as dropped when even that
/// write fails.
pub(super) fn dead_letter(
    destination: &Destination,
    event: &Event,
    why: &str,
    counters: &Counters,
) {
    let line = DeadLine {
        event: Some(event),
        line: None,
        reason: why,
        at: chrono::Utc::now(),
    };
    match append_dead(destination, &[line]) {
        Ok(path) => {
            Counters::add(&counters.dead_lettered, 1);
            eprintln!(
                "cronmon: {} refused run {} as invalid ({why}); the event is kept in {}",
                destination.config.describe(),
                event.execution_id(),
                path.display()
            );
        }
        Err(e) => {
            Counters::add(&counters.dropped, 1);
            eprintln!(
                "cronmon: {} refused run {} as invalid ({why}) and the dead-letter file cannot \
                 be written ({e}): the event is lost",
                destination.config.describe(),
                event.execution_id()
            );
        }
    }
}

/// Keeps spool lines that do not parse (`source` is the spool file they were in) in the
/// dead-letter file as they were, counted as dead-lettered.
pub(super) fn dead_letter_damaged(
    destination: &Destination,
    lines: &[String],
    source: &Path,
    counters: &Counters,
) {
    if lines.is_empty() {
        return;
    }
    let at = chrono::Utc::now();
    let dead: Vec<_> = lines
        .iter()
        .map(|l| DeadLine {
            event: None,
            line: Some(l),
            reason: DAMAGED,
            at,
        })
        .collect();
    match append_dead(destination, &dead) {
        Ok(path) => {
            Counters::add(&counters.dead_lettered, lines.len());
            eprintln!(
                "cronmon: {} damaged lines in spool file {} (a process died while writing?) \
                 are kept in {}",
                lines.len(),
                source.display(),
                path.display()
            );
        }
        Err(e) => {
            Counters::add(&counters.dropped, lines.len());
            eprintln!(
                "cronmon: {} damaged lines in spool file {} are lost: the dead-letter file \
                 cannot be written ({e})",
                lines.len(),
                source.display()
            );
        }
    }
}

/// Appends to the destination's dead-letter file, which every process of the destination
/// shares: under its lock, on a line of its own even after a writer died mid-line, synced.
fn append_dead(destination: &Destination, lines: &[DeadLine<'_>]) -> io::Result<PathBuf> {
    let dir = destination.spool.dir(destination.spool_dir.as_deref())?;
    let path = dir.join(format!("dead-letter-{:016x}.jsonl", destination.key));
    let mut text = String::new();
    for line in lines {
        text.push_str(&serde_json::to_string(line).map_err(io::Error::other)?);
        text.push('\n');
    }
    let mut options = OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path)?;
    // Held only for one append by anyone: a lock still taken after a second is a process
    // stopped mid-write, and waiting longer would stall the recorder; appends are atomic
    // enough without it.
    let locked = (0..100).any(|_| match file.try_lock() {
        Ok(()) => true,
        Err(_) => {
            std::thread::sleep(Duration::from_millis(10));
            false
        }
    });
    if locked && ends_mid_line(&mut file)? {
        text.insert(0, '\n');
    }
    file.write_all(text.as_bytes())?;
    file.sync_data()?;
    Ok(path)
}

/// Whether the file's last byte is not a newline (a writer died mid-line).
fn ends_mid_line(file: &mut File) -> io::Result<bool> {
    if file.metadata()?.len() == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

#[derive(Serialize, Deserialize)]
struct Line {
    event: Event,
}

fn lines_of(events: &[Event]) -> io::Result<String> {
    let mut text = String::new();
    for event in events {
        let line = serde_json::to_string(&Line {
            event: event.clone(),
        })
        .map_err(io::Error::other)?;
        text.push_str(&line);
        text.push('\n');
    }
    Ok(text)
}

/// This process's spool file of one destination, opened (and locked) on first use, and
/// whether the destination's spool folder may be used at all.
#[derive(Debug, Default)]
pub(crate) struct SpoolFile {
    open: Mutex<Option<Open>>,
    /// Set once the folder exists and was checked: why it is refused, if it is.
    refused: OnceLock<Option<String>>,
}

/// The open, locked file.
#[derive(Debug)]
struct Open {
    file: File,
    /// Bytes written whole: a failed write is cut back to this.
    len: u64,
    /// Events written by job threads and not synced yet.
    unsynced: usize,
}

impl SpoolFile {
    /// The spool folder `dir`, made if missing (readable by its owner only). An existing folder
    /// that its group or others may write to is refused, since anyone could plant runs there
    /// or remove them: checked once, with one warning that names the fix.
    pub(crate) fn dir<'a>(&self, dir: Option<&'a Path>) -> io::Result<&'a Path> {
        let Some(dir) = dir else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no spool folder: set CRONMON_SPOOL_DIR or HOME",
            ));
        };
        let verdict = match self.refused.get() {
            Some(verdict) => verdict.clone(),
            None => {
                create_dir(dir)?;
                let verdict = refusal(dir)?;
                if self.refused.set(verdict.clone()).is_ok()
                    && let Some(why) = &verdict
                {
                    eprintln!("cronmon: {why}; until then, runs that cannot be delivered are lost");
                }
                verdict
            }
        };
        match verdict {
            // The fix was told once, in the warning.
            Some(_) => Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "the spool folder {} is refused: writable by its group or others",
                    dir.display()
                ),
            )),
            None => Ok(dir),
        }
    }

    /// Appends `events` (one write), then syncs the file when `durable`, counting as spooled
    /// every event synced by it.
    fn append(
        &self,
        dir: Option<&Path>,
        key: u64,
        events: &[Event],
        durable: bool,
        counters: &Counters,
    ) -> io::Result<()> {
        let dir = self.dir(dir)?;
        let text = lines_of(events)?;
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.is_none() {
            *open = Some(Open {
                file: create(dir, key)?,
                len: 0,
                unsynced: 0,
            });
        }
        let Some(o) = open.as_mut() else {
            return Err(io::Error::other("spool file vanished"));
        };
        let written = o
            .file
            .write_all(text.as_bytes())
            .and_then(|()| if durable { o.file.sync_data() } else { Ok(()) });
        match written {
            Ok(()) => {
                o.len += text.len() as u64;
                if durable {
                    Counters::add(&counters.spooled, events.len() + o.unsynced);
                    o.unsynced = 0;
                } else {
                    o.unsynced += events.len();
                }
                Ok(())
            }
            Err(e) => {
                // Cut off what this write left, so the next append starts on a line of its
                // own; if even that fails, the next append starts a new file.
                if o.file
                    .set_len(o.len)
                    .and_then(|()| o.file.sync_data())
                    .is_err()
                {
                    *open = None;
                }
                Err(e)
            }
        }
    }

    /// Syncs what job threads appended, counting it as spooled (as dropped if the disk
    /// refuses it).
    fn sync(&self, counters: &Counters) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        Self::sync_open(&mut open, counters);
    }

    fn sync_open(open: &mut Option<Open>, counters: &Counters) {
        let Some(o) = open.as_mut() else { return };
        if o.unsynced == 0 {
            return;
        }
        let n = std::mem::take(&mut o.unsynced);
        match o.file.sync_data() {
            Ok(()) => Counters::add(&counters.spooled, n),
            Err(e) => {
                Counters::add(&counters.dropped, n);
                eprintln!("cronmon: {n} spooled events may be lost: the disk refused them ({e})");
                *open = None;
            }
        }
    }

    /// Syncs and closes the file, releasing its lock, so that it can be claimed and the next
    /// append starts a new one. Under the mutex appends take: no append can land in a file
    /// once it may be claimed.
    pub(crate) fn close(&self, counters: &Counters) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        Self::sync_open(&mut open, counters);
        *open = None;
    }
}

/// The spool folder, made if missing: readable by its owner only.
fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Why the existing folder `dir` must not be used, if it must not.
fn refusal(dir: &Path) -> io::Result<Option<String>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir)?.permissions().mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Ok(Some(format!(
                "the spool folder {} is writable by its group or others (mode {mode:o}), so \
                 it is not used: anyone could plant runs there or remove them. Make it \
                 private: chmod 700 {}",
                dir.display(),
                dir.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(None)
}

/// Makes a new file's name durable along with its content.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Whether `path` still names the file open as `file` (not renamed or deleted since).
fn same_file(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.exists()
    }
}

/// A new spool file of this process, locked.
fn create(dir: &Path, key: u64) -> io::Result<File> {
    // A replayer may lock a file between its creation and our lock; it then deletes it (it
    // is empty): make another.
    for _ in 0..3 {
        let path = dir.join(format!(
            "{key:016x}-{}-{}.jsonl",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        ));
        let mut options = OpenOptions::new();
        options.append(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path)?;
        match file.try_lock() {
            Ok(()) if same_file(&file, &path) => {
                sync_dir(dir);
                return Ok(file);
            }
            Ok(()) | Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => {
                let _ = fs::remove_file(&path);
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot lock a spool file (the folder must allow flock): {e}"),
                ));
            }
        }
    }
    Err(io::Error::other(
        "every new spool file was claimed by a replayer at once",
    ))
}

/// What a file in the spool folder is, by its name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `<key>-<pid>-<uuid>.jsonl`: written by a process (maybe still).
    Written,
    /// `….jsonl.replaying-<pid>`: claimed by a replayer (maybe dead).
    Replaying,
    /// `….jsonl.rest-<pid>`: what a replayer was writing back when it died; the claimed
    /// file it came from still holds all of it.
    Rest,
}

/// The name `name` had before any claim, and its kind, if it is a spool file of `prefix`.
fn parse_name<'a>(name: &'a str, prefix: &str) -> Option<(&'a str, Kind)> {
    let rest = name.strip_prefix(prefix)?;
    let (_, tail) = rest.split_once(".jsonl")?;
    let original = &name[..name.len() - tail.len()];
    if tail.is_empty() {
        return Some((original, Kind::Written));
    }
    let pid_after = |p: &str| {
        tail.strip_prefix(p)
            .is_some_and(|pid| pid.parse::<u32>().is_ok())
    };
    if pid_after(".replaying-") {
        Some((original, Kind::Replaying))
    } else if pid_after(".rest-") {
        Some((original, Kind::Rest))
    } else {
        None
    }
}

/// A spool file this process claimed for replay: renamed to `….replaying-<pid>`, and locked
/// until it is deleted or given back.
#[derive(Debug)]
pub(crate) struct Claimed {
    file: File,
    path: PathBuf,
    original: PathBuf,
}

/// What a claimed file holds.
pub(crate) struct Contents {
    pub(crate) events: Vec<Event>,
    /// Lines that do not parse, as they were.
    pub(crate) damaged: Vec<String>,
}

impl Claimed {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The events in the file, and the lines that do not parse (a crash mid-write).
    pub(crate) fn read(&mut self) -> io::Result<Contents> {
        let mut bytes = Vec::new();
        self.file.seek(SeekFrom::Start(0))?;
        self.file.read_to_end(&mut bytes)?;
        let mut contents = Contents {
            events: Vec::new(),
            damaged: Vec::new(),
        };
        for line in bytes.split(|b| *b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Line>(line) {
                Ok(l) => contents.events.push(l.event),
                Err(_) => contents
                    .damaged
                    .push(String::from_utf8_lossy(line).into_owned()),
            }
        }
        Ok(contents)
    }

    /// Deletes the file (everything in it was delivered or kept elsewhere).
    pub(crate) fn delete(self) {
        let _ = fs::remove_file(&self.path);
    }

    /// Gives the file back whole, for a later replay.
    pub(crate) fn release(self) {
        let _ = fs::rename(&self.path, &self.original);
    }

    /// Replaces the file by `rest`, what is left to deliver of it, under its first name (so
    /// it keeps its place in the replay order); what was delivered is not sent again. On an
    /// error the file is given back whole.
    pub(crate) fn put_back(self, rest: &[Event]) -> io::Result<()> {
        if rest.is_empty() {
            self.delete();
            return Ok(());
        }
        let tmp = PathBuf::from(format!(
            "{}.rest-{}",
            self.original.display(),
            std::process::id()
        ));
        let written = (|| -> io::Result<()> {
            let mut options = OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp)?;
            // Locked so that no replayer takes it for what a dead one left.
            file.try_lock().map_err(io::Error::from)?;
            file.write_all(lines_of(rest)?.as_bytes())?;
            file.sync_data()?;
            fs::rename(&tmp, &self.original)?;
            if let Some(dir) = self.original.parent() {
                sync_dir(dir);
            }
            Ok(())
        })();
        match written {
            Ok(()) => {
                self.delete();
                Ok(())
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                self.release();
                Err(e)
            }
        }
    }
}

/// Claims the oldest spool file of destination `key` in `dir` that nobody holds: not one a
/// live process is writing (it holds its lock) nor one another replayer took.
pub(crate) fn claim_next(dir: &Path, key: u64) -> Option<Claimed> {
    let entries = fs::read_dir(dir).ok()?;
    let prefix = format!("{key:016x}-");
    let mut candidates: Vec<(String, String, Kind)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let (original, kind) = parse_name(&name, &prefix)?;
            let original = original.to_owned();
            Some((name, original, kind))
        })
        .collect();
    // By the uuid in the name (a UUIDv7: the time the file was made), the oldest first.
    let age = |original: &str| {
        original[prefix.len()..]
            .split_once('-')
            .map_or(String::new(), |(_, uuid)| uuid.to_owned())
    };
    candidates.sort_by_cached_key(|(name, original, _)| (age(original), name.clone()));
    let me = std::process::id();
    for (name, original, kind) in candidates {
        let from = dir.join(&name);
        let Ok(file) = File::open(&from) else {
            continue;
        };
        if file.try_lock().is_err() || !same_file(&file, &from) {
            continue;
        }
        if kind == Kind::Rest {
            let _ = fs::remove_file(&from);
            continue;
        }
        let to = dir.join(format!("{original}.replaying-{me}"));
        if from != to && fs::rename(&from, &to).is_err() {
            continue;
        }
        return Some(Claimed {
            file,
            path: to,
            original: dir.join(original),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FNV-1a of `sqlite://a.db`, as written in spool file names since the first release.
    const KEY_OF_SQLITE_A_DB: u64 = 0x3ed8_3239_3a51_3a7a;

    #[test]
    fn keys_are_stable_across_builds() {
        // FNV-1a of "sqlite://a.db": spool files written by one version are replayed by the next.
        assert_eq!(key_of("sqlite://a.db"), key_of("sqlite://a.db"));
        assert_ne!(key_of("sqlite://a.db"), key_of("sqlite://b.db"));
        assert_eq!(key_of(""), 0xcbf2_9ce4_8422_2325);
        // Bit for bit the FNV-1a that named spool files before this crate was used for it.
        let by_hand = |s: &str| {
            s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
        };
        for url in [
            "sqlite://a.db",
            "postgres://u:p@h/db",
            "http://h:8080/api/admin",
            "é",
        ] {
            assert_eq!(key_of(url), by_hand(url), "{url}");
        }
        assert_eq!(key_of("sqlite://a.db"), KEY_OF_SQLITE_A_DB);
    }

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cronmon-spool-unit-{}", uuid::Uuid::now_v7()));
        create_dir(&dir).unwrap();
        dir
    }

    fn event() -> Event {
        let mut f =
            crate::model::Finish::now(uuid::Uuid::now_v7(), crate::model::Status::Completed);
        f.duration_ms = Some(1);
        Event::Finish(f)
    }

    fn line() -> String {
        serde_json::to_string(&Line { event: event() }).unwrap()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn claim_every(dir: &Path, key: u64) -> Vec<Claimed> {
        std::iter::from_fn(|| claim_next(dir, key)).collect()
    }

    #[test]
    fn a_file_is_claimed_when_its_lock_is_free_whatever_its_pid() {
        let dir = temp_dir();
        let key = 42u64;
        let me = std::process::id();
        // pid 1 is alive (and in another pid namespace it would look dead): the pid decides
        // nothing.
        let live_pid = format!("{key:016x}-1-0001.jsonl");
        let held = format!("{key:016x}-{}-0002.jsonl", i32::MAX);
        let dead_replayer = format!("{key:016x}-1-0003.jsonl.replaying-1");
        let ours = format!("{key:016x}-{me}-0004.jsonl");
        let other_dest = format!("{:016x}-{}-0005.jsonl", key + 1, i32::MAX);
        let left_rest = format!("{key:016x}-1-0006.jsonl.rest-1");
        for name in [
            &live_pid,
            &held,
            &dead_replayer,
            &ours,
            &other_dest,
            &left_rest,
        ] {
            fs::write(dir.join(name), format!("{}\n", line())).unwrap();
        }
        // A live writer (a second open file description: flock is per open file, so this is
        // what another process holding it looks like).
        let writer = File::open(dir.join(&held)).unwrap();
        writer.lock().unwrap();

        let claimed = claim_every(&dir, key);
        let originals: Vec<_> = claimed
            .iter()
            .map(|c| c.original.file_name().unwrap().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            originals,
            [
                live_pid.clone(),
                format!("{key:016x}-1-0003.jsonl"),
                ours.clone()
            ],
            "oldest first, the held file and other destinations left alone"
        );
        // A write-back a dead replayer left is dropped: the file it came from holds it all.
        assert!(!dir.join(&left_rest).exists());
        for mut c in claimed {
            assert!(
                c.path()
                    .to_str()
                    .unwrap()
                    .ends_with(&format!(".replaying-{me}"))
            );
            assert_eq!(c.read().unwrap().events.len(), 1);
            c.delete();
        }
        assert_eq!(names(&dir), [held.clone(), other_dest.clone()]);

        // Claimed by another replayer (it holds the lock): not ours to take either.
        assert!(claim_next(&dir, key).is_none());
        drop(writer);
        let mut c = claim_next(&dir, key).expect("released: claimed");
        assert_eq!(c.read().unwrap().events.len(), 1);
        assert!(claim_next(&dir, key).is_none(), "held by the claim");
        c.release();
        assert_eq!(names(&dir), [held, other_dest]);
        let _ = fs::remove_dir_all(&dir);
    }

    /// A job thread appends while the replayer closes our file and claims files over and over:
    /// every event appended is read by exactly one claim (none lands in a file once claimed).
    #[test]
    fn no_append_lands_in_a_claimed_file() {
        let dir = temp_dir();
        let key = 7u64;
        let spool = std::sync::Arc::new(SpoolFile::default());
        let counters = std::sync::Arc::new(Counters::default());
        const N: usize = 3000;
        let writer = {
            let (spool, counters, dir) = (spool.clone(), counters.clone(), dir.clone());
            std::thread::spawn(move || {
                for _ in 0..N {
                    spool
                        .append(Some(&dir), key, &[event()], false, &counters)
                        .unwrap();
                }
            })
        };
        let mut read = 0;
        let mut rounds = 0;
        loop {
            let finished = writer.is_finished();
            spool.close(&counters);
            for mut c in claim_every(&dir, key) {
                let contents = c.read().unwrap();
                assert!(contents.damaged.is_empty(), "{:?}", contents.damaged);
                read += contents.events.len();
                c.delete();
            }
            rounds += 1;
            if finished {
                break;
            }
        }
        writer.join().unwrap();
        assert_eq!(read, N, "after {rounds} rounds");
        // Each closed file's events were synced as it was closed.
        assert_eq!(counters.spooled.load(Ordering::Relaxed), N as u64);
        assert!(names(&dir).is_empty(), "{:?}", names(&dir));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn damaged_lines_are_read_apart_and_the_rest_put_back() {
        let dir = temp_dir();
        let key = 9u64;
        let name = format!("{key:016x}-1-0001.jsonl");
        let text = format!(
            "{}\nnot json\n{}\n\n{}\n{{\"event\":{{\"Fin",
            line(),
            line(),
            line()
        );
        fs::write(dir.join(&name), text).unwrap();
        let mut c = claim_next(&dir, key).unwrap();
        let contents = c.read().unwrap();
        assert_eq!(contents.events.len(), 3);
        assert_eq!(contents.damaged, ["not json", "{\"event\":{\"Fin"]);
        // Two delivered: the third is written back under the first name, alone.
        c.put_back(&contents.events[2..]).unwrap();
        assert_eq!(names(&dir), vec![name.clone()]);
        let mut c = claim_next(&dir, key).unwrap();
        let again = c.read().unwrap();
        assert_eq!(again.events.len(), 1);
        assert_eq!(
            again.events[0].execution_id(),
            contents.events[2].execution_id()
        );
        assert!(again.damaged.is_empty());
        c.put_back(&[]).unwrap();
        assert!(names(&dir).is_empty());
        let _ = fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn a_folder_others_may_write_to_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let spool = SpoolFile::default();
        let counters = Counters::default();
        let e = spool
            .append(Some(&dir), 1, &[event()], true, &counters)
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        let why = e.to_string();
        assert!(
            why.contains(&dir.display().to_string()) && why.contains("group or others"),
            "{why}"
        );
        assert!(names(&dir).is_empty(), "nothing written there");
        // Checked once: made private afterwards, this destination still keeps out of it (the
        // next process uses it).
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        assert!(spool.dir(Some(&dir)).is_err());
        let fresh = SpoolFile::default();
        fresh
            .append(Some(&dir), 1, &[event()], true, &counters)
            .unwrap();
        assert_eq!(counters.spooled.load(Ordering::Relaxed), 1);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_dead_letter_file_starts_each_append_on_a_line_of_its_own() {
        let dir = temp_dir();
        let path = dir.join("dead");
        fs::write(&path, "{\"half").unwrap();
        let mut f = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .unwrap();
        assert!(ends_mid_line(&mut f).unwrap());
        fs::write(&path, "{}\n").unwrap();
        let mut f = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .unwrap();
        assert!(!ends_mid_line(&mut f).unwrap());
        let _ = fs::remove_dir_all(&dir);
    }
}
