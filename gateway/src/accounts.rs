//! Shopper accounts: register, log in (issuing the `uid` and `sign` cookies), log out (here or
//! everywhere), change the password.
//!
//! Logins and registrations are throttled per client address and user name (`throttle`);
//! logouts and password changes revoke tokens on every gateway (`sessions`).

use crate::form_page::{refused, same_site_path, Refusal};
use crate::reply::Reply;
use crate::request::Form;
use crate::shop::Shop;
use crate::throttle::retry_after_secs;
use cookie::{Cookie, SameSite};
use flashsale_core::cookie::Token;
use flashsale_core::db::DbError;
use flashsale_core::domain::{now_unix, User};
use flashsale_core::password::check_password;
use flashsale_core::sessions::Revocation;
use std::net::IpAddr;
use std::time::{Duration, Instant};

const MAX_FIELD_CHARS: usize = 64;

const REGISTER_PAGE: &str = "/user/register";
const LOGIN_PAGE: &str = "/user/login";

/// The name of the cookie that tells the login page an account was just created (read and
/// cleared by its script): the redirect stays a plain `303 -> /user/login`.
pub const CREATED_COOKIE: &str = "created";

/// The name of the cookie holding the signed-in shopper's nickname, for the header of the
/// static pages. Not secret and not trusted: it only changes what the header says.
pub const SHOPPER_COOKIE: &str = "shopper";

pub async fn register(shop: &Shop, form: &Form, client: IpAddr) -> Reply {
    let nick_name = form.get("nickName").trim();
    let user_name = form.get("userName").trim();
    let password = form.get("password");
    let next = same_site_path(form.get("next"));
    let values = [
        ("nickName", nick_name),
        ("userName", user_name),
        ("next", next.unwrap_or("")),
    ];
    let refusal = |status, title, message: &str, field| {
        let refusal = Refusal {
            status,
            title,
            message,
            field,
            values: &values,
        };
        refused(shop, REGISTER_PAGE, &refusal)
    };
    if let Err(wait) = shop.throttle.register(client, Instant::now()) {
        let secs = retry_after_secs(wait);
        return refusal(429, "Too many attempts", &too_many_words(secs), None)
            .header("Retry-After", secs.to_string());
    }
    if let Err((field, problem)) = check_field("Nickname", nick_name)
        .map_err(|p| ("nickName", p))
        .and_then(|()| check_field("User name", user_name).map_err(|p| ("userName", p)))
        .and_then(|()| check_field("Password", password).map_err(|p| ("password", p)))
        .and_then(|()| {
            check_password(password, &[user_name, nick_name])
                .map_err(|weak| ("password", weak.to_string()))
        })
    {
        return refusal(400, "Cannot register", &problem, Some(field));
    }
    // Before the slow hash: an account must cost its maker some work when the shop asks.
    if let Err((status, message)) = check_register_work(shop, form).await {
        return refusal(status, "Cannot register", message, None);
    }
    let hash = match shop.passwords.hash(password).await {
        Ok(hash) => hash,
        Err(e) => {
            tracing::error!(error = %e, "password hashing failed");
            return refusal(
                503,
                "Try again",
                "We could not register you just now.",
                None,
            );
        }
    };
    match shop.db.create_user(nick_name, user_name, &hash).await {
        Ok(id) => {
            tracing::info!(user_id = id, "shopper registered");
            let login = match next {
                Some(next) => format!(
                    "{LOGIN_PAGE}?next={}",
                    percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
                ),
                None => LOGIN_PAGE.to_owned(),
            };
            Reply::see_other(&login).header(
                "Set-Cookie",
                Cookie::build((CREATED_COOKIE, "1"))
                    .path(LOGIN_PAGE)
                    .same_site(SameSite::Lax)
                    .max_age(cookie::time::Duration::seconds(120))
                    .build()
                    .to_string(),
            )
        }
        // The page names what the shopper typed (escaped by the page).
        Err(DbError::UserNameTaken) => refusal(
            409,
            "User name taken",
            &format!("The user name \u{201c}{user_name}\u{201d} is already taken; please choose another."),
            Some("userName"),
        ),
        Err(e) => {
            tracing::error!(error = %e, "could not store a new shopper");
            refusal(503, "Try again", "We could not register you just now.", None)
        }
    }
}

