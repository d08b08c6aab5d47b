//! sitegen against hugo (Debian's package) rendering the same catalogue with equivalent
//! templates, and republishing one edited product in a large site.
//!
//! Both read the catalogue from storage and write HTML: sitegen from SQLite (what
//! `flashsale sitegen` does), hugo from one Markdown file per product. Pages counted are the
//! product pages plus the catalogue pages (24 products each) of both.

use crate::table::{thousands, Row, Section};
use flashsale_core::domain::Product;
use flashsale_core::Db;
use flashsale_sitegen::{render_site, Site, SiteOptions, PAGE_SIZE};
use std::path::Path;
use std::time::{Duration, Instant};

/// Renders each catalogue size with sitegen, and with hugo up to `hugo_max` products (hugo
/// takes many minutes on 100,000 here: `site --hugo-max 100000` includes it).
pub async fn run(sizes: &[usize], hugo_max: usize, republishes: usize) -> anyhow::Result<Section> {
    let hugo = std::process::Command::new("hugo").arg("version").output();
    anyhow::ensure!(
        hugo.is_ok_and(|o| o.status.success()),
        "hugo is not installed (Debian: apt-get install hugo)"
    );
    let mut section = Section::new(
        "6. sitegen versus hugo: the same catalogue from storage, equivalent templates, a full \
         render into an empty folder; and one edited product republished",
    );
    for &n in sizes {
        let dir = tempfile::tempdir()?;
        let products = catalogue(n);
        let pages = n + n.div_ceil(PAGE_SIZE);

        let hugo = if n <= hugo_max {
            Some(hugo_render(dir.path(), &products)?)
        } else {
            None
        };
        let db = sqlite_with(dir.path(), &products).await?;
        let plain = sitegen_render(&db, &dir.path().join("plain"), false).await?;
        let compressed = sitegen_render(&db, &dir.path().join("dist"), true).await?;
        db.close().await;

        let rate = |d: Duration| pages as f64 / d.as_secs_f64();
        let result = |d: Duration| {
            format!(
                "{} pages/s ({pages} pages in {:.1} s)",
                thousands(rate(d)),
                d.as_secs_f64()
            )
        };
        let versus = |row: Row, took: Duration| match hugo {
            Some(hugo) => row.versus(rate(took), rate(hugo), "hugo", Some(1.0)),
            None => row.note(format!("hugo not run at this size (--hugo-max {hugo_max})")),
        };
        if let Some(hugo) = hugo {
            section.push(Row::new(
                format!("hugo, {n} products (reference)"),
                result(hugo),
            ));
        }
        section.push(versus(
            Row::new(format!("sitegen, {n} products, HTML only"), result(plain)),
            plain,
        ));
        section.push(
            versus(
                Row::new(
                    format!("sitegen, {n} products, HTML + .gz + .br"),
                    result(compressed),
                ),
                compressed,
            )
            .note("hugo writes no compressed twins"),
        );

        let times = republish_one(&dir.path().join("dist"), &products, republishes)?;
        let mut row = Row::new(
            format!("republish one edited product of {n}"),
            format!("{:.1} ms p50", percentile(&times, 50)),
        );
        row.p50_ms = format!("{:.2}", percentile(&times, 50));
        row.p99_ms = format!("{:.2}", percentile(&times, 100));
        row.goal = format!(
            "< 20 ms: {}",
            if percentile(&times, 50) < 20.0 {
                "met"
            } else {
                "missed"
            }
        );
        section.push(row.note(format!(
            "{republishes} edits, Site kept open as the admin would; p99 column is the max"
        )));
    }
    let n = if sizes.iter().all(|&n| n < 20_000) {
        1_000
    } else {
        20_000
    };
    let (times, reads) = admin_republish(n, republishes).await?;
    let mut row = Row::new(
        format!("the admin's Republish of one edited product of {n}, over its JSON API"),
        format!("{:.1} ms p50", percentile(&times, 50)),
    );
    row.p50_ms = format!("{:.2}", percentile(&times, 50));
    row.p99_ms = format!("{:.2}", percentile(&times, 100));
    row.goal = format!(
        "<= 50 ms: {}",
        if percentile(&times, 50) <= 50.0 {
            "met"
        } else {
            "missed"
        }
    );
    section.push(row.note(format!(
        "{republishes} edits; POST /api/publish: the catalogue read from SQLite, compared with \
         the last publish, 2 pages written; p99 column is the max; reading the catalogue alone \
         (Db::list_products) takes {:.1} ms p50 of it",
        percentile(&reads, 50)
    )));
    Ok(section)
}

