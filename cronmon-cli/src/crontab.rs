//! `cronmon crontab print|install`: puts every job of a crontab under monitoring, each command
//! wrapped in `cronmon exec NAME --schedule "EXPR" --`, its schedule registered so missed runs
//! are detected from the first day.
//!
//! The crontab is read line by line and written back the same but for the job lines: comments,
//! blank lines and variables stay; `CRON_TZ=`/`TZ=` give the time zone of the jobs below them;
//! `# cronmon: NAME` above a job names it (else its name comes from its command); lines already
//! wrapped stay as they are, so installing twice changes nothing.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Options of `cronmon crontab`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  cronmon crontab print                  # the user's crontab, wrapped\n  cronmon crontab install --dry-run      # what would change\n  cronmon crontab install                # back up, wrap, write back, register the schedules\n  cronmon crontab install --file /etc/cron.d/reports"
)]
pub(crate) struct CrontabArgs {
    /// `print` (the wrapped crontab on stdout) or `install` (write it back).
    #[arg(value_enum)]
    pub action: Action,
    /// A crontab file instead of the user's (`crontab -l`).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Whose crontab (`crontab -u USER`; root only).
    #[arg(long, value_name = "USER", conflicts_with = "file")]
    pub user: Option<String>,
    /// With `install`: show the changes as a diff, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Files in `/etc/cron.d` and `/etc/crontab` carry a user field after the schedule.
    #[arg(long)]
    pub system: bool,
    /// The `cronmon` the wrapped lines call (default: this one's absolute path, as cron's
    /// PATH is short).
    #[arg(long, value_name = "PATH")]
    pub cronmon: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Action {
    Print,
    Install,
}

/// A job found in the crontab, as registered with the monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Job {
    pub name: String,
    /// None for `@reboot`, which has no schedule.
    pub schedule: Option<String>,
    pub timezone: Option<String>,
}

/// The crontab rewritten, and its jobs.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Wrapped {
    pub text: String,
    pub jobs: Vec<Job>,
    /// Job lines that were already wrapped.
    pub kept: usize,
    /// Lines that look like jobs but cannot be read (kept unchanged), with why.
    pub skipped: Vec<(usize, String)>,
}

const ALIASES: [&str; 8] = [
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
    "@reboot",
];

/// Splits off the first whitespace-separated word of `s`.
fn word(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    Some((&s[..end], &s[end..]))
}

/// A variable line (`NAME=value`, `NAME = "value"`): its name and unquoted value.
fn variable(line: &str) -> Option<(&str, String)> {
    let (name, value) = line.split_once('=')?;
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    let value = value.trim();
    let unquoted = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value);
    Some((name, unquoted.to_owned()))
}

/// Whether `command` already runs under `cronmon exec`.
fn is_wrapped(command: &str) -> bool {
    word(command).is_some_and(|(program, rest)| {
        Path::new(program)
            .file_name()
            .is_some_and(|f| f == "cronmon")
            && word(rest).is_some_and(|(sub, _)| sub == "exec")
    })
}

/// A name for a job from its command: the program's file name, or the script's for an
/// interpreter (`python3 /opt/etl/load.py` → `load`), made of letters, digits, `-`, `_`, `.`.
fn name_from_command(command: &str) -> String {
    const INTERPRETERS: [&str; 12] = [
        "sh", "bash", "zsh", "dash", "python", "python3", "php", "node", "ruby", "perl", "nice",
        "ionice",
    ];
    let mut words = command
        .split_whitespace()
        .filter(|w| !w.contains('=') || w.starts_with('/'));
    let mut chosen = None;
    while let Some(w) = words.next() {
        if w == "cd" {
            // `cd /srv/app && ./run.sh`: the directory is no name.
            words.next();
            continue;
        }
        if matches!(w, "&&" | ";" | "||") || w.starts_with('-') {
            continue;
        }
        let base = Path::new(w.trim_matches(['"', '\'']))
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        if INTERPRETERS.contains(&base.as_str()) || base.starts_with("python") {
            continue;
        }
        let stem = match base.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() && ext.len() <= 4 => stem.to_owned(),
            _ => base,
        };
        chosen = Some(stem);
        break;
    }
    let cleaned: String = chosen
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    let cleaned = cleaned.trim_matches('-').to_owned();
    if cleaned.is_empty() {
        "job".into()
    } else {
        cleaned
    }
}

