//! `cronmon crontab`, the real binary on real crontab files (time zones, aliases, comments,
//! lines already wrapped): print, a dry run that changes nothing, install twice (a backup,
//! then nothing to change), the schedules registered in the store, and a wrapped line run the
//! way cron runs it, by `sh -c`, recording its run. With the machine's own `crontab`, the
//! same through `crontab -l` / `crontab -` for a user.

use std::process::{Command, Output, Stdio};

use cronmon::{CronName, Status};

use crate::common;
use crate::common::TestDb;
use crate::common::output;

const CRONTAB: &str = "\
SHELL=/bin/sh
MAILTO=ops@example.com
# every five minutes
*/5 * * * * echo sync done >/dev/null
CRON_TZ=Europe/Paris
# cronmon: kb-index
30 2 * * 1-5 sh -c 'exit 3'
@hourly /usr/bin/env true
@reboot /bin/true
15 4 * * * /usr/local/bin/cronmon exec backup --schedule '15 4 * * *' -- /opt/backup.sh
";

fn cronmon(url: &str, args: &[&str]) -> Command {
    let mut c = Command::new(common::cli_binary());
    c.args(args)
        .env("CRONMON_URL", url)
        .env("CRONMON_SPOOL_DIR", common::spool_dir())
        .env_remove("DATABASE_URL")
        .env_remove("CRON_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crontab_file_goes_under_monitoring_once() {
    let db = TestDb::sqlite().await;
    let dir = std::env::temp_dir().join(format!("cronmon-crontab-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("jobs.cron");
    std::fs::write(&file, CRONTAB).unwrap();
    let path = file.to_str().unwrap();
    let bin = common::cli_binary();
    let bin = bin.to_str().unwrap();

    let printed = output(cronmon(&db.url, &["crontab", "print", "--file", path])).await;
    assert_eq!(printed.status.code(), Some(0), "{printed:?}");
    let printed = text(&printed);
    assert!(
        printed.contains(&format!("\nCRONMON_URL={}\n", db.url)),
        "{printed}"
    );
    assert!(printed.contains(&format!(
        "*/5 * * * * {bin} exec 'echo' --schedule '*/5 * * * *' -- sh -c 'echo sync done >/dev/null'"
    )));
    assert!(printed.contains(&format!(
        "30 2 * * 1-5 {bin} exec 'kb-index' --schedule '30 2 * * 1-5' --timezone 'Europe/Paris' -- sh -c "
    )));
    assert!(
        printed.contains("@hourly ")
            && printed.contains("--schedule '@hourly' --timezone 'Europe/Paris'")
    );
    assert!(printed.contains(&format!("@reboot {bin} exec 'true' -- sh -c '/bin/true'")));
    assert!(
        printed.contains("\n15 4 * * * /usr/local/bin/cronmon exec backup --schedule"),
        "already wrapped: kept"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        CRONTAB,
        "print changes nothing"
    );

    let dry = output(cronmon(
        &db.url,
        &["crontab", "install", "--dry-run", "--file", path],
    ))
    .await;
    assert_eq!(dry.status.code(), Some(0));
    assert!(text(&dry).contains("-*/5 * * * * echo sync done >/dev/null\n+*/5 * * * * "));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        CRONTAB,
        "a dry run changes nothing"
    );

    let first = output(cronmon(&db.url, &["crontab", "install", "--file", path])).await;
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    assert!(
        text(&first).contains("4 jobs now monitored (1 already were)"),
        "{}",
        text(&first)
    );
    let installed = std::fs::read_to_string(&file).unwrap();
    assert_eq!(installed, printed);
    let backups: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("cronmon-backup"))
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(std::fs::read_to_string(backups[0].path()).unwrap(), CRONTAB);

    let second = output(cronmon(&db.url, &["crontab", "install", "--file", path])).await;
    assert_eq!(second.status.code(), Some(0));
    assert!(text(&second).contains("nothing to change"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), installed);

    // Registered before any run: missed runs are judged from the first day.
    let kb = db
        .store
        .schedule(&CronName::new("kb-index").unwrap())
        .await
        .unwrap()
        .expect("registered");
    assert_eq!(kb.cron_expression.as_deref(), Some("30 2 * * 1-5"));
    assert_eq!(kb.timezone, "Europe/Paris");

    // The wrapped line, run as cron runs it: its command part through `sh -c`, with the
    // crontab's variables.
    let line = installed
        .lines()
        .find(|l| l.starts_with("30 2 * * 1-5 "))
        .expect("kb line");
    let command = line.splitn(6, ' ').nth(5).expect("command");
    let ran = tokio::task::spawn_blocking({
        let command = command.to_owned();
        let url = db.url.clone();
        move || {
            Command::new("sh")
                .args(["-c", &command])
                .env_clear()
                .env("CRONMON_URL", url)
                .env("CRONMON_SPOOL_DIR", common::spool_dir())
                .env("PATH", "/usr/bin:/bin")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert_eq!(ran.status.code(), Some(3), "{ran:?}");
    let runs = db
        .store
        .list_executions(
            &Default::default(),
            cronmon::PageRequest::new(1, 10).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(runs.items.len(), 1);
    assert_eq!(runs.items[0].cron_name, "kb-index");
    assert_eq!(runs.items[0].status, Status::Failed);

    let missing = output(cronmon(
        &db.url,
        &["crontab", "print", "--file", "/no/such/crontab"],
    ))
    .await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read /no/such/crontab"));
    let bad = dir.join("bad.cron");
    std::fs::write(&bad, "61 * * * * /bin/true\n* * * /bin/false\n").unwrap();
    let o = output(cronmon(
        &db.url,
        &["crontab", "print", "--file", bad.to_str().unwrap()],
    ))
    .await;
    assert_eq!(o.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("line 1 kept as it is") && stderr.contains("line 2 kept as it is"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    db.finish().await;
}

/// Through the machine's own `crontab` (for the user `nobody`, as root), where it has one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_crontab_through_crontab_itself() {
    let has_crontab = Command::new("sh")
        .args(["-c", "command -v crontab"])
        .output()
        .is_ok_and(|o| o.status.success());
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    if !has_crontab || !root {
        eprintln!(
            "skipped: this machine has no `crontab` (scripts/test.sh installs cron) or is not root"
        );
        return;
    }
    let db = TestDb::sqlite().await;
    let user = "nobody";
    let set = |text: &str| {
        let mut c = Command::new("crontab");
        c.args(["-u", user, "-"]).stdin(Stdio::piped());
        let mut child = c.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    };
    set("0 5 * * * /bin/true\n");
    let o = output(cronmon(&db.url, &["crontab", "install", "--user", user])).await;
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let now = Command::new("crontab")
        .args(["-u", user, "-l"])
        .output()
        .unwrap();
    let now = String::from_utf8_lossy(&now.stdout);
    assert!(
        now.contains("exec 'true' --schedule '0 5 * * *' -- sh -c '/bin/true'"),
        "{now}"
    );
    let again = output(cronmon(&db.url, &["crontab", "install", "--user", user])).await;
    assert!(text(&again).contains("nothing to change"));
    let _ = Command::new("crontab").args(["-u", user, "-r"]).status();
    db.finish().await;
}