/// Times `count` Republishes through the admin's JSON API, each after one product was edited
/// in the database, in a shop of `n` products (SQLite) whose site the admin published once;
/// and, beside each, one read of the catalogue alone (what a Republish starts with).
async fn admin_republish(n: usize, count: usize) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    use tower::ServiceExt;
    let dir = tempfile::tempdir()?;
    let products = catalogue(n);
    let db = sqlite_with(dir.path(), &products).await?;
    let token = flashsale_core::config::random_secret();
    let state = flashsale_admin::AdminState::new(flashsale_admin::AdminParts {
        db: db.clone(),
        stock: std::sync::Arc::new(flashsale_core::stock::MemoryStock::new()),
        room: std::sync::Arc::new(flashsale_core::waiting_room::MemoryRoom::new()),
        default_admit_per_second: 100,
        time_zone: flashsale_core::Config::default().shop_time_zone()?,
        currency: flashsale_core::Config::default().currency,
        site: SiteOptions::new(dir.path().join("dist"), 10, "Flashsale"),
        credentials: flashsale_admin::Credentials::new("admin", "bench admin password", &token)?,
        after_publish: None,
    })?;
    let app = flashsale_admin::app(state);
    let publish = || async {
        let request = axum::http::Request::post("/api/publish")
            .header("Authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())?;
        let answer = app.clone().oneshot(request).await?;
        anyhow::ensure!(
            answer.status() == 200,
            "/api/publish answered {}",
            answer.status()
        );
        let body = axum::body::to_bytes(answer.into_body(), 1 << 24).await?;
        let json: serde_json::Value = serde_json::from_slice(&body)?;
        anyhow::Ok(json["rendered"].as_u64().unwrap_or(0))
    };
    publish().await?; // the first opens the site and renders everything
    let mut times = Vec::with_capacity(count);
    let mut reads = Vec::with_capacity(count);
    for i in 0..count {
        let started = Instant::now();
        db.list_products().await?;
        reads.push(started.elapsed().as_secs_f64() * 1000.0);
        let p = &products[(i * 7919) % products.len()];
        let edited = flashsale_core::domain::NewProduct {
            name: p.name.clone(),
            stock: p.stock,
            price_cents: p.price_cents + 1 + i as i64,
            image: p.image.clone(),
            description: p.description.clone(),
            sale_start: p.sale_start,
            sale_end: p.sale_end,
            queue: p.queue,
            admit_per_second: p.admit_per_second,
        };
        db.update_product(p.id, &edited).await?;
        let started = Instant::now();
        let rendered = publish().await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(
            rendered == 2,
            "one edit should render 2 pages, rendered {rendered}"
        );
    }
    db.close().await;
    Ok((times, reads))
}

fn catalogue(n: usize) -> Vec<Product> {
    (1..=n as i64)
        .map(|id| Product {
            id,
            name: format!("Product {id} <limited>"),
            stock: 100 + id % 50,
            price_cents: 999 + id * 7,
            image: "/static/img/phone.svg".into(),
            description: format!(
                "The number {id} of our catalogue.\n\nOne per shopper, while stock lasts. \
                 Ships in two days."
            ),
            sale_start: Some(1_767_225_600),
            sale_end: None,
            queue: false,
            admit_per_second: 100,
        })
        .collect()
}