/// `GET /user/challenge`: the proof of work a registration needs (`difficulty` 0: none).
pub fn register_challenge(shop: &Shop) -> Reply {
    let bits = shop.room.settings().register_difficulty;
    let c = shop.room.key().issue(
        REGISTER_SCOPE,
        0,
        now_unix() + crate::room::CHALLENGE_SECS,
        bits,
    );
    Reply::json(
        200,
        serde_json::json!({
            "challenge": c.text,
            "difficulty": bits,
            "expiresIn": crate::room::CHALLENGE_SECS,
        }),
    )
}

/// The scope of registration challenges (a product's line is `q<id>`).
const REGISTER_SCOPE: &str = "reg";

/// With `register_pow_difficulty` on, the form must carry a solved, unused `challenge` from
/// `GET /user/challenge` and its `nonce`.
async fn check_register_work(shop: &Shop, form: &Form) -> Result<(), (u16, &'static str)> {
    let bits = shop.room.settings().register_difficulty;
    if bits == 0 {
        return Ok(());
    }
    let refused = || {
        (
            400,
            "The registration check did not pass; reload the page and try again.",
        )
    };
    let now_ms = flashsale_core::domain::now_unix_ms();
    let checked = shop
        .room
        .key()
        .verify(
            form.get("challenge"),
            form.get("nonce"),
            REGISTER_SCOPE,
            0,
            now_ms / 1000,
            bits,
        )
        .map_err(|_| refused())?;
    let ttl_ms = u64::try_from((checked.expires * 1000 - now_ms).max(1000)).unwrap_or(1000);
    match shop
        .room
        .store()
        .use_challenge(&checked.id, ttl_ms, now_ms)
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(refused()),
        Err(e) => {
            tracing::warn!(error = %e, "could not record a registration challenge");
            Err((503, "We could not register you just now."))
        }
    }
}

pub async fn login(shop: &Shop, form: &Form, client: IpAddr) -> Reply {
    let user_name = form.get("userName").trim();
    let password = form.get("password");
    let next = same_site_path(form.get("next"));
    let values = [("userName", user_name), ("next", next.unwrap_or(""))];
    let refusal = |status, title, message: &str, field| {
        let refusal = Refusal {
            status,
            title,
            message,
            field,
            values: &values,
        };
        refused(shop, LOGIN_PAGE, &refusal)
    };
    if let Err(wait) = shop
        .throttle
        .login_allowed(user_name, client, Instant::now())
    {
        let secs = retry_after_secs(wait);
        return refusal(429, "Too many attempts", &too_many_words(secs), None)
            .header("Retry-After", secs.to_string());
    }
    let user = if user_name.is_empty() || user_name.chars().count() > MAX_FIELD_CHARS {
        None
    } else {
        match shop.db.find_user_by_name(user_name).await {
            Ok(user) => user,
            Err(e) => {
                tracing::error!(error = %e, "could not look up a shopper");
                return refusal(503, "Try again", "We could not log you in just now.", None);
            }
        }
    };
    // One answer for every bad credential, and the same work whether the user exists or not.
    let ok = shop
        .passwords
        .verify(password, user.as_ref().map(|u| u.password_hash.as_str()))
        .await;
    let Some(user) = user.filter(|_| ok) else {
        shop.throttle
            .login_failed(user_name, client, Instant::now());
        return refusal(
            401,
            "Cannot log in",
            "Wrong user name or password.",
            Some("password"),
        );
    };
    shop.throttle
        .login_succeeded(user_name, client, Instant::now());
    signed_in(shop, Reply::see_other(next.unwrap_or("/")), &user)
}

