//! The pingora `ProxyHttp` implementation. `request_filter` answers every request itself,
//! except a shopper's Buy or order status that another node of the ring owns: that one is
//! proxied to the owner (`upstream_peer`), marked as forwarded (`upstream_request_filter`).

use crate::buy::{buy, BuyOutcome};
use crate::cluster::{Owner, FORWARDED};
use crate::reply::Reply;
use crate::request::{client_ip, cookie, query_param, read_body, BodyError, Form, MAX_FORM_BYTES};
use crate::room::refusal;
use crate::sessions::Standing;
use crate::shop::Shop;
use crate::static_files::Conditions;
use crate::{accounts, orders};
use async_trait::async_trait;
use flashsale_core::cookie::Token;
use flashsale_core::domain::{now_unix, now_unix_ms};
use pingora::http::{Method, RequestHeader};
use pingora::prelude::{HttpPeer, ProxyHttp, Session};
use pingora::{Error, ErrorType};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

pub struct Gateway {
    shop: Arc<Shop>,
}

/// Per request: where it goes if another node decides it.
#[derive(Default)]
pub struct Ctx {
    forward: Option<Forward>,
}

struct Forward {
    uid: i64,
    peer: String,
    marker: String,
}

/// What `route` decided: answer here, or proxy to the shopper's owner.
enum Route {
    Reply(Reply),
    Forward(Forward),
}

impl From<Reply> for Route {
    fn from(reply: Reply) -> Route {
        Route::Reply(reply)
    }
}

impl Gateway {
    pub fn new(shop: Arc<Shop>) -> Self {
        Gateway { shop }
    }

    async fn route(&self, session: &mut Session) -> Route {
        let req = session.req_header();
        let method = req.method.clone();
        let path = req.uri.path().to_string();
        let query = req.uri.query().unwrap_or("").to_string();
        let read_only = method == Method::GET || method == Method::HEAD;

        let reply = match path.as_str() {
            "/healthz" if read_only => Reply::text(200, "ok"),
            "/user/password" if read_only => accounts::password_form(),
            "/getOne" if method == Method::POST => {
                let started = Instant::now();
                let route = self.get_one(session, &query).await;
                match &route {
                    Route::Reply(reply) => self.shop.metrics.buy(reply.result(), started.elapsed()),
                    Route::Forward(_) => self.shop.metrics.forwarded(),
                }
                return route;
            }
            "/getOne" => {
                Reply::json(405, json!({"result": "method_not_allowed"})).header("Allow", "POST")
            }
            p if method == Method::POST && p.starts_with("/user/") => {
                return self.user_post(session, p).await.into();
            }
            "/user/challenge" if read_only => accounts::register_challenge(&self.shop),
            p if p.starts_with("/queue/") => return self.queue(session, p, &method).await,
            p if read_only && p.starts_with("/order/") => match self.shopper(session) {
                Ok(token) => {
                    let uid = token.uid;
                    if let Err(elsewhere) = self.decided_here(session, uid, p) {
                        if let Route::Forward(_) = elsewhere {
                            self.shop.metrics.forwarded();
                        }
                        return elsewhere;
                    }
                    orders::order_status(&self.shop, uid, &p["/order/".len()..]).await
                }
                Err(refused) => refused,
            },
            "/orders" if read_only => match self.shopper(session) {
                Ok(token) => {
                    let uid = token.uid;
                    // The owner node accepted this shopper's orders: only it knows the queued.
                    if let Err(elsewhere) = self.decided_here(session, uid, "/orders") {
                        if let Route::Forward(_) = elsewhere {
                            self.shop.metrics.forwarded();
                        }
                        return elsewhere;
                    }
                    let after = query_param(&query, "after");
                    orders::list_orders(&self.shop, uid, after.as_deref()).await
                }
                Err(refused) => refused,
            },
            p if read_only && p.starts_with("/stock/") => self.stock(&p["/stock/".len()..]).await,
            _ if read_only => {
                let headers = &session.req_header().headers;
                let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
                let conditions = Conditions {
                    if_none_match: header("if-none-match"),
                    accept_encoding: header("accept-encoding"),
                };
                self.shop.site.serve(&path, conditions)
            }
            _ => Reply::text(405, "method not allowed").header("Allow", "GET, HEAD"),
        };
        Route::Reply(reply)
    }

