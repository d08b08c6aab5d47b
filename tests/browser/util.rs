use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use flashsale_testkit::free_port;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a page may take to show what a test waits for.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A headless Chromium session, with its chromedriver; both end when this is dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn require_tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "{name} is not installed: the browser tests need Debian's chromium and \
             chromium-driver (`apt-get install chromium chromium-driver`; .ci/run installs them)"
        )
    })
}

impl Browser {
    pub async fn start() -> Browser {
        Browser::start_with(false).await
    }

    /// A browser whose pages see `prefers-color-scheme: dark`.
    pub async fn start_dark() -> Browser {
        Browser::start_with(true).await
    }

    async fn start_with(dark: bool) -> Browser {
        let chromium = require_tool("chromium");
        let chromedriver = require_tool("chromedriver");
        // chromedriver binds the port it is given (racy, but it cannot be handed a listener).
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("profile dir");
        // The machine has no internet: without these flags Chromium waits on network
        // services it cannot reach.
        let mut args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1280,900".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if dark {
            args.push("--force-dark-mode".into());
        }
        let capabilities = serde_json::json!({
            "goog:chromeOptions": { "binary": chromium, "args": args }
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = String::new();
        for _ in 0..100 {
            let connected =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(capabilities.clone())
                    .connect(&url)
                    .await;
            match connected {
                Ok(client) => {
                    return Browser {
                        client,
                        driver,
                        _profile: profile,
                    }
                }
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no browser session from chromedriver on port {port}: {last_error}");
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear field");
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("element text")
    }

    /// The text of `css`, or why it could not be read. The page may replace the element
    /// between finding it and reading it (a form that re-renders, a navigation): a caller
    /// that waits treats a stale element as "not yet", like a wrong text.
    pub async fn fresh_text(&self, css: &str) -> Result<String, String> {
        self.find(css)
            .await
            .text()
            .await
            .map_err(|e| format!("(unreadable: {e})"))
    }

    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("url")
            .path()
            .to_string()
    }

    /// Waits until the text of `css` satisfies `ok`; returns it.
    pub async fn wait_for_text(&self, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let text = match self.fresh_text(css).await {
                Ok(text) if ok(&text) => return text,
                Ok(text) | Err(text) => text,
            };
            assert!(
                tokio::time::Instant::now() < deadline,
                "{css} never showed {what}; it shows {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page's path is `path`.
    pub async fn wait_for_path(&self, path: &str) {
        let reached = eventually(|| async { self.path().await == path }).await;
        assert!(reached, "never reached {path}; at {}", self.path().await);
    }

    /// Saves a screenshot of the page as `target/screenshots/{name}.png`; prints the path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).expect("screenshots dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, &png).expect("write screenshot");
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
        println!("screenshot: {}", path.display());
        path
    }

    pub async fn close(mut self) {
        let client = self.client.clone();
        let _ = client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failing test does not reach `close`: chromedriver (and its Chromium) must not
        // outlive it.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `$CARGO_TARGET_DIR/screenshots`, or `target/screenshots` in the workspace.
fn screenshots_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("screenshots")
}

/// Polls `check` until it is true or [`PATIENCE`] runs out.
pub async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