/// Ends the session of `token` on every gateway, or with `everywhere` every session of its
/// shopper; then clears the cookies. Without a valid token only the cookies are cleared.
pub async fn logout(shop: &Shop, token: Option<Token>, everywhere: bool) -> Reply {
    if let Some(token) = token {
        let revocation = if everywhere {
            everything_until_now(shop, token.uid)
        } else {
            Revocation::Token {
                id: token.id_hex(),
                expires: token.expires,
            }
        };
        if let Err(e) = shop.sessions.revoke(revocation).await {
            tracing::warn!(error = %e, "could not revoke a session at logout");
            // The cookies stay, so the shopper can try again and the token is not left valid
            // behind a browser that believes it logged out.
            return try_again("We could not log you out just now.", "/");
        }
        tracing::info!(user_id = token.uid, everywhere, "shopper logged out");
    }
    Reply::see_other("/")
        .header("Set-Cookie", session_cookie(shop, "uid", "", 0))
        .header("Set-Cookie", session_cookie(shop, "sign", "", 0))
        .header("Set-Cookie", shopper_cookie(shop, "", 0))
        .header("Set-Cookie", owner_cookie("", 0))
}

/// A signed-in shopper changes their password (`password`, `newPassword`): every other session
/// of theirs ends, and this browser gets a new token.
pub async fn change_password(shop: &Shop, token: Token, form: &Form, client: IpAddr) -> Reply {
    const BACK: &str = "/user/password";
    let user = match shop.db.find_user_by_id(token.uid).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            return Reply::page(
                401,
                "Cannot change the password",
                "Please log in.",
                "/user/login",
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "could not look up a shopper");
            return try_again("We could not change your password just now.", BACK);
        }
    };
    if let Err(wait) = shop
        .throttle
        .login_allowed(&user.user_name, client, Instant::now())
    {
        return too_many(wait, BACK);
    }
    let current = form.get("password");
    let new = form.get("newPassword");
    if !shop
        .passwords
        .verify(current, Some(user.password_hash.as_str()))
        .await
    {
        shop.throttle
            .login_failed(&user.user_name, client, Instant::now());
        return Reply::page(
            401,
            "Cannot change the password",
            "Your current password is wrong.",
            BACK,
        );
    }
    if let Err(problem) = check_field("New password", new).and_then(|()| {
        check_password(new, &[user.user_name.as_str(), user.nick_name.as_str()])
            .map_err(|weak| weak.to_string())
    }) {
        return Reply::page(400, "Cannot change the password", &problem, BACK);
    }
    let hash = match shop.passwords.hash(new).await {
        Ok(hash) => hash,
        Err(e) => {
            tracing::error!(error = %e, "password hashing failed");
            return try_again("We could not change your password just now.", BACK);
        }
    };
    if let Err(e) = shop.db.set_password_hash(user.id, &hash).await {
        tracing::error!(error = %e, "could not store a new password");
        return try_again("We could not change your password just now.", BACK);
    }
    if let Err(e) = shop
        .sessions
        .revoke(everything_until_now(shop, user.id))
        .await
    {
        // The password is changed; the old sessions end once the store answers a retry.
        tracing::error!(user_id = user.id, error = %e, "password changed but old sessions could not be revoked");
        return try_again(
            "Your password is changed, but we could not end your other sessions; please log out everywhere.",
            "/",
        );
    }
    tracing::info!(user_id = user.id, "shopper changed their password");
    signed_in(shop, Reply::see_other("/"), &user)
}

/// `GET /user/password`: the form of [`change_password`]. Served by the gateway (not sitegen)
/// so every theme has it; no inline script or style, as the CSP wants.
pub fn password_form() -> Reply {
    let body = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
        <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
        <title>Change your password</title><link rel=\"stylesheet\" href=\"/static/style.css\">\
        </head><body><main class=\"wrap\"><section class=\"panel form-panel\">\
        <h1>Change your password</h1>\
        <form class=\"form\" method=\"post\" action=\"/user/password\">\
        <label for=\"password\">Current password</label>\
        <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required maxlength=\"64\">\
        <label for=\"newPassword\">New password</label>\
        <input id=\"newPassword\" name=\"newPassword\" type=\"password\" autocomplete=\"new-password\" required minlength=\"8\" maxlength=\"64\">\
        <button class=\"button\" type=\"submit\">Change password</button></form>\
        <p class=\"muted\">Every other session of yours ends; this browser stays logged in.</p>\
        </section></main></body></html>";
    Reply::new(200)
        .header("Content-Type", "text/html; charset=utf-8")
        .header("Cache-Control", "no-store")
        .body(body)
}