    /// `Ok` when this node decides `uid`'s request: it owns the shopper, or a peer forwarded it
    /// with a valid marker (decided here whatever our ring says, so nothing loops). Otherwise
    /// the route to the owner, or `unauthorized` for a forged marker.
    fn decided_here(&self, session: &Session, uid: i64, path: &str) -> Result<(), Route> {
        let cluster = &self.shop.cluster;
        let now = now_unix();
        if let Some(marker) = session.req_header().headers.get(FORWARDED) {
            let valid = marker
                .to_str()
                .is_ok_and(|m| cluster.verify(m, uid, path, now));
            if valid {
                return Ok(());
            }
            tracing::warn!(uid, "a request with a forged forwarding marker was refused");
            return Err(unauthorized().into());
        }
        match cluster.owner(uid) {
            Owner::Me => Ok(()),
            Owner::Peer(peer) => Err(Route::Forward(Forward {
                uid,
                marker: cluster.marker(uid, path, now),
                peer,
            })),
        }
    }

    /// A `sign` token that verifies and whose uid matches the `uid` cookie (revocation not
    /// checked: see [`Gateway::shopper`]).
    fn verified_token(&self, session: &Session) -> Option<Token> {
        let headers = &session.req_header().headers;
        let mut uid_cookie = None;
        let mut sign = None;
        for value in headers.get_all("cookie") {
            let Ok(text) = value.to_str() else { continue };
            uid_cookie = uid_cookie.or_else(|| cookie(text, "uid"));
            sign = sign.or_else(|| cookie(text, "sign"));
        }
        let shop = &self.shop;
        sign.and_then(|sign| shop.verified.verify(&shop.codec, sign, now_unix()).ok())
            .filter(|token| uid_cookie.and_then(|u| u.parse::<i64>().ok()) == Some(token.uid))
    }

    /// The shopper behind the request: a valid, unrevoked `sign` token whose uid matches the
    /// `uid` cookie. Otherwise the answer: 401, or 503 when revocations cannot be read lately.
    fn shopper(&self, session: &Session) -> Result<Token, Reply> {
        let token = self.verified_token(session).ok_or_else(unauthorized)?;
        match self.shop.sessions.standing(&token, now_unix_ms()) {
            Standing::Valid => Ok(token),
            Standing::Revoked => Err(unauthorized()),
            Standing::Unknown => Err(BuyOutcome::Unavailable.reply()),
        }
    }

    /// `POST /user/...`: the account forms. Cross-site posts are refused (login CSRF).
    async fn user_post(&self, session: &mut Session, path: &str) -> Reply {
        if !same_origin(session.req_header()) {
            return Reply::text(403, "cross-site form posts are refused");
        }
        let form = match read_form(session).await {
            Ok(form) => form,
            Err(reply) => return reply,
        };
        let client = client_ip(session, &self.shop.trusted_proxies);
        match path {
            "/user/register" => accounts::register(&self.shop, &form, client).await,
            "/user/login" => accounts::login(&self.shop, &form, client).await,
            "/user/logout" => {
                let everywhere = matches!(form.get("everywhere"), "1" | "true" | "on");
                accounts::logout(&self.shop, self.shopper(session).ok(), everywhere).await
            }
            "/user/password" => match self.shopper(session) {
                Ok(token) => accounts::change_password(&self.shop, token, &form, client).await,
                Err(refused) => refused,
            },
            _ => Reply::text(404, "not found"),
        }
    }

    async fn get_one(&self, session: &mut Session, query: &str) -> Route {
        // A Buy carries no body; read whatever came (bounded) so the connection stays reusable.
        if let Err(reply) = read_form(session).await {
            return reply.into();
        }
        let uid = match self.shopper(session) {
            Ok(token) => token.uid,
            Err(refused) => return refused.into(),
        };
        let Some(product_id) = query_param(query, "productID").and_then(|v| parse_id(&v)) else {
            return BuyOutcome::BadRequest.reply().into();
        };
        if let Err(elsewhere) = self.decided_here(session, uid, "/getOne") {
            return elsewhere;
        }
        let owner_cookie = self.owner_cookie_if_stale(session);
        let reply = buy(&self.shop, uid, product_id, self.shop.clock.now())
            .await
            .reply();
        match owner_cookie {
            Some(cookie) => reply.header("Set-Cookie", cookie).into(),
            None => reply.into(),
        }
    }

