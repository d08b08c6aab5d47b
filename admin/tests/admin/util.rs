use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::response::Response;
use flashsale_admin::{app, AdminParts, AdminState, Credentials};
use flashsale_core::domain::{NewProduct, OrderMessage};
use flashsale_core::stock::{MemoryStock, StockStore};
use flashsale_core::Db;
use flashsale_sitegen::SiteOptions;
use http_body_util::BodyExt;
use std::sync::Arc;
use tower::ServiceExt;

pub const USER: &str = "admin";
pub const PASSWORD: &str = "correct horse battery";
pub const TOKEN: &str = "test-api-token-0123456789";

pub struct Admin {
    pub state: AdminState,
    pub db: Db,
    pub stock: Arc<dyn StockStore>,
    /// The waiting rooms the admin pushes rate changes to.
    pub room: Arc<dyn flashsale_core::waiting_room::WaitingRoom>,
    pub dir: tempfile::TempDir,
}

/// What came back, body read.
pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The body with the entities tera's escaping writes turned back into text.
    pub fn text(&self) -> String {
        self.body
            .replace("&#x2F;", "/")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The value of `name="…" value="…"` in the page (hidden fields).
    pub fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in {}", self.body))
            + marker.len();
        let end = start + self.body[start..].find('"').expect("closing quote");
        self.body[start..end].to_string()
    }

    /// `name=value` of the first `Set-Cookie` for `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(|c| c.split(';').next().unwrap_or("").to_string())
    }
}

/// A product on sale now.
pub fn product(name: &str, stock: i64) -> NewProduct {
    NewProduct {
        name: name.into(),
        stock,
        price_cents: 1_999,
        image: "/static/img/phone.svg".into(),
        description: "a test product".into(),
        sale_start: None,
        sale_end: None,
        queue: false,
        admit_per_second: 100,
    }
}

impl Admin {
    /// An admin on a fresh SQLite database and the memory stock store.
    pub async fn start() -> Admin {
        Self::start_with(Arc::new(MemoryStock::new())).await
    }

    pub async fn start_with(stock: Arc<dyn StockStore>) -> Admin {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::connect(&format!("sqlite://{}/shop.db", dir.path().display()))
            .await
            .expect("connect");
        db.migrate().await.expect("migrate");
        let room: Arc<dyn flashsale_core::waiting_room::WaitingRoom> =
            Arc::new(flashsale_core::waiting_room::MemoryRoom::new());
        let state = AdminState::new(AdminParts {
            db: db.clone(),
            stock: stock.clone(),
            room: room.clone(),
            default_admit_per_second: 100,
            time_zone: chrono_tz::UTC,
            currency: "USD".into(),
            site: SiteOptions {
                uploads: Some(dir.path().join("uploads")),
                ..SiteOptions::new(dir.path().join("dist"), 10, "Test Shop")
            },
            credentials: Credentials::new(USER, PASSWORD, TOKEN).expect("credentials"),
            after_publish: None,
        })
        .expect("state");
        Admin {
            state,
            db,
            stock,
            room,
            dir,
        }
    }

    pub async fn send(&self, req: Request<Body>) -> Answer {
        let res: Response = app(self.state.clone())
            .oneshot(req)
            .await
            .expect("the router answers");
        let (parts, body) = res.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&bytes).to_string(),
        }
    }

    pub async fn get(&self, path: &str, cookie: &str) -> Answer {
        self.send(
            Request::get(path)
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .expect("request"),
        )
        .await
    }

    /// A file sent as the product form's script sends it.
    pub async fn upload(&self, s: &Session, csrf: &str, name: &str, bytes: Vec<u8>) -> Answer {
        self.send(
            Request::post("/products/image")
                .header(header::COOKIE, &s.cookie)
                .header("x-csrf-token", csrf)
                .header("x-file-name", name)
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .body(Body::from(bytes))
                .expect("request"),
        )
        .await
    }

    pub async fn post_form(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> Answer {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.send(
            Request::post(path)
                .header(header::COOKIE, cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .expect("request"),
        )
        .await
    }

    /// A JSON API call with the token.
    pub async fn api(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> Answer {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
        let body = match body {
            Some(json) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.send(req.body(body).expect("request")).await
    }

    /// Submits the login form as a browser would; the answer of the POST, and the cookie
    /// header a browser would send next.
    pub async fn try_login(&self, user: &str, password: &str) -> (Answer, String) {
        let form = self.get("/login", "").await;
        assert_eq!(form.status, 200);
        let login_cookie = form.cookie("fs_admin_login").expect("login form cookie");
        let csrf = form.field("csrf");
        let answer = self
            .post_form(
                "/login",
                &login_cookie,
                &[("user", user), ("password", password), ("csrf", &csrf)],
            )
            .await;
        let cookie = answer.cookie("fs_admin").unwrap_or_default();
        (answer, cookie)
    }

    /// Logs in; the session cookie and the page's CSRF token.
    pub async fn login(&self) -> Session {
        let (answer, cookie) = self.try_login(USER, PASSWORD).await;
        assert_eq!(answer.status, 303, "{}", answer.body);
        assert_eq!(answer.header("location"), "/");
        let dashboard = self.get("/", &cookie).await;
        assert_eq!(dashboard.status, 200, "{}", dashboard.body);
        Session {
            csrf: dashboard.field("csrf"),
            cookie,
        }
    }

    /// Puts orders straight in the database, as the worker would.
    pub async fn record(&self, orders: &[(i64, i64, i64)]) -> Vec<String> {
        let messages: Vec<OrderMessage> = orders
            .iter()
            .map(|&(user_id, product_id, accepted_at)| OrderMessage {
                order_id: flashsale_core::domain::new_order_id(),
                user_id,
                product_id,
                accepted_at,
            })
            .collect();
        self.db.record_orders(&messages).await.expect("record");
        messages.into_iter().map(|m| m.order_id).collect()
    }
}

pub struct Session {
    pub cookie: String,
    pub csrf: String,
}
