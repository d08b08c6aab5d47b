//! Precompressed twins of every text file (`page.html.gz`, `page.html.br`), so neither the
//! gateway nor nginx ever compresses on a request.

use std::io::Write;

/// Text is worth compressing; images other than SVG already are compressed.
pub(crate) fn is_compressible(path: &str) -> bool {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    matches!(
        ext,
        "html" | "css" | "js" | "svg" | "xml" | "txt" | "json" | "map"
    )
}

/// gzip at level 6: on pages of a few kilobytes, levels 7-9 save a few bytes for several times
/// the time, and a full render compresses every page.
pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 3),
        flate2::Compression::new(6),
    );
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// Brotli at quality 5 with a small window: smaller than gzip -9 on pages this size, and
/// fast enough to compress a 100,000-page site and a one-product republish in milliseconds
/// (quality 9 took ~4 ms a page here; 11, far more).
pub(crate) fn brotli(bytes: &[u8]) -> Vec<u8> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: 5,
        lgwin: 18,
        size_hint: bytes.len(),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(bytes.len() / 3);
    let mut input = bytes;
    // Reading from a slice and writing into a Vec cannot fail.
    let _ = brotli::BrotliCompress(&mut input, &mut out, &params);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn both_round_trip() {
        let page = "<p>hello</p>".repeat(200);
        let mut back = String::new();
        flate2::read::GzDecoder::new(gzip(page.as_bytes()).as_slice())
            .read_to_string(&mut back)
            .expect("gunzip");
        assert_eq!(back, page);
        let mut back = Vec::new();
        brotli::BrotliDecompress(&mut brotli(page.as_bytes()).as_slice(), &mut back)
            .expect("unbrotli");
        assert_eq!(back, page.as_bytes());
    }

    #[test]
    fn only_text_is_compressed() {
        assert!(is_compressible("product/1.html"));
        assert!(is_compressible("static/style.0123456789abcdef.css"));
        assert!(is_compressible("sitemap.xml"));
        assert!(!is_compressible("static/img/photo.png"));
        assert!(!is_compressible("README"));
    }
}
