//! The scale-out deployment of `deploy/`, checked with the tools that run it: Debian's nginx in
//! front of a running gateway, docker-compose's own validation, systemd's unit checker, and the
//! shop's config loader.

// Starting a gateway and nginx; reading the repository's files.
mod util;

// nginx.conf: the static site as the gateway serves it, the dynamic paths proxied.
mod nginx;
// docker-compose.yml and the Dockerfile.
mod compose;
// The systemd units.
mod systemd;
// flashsale.toml: every option, its default, what it does.
mod config_file;
