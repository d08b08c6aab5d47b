//! Product images uploaded in the admin. The bytes decide what a file is (a name says
//! nothing: `photo.png` may hold a page of HTML): PNG, JPEG, WebP or GIF, at most
//! [`MAX_BYTES`]. SVG is refused, since it can carry script. A good image is stored in the
//! site's uploads directory under a content-hashed name (`phone.0123456789abcdef.png`), and
//! the next republish publishes it under `/static/img/uploads/`, served like the theme's
//! images by the gateway and nginx and cached for good.

use std::path::Path;

/// The largest image taken: 2 MB, plenty for a product photo on the web.
pub const MAX_BYTES: usize = 2 * 1024 * 1024;
/// Characters of the original name kept in the stored one, for people reading `dist/`.
const MAX_STEM: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Png,
    Jpeg,
    Webp,
    Gif,
}

impl ImageKind {
    /// What the first bytes say the file is.
    pub fn sniff(bytes: &[u8]) -> Option<ImageKind> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageKind::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageKind::Jpeg)
        } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
            Some(ImageKind::Webp)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(ImageKind::Gif)
        } else {
            None
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ImageKind::Png => "png",
            ImageKind::Jpeg => "jpg",
            ImageKind::Webp => "webp",
            ImageKind::Gif => "gif",
        }
    }
}

/// Why an upload is refused; the text is what the admin reads beside the field.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    #[error("The file is empty. Choose a PNG, JPEG, WebP or GIF image.")]
    Empty,
    #[error("The image is {}; images can be at most 2 MB. Make it smaller and try again.", megabytes(*.size))]
    TooLarge { size: usize },
    #[error("{name} is not a PNG, JPEG, WebP or GIF image.")]
    NotAnImage { name: String },
}

/// "3.1 MB", "0.5 MB".
fn megabytes(bytes: usize) -> String {
    let tenths = (bytes as u64 * 10).div_ceil(1024 * 1024);
    format!("{}.{} MB", tenths / 10, tenths % 10)
}

/// The file's kind, or why it is refused. `file_name` is only for the message.
pub fn check(bytes: &[u8], file_name: &str) -> Result<ImageKind, UploadError> {
    if bytes.is_empty() {
        return Err(UploadError::Empty);
    }
    if bytes.len() > MAX_BYTES {
        return Err(UploadError::TooLarge { size: bytes.len() });
    }
    ImageKind::sniff(bytes).ok_or_else(|| UploadError::NotAnImage {
        name: if file_name.trim().is_empty() {
            "The file".to_owned()
        } else {
            file_name.trim().to_owned()
        },
    })
}

/// `My Phone (2).JPG` + a JPEG -> `my-phone-2.<16 hex of the bytes>.jpg`: the original name
/// in plain characters, then the content's hash, then the extension the content says.
pub fn stored_name(file_name: &str, kind: ImageKind, bytes: &[u8]) -> String {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or("");
    let stem = base.rsplit_once('.').map_or(base, |(stem, _)| stem);
    let mut plain = String::new();
    for c in stem.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            plain.push(c);
        } else if !plain.is_empty() && !plain.ends_with('-') {
            plain.push('-');
        }
        if plain.len() >= MAX_STEM {
            break;
        }
    }
    let plain = plain.trim_end_matches('-');
    let stem = if plain.is_empty() { "image" } else { plain };
    let hash = flashsale_core::site_manifest::content_hash(bytes);
    format!("{stem}.{hash:016x}.{}", kind.extension())
}

/// Writes `bytes` as `dir/name`, whole or not at all (a temporary file renamed into place),
/// so a render reading the directory never publishes half an image.
pub fn store(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let target = dir.join(name);
    if target.is_file() {
        return Ok(()); // the same name is the same content
    }
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&temp, bytes)?;
    std::fs::rename(&temp, &target).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn the_bytes_decide_not_the_name() {
        assert_eq!(check(PNG, "photo.png"), Ok(ImageKind::Png));
        assert_eq!(check(b"\xFF\xD8\xFF\xE0rest", "a.png"), Ok(ImageKind::Jpeg));
        assert_eq!(check(b"RIFF\x10\0\0\0WEBPVP8 ", "a"), Ok(ImageKind::Webp));
        assert_eq!(check(b"GIF89a\x01\0", "a.gif"), Ok(ImageKind::Gif));
        assert_eq!(
            check(b"<html><script>alert(1)</script>", "photo.png"),
            Err(UploadError::NotAnImage {
                name: "photo.png".into()
            })
        );
        let svg = check(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "logo.svg");
        assert!(
            matches!(svg, Err(UploadError::NotAnImage { .. })),
            "{svg:?}"
        );
        assert_eq!(check(b"RIFF\x10\0\0\0WAVE", "a.webp").ok(), None);
        assert_eq!(check(b"", "a.png"), Err(UploadError::Empty));
    }

    #[test]
    fn more_than_two_megabytes_is_refused_with_its_size() {
        let mut big = PNG.to_vec();
        big.resize(MAX_BYTES, 0);
        assert_eq!(
            check(&big, "big.png"),
            Ok(ImageKind::Png),
            "2 MB exactly is fine"
        );
        big.resize(3 * 1024 * 1024 + 100_000, 0);
        let err = check(&big, "big.png").expect_err("too large");
        assert_eq!(
            err.to_string(),
            "The image is 3.1 MB; images can be at most 2 MB. Make it smaller and try again."
        );
    }

    #[test]
    fn stored_names_are_plain_and_change_with_the_content() {
        let a = stored_name("My Phone (2).JPG", ImageKind::Jpeg, b"one");
        let b = stored_name("My Phone (2).JPG", ImageKind::Jpeg, b"two");
        assert!(a.starts_with("my-phone-2.") && a.ends_with(".jpg"), "{a}");
        assert_ne!(a, b);
        assert_eq!(a.len(), "my-phone-2..jpg".len() + 16);
        assert!(stored_name("../../x.png", ImageKind::Png, b"x").starts_with("x."));
        assert!(stored_name("<>.gif", ImageKind::Gif, b"x").starts_with("image."));
        assert!(stored_name("", ImageKind::Png, b"x").starts_with("image."));
    }

    #[test]
    fn store_writes_the_file_whole_and_keeps_an_existing_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let uploads = dir.path().join("uploads");
        store(&uploads, "a.0000000000000001.png", PNG).expect("stored");
        assert_eq!(
            std::fs::read(uploads.join("a.0000000000000001.png")).expect("read"),
            PNG
        );
        store(&uploads, "a.0000000000000001.png", PNG).expect("again");
        let names: Vec<_> = std::fs::read_dir(&uploads)
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
    }
}
