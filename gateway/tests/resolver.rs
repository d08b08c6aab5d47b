//! The static path resolver never names a file outside `dist/`: a regression corpus of known
//! attacks, and many thousands of generated paths built from traversal ingredients.

use flashsale_gateway::static_files::{Conditions, StaticFiles};
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// dist/ with a page, and beside it a secret; links inside dist/ that point outside.
fn site() -> (tempfile::TempDir, PathBuf, StaticFiles) {
    let dir = tempfile::tempdir().expect("tempdir");
    let dist = dir.path().join("dist");
    std::fs::create_dir_all(dist.join("product")).expect("mkdir");
    std::fs::write(dist.join("index.html"), "home").expect("write");
    std::fs::write(dist.join("product/1.html"), "p1").expect("write");
    std::fs::write(dist.join(".hidden"), "hidden").expect("write");
    std::fs::write(dir.path().join("secret.txt"), "secret").expect("write");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.path(), dist.join("link-to-parent")).expect("symlink");
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), dist.join("link"))
            .expect("symlink");
    }
    let root = dist.canonicalize().expect("canonical dist");
    (dir, root, StaticFiles::new(&dist))
}

/// The oracle, built without the resolver: every regular file physically inside dist/ (found
/// by walking the disk without following links), by canonical path, with its bytes. Hidden
/// names are not part of the site.
fn files_on_disk(root: &Path) -> HashMap<PathBuf, Vec<u8>> {
    let mut found = HashMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let entry = entry.expect("entry");
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if kind.is_file() {
                let bytes = std::fs::read(entry.path()).expect("read");
                found.insert(entry.path().canonicalize().expect("canonical"), bytes);
            }
        }
    }
    found
}

/// Checks a URL against the oracle: whatever it resolves to is, once every link on disk is
/// followed, one of the site's own files, and what is served for it is that file's bytes.
fn assert_inside(
    oracle: &HashMap<PathBuf, Vec<u8>>,
    files: &StaticFiles,
    url: &str,
    resolved: Option<PathBuf>,
) {
    let served = files.serve(url, Conditions::default());
    let Some(path) = resolved else {
        assert_ne!(
            served.status, 200,
            "{url:?} resolves to nothing but is served"
        );
        return;
    };
    let on_disk = path
        .canonicalize()
        .unwrap_or_else(|e| panic!("{url:?} resolved to {}: {e}", path.display()));
    let Some(bytes) = oracle.get(&on_disk) else {
        panic!(
            "{url:?} resolved to {}, which is {}: not a file of the site",
            path.display(),
            on_disk.display()
        );
    };
    assert_eq!(served.status, 200, "{url:?}");
    assert_eq!(&served.body[..], &bytes[..], "{url:?} served other bytes");
}

#[test]
fn the_regression_corpus_is_never_served() {
    let (_dir, root, files) = site();
    let oracle = files_on_disk(&root);
    let corpus = include_str!("traversal-corpus.txt");
    let mut checked = 0;
    for url in corpus
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let resolved = files.resolve(url);
        assert_inside(&oracle, &files, url, resolved.clone());
        assert!(resolved.is_none(), "{url:?} resolved to {resolved:?}");
        checked += 1;
    }
    assert!(checked >= 25, "the corpus lost its lines");
}

#[test]
fn generated_paths_never_leave_dist() {
    let (_dir, root, files) = site();
    let oracle = files_on_disk(&root);
    assert_eq!(oracle.len(), 2, "the oracle sees the two pages: {oracle:?}");
    const PIECES: &[&str] = &[
        "/",
        "/",
        "/",
        ".",
        "..",
        "%2e",
        "%2E",
        "%2f",
        "%2F",
        "%5c",
        "\\",
        "%00",
        "%25",
        "%c0%ae",
        "%c0%af",
        "product",
        "1.html",
        "index.html",
        "secret.txt",
        "link",
        "link-to-parent",
        ".hidden",
        "?",
        "#",
        ":",
        "C:",
        "%",
        "x",
    ];
    let mut reached = std::collections::HashSet::new();
    // Seeded, so a failure is reproducible (the failing URL is in the message).
    for seed in 0..20_000u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut url = String::from("/");
        for _ in 0..rng.gen_range(1..10) {
            url.push_str(PIECES[rng.gen_range(0..PIECES.len())]);
        }
        let resolved = files.resolve(&url);
        if let Some(path) = &resolved {
            reached.insert(path.canonicalize().expect("canonical"));
        }
        assert_inside(&oracle, &files, &url, resolved);
    }
    // The generator reaches both pages (through links too), so the check above was put to work.
    assert_eq!(reached.len(), 2, "{reached:?}");
    // And the pages themselves still resolve.
    assert!(files.resolve("/").is_some());
    assert!(files.resolve("/product/1.html").is_some());
}