    /// On a ring, the `owner` cookie naming this node, when the request's names another (or
    /// none): the proxy in front then sends this shopper's next Buy here directly.
    fn owner_cookie_if_stale(&self, session: &Session) -> Option<String> {
        let cluster = &self.shop.cluster;
        if !cluster.is_ring() {
            return None;
        }
        let named = session
            .req_header()
            .headers
            .get_all("cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|text| cookie(text, accounts::OWNER_COOKIE));
        (named != Some(cluster.me()))
            .then(|| accounts::owner_cookie(cluster.me(), self.shop.session_ttl.as_secs()))
    }

    /// `GET /queue/{id}/challenge` (answered by any node: a challenge is signed, not stored),
    /// `POST /queue/{id}/join` and `GET /queue/{id}/status` (decided by the shopper's owner,
    /// which caches their place).
    async fn queue(&self, session: &mut Session, path: &str, method: &Method) -> Route {
        let Some((product_id, action)) = queue_path(path) else {
            return Reply::text(404, "not found").into();
        };
        let read_only = *method == Method::GET || *method == Method::HEAD;
        match action {
            "challenge" | "status" if !read_only => {
                return Reply::json(405, json!({"result": "method_not_allowed"}))
                    .header("Allow", "GET, HEAD")
                    .into()
            }
            "join" if *method != Method::POST => {
                return Reply::json(405, json!({"result": "method_not_allowed"}))
                    .header("Allow", "POST")
                    .into()
            }
            "challenge" | "status" | "join" => {}
            _ => return Reply::text(404, "not found").into(),
        }
        let joining = action == "join";
        let uid = match self.shopper(session) {
            Ok(token) => Some(token.uid),
            // Revocations unreadable: a challenge is harmless (the join it is for needs the
            // store, and checks again); anything else answers 503, as a Buy does.
            Err(refused) if refused.status == 503 && action == "challenge" => {
                self.verified_token(session).map(|t| t.uid)
            }
            Err(refused) if refused.status == 503 => return refused.into(),
            Err(_) => None,
        };
        if let Some(uid) = uid.filter(|_| action != "challenge") {
            // Before the body is read: a forwarded join carries its form to the owner.
            if let Err(elsewhere) = self.decided_here(session, uid, path) {
                if let Route::Forward(_) = elsewhere {
                    self.shop.metrics.forwarded();
                }
                return elsewhere;
            }
        }
        let form = if joining {
            match read_form(session).await {
                Ok(form) => form,
                Err(reply) => return reply.into(),
            }
        } else {
            Form::parse(b"")
        };
        let reply = self.queue_decided(uid, product_id, action, &form).await;
        if joining {
            self.shop.metrics.join(if reply.status == 200 {
                "joined"
            } else {
                reply.result()
            });
        }
        reply.into()
    }

    async fn queue_decided(
        &self,
        uid: Option<i64>,
        product_id: i64,
        action: &str,
        form: &Form,
    ) -> Reply {
        let Some(uid) = uid else {
            return unauthorized();
        };
        let Some(product) = self.shop.catalog.get(product_id).filter(|p| p.queue) else {
            return refusal(404, "no_waiting_room");
        };
        let room = &self.shop.room;
        let now_ms = now_unix_ms();
        match action {
            "challenge" => {
                self.shop.metrics.challenge_issued();
                Reply::json(200, room.challenge(product_id, uid, now_ms / 1000))
            }
            "join" => {
                match room
                    .join(
                        &self.shop,
                        &product,
                        uid,
                        form.get("challenge"),
                        form.get("nonce"),
                        now_ms,
                    )
                    .await
                {
                    Ok(status) => Reply::json(200, status.json()),
                    Err(reply) => reply,
                }
            }
            _ => {
                let sold_out = self.shop.catalog.is_sold_out(product_id);
                match room.status(&product, uid, now_ms, sold_out).await {
                    Some(status) => Reply::json(200, status.json()),
                    None => refusal(503, "unavailable"),
                }
            }
        }
    }

    async fn stock(&self, id: &str) -> Reply {
        let not_found = || Reply::json(404, json!({"result": "no_such_product"}));
        let Some(product_id) = parse_id(id) else {
            return not_found();
        };
        if self.shop.catalog.get(product_id).is_none() {
            return not_found();
        }
        match self.shop.stock.remaining(product_id).await {
            Ok(Some(n)) => {
                Reply::json(200, json!({"productId": product_id, "remaining": n.max(0)}))
                    .replace_header("Cache-Control", "public, max-age=1")
            }
            Ok(None) | Err(_) => Reply::json(503, json!({"result": "unavailable"})),
        }
    }
}

/// Whether a form post comes from this site: its `Origin` (or, without one, its `Referer`)
/// names the host it was sent to. A request with neither (a script, an old browser) passes:
/// browsers send `Origin` on every cross-site POST.
fn same_origin(req: &RequestHeader) -> bool {
    let header = |name| req.headers.get(name).and_then(|v| v.to_str().ok());
    let Some(source) = header("origin").or_else(|| header("referer")) else {
        return true;
    };
    let Some(host) = header("host").or_else(|| req.uri.authority().map(|a| a.as_str())) else {
        return false;
    };
    let source_host = source
        .split_once("://")
        .map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
    // Hosts without ports: a proxy in front (nginx's `$host`) drops the port, and another port
    // of the same host is the same site to the browser's SameSite rule anyway.
    hostname(source_host).eq_ignore_ascii_case(hostname(host))
}

/// `host[:port]` or `[v6]:port` without the port.
fn hostname(authority: &str) -> &str {
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !host.ends_with(':') => {
            host
        }
        _ => authority,
    }
}