/// A SQLite shop holding `products`: the schema by our migrations, the rows in one
/// transaction (a commit per row would time the disk, not the renderers).
async fn sqlite_with(dir: &Path, products: &[Product]) -> anyhow::Result<Db> {
    let url = format!("sqlite://{}/bench.db", dir.display());
    let db = Db::connect(&url).await?;
    db.migrate().await?;
    db.close().await;
    let pool = sqlx::SqlitePool::connect(&url).await?;
    let mut tx = pool.begin().await?;
    for p in products {
        sqlx::query(
            "INSERT INTO products (id, name, stock, price_cents, image, description, \
             sale_start, sale_end, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
        )
        .bind(p.id)
        .bind(&p.name)
        .bind(p.stock)
        .bind(p.price_cents)
        .bind(&p.image)
        .bind(&p.description)
        .bind(p.sale_start)
        .bind(p.sale_end)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    pool.close().await;
    Ok(Db::connect(&url).await?)
}

/// `flashsale sitegen` from a fresh `dist/`: the catalogue read from SQLite, then rendered.
async fn sitegen_render(db: &Db, dist: &Path, compress: bool) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let products = db.list_products().await?;
    let mut opts = SiteOptions::new(dist, 10, "Flashsale");
    opts.compress = compress;
    tokio::task::spawn_blocking(move || render_site(&products, &opts)).await??;
    Ok(started.elapsed())
}

/// Opens the site rendered in `dist`, then times `count` single-product edits.
fn republish_one(dist: &Path, products: &[Product], count: usize) -> anyhow::Result<Vec<f64>> {
    let mut site = Site::open(SiteOptions::new(dist, 10, "Flashsale"))?;
    site.publish(products)?; // nothing to do: only loads the catalogue into the open site
    let mut times = Vec::with_capacity(count);
    for i in 0..count {
        let mut edited = products[(i * 7919) % products.len()].clone();
        edited.price_cents += 1 + i as i64;
        let started = Instant::now();
        let summary = site.publish_changes(&[edited], &[])?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(
            summary.rendered == 2,
            "one edit should render 2 pages, rendered {:?}",
            summary.changed
        );
    }
    Ok(times)
}

fn percentile(times: &[f64], p: usize) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let i = (sorted.len() * p / 100).min(sorted.len().saturating_sub(1));
    sorted.get(i).copied().unwrap_or(0.0)
}