/// `'…'` for a POSIX shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Rewrites `crontab` with every job wrapped. `system` crontabs carry a user field after the
/// schedule.
/// Variables in `env` the crontab does not set yet are added at its top (where runs go: cron
/// runs jobs with almost no environment).
pub(crate) fn wrap(crontab: &str, cronmon: &str, system: bool, env: &[(&str, String)]) -> Wrapped {
    let mut out = Wrapped::default();
    let set: HashSet<&str> = crontab
        .lines()
        .filter_map(|l| variable(l.trim()).map(|(name, _)| name))
        .collect();
    let missing: Vec<_> = env.iter().filter(|(k, _)| !set.contains(k)).collect();
    let monitored = set.contains("CRONMON_URL") || set.contains("DATABASE_URL");
    if !missing.is_empty() && !monitored {
        out.text
            .push_str("# cronmon: where runs go (added by `cronmon crontab install`)\n");
        for (k, v) in missing {
            out.text.push_str(&format!("{k}={v}\n"));
        }
    }
    let mut timezone: Option<String> = None;
    let mut next_name: Option<String> = None;
    let mut used: HashSet<String> = HashSet::new();
    // Names given by comments and by lines already wrapped are taken first.
    for line in crontab.lines() {
        if let Some(name) = line.trim().strip_prefix("# cronmon:") {
            used.insert(name.trim().to_owned());
        }
        if let Ok((_, _, command)) = job_line(line.trim(), system)
            && is_wrapped(command)
            && let Some((name, _)) = word(command)
                .and_then(|(_, rest)| word(rest))
                .and_then(|(_, rest)| word(rest))
        {
            used.insert(name.trim_matches(['\'', '"']).to_owned());
        }
    }
    for (n, line) in crontab.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            // `# cronmon: NAME` names the next job line.
            if let Some(name) = trimmed
                .strip_prefix("# cronmon:")
                .map(str::trim)
                .filter(|n| !n.is_empty())
            {
                next_name = Some(name.to_owned());
            }
            out.text.push_str(line);
            out.text.push('\n');
            continue;
        }
        if let Some((var, value)) = variable(trimmed).filter(|_| !trimmed.starts_with('@')) {
            if var == "CRON_TZ" || var == "TZ" {
                timezone = Some(value).filter(|v| !v.is_empty());
            }
            out.text.push_str(line);
            out.text.push('\n');
            continue;
        }
        match job_line(trimmed, system) {
            Ok((schedule, prefix, command)) => {
                if is_wrapped(command) {
                    out.kept += 1;
                    out.text.push_str(line);
                    out.text.push('\n');
                    next_name = None;
                    continue;
                }
                let name = match next_name.take() {
                    Some(given) => given,
                    None => {
                        let base = name_from_command(command);
                        let mut name = base.clone();
                        let mut i = 2;
                        while !used.insert(name.clone()) {
                            name = format!("{base}-{i}");
                            i += 1;
                        }
                        name
                    }
                };
                let mut wrapped = format!("{prefix}{cronmon} exec {}", quote(&name));
                if let Some(s) = &schedule {
                    wrapped.push_str(&format!(" --schedule {}", quote(s)));
                }
                if let (Some(_), Some(tz)) = (&schedule, &timezone) {
                    wrapped.push_str(&format!(" --timezone {}", quote(tz)));
                }
                wrapped.push_str(&format!(" -- sh -c {}", quote(command)));
                out.text.push_str(&wrapped);
                out.text.push('\n');
                out.jobs.push(Job {
                    name,
                    schedule,
                    timezone: timezone.clone(),
                });
            }
            Err(why) => {
                out.skipped.push((n + 1, why));
                out.text.push_str(line);
                out.text.push('\n');
            }
        }
    }
    out
}

/// A job line's schedule (None for `@reboot`), what stays before the command (schedule, user),
/// and the command.
fn job_line(line: &str, system: bool) -> Result<(Option<String>, String, &str), String> {
    let (schedule, rest) = if line.starts_with('@') {
        let (alias, rest) = word(line).ok_or("empty line")?;
        if !ALIASES.contains(&alias) {
            return Err(format!("unknown schedule `{alias}`"));
        }
        let schedule = (alias != "@reboot").then(|| alias.to_owned());
        (schedule, rest)
    } else {
        let mut rest = line;
        let mut fields = Vec::with_capacity(5);
        for _ in 0..5 {
            let (f, r) = word(rest).ok_or("fewer than 5 schedule fields")?;
            fields.push(f);
            rest = r;
        }
        (Some(fields.join(" ")), rest)
    };
    let (user, rest) = if system {
        let (user, rest) = word(rest).ok_or("no user field")?;
        (Some(user), rest)
    } else {
        (None, rest)
    };
    let command = rest.trim();
    if command.is_empty() {
        return Err("no command".into());
    }
    if let Some(s) = &schedule {
        cronmon::rules::cron_expression(s).map_err(|e| e.to_string())?;
    }
    let mut prefix = match &schedule {
        Some(s) => format!("{s} "),
        None => "@reboot ".into(),
    };
    if let Some(user) = user {
        prefix.push_str(user);
        prefix.push(' ');
    }
    Ok((schedule, prefix, command))
}