/// The same answer for a Buy and for any other request that needs a shopper.
fn unauthorized() -> Reply {
    BuyOutcome::Unauthorized.reply()
}

/// `/queue/{id}/{action}` -> (id, action).
fn queue_path(path: &str) -> Option<(i64, &str)> {
    let rest = path.strip_prefix("/queue/")?;
    let (id, action) = rest.split_once('/')?;
    Some((parse_id(id)?, action))
}

/// A positive decimal id, nothing else (no sign, no spaces, no overflow).
fn parse_id(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|id| *id > 0)
}

async fn read_form(session: &mut Session) -> Result<Form, Reply> {
    match read_body(session, MAX_FORM_BYTES).await {
        Ok(body) => Ok(Form::parse(&body)),
        Err(BodyError::TooLarge) => {
            // The rest of the body is unread: the connection cannot be reused.
            session.set_keepalive(None);
            Err(Reply::text(413, "request body too large"))
        }
        Err(BodyError::Read(_)) => {
            session.set_keepalive(None);
            Err(Reply::text(400, "could not read the request body"))
        }
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn new_ctx(&self) -> Self::CTX {
        Ctx::default()
    }

    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut Self::CTX,
    ) -> pingora::Result<bool> {
        let head_only = session.req_header().method == Method::HEAD;
        match self.route(session).await {
            Route::Reply(reply) => {
                reply.send(session, head_only).await?;
                // Answered here: nothing goes upstream.
                Ok(true)
            }
            Route::Forward(forward) => {
                // Another node owns this shopper: pingora proxies the request to it.
                ctx.forward = Some(forward);
                Ok(false)
            }
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut Self::CTX,
    ) -> pingora::Result<Box<HttpPeer>> {
        let Some(forward) = ctx.forward.as_mut() else {
            return Err(Error::explain(
                ErrorType::InternalError,
                "no upstream: this request was to be answered here",
            ));
        };
        let cluster = &self.shop.cluster;
        if cluster.is_down(&forward.peer) {
            // A retry after a failed connect: the shopper now belongs to the next node up,
            // possibly this one (then the request comes back to us, marked, and is decided).
            forward.peer = match cluster.owner(forward.uid) {
                Owner::Me => cluster.me().to_string(),
                Owner::Peer(peer) => peer,
            };
        }
        // Plain HTTP between ring nodes; pingora pools and reuses these connections.
        Ok(Box::new(HttpPeer::new(
            forward.peer.as_str(),
            false,
            String::new(),
        )))
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Self::CTX,
        mut e: Box<Error>,
    ) -> Box<Error> {
        if let Some(forward) = &ctx.forward {
            let cluster = &self.shop.cluster;
            if forward.peer != cluster.me() && cluster.set_up(&forward.peer, false) {
                tracing::warn!(peer = %forward.peer, "a ring peer refused a connection; its shoppers go to the next node");
            }
            // Nothing reached the peer: trying the next owner is safe.
            e.set_retry(true);
        }
        e
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Self::CTX,
    ) -> pingora::Result<()> {
        if let Some(forward) = &ctx.forward {
            upstream_request.insert_header(FORWARDED, forward.marker.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_id;

    #[test]
    fn ids_are_plain_positive_numbers() {
        assert_eq!(parse_id("12"), Some(12));
        for bad in [
            "",
            "0",
            "-1",
            "+1",
            "1.0",
            "1e3",
            " 1",
            "abc",
            "99999999999999999999",
            "1;DROP",
        ] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }
}
