//! Every route of the admin, in one table with who may use it; [`app`] builds the router
//! from the table and puts the matching guard in front of each route, so a route cannot be
//! added without choosing its protection (and the route test walks this table).

use crate::{api, guard, pages, AdminState};
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, map_response, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceExt;

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: only the login form, the static assets the login page needs, and `/healthz`.
    Public,
    /// A logged-in admin (a session cookie; forms also carry the CSRF token).
    Session,
    /// A script with the API token (`Authorization: Bearer …`).
    Token,
}

pub struct Route {
    pub method: Method,
    /// axum path syntax: `{id}` is a parameter.
    pub path: &'static str,
    pub access: Access,
    handler: fn() -> MethodRouter<AdminState>,
}

macro_rules! route {
    ($method:ident $path:literal, $access:ident, $routing:ident($handler:path)) => {
        Route {
            method: Method::$method,
            path: $path,
            access: Access::$access,
            handler: || $routing($handler),
        }
    };
}

pub const ROUTES: &[Route] = &[
    route!(GET "/healthz", Public, get(healthz)),
    route!(GET "/login", Public, get(pages::login::form)),
    route!(POST "/login", Public, post(pages::login::submit)),
    route!(GET "/static/{file}", Public, get(pages::asset)),
    route!(POST "/logout", Session, post(pages::login::logout)),
    route!(GET "/", Session, get(pages::dashboard::page)),
    route!(GET "/dashboard.json", Session, get(pages::dashboard::json)),
    route!(GET "/products", Session, get(pages::products::list)),
    route!(POST "/products", Session, post(pages::products::create)),
    route!(GET "/products/new", Session, get(pages::products::new_form)),
    route!(GET "/products/{id}/edit", Session, get(pages::products::edit_form)),
    route!(POST "/products/{id}", Session, post(pages::products::update)),
    // Images are bigger than forms: this route alone reads up to `images::BODY_LIMIT`.
    Route {
        method: Method::POST,
        path: pages::images::PATH,
        access: Access::Session,
        handler: || {
            post(pages::images::upload).layer(DefaultBodyLimit::max(pages::images::BODY_LIMIT))
        },
    },
    route!(GET "/products/{id}/delete", Session, get(pages::products::confirm_delete)),
    route!(POST "/products/{id}/delete", Session, post(pages::products::delete)),
    route!(GET "/orders", Session, get(pages::orders::list)),
    route!(GET "/orders.csv", Session, get(pages::orders::csv)),
    route!(GET "/publish", Session, get(pages::publish::page)),
    route!(POST "/publish", Session, post(pages::publish::run)),
    route!(GET "/api/products", Token, get(api::list_products)),
    route!(POST "/api/products", Token, post(api::create_product)),
    route!(GET "/api/products/{id}", Token, get(api::get_product)),
    route!(PUT "/api/products/{id}", Token, put(api::update_product)),
    route!(DELETE "/api/products/{id}", Token, delete(api::delete_product)),
    route!(GET "/api/orders", Token, get(api::list_orders)),
    route!(POST "/api/publish", Token, post(api::publish)),
];

/// For load balancers and compose: the admin answers. It reveals nothing else.
async fn healthz() -> &'static str {
    "ok"
}

/// Request bodies above this are refused (413) before they are read (an image upload may
/// be bigger: see `pages::images`).
pub const BODY_LIMIT: usize = guard::FORM_LIMIT;
/// Requests handled at once; more wait their turn, so a burst cannot exhaust the database
/// pool or memory (the password hash has its own, smaller bound).
pub const MAX_IN_FLIGHT: usize = 64;

/// The admin as a router: every route of [`ROUTES`] behind its guard.
pub fn app(state: AdminState) -> Router {
    let mut router = Router::new();
    for r in ROUTES {
        let handler = (r.handler)();
        let guarded = match r.access {
            Access::Public => handler,
            Access::Session => {
                handler.route_layer(from_fn_with_state(state.clone(), guard::session))
            }
            Access::Token => handler.route_layer(from_fn_with_state(state.clone(), guard::token)),
        };
        router = router.route(r.path, guarded);
    }
    router
        .fallback(pages::not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(map_response(guard::security_headers))
        .layer(GlobalConcurrencyLimitLayer::new(MAX_IN_FLIGHT))
        .with_state(state)
}

/// A client has this long to send a request's headers (slowloris), and then its body.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a shutdown waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Reads the whole body (bounded in size and time) before the request goes on, so the
/// concurrency limit behind it counts only requests that have arrived: a slow client holds a
/// connection, never one of the [`MAX_IN_FLIGHT`] places.
async fn body_arrived(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let limit = if parts.uri.path() == pages::images::PATH {
        pages::images::BODY_LIMIT
    } else {
        BODY_LIMIT
    };
    match tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(_)) => (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response(),
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            "the request body came too slowly",
        )
            .into_response(),
    }
}

/// Serves the admin on `listener` until `shutdown` resolves, then finishes the requests in
/// flight (for up to 10 s). Each connection has [`HEADER_READ_TIMEOUT`] for each request's
/// headers; handlers see the peer as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(state).layer(from_fn(body_arrived));
    let (stop, stopped) = watch::channel(false);
    // Each connection holds a clone; recv() returns None once all have ended.
    let (open, mut all_closed) = mpsc::channel::<()>(1);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!(error = %e, "the admin could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = app.clone().map_request(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req.map(Body::new)
        });
        let mut stopped = stopped.clone();
        let open = open.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            let connection = builder
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .with_upgrades();
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                // The guard wait_for returns is not Send: drop it inside.
                () = async { let _ = stopped.wait_for(|stop| *stop).await; } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(open);
        });
    }
    let _ = stop.send(true);
    drop(open);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, all_closed.recv()).await;
    Ok(())
}
