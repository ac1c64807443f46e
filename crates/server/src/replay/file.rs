//! The replay file (one decision's inputs per JSON line) and target addresses.

use std::path::PathBuf;

use anyhow::Context;

use crate::sampling::Sample;

/// Reads a replay file: one [`Sample`] per line, `#` comments and blank lines skipped.
pub fn read_file(path: &PathBuf) -> anyhow::Result<Vec<Sample>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(&text).with_context(|| format!("{}", path.display()))
}

/// Parses the text of a replay file, naming the first bad line.
pub fn parse(text: &str) -> anyhow::Result<Vec<Sample>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let sample: Sample =
            serde_json::from_str(line).with_context(|| format!("line {}", i + 1))?;
        out.push(sample);
    }
    Ok(out)
}

/// `HOST:PORT` or `http://HOST:PORT`, resolved to its first address.
pub(super) fn socket_addr(text: &str) -> anyhow::Result<std::net::SocketAddr> {
    use std::net::ToSocketAddrs;
    let authority = text.strip_prefix("http://").unwrap_or(text).trim_end_matches('/');
    authority
        .to_socket_addrs()
        .with_context(|| format!("{text:?}: HOST:PORT expected"))?
        .next()
        .with_context(|| format!("{text:?} resolves to no address"))
}
