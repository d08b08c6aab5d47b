// `sqlx::migrate!` embeds the migrations when this crate compiles: rebuild it when one is
// added, renamed or edited, not only when Rust code changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
