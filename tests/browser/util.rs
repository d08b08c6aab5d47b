use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use flashsale_testkit::free_port;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a page may take to show what a test waits for.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The window sizes the pages are checked at: a phone, a desktop.
pub const PHONE: (u32, u32) = (390, 844);
pub const DESKTOP: (u32, u32) = (1280, 900);

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
            format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
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
        self.read(css, "click", |el| async move { el.click().await })
            .await
    }

    /// Reads something of the element `css`. The page's scripts may replace the element
    /// between finding it and reading it (a box that re-renders, a form page that comes
    /// back): a stale element is found again, until `PATIENCE` runs out.
    async fn read<T, F, Fut>(&self, css: &str, what: &str, read: F) -> T
    where
        F: Fn(Element) -> Fut,
        Fut: Future<Output = Result<T, fantoccini::error::CmdError>>,
    {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match read(self.find(css).await).await {
                Ok(value) => return value,
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    panic!("{what} of {css}: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.read(css, "text", |el| async move { el.text().await })
            .await
    }

    /// The attribute `name` of `css`, as written in the page.
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.read(css, name, |el| async move { el.attr(name).await })
            .await
    }

    /// The property `name` of `css` (a field's `value`: what is typed in it now).
    pub async fn prop(&self, css: &str, name: &str) -> Option<String> {
        self.read(css, name, |el| async move { el.prop(name).await })
            .await
    }

    /// The text of `css`, or why it could not be read, in one try: for callers that wait
    /// and treat a stale element as "not yet", like a wrong text.
    pub async fn fresh_text(&self, css: &str) -> Result<String, String> {
        self.find(css)
            .await
            .text()
            .await
            .map_err(|e| format!("(unreadable: {e})"))
    }

    /// Whether `css` can be pressed or typed into (it must be on the page).
    pub async fn is_enabled(&self, css: &str) -> bool {
        self.read(css, "state", |el| async move { el.is_enabled().await })
            .await
    }

    /// Whether `css` is displayed (it must be on the page).
    pub async fn is_displayed(&self, css: &str) -> bool {
        self.read(css, "display", |el| async move { el.is_displayed().await })
            .await
    }

    /// Whether `css` is on the page and displayed, without waiting for it.
    pub async fn shown(&self, css: &str) -> bool {
        match self.client.find(Locator::Css(css)).await {
            Ok(el) => el.is_displayed().await.unwrap_or(false),
            Err(_) => false,
        }
    }

    /// Whether anything on the page is wider than the window (the page scrolls sideways).
    pub async fn wider_than_window(&self) -> bool {
        self.client
            .execute(
                "return document.documentElement.scrollWidth > window.innerWidth;",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(true)
    }

    /// Sets the window to `(width, height)` pixels (a phone, a desktop).
    pub async fn resize(&self, (width, height): (u32, u32)) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("window size");
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
