//! axe-core in the page: fails a test on any serious or critical accessibility violation
//! (contrast under 4.5:1, a field without a label, a button without a name, ...).
//!
//! axe-core is an npm package pinned in `tests/browser/package-lock.json`; `scripts/setup`
//! installs it into `tests/browser/node_modules`.

use fantoccini::Client;
use std::path::Path;
use std::sync::OnceLock;

fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/browser/node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; the browser tests need axe-core: run scripts/setup \
                 (or `npm ci` in tests/browser)",
                path.display()
            )
        })
    })
}

/// Runs axe-core on the page `client` shows and panics, listing them, if any violation is
/// serious or critical. `page` names the page in the message.
pub async fn assert_accessible(client: &Client, page: &str) {
    let loaded = client
        .execute("return typeof window.axe === 'object';", vec![])
        .await
        .expect("ask for axe");
    if loaded != serde_json::Value::Bool(true) {
        client
            .execute(axe_source(), vec![])
            .await
            .unwrap_or_else(|e| panic!("inject axe-core into {page}: {e}"));
    }
    let script = r#"
        const done = arguments[arguments.length - 1];
        axe.run(document, { resultTypes: ['violations'] })
          .then(r => done(r.violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => ({
              id: v.id,
              impact: v.impact,
              help: v.help,
              nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ': ' + n.failureSummary)
            }))))
          .catch(e => done([{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }]));
    "#;
    let found = client
        .execute_async(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("run axe-core on {page}: {e}"));
    let violations = found.as_array().cloned().unwrap_or_default();
    if violations.is_empty() {
        return;
    }
    let mut report = String::new();
    for v in &violations {
        report.push_str(&format!(
            "\n- {} ({}): {}",
            v["id"].as_str().unwrap_or("?"),
            v["impact"].as_str().unwrap_or("?"),
            v["help"].as_str().unwrap_or("?"),
        ));
        for node in v["nodes"].as_array().into_iter().flatten() {
            report.push_str(&format!("\n    {}", node.as_str().unwrap_or("?")));
        }
    }
    panic!(
        "{page}: {} serious or critical accessibility violation(s):{report}",
        violations.len()
    );
}
