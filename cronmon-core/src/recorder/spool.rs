//! The spool: events that could not be delivered, kept as JSON lines until a later `Monitor`
//! of the same destination replays them.
//!
//! Each process appends to a file of its own (`<key>-<pid>-<uuid>.jsonl`, `key` a hash of the
//! destination URL), so writers never interleave. A replayer first renames a file to
//! `….replaying-<pid>`: the rename is atomic, so two processes never replay the same file, and
//! the file of a replayer that died is taken over once its pid is gone.

use std::fs::{self, File, OpenOptions};
use std::hash::Hasher;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use super::{Counters, Destination};
use crate::model::Event;
use crate::sys::{self, PidState};

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

/// Appends `events` to the destination's spool file of this process, counting them as
/// spooled, or as dropped (with a message) when even that fails.
pub(super) fn spool(destination: &Destination, events: &[Event], counters: &Counters) {
    if events.is_empty() {
        return;
    }
    match destination.spool.append(destination, events) {
        Ok(()) => {
            destination.spool_pending.store(true, Ordering::Relaxed);
            Counters::add(&counters.spooled, events.len());
        }
        Err(e) => {
            Counters::add(&counters.dropped, events.len());
            eprintln!(
                "cronmon: {} events for {} lost: cannot write the spool file ({e})",
                events.len(),
                destination.config.describe()
            );
        }
    }
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
    #[derive(Serialize)]
    struct DeadLine<'a> {
        event: &'a Event,
        reason: &'a str,
        at: chrono::DateTime<chrono::Utc>,
    }
    let written = (|| -> io::Result<std::path::PathBuf> {
        let dir = destination.spool_dir.as_ref().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "no spool folder: set CRONMON_SPOOL_DIR or HOME",
            )
        })?;
        create_dir(dir)?;
        let path = dir.join(format!("dead-letter-{:016x}.jsonl", destination.key));
        let mut line = serde_json::to_string(&DeadLine {
            event,
            reason: why,
            at: chrono::Utc::now(),
        })
        .map_err(io::Error::other)?;
        line.push('\n');
        let mut options = OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&path)?.write_all(line.as_bytes())?;
        Ok(path)
    })();
    match written {
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

#[derive(Serialize, Deserialize)]
struct Line {
    event: Event,
}

/// This process's spool file of one destination, opened on first use.
#[derive(Debug, Default)]
pub(crate) struct SpoolFile(Mutex<Option<File>>);

impl SpoolFile {
    pub(crate) fn append(&self, destination: &Destination, events: &[Event]) -> io::Result<()> {
        let Some(dir) = &destination.spool_dir else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no spool folder: set CRONMON_SPOOL_DIR or HOME",
            ));
        };
        let mut text = String::new();
        for event in events {
            let line = serde_json::to_string(&Line {
                event: event.clone(),
            })
            .map_err(io::Error::other)?;
            text.push_str(&line);
            text.push('\n');
        }
        let mut file = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if file.is_none() {
            *file = Some(create(dir, destination.key)?);
        }
        let Some(f) = file.as_mut() else {
            return Err(io::Error::other("spool file vanished"));
        };
        // One write per batch: a reader never sees half a line unless the process dies
        // mid-write, and a half line is skipped on replay.
        f.write_all(text.as_bytes())
    }

    /// Closes the file, so the next append starts a new one (this one may be replayed).
    pub(crate) fn close(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
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

fn create(dir: &Path, key: u64) -> io::Result<File> {
    create_dir(dir)?;
    let name = format!(
        "{key:016x}-{}-{}.jsonl",
        std::process::id(),
        uuid::Uuid::now_v7().simple()
    );
    let mut options = OpenOptions::new();
    options.append(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(dir.join(name))
}

/// A spool file this process took over for replay.
#[derive(Debug)]
pub(crate) struct Claimed {
    path: PathBuf,
    original: PathBuf,
}

impl Claimed {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The events in the file; a line that does not parse (cut by a crash) is skipped.
    pub(crate) fn read(&self) -> io::Result<Vec<Event>> {
        let text = fs::read_to_string(&self.path)?;
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str::<Line>(l).ok())
            .map(|l| l.event)
            .collect())
    }

    pub(crate) fn delete(self) {
        let _ = fs::remove_file(&self.path);
    }

    /// Gives the file back for a later replay.
    pub(crate) fn release(self) {
        let _ = fs::rename(&self.path, &self.original);
    }
}

/// Takes over every spool file of destination `key` in `dir`: those still being written by a
/// live process are left alone (it replays them itself), those of dead processes and our own
/// closed ones are renamed to ours.
pub(crate) fn claim_all(dir: &Path, key: u64) -> Vec<Claimed> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let me = std::process::id();
    let prefix = format!("{key:016x}-");
    let mut claimed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let (original, owner) = match rest.split_once(".jsonl") {
            Some((_, "")) => (name.to_owned(), owner_pid(rest)),
            Some((_, tail)) => match tail
                .strip_prefix(".replaying-")
                .and_then(|p| p.parse().ok())
            {
                Some(replayer) => (name[..name.len() - tail.len()].to_owned(), Some(replayer)),
                None => continue,
            },
            None => continue,
        };
        // A file written (or being replayed) by another live process is its business.
        if let Some(pid) = owner
            && pid != me
            && !matches!(
                sys::pid_state(i32::try_from(pid).unwrap_or(i32::MAX)),
                PidState::Gone
            )
        {
            continue;
        }
        let from = dir.join(name);
        let to = dir.join(format!("{original}.replaying-{me}"));
        if from == to || fs::rename(&from, &to).is_ok() {
            claimed.push(Claimed {
                path: to,
                original: dir.join(original),
            });
        }
    }
    claimed.sort_by(|a, b| a.original.cmp(&b.original));
    claimed
}

/// The writer's pid in `<pid>-<uuid>.jsonl`.
fn owner_pid(rest: &str) -> Option<u32> {
    rest.split_once('-').and_then(|(pid, _)| pid.parse().ok())
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

    #[test]
    fn claims_files_of_dead_or_own_writers_only() {
        let dir = std::env::temp_dir().join(format!("cronmon-spool-unit-{}", uuid::Uuid::now_v7()));
        fs::create_dir_all(&dir).unwrap();
        let key = 42u64;
        let line = |id: uuid::Uuid| {
            let mut f = crate::model::Finish::now(id, crate::model::Status::Completed);
            f.duration_ms = Some(1);
            serde_json::to_string(&Line {
                event: Event::Finish(f),
            })
            .unwrap()
        };
        // A dead writer (a pid no process has), ourselves, and a live other process (pid 1).
        let dead = format!("{key:016x}-{}-a.jsonl", i32::MAX);
        let mine = format!("{key:016x}-{}-b.jsonl", std::process::id());
        let live = format!("{key:016x}-1-c.jsonl");
        let other_dest = format!("{:016x}-{}-d.jsonl", key + 1, i32::MAX);
        let id = uuid::Uuid::now_v7();
        for name in [&dead, &mine, &live, &other_dest] {
            // A half-written last line (a crash mid-write) is skipped on replay.
            fs::write(dir.join(name), format!("{}\n{{\"event\":", line(id))).unwrap();
        }
        let claimed = claim_all(&dir, key);
        let names: Vec<_> = claimed
            .iter()
            .map(|c| c.original.file_name().unwrap().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.contains(&dead) && names.contains(&mine));
        for c in claimed {
            assert_eq!(c.read().unwrap().len(), 1);
            c.delete();
        }
        assert!(dir.join(&live).exists() && dir.join(&other_dest).exists());
        let _ = fs::remove_dir_all(&dir);
    }
}
