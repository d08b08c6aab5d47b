//! The admin's pages and assets, compiled into the binary so the admin runs from anywhere.
//! Tera autoescapes every `.html` template: a product named `<script>` is shown as text.

use crate::AppError;
use axum::response::Html;
use tera::{Context, Tera};

const PAGES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    (
        "dashboard.html",
        include_str!("../templates/dashboard.html"),
    ),
    ("products.html", include_str!("../templates/products.html")),
    (
        "product_form.html",
        include_str!("../templates/product_form.html"),
    ),
    (
        "product_delete.html",
        include_str!("../templates/product_delete.html"),
    ),
    ("orders.html", include_str!("../templates/orders.html")),
    ("publish.html", include_str!("../templates/publish.html")),
];

/// Static files under `/static/`: (name, content type, bytes).
pub const ASSETS: &[(&str, &str, &str)] = &[
    (
        "admin.css",
        "text/css; charset=utf-8",
        include_str!("../assets/admin.css"),
    ),
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/dashboard.js"),
    ),
    (
        "product-form.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/product-form.js"),
    ),
    (
        "room-control.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/room-control.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../assets/favicon.svg"),
    ),
];

pub struct Templates {
    tera: Tera,
}

impl Templates {
    pub fn load() -> Result<Self, tera::Error> {
        let mut tera = Tera::default();
        tera.add_raw_templates(PAGES.iter().copied())?;
        Ok(Templates { tera })
    }

    pub fn render(&self, name: &str, ctx: &Context) -> Result<Html<String>, AppError> {
        self.tera
            .render(name, ctx)
            .map(Html)
            .map_err(|e| AppError::Internal(format!("rendering the admin page {name}: {e:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_compiles() {
        Templates::load().expect("templates compile");
    }

    /// Regression: a field's message read outside an `if` failed the page for every other field.
    #[test]
    fn the_product_form_renders_with_a_mistake_in_one_field() {
        let t = Templates::load().expect("load");
        let mut ctx = tera::Context::new();
        ctx.insert("shop_name", "x");
        ctx.insert("nav", "products");
        ctx.insert("csrf", "c");
        ctx.insert("user", "u");
        ctx.insert("flash", "");
        ctx.insert("id", &Option::<i64>::None);
        ctx.insert("form", &crate::product_input::ProductForm::default());
        ctx.insert("errors", &serde_json::json!({"name": "Name is required."}));
        ctx.insert(
            "problems",
            &serde_json::json!([{"field": "name", "message": "Name is required."}]),
        );
        ctx.insert("time_zone", "UTC");
        ctx.insert("currency", "USD");
        let page = t.render("product_form.html", &ctx).expect("renders").0;
        assert!(page.contains(r#"aria-invalid="true" aria-describedby="error-name""#));
        assert!(page.contains(r##"<a href="#name">Name is required.</a>"##));
    }
}