/// Every token of `uid` issued until now: they all expire within one TTL from now.
fn everything_until_now(shop: &Shop, uid: i64) -> Revocation {
    Revocation::User {
        user_id: uid,
        expires_upto: now_unix() + shop.session_ttl.as_secs() as i64,
    }
}

/// `reply` with fresh `uid` and `sign` cookies for `uid`, expiring after any "log out
/// everywhere" of theirs that this node knows of; on a ring also the `owner` hint.
fn signed_in(shop: &Shop, reply: Reply, user: &User) -> Reply {
    let uid = user.id;
    let ttl = shop.session_ttl.as_secs();
    let now = now_unix();
    let expires = (now + ttl as i64).max(shop.sessions.min_expiry(uid));
    let max_age = u64::try_from(expires - now).unwrap_or(ttl);
    let token = shop.codec.issue(uid, expires);
    let mut reply = reply
        .header(
            "Set-Cookie",
            session_cookie(shop, "uid", &uid.to_string(), max_age),
        )
        .header("Set-Cookie", session_cookie(shop, "sign", &token, max_age))
        .header("Set-Cookie", shopper_cookie(shop, &user.nick_name, max_age));
    if shop.cluster.is_ring() {
        let owner = shop.cluster.owner_name(uid);
        reply = reply.header("Set-Cookie", owner_cookie(&owner, max_age));
    }
    reply
}

fn session_cookie(shop: &Shop, name: &str, value: &str, max_age: u64) -> String {
    build_cookie(name, value, max_age, shop.cookie_secure)
}

fn build_cookie(name: &str, value: &str, max_age: u64, secure: bool) -> String {
    let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(max_age))
        .build()
        .to_string()
}

/// The name of the cookie naming the shopper's owner node, for a proxy in front of the ring
/// (deploy/nginx.conf routes each Buy on it, saving the hop between gateways). A hint only:
/// a wrong or forged value costs the shopper one forward, nothing else.
pub const OWNER_COOKIE: &str = "owner";

/// `owner=<member name>`, set at login and whenever a node decides a request whose cookie
/// names another node (the ring changed). Never `Secure`-only: it carries no secret.
pub fn owner_cookie(member: &str, max_age: u64) -> String {
    build_cookie(OWNER_COOKIE, member, max_age, false)
}

/// `shopper=<nickname>`, readable by the pages' script (not `HttpOnly`): the header greets
/// the shopper by name. Percent-encoded, as a cookie value must be plain ASCII. `Secure` like
/// the session cookies when the shop is on HTTPS: a name is personal, if not secret.
fn shopper_cookie(shop: &Shop, nick_name: &str, max_age: u64) -> String {
    let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
    let value =
        percent_encoding::utf8_percent_encode(nick_name, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    Cookie::build((SHOPPER_COOKIE, value))
        .path("/")
        .same_site(SameSite::Lax)
        .secure(shop.cookie_secure)
        .max_age(cookie::time::Duration::seconds(max_age))
        .build()
        .to_string()
}

fn too_many_words(secs: u64) -> String {
    format!("Too many attempts; please wait {secs} seconds and try again.")
}

fn too_many(wait: Duration, back: &str) -> Reply {
    let secs = retry_after_secs(wait);
    Reply::page(429, "Too many attempts", &too_many_words(secs), back)
        .header("Retry-After", secs.to_string())
}

fn try_again(message: &str, back: &str) -> Reply {
    Reply::page(503, "Try again", message, back)
}

fn check_field(label: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        Err(format!("{label} must not be empty."))
    } else if value.chars().count() > MAX_FIELD_CHARS {
        Err(format!(
            "{label} must be at most {MAX_FIELD_CHARS} characters."
        ))
    } else if value.chars().any(char::is_control) {
        Err(format!("{label} must not contain control characters."))
    } else {
        Ok(())
    }
}
