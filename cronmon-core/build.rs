// New migration files must trigger a rebuild, or `sqlx::migrate!` embeds a stale list.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