/// A line diff of `old` to `new` (longest common subsequence), `-` and `+` lines under an
/// `@@ line N @@` header per change.
pub(crate) fn diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    let mut in_hunk = false;
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
            in_hunk = false;
            continue;
        }
        if !in_hunk {
            out.push_str(&format!("@@ line {} @@\n", i + 1));
            in_hunk = true;
        }
        if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("-{}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+{}\n", b[j]));
            j += 1;
        }
    }
    out
}

/// Reads the crontab: the file, or `crontab -l [-u USER]` (no crontab yet reads as empty).
pub(crate) fn read(args: &CrontabArgs) -> Result<String, String> {
    if let Some(file) = &args.file {
        return std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()));
    }
    let mut c = Command::new(crontab_program());
    if let Some(user) = &args.user {
        c.args(["-u", user]);
    }
    let o = c
        .arg("-l")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `crontab -l`: {e} (give a file with --file)"))?;
    if o.status.success() {
        return String::from_utf8(o.stdout).map_err(|_| "the crontab is not UTF-8".to_owned());
    }
    let stderr = String::from_utf8_lossy(&o.stderr);
    if stderr.contains("no crontab") {
        return Ok(String::new());
    }
    Err(format!("`crontab -l` failed: {}", stderr.trim()))
}

/// Writes the crontab back, after a backup of what it held.
pub(crate) fn write(args: &CrontabArgs, old: &str, new: &str) -> Result<PathBuf, String> {
    let backup = backup_path(args);
    if let Some(dir) = backup.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    }
    std::fs::write(&backup, old)
        .map_err(|e| format!("cannot write the backup {}: {e}", backup.display()))?;
    if let Some(file) = &args.file {
        // Beside it, then renamed over it: cron never reads half a file.
        let temp = file.with_extension("cronmon-tmp");
        std::fs::write(&temp, new).map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
        if let Ok(meta) = std::fs::metadata(file) {
            let _ = std::fs::set_permissions(&temp, meta.permissions());
        }
        std::fs::rename(&temp, file)
            .map_err(|e| format!("cannot replace {}: {e}", file.display()))?;
        return Ok(backup);
    }
    let mut c = Command::new(crontab_program());
    if let Some(user) = &args.user {
        c.args(["-u", user]);
    }
    let mut child = c
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `crontab -`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(new.as_bytes())
            .map_err(|e| format!("cannot write to `crontab -`: {e}"))?;
    }
    let o = child
        .wait_with_output()
        .map_err(|e| format!("`crontab -` failed: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "`crontab -` refused the new crontab (the old one stands; backup in {}): {}",
            backup.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    Ok(backup)
}

/// `crontab`, or the program `CRONMON_CRONTAB` names (another path, a wrapper).
fn crontab_program() -> String {
    std::env::var("CRONMON_CRONTAB").unwrap_or_else(|_| "crontab".into())
}

fn backup_path(args: &CrontabArgs) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    match &args.file {
        Some(file) => {
            let mut name = file.file_name().unwrap_or_default().to_os_string();
            name.push(format!(".cronmon-backup-{stamp}"));
            file.with_file_name(name)
        }
        None => {
            let base = std::env::var_os("XDG_STATE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
                .unwrap_or_else(std::env::temp_dir);
            let who = args.user.clone().unwrap_or_else(|| "self".into());
            base.join("cronmon")
                .join(format!("crontab-{who}-{stamp}.bak"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRONTAB: &str = "\
SHELL=/bin/bash
MAILTO=ops@example.com
# nightly report
0 3 * * * /opt/reports/nightly.sh --full >> /var/log/report.log 2>&1

CRON_TZ=Europe/Paris
# cronmon: kb-index
*/15 8-18 * * 1-5 cd /srv/kb && python3 /srv/kb/index.py
@daily   /usr/bin/php /var/www/artisan cleanup
@reboot /usr/local/bin/warm-cache
30 2 * * * /usr/local/bin/cronmon exec backup --schedule '30 2 * * *' -- /opt/backup.sh
61 * * * * /bin/broken
";

    #[test]
    fn wraps_every_job_and_keeps_the_rest() {
        let w = wrap(CRONTAB, "/usr/bin/cronmon", false, &[]);
        let lines: Vec<&str> = w.text.lines().collect();
        assert_eq!(lines.len(), CRONTAB.lines().count());
        assert_eq!(lines[0], "SHELL=/bin/bash");
        assert_eq!(
            lines[3],
            "0 3 * * * /usr/bin/cronmon exec 'nightly' --schedule '0 3 * * *' -- sh -c '/opt/reports/nightly.sh --full >> /var/log/report.log 2>&1'"
        );
        assert_eq!(
            lines[7],
            "*/15 8-18 * * 1-5 /usr/bin/cronmon exec 'kb-index' --schedule '*/15 8-18 * * 1-5' --timezone 'Europe/Paris' -- sh -c 'cd /srv/kb && python3 /srv/kb/index.py'"
        );
        assert!(lines[8].starts_with("@daily /usr/bin/cronmon exec 'artisan' --schedule '@daily' --timezone 'Europe/Paris' -- sh -c "));
        assert_eq!(
            lines[9],
            "@reboot /usr/bin/cronmon exec 'warm-cache' -- sh -c '/usr/local/bin/warm-cache'"
        );
        assert_eq!(
            lines[10],
            CRONTAB.lines().nth(10).unwrap(),
            "already wrapped"
        );
        assert_eq!(
            lines[11], "61 * * * * /bin/broken",
            "unreadable: kept as is"
        );
        assert_eq!(w.kept, 1);
        assert_eq!(w.skipped.len(), 1);
        assert_eq!(w.skipped[0].0, 12);
        let names: Vec<_> = w.jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["nightly", "kb-index", "artisan", "warm-cache"]);
        assert_eq!(w.jobs[1].timezone.as_deref(), Some("Europe/Paris"));
        assert_eq!(w.jobs[0].timezone, None);
        assert_eq!(w.jobs[3].schedule, None);
    }

    #[test]
    fn wrapping_twice_changes_nothing() {
        let once = wrap(CRONTAB, "/usr/bin/cronmon", false, &[]);
        let twice = wrap(&once.text, "/usr/bin/cronmon", false, &[]);
        assert_eq!(once.text, twice.text);
        assert!(twice.jobs.is_empty());
        assert_eq!(twice.kept, 5);
        assert_eq!(diff(&once.text, &twice.text), "");
    }

    #[test]
    fn names_are_unique_and_quotes_survive() {
        let w = wrap(
            "* * * * * /bin/sync.sh\n*/5 * * * * /other/sync.sh 'it''s'\n",
            "cronmon",
            false,
            &[],
        );
        assert_eq!(w.jobs[0].name, "sync");
        assert_eq!(w.jobs[1].name, "sync-2");
        assert!(
            w.text
                .contains(r"-- sh -c '/other/sync.sh '\''it'\'''\''s'\'''")
        );
    }

    #[test]
    fn where_runs_go_is_added_once_and_diffed() {
        let env = [("CRONMON_URL", "http://mon:8080/api/admin".to_owned())];
        let once = wrap("0 1 * * * /bin/job\n", "cronmon", false, &env);
        assert!(once.text.starts_with("# cronmon: where runs go"));
        assert!(
            once.text
                .contains("\nCRONMON_URL=http://mon:8080/api/admin\n")
        );
        let twice = wrap(&once.text, "cronmon", false, &env);
        assert_eq!(once.text, twice.text);
        let d = diff("0 1 * * * /bin/job\n", &once.text);
        assert!(
            d.starts_with("@@ line 1 @@\n-0 1 * * * /bin/job\n+# cronmon"),
            "{d}"
        );
        assert!(d.matches('+').count() >= 3);
    }

    #[test]
    fn system_crontabs_keep_their_user() {
        let w = wrap(
            "17 * * * * root cd / && run-parts /etc/cron.hourly\n",
            "cronmon",
            true,
            &[],
        );
        assert!(
            w.text
                .starts_with("17 * * * * root cronmon exec 'run-parts'"),
            "{}",
            w.text
        );
    }
}
