//! `#[tracked_cron]`: what compiles, and the error (with its span) for each misuse.
//! Re-bless the `.stderr` files with `TRYBUILD=overwrite` after a compiler upgrade.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
