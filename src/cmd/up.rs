//! `flashsale up`: the whole shop in one process.

use crate::stack::{start_admin, RunningAdmin, Stack};
use flashsale_core::Config;

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let stack = Stack::start(config).await?;
    let admin = match start_admin(
        config,
        stack.db.clone(),
        stack.stock.clone(),
        stack.room.clone(),
        stack.after_publish(),
    )
    .await
    {
        Ok(admin) => admin,
        Err(e) => {
            stack.shutdown().await?;
            return Err(e);
        }
    };
    let stop = super::shutdown_signal();
    announce_stack(&stack);
    super::announce("admin", &admin.addr);
    say!();
    say!("  Flashsale is up.");
    say!("  Shop:     {}/", stack.gateway_url);
    say!(
        "  Database: {}",
        flashsale_core::config::redact_url(&config.database_url)
    );
    say!("  Site:     {}/", config.dist.display());
    print_admin(&admin, config);
    say!("  Ctrl-C stops it; accepted orders are written before it exits.");
    say!();
    stop.await;
    tracing::info!("shutting down");
    admin.stop().await;
    stack.shutdown().await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// The admin's address and, on its first run only, what was generated for it. This goes to
/// the terminal of whoever started the shop, never to the log.
pub fn print_admin(admin: &RunningAdmin, config: &Config) {
    say!("  Admin:    {}/  (user {})", admin.url, admin.user);
    match &admin.first_run.password {
        Some(password) => {
            say!("            password: {password}");
            say!(
                "            (shown once: only its hash is kept in {}; set admin_password to choose one)",
                config.data_dir.join("admin_password.argon2").display()
            );
        }
        None if config.admin_password.is_some() => {
            say!("            password: admin_password from the config")
        }
        None => say!(
            "            password: as printed on the first run (delete {} for a new one)",
            config.data_dir.join("admin_password.argon2").display()
        ),
    }
    if admin.first_run.token_created {
        match config.admin_token() {
            Ok(token) => say!(
                "  API:      {}/api/  Authorization: Bearer {token}",
                admin.url
            ),
            Err(e) => say!("  API:      {}/api/  (token unreadable: {e})", admin.url),
        }
    } else if config.admin_token.is_some() {
        say!(
            "  API:      {}/api/  (token: admin_token from the config)",
            admin.url
        );
    } else {
        say!(
            "  API:      {}/api/  (token in {})",
            admin.url,
            config.data_dir.join("admin_token").display()
        );
    }
}

/// The `listening …` lines of the stack's gateway and metrics.
pub fn announce_stack(stack: &Stack) {
    if let Some(addr) = &stack.gateway_addr {
        super::announce("gateway", addr);
    }
    if let Some(addr) = &stack.metrics_addr {
        super::announce("metrics", addr);
    }
}
