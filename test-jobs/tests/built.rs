//! Makes `cargo test --workspace` build this crate's binaries (cargo builds a package's
//! binaries for its integration tests), and checks that each one starts: without a monitor
//! configured a job runs unmonitored and succeeds.

use std::process::Command;

#[test]
fn every_job_program_runs_unmonitored() {
    for bin in [
        env!("CARGO_BIN_EXE_cronmon-test-job"),
        env!("CARGO_BIN_EXE_cronmon-test-sync-job"),
        env!("CARGO_BIN_EXE_cronmon-test-job-above"),
        env!("CARGO_BIN_EXE_cronmon-test-batch-job"),
    ] {
        let out = Command::new(bin)
            .arg("ok")
            .env_remove("CRONMON_URL")
            .env_remove("DATABASE_URL")
            .output()
            .unwrap_or_else(|e| panic!("{bin}: {e}"));
        assert!(out.status.success(), "{bin}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("unmonitored"),
            "{bin}: {out:?}"
        );
    }
}
