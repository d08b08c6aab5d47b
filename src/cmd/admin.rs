//! `flashsale admin`: the back-office alone.

use anyhow::bail;
use flashsale_core::Config;

pub async fn run(config: &Config) -> anyhow::Result<()> {
    bail!(
        "the admin back-office is not built yet (it will listen on {})",
        config.admin_listen
    )
}
