//! Cookie files for wrk: one shopper's `Cookie` header a line. Every shopper handed out is new
//! (its cooldown has not started anywhere), so a run takes the path it means to take.

use flashsale_core::domain::now_unix;
use flashsale_core::{Ring, SignCodec};
use std::io::Write;
use std::path::{Path, PathBuf};

/// How long the benchmark's tokens stay valid.
const TOKEN_TTL_SECS: i64 = 3600;

pub struct Cookies {
    codec: SignCodec,
    ring: Ring,
    dir: PathBuf,
    /// The next uid never handed out.
    next_uid: i64,
    files: u32,
}

impl Cookies {
    /// Shoppers signed with `codec`, owned per `ring`, written into `dir`.
    pub fn new(codec: SignCodec, ring: Ring, dir: &Path) -> Cookies {
        Cookies {
            codec,
            ring,
            dir: dir.to_path_buf(),
            next_uid: 1,
            files: 0,
        }
    }

    /// A file of `n` new shoppers, each owned by `owner` (any node when `None`).
    pub fn fresh(&mut self, n: usize, owner: Option<&str>) -> anyhow::Result<PathBuf> {
        self.write(n, 1, owner, |line| line)
    }

    /// A file of `n` new shoppers, each also carrying the `owner` cookie naming their owner,
    /// as a ring's gateway sets it at login: nginx sends their Buys straight there.
    pub fn fresh_with_owner(&mut self, n: usize) -> anyhow::Result<PathBuf> {
        let ring = self.ring.clone();
        self.write(n, 1, None, move |line| {
            let uid = line
                .strip_prefix("uid=")
                .and_then(|rest| rest.split(';').next())
                .unwrap_or_default();
            match ring.owner(uid) {
                Some(owner) => format!("{line}; owner={owner}"),
                None => line,
            }
        })
    }

    /// A file of one new shopper owned by `owner`, on `copies` lines (wrk's threads each take
    /// their own lines, so each needs one).
    pub fn one(&mut self, copies: usize, owner: Option<&str>) -> anyhow::Result<PathBuf> {
        self.write(1, copies, owner, |line| line)
    }

    /// A file of `n` new shoppers owned by `owner` whose `sign` token was tampered with:
    /// each is refused as `unauthorized`, after the receiving node checked its MAC.
    pub fn forged(&mut self, n: usize, owner: Option<&str>) -> anyhow::Result<PathBuf> {
        self.write(n, 1, owner, |line| tamper(&line))
    }

    fn write(
        &mut self,
        n: usize,
        copies: usize,
        owner: Option<&str>,
        shape: impl Fn(String) -> String,
    ) -> anyhow::Result<PathBuf> {
        self.files += 1;
        let path = self.dir.join(format!("cookies-{}.txt", self.files));
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let expires = now_unix() + TOKEN_TTL_SECS;
        let mut written = 0;
        while written < n {
            let uid = self.next_uid;
            self.next_uid += 1;
            if owner.is_some_and(|o| self.ring.owner(&uid.to_string()) != Some(o)) {
                continue;
            }
            let line = format!("uid={uid}; sign={}", self.codec.issue(uid, expires));
            let line = shape(line);
            for _ in 0..copies {
                writeln!(file, "{line}")?;
            }
            written += 1;
        }
        file.flush()?;
        Ok(path)
    }
}

/// The cookie line with one character of its token's ciphertext changed: well-formed base64,
/// wrong MAC.
fn tamper(line: &str) -> String {
    let mut bytes = line.as_bytes().to_vec();
    let sign = line.find("sign=").map_or(0, |at| at + "sign=".len());
    // The middle of the token is ciphertext: any change there breaks the MAC.
    let at = sign + (bytes.len() - sign) / 2;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies(dir: &Path) -> (Cookies, SignCodec, Vec<String>) {
        let codec = SignCodec::new(1, b"bench test secret, long enough");
        let nodes = vec!["a:1".to_string(), "b:2".to_string()];
        (
            Cookies::new(codec.clone(), Ring::new(&nodes, 20), dir),
            codec,
            nodes,
        )
    }

    fn uid_and_token(line: &str) -> (i64, &str) {
        let (uid, sign) = line.split_once("; sign=").expect("two cookies");
        (uid["uid=".len()..].parse().expect("uid"), sign)
    }

    #[test]
    fn shoppers_are_new_each_time_and_owned_as_asked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut cookies, codec, nodes) = cookies(dir.path());
        let ring = Ring::new(&nodes, 20);
        let a =
            std::fs::read_to_string(cookies.fresh(50, Some("a:1")).expect("file")).expect("read");
        let any = std::fs::read_to_string(cookies.fresh(50, None).expect("file")).expect("read");
        let mut seen = std::collections::HashSet::new();
        for line in a.lines() {
            let (uid, token) = uid_and_token(line);
            assert_eq!(ring.owner(&uid.to_string()), Some("a:1"));
            assert_eq!(codec.verify(token, now_unix()).ok(), Some(uid));
            assert!(seen.insert(uid));
        }
        assert_eq!(seen.len(), 50);
        for line in any.lines() {
            assert!(
                seen.insert(uid_and_token(line).0),
                "{line} handed out twice"
            );
        }
        assert_eq!(seen.len(), 100);
    }

    #[test]
    fn forged_tokens_do_not_verify() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut cookies, codec, _) = cookies(dir.path());
        let forged =
            std::fs::read_to_string(cookies.forged(20, None).expect("file")).expect("read");
        for line in forged.lines() {
            let (_, token) = uid_and_token(line);
            assert!(codec.verify(token, now_unix()).is_err(), "{line} verified");
        }
    }
}
