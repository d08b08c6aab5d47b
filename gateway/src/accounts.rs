//! Shopper accounts: register, log in (issuing the `uid` and `sign` cookies), log out.

use crate::reply::Reply;
use crate::request::Form;
use crate::shop::Shop;
use flashsale_core::db::DbError;
use flashsale_core::domain::now_unix;

const MAX_FIELD_CHARS: usize = 64;
const MIN_PASSWORD_CHARS: usize = 8;

pub async fn register(shop: &Shop, form: &Form) -> Reply {
    let nick_name = form.get("nickName").trim();
    let user_name = form.get("userName").trim();
    let password = form.get("password");
    if let Err(problem) = check_field("Nickname", nick_name)
        .and_then(|()| check_field("User name", user_name))
        .and_then(|()| check_field("Password", password))
        .and_then(|()| check_password(password))
    {
        return Reply::page(400, "Cannot register", &problem, "/user/register");
    }
    // Before the slow hash: an account must cost its maker some work when the shop asks.
    if let Err(reply) = check_register_work(shop, form).await {
        return reply;
    }
    let hash = match shop.passwords.hash(password).await {
        Ok(hash) => hash,
        Err(e) => {
            tracing::error!(error = %e, "password hashing failed");
            return Reply::page(
                503,
                "Try again",
                "We could not register you just now.",
                "/user/register",
            );
        }
    };
    match shop.db.create_user(nick_name, user_name, &hash).await {
        Ok(id) => {
            tracing::info!(user_id = id, "shopper registered");
            Reply::see_other("/user/login")
        }
        Err(DbError::UserNameTaken) => Reply::page(
            409,
            "User name taken",
            "That user name is already taken; please choose another.",
            "/user/register",
        ),
        Err(e) => {
            tracing::error!(error = %e, "could not store a new shopper");
            Reply::page(
                503,
                "Try again",
                "We could not register you just now.",
                "/user/register",
            )
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
async fn check_register_work(shop: &Shop, form: &Form) -> Result<(), Reply> {
    let bits = shop.room.settings().register_difficulty;
    if bits == 0 {
        return Ok(());
    }
    let refused = || {
        Reply::page(
            400,
            "Cannot register",
            "The registration check did not pass; reload the page and try again.",
            "/user/register",
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
            Err(Reply::page(
                503,
                "Try again",
                "We could not register you just now.",
                "/user/register",
            ))
        }
    }
}

pub async fn login(shop: &Shop, form: &Form) -> Reply {
    let user_name = form.get("userName").trim();
    let password = form.get("password");
    let user = if user_name.is_empty() || user_name.chars().count() > MAX_FIELD_CHARS {
        None
    } else {
        match shop.db.find_user_by_name(user_name).await {
            Ok(user) => user,
            Err(e) => {
                tracing::error!(error = %e, "could not look up a shopper");
                return Reply::page(
                    503,
                    "Try again",
                    "We could not log you in just now.",
                    "/user/login",
                );
            }
        }
    };
    // One answer for every bad credential, and the same work whether the user exists or not.
    let ok = shop
        .passwords
        .verify(password, user.as_ref().map(|u| u.password_hash.as_str()))
        .await;
    let Some(user) = user.filter(|_| ok) else {
        return Reply::page(
            401,
            "Cannot log in",
            "Wrong user name or password.",
            "/user/login",
        );
    };
    let ttl = shop.session_ttl.as_secs();
    let token = shop.codec.issue(user.id, now_unix() + ttl as i64);
    Reply::see_other("/")
        .header(
            "Set-Cookie",
            session_cookie("uid", &user.id.to_string(), ttl),
        )
        .header("Set-Cookie", session_cookie("sign", &token, ttl))
}

pub fn logout() -> Reply {
    Reply::see_other("/")
        .header("Set-Cookie", session_cookie("uid", "", 0))
        .header("Set-Cookie", session_cookie("sign", "", 0))
}

fn session_cookie(name: &str, value: &str, max_age: u64) -> String {
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}")
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

fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        Err(format!(
            "Password must be at least {MIN_PASSWORD_CHARS} characters."
        ))
    } else {
        Ok(())
    }
}