/// Writes a hugo site equivalent to ours and times `hugo` building it.
fn hugo_render(dir: &Path, products: &[Product]) -> anyhow::Result<Duration> {
    let site = dir.join("hugo");
    for (path, text) in HUGO_FILES {
        let file = site.join(path);
        std::fs::create_dir_all(file.parent().unwrap_or(&site))?;
        std::fs::write(file, text)?;
    }
    let content = site.join("content/product");
    std::fs::create_dir_all(&content)?;
    for p in products {
        // Front matter in TOML; the name and the description are escaped by hugo's templates.
        std::fs::write(
            content.join(format!("{}.md", p.id)),
            format!(
                "+++\ntitle = {name:?}\nweight = {id}\nid = {id}\nprice = \"{price}\"\nstock = {stock}\nimage = {image:?}\nsale_start = \"2026-01-01T00:00:00Z\"\n+++\n{desc}\n",
                name = p.name,
                id = p.id,
                price = flashsale_sitegen::format_price(p.price_cents),
                stock = p.stock,
                image = p.image,
                desc = p.description,
            ),
        )?;
    }
    let started = Instant::now();
    let out = std::process::Command::new("hugo")
        .arg("--quiet")
        .arg("--source")
        .arg(&site)
        .arg("--destination")
        .arg(dir.join("hugo-public"))
        .output()?;
    let took = started.elapsed();
    anyhow::ensure!(
        out.status.success(),
        "hugo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(took)
}

/// A hugo theme shaped like `site-templates/`: the same page skeleton, a paged catalogue of
/// 24 per page, product pages with the Buy button's data attributes, a sitemap. The catalogue
/// paginates `.Site.RegularPages` as it is (only products are pages): hugo evaluates the
/// argument of `.Paginate` on every catalogue page, so a `where` there makes hugo quadratic
/// (5x slower at 20k products) and the comparison unfair to it.
const HUGO_FILES: &[(&str, &str)] = &[
    (
        "config.toml",
        r#"baseURL = "http://127.0.0.1:8080/"
title = "Flashsale"
paginate = 24
disableKinds = ["taxonomy", "term", "RSS"]
[markup.goldmark.renderer]
unsafe = false
"#,
    ),
    (
        "layouts/_default/baseof.html",
        r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{{ block "title" . }}{{ .Site.Title }}{{ end }}</title>
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/static/style.css">
</head>
<body>
  <header class="topbar">
    <nav class="nav wrap" aria-label="Main">
      <a class="brand" href="/">{{ .Site.Title }}</a>
      <div class="nav-links">
        <a href="/user/login">Log in</a>
        <a class="button button-small" href="/user/register">Register</a>
        <form class="logout" method="post" action="/user/logout">
          <button type="submit" class="link-button">Log out</button>
        </form>
      </div>
    </nav>
  </header>
  <main class="wrap">{{ block "main" . }}{{ end }}</main>
  <footer class="footer wrap"><p>{{ .Site.Title }} · one of each per shopper, while stock lasts.</p></footer>
  {{ block "scripts" . }}{{ end }}
</body>
</html>
"#,
    ),
    (
        "layouts/index.html",
        r#"{{ define "main" }}
<section class="hero"><h1>Today's flash sale</h1>
<p class="lede">Limited stock, one per shopper. When it's gone, it's gone.</p></section>
{{ $paginator := .Paginate .Site.RegularPages }}
<ul class="grid" id="catalogue">
{{ range $paginator.Pages }}
  <li class="card" data-product-id="{{ .Params.id }}">
    <a class="card-image" href="{{ .RelPermalink }}" tabindex="-1" aria-hidden="true">
      <img src="{{ .Params.image }}" alt="" width="400" height="300" loading="lazy"></a>
    <div class="card-body">
      <h2 class="card-title"><a href="{{ .RelPermalink }}">{{ .Title }}</a></h2>
      <p class="price">{{ .Params.price }}</p>
      <p class="muted small">Sale opens <time datetime="{{ .Params.sale_start }}">{{ .Params.sale_start }}</time></p>
    </div>
  </li>
{{ end }}
</ul>
{{ if gt $paginator.TotalPages 1 }}
<nav class="pager" aria-label="Catalogue pages">
  {{ if $paginator.HasPrev }}<a rel="prev" href="{{ $paginator.Prev.URL }}">&larr; Previous</a>{{ end }}
  <span>Page {{ $paginator.PageNumber }} of {{ $paginator.TotalPages }}</span>
  {{ if $paginator.HasNext }}<a rel="next" href="{{ $paginator.Next.URL }}">Next &rarr;</a>{{ end }}
</nav>
{{ end }}
{{ end }}
"#,
    ),
    (
        "layouts/_default/list.html",
        r#"{{ define "main" }}<p><a href="/">Catalogue</a></p>{{ end }}
"#,
    ),
    (
        "layouts/_default/single.html",
        r#"{{ define "title" }}{{ .Title }} · {{ .Site.Title }}{{ end }}
{{ define "main" }}
<article class="product">
  <div class="product-image"><img src="{{ .Params.image }}" alt="{{ .Title }}" width="400" height="300"></div>
  <div class="product-info">
    <h1>{{ .Title }}</h1>
    <p class="price">{{ .Params.price }}</p>
    <p class="stock"><span id="stock-remaining">{{ .Params.stock }} left</span></p>
    <p id="sale-window">Sale opens <time datetime="{{ .Params.sale_start }}">{{ .Params.sale_start }}</time></p>
    <button id="buy" class="button" data-product-id="{{ .Params.id }}" data-cooldown="10"
      data-sale-start="{{ .Params.sale_start }}" data-sale-end="">Buy now</button>
    <p id="buy-result" aria-live="polite"></p>
    <div class="description">{{ .Content }}</div>
  </div>
</article>
{{ end }}
{{ define "scripts" }}<script src="/static/order.js" defer></script>
<script src="/static/buy.js" defer></script>{{ end }}
"#,
    ),
    (
        "layouts/404.html",
        r#"{{ define "main" }}<h1>Not found</h1><p><a href="/">Back to the sale</a></p>{{ end }}
"#,
    ),
];
