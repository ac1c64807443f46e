//! The last-known-good cache file: the inventory keys as last read from etcd, so an instance
//! started while etcd is unreachable serves what it last knew instead of nothing.
//!
//! JSON, written to a temporary file beside the target and renamed over it, so a crash
//! never leaves half a file.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct File<'a> {
    /// The prefix the keys were read under; a cache of another prefix is not used.
    prefix: std::borrow::Cow<'a, str>,
    revision: i64,
    keys: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    key: String,
    value: String,
    mod_revision: i64,
}

/// Writes the cache.
pub fn write(
    path: &Path,
    prefix: &str,
    revision: i64,
    kvs: &[(String, Vec<u8>, i64)],
) -> std::io::Result<()> {
    let file = File {
        prefix: prefix.into(),
        revision,
        keys: kvs
            .iter()
            .map(|(k, v, r)| Entry {
                key: k.clone(),
                value: String::from_utf8_lossy(v).into_owned(),
                mod_revision: *r,
            })
            .collect(),
    };
    let text = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile_in(dir, path)?;
    tmp.1.write_all(&text)?;
    tmp.1.sync_all()?;
    std::fs::rename(&tmp.0, path)
}

fn tempfile_in(dir: &Path, path: &Path) -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("cache");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    Ok((tmp.clone(), std::fs::File::create(tmp)?))
}

/// Reads the cache: `None` when there is no file, an error when it is unreadable or was
/// written for another prefix.
#[allow(clippy::type_complexity)]
pub fn read(
    path: &Path,
    prefix: &str,
) -> Result<Option<(i64, Vec<(String, Vec<u8>, i64)>)>, String> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let file: File<'_> =
        serde_json::from_slice(&text).map_err(|e| format!("not a cache file: {e}"))?;
    if file.prefix != prefix {
        return Err(format!("written for prefix {:?}, not {prefix:?}", file.prefix));
    }
    let kvs =
        file.keys.into_iter().map(|e| (e.key, e.value.into_bytes(), e.mod_revision)).collect();
    Ok(Some((file.revision, kvs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_prefix_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inventory.json");
        assert_eq!(read(&path, "/p/").unwrap(), None);
        let kvs = vec![("nodes/a".to_owned(), br#"{"zone":"z"}"#.to_vec(), 7)];
        write(&path, "/p/", 9, &kvs).unwrap();
        assert_eq!(read(&path, "/p/").unwrap(), Some((9, kvs)));
        assert!(read(&path, "/q/").unwrap_err().contains("prefix"));
        std::fs::write(&path, "garbage").unwrap();
        assert!(read(&path, "/p/").is_err());
    }
}
