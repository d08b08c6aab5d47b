//! Every route of the admin, in one table with who may use it; [`app`] builds the router
//! from the table and puts the matching guard in front of each route, so a route cannot be
//! added without choosing its protection (and the route test walks this table).

use crate::{api, guard, pages, AdminState};
use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::middleware::{from_fn_with_state, map_response};
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;
use std::future::Future;
use std::net::SocketAddr;
use tower::limit::GlobalConcurrencyLimitLayer;

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: only the login form and the static assets the login page needs.
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

/// Request bodies above this are refused (413) before they are read.
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

/// Serves the admin on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
