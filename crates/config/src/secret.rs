//! Keys that hold secrets (SNMP communities and pass phrases, tokens, passwords) and serde
//! messages about their values with the value taken out, so a mistyped secret is reported
//! by key and kind without ever being echoed to a terminal, an HTTP answer or a log.

/// Parts of a key name that mark it as holding a secret: `community`, `auth_password`,
/// `priv_password`, `token_file`, an etcd `password`, any `*_secret`. Matched anywhere in
/// the name, case-insensitively; a key wrongly taken for a secret only loses the value in
/// its message.
const SECRET_PARTS: &[&str] =
    &["community", "password", "passwd", "passphrase", "secret", "token", "credential"];

/// What replaces a message that cannot be taken apart safely.
const HIDDEN: &str = "invalid value (not shown: this key holds a secret)";

/// Whether the key `name` holds a secret.
pub fn is_secret_key(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARTS.iter().any(|part| name.contains(part))
}

/// Whether a dotted key path (`probe.default.snmp.community`, `admin.token_file`,
/// `nodes[2].password`) passes through a secret key.
pub(crate) fn is_secret_path(path: &str) -> bool {
    path.split(['.', '[']).any(is_secret_key)
}

/// `message` about the value of a secret key, with the value taken out:
/// ``invalid type: integer `12345`, expected a string`` becomes
/// `invalid type: integer (value not shown), expected a string`. Messages that name no value
/// (a missing or unknown field, a sequence where a string belongs) are kept; any other
/// message is replaced whole, since its shape does not say where a value would be.
pub(crate) fn hide_value(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        let Some(rest) = message.strip_prefix(prefix) else { continue };
        return match quoted_value(rest) {
            Some(Quoted { kind, after }) => format!("{prefix}{kind} (value not shown){after}"),
            // `sequence`, `map`, `unit value`, ...: no value to hide.
            None if !unexpected(rest).contains(['`', '"', '\'']) => message.to_owned(),
            None => HIDDEN.to_owned(),
        };
    }
    let keeps = ["missing field `", "unknown field `", "invalid length "];
    if keeps.iter().any(|k| message.starts_with(k)) {
        return message.to_owned();
    }
    HIDDEN.to_owned()
}

/// The value quoted at the start of the "unexpected" part of a serde message, as serde's
/// `Unexpected` writes it: ``integer `5` ``, ``floating point `1.5` ``, ``boolean `true` ``,
/// ``character `c` ``, or `string "..."` (Rust debug escaping).
struct Quoted<'m> {
    /// `integer`, `string`, ...
    kind: &'m str,
    /// What follows the value (`, expected a string`).
    after: &'m str,
}

fn quoted_value(rest: &str) -> Option<Quoted<'_>> {
    if let Some(body) = rest.strip_prefix("string \"") {
        let end = closing_quote(body)?;
        return Some(Quoted { kind: "string", after: &body[end + 1..] });
    }
    for kind in ["integer", "floating point", "boolean", "character"] {
        let Some(body) = rest.strip_prefix(kind).and_then(|r| r.strip_prefix(" `")) else {
            continue;
        };
        // A character value may itself be a backtick: end at the one before the
        // `expected` part when there is one.
        let end = body.find("`, expected ").or_else(|| body.rfind('`'))?;
        return Some(Quoted { kind, after: &body[end + 1..] });
    }
    None
}

/// The "unexpected" part of a serde message: what comes before `, expected`.
fn unexpected(rest: &str) -> &str {
    rest.split_once(", expected ").map_or(rest, |(u, _)| u)
}

/// Offset of the quote that closes a debug-escaped string whose opening quote was just
/// consumed.
fn closing_quote(body: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

/// Every scalar value held by a secret key anywhere in `value`, as serde's messages would
/// quote it (`12345`, `"s3cret"`), to recognise a secret in a message whose path does not
/// reach its key (serde cannot name keys inside an internally tagged enum such as
/// `check = { kind = "snmp", community = 12345 }`).
pub(crate) fn quoted_secrets(value: &toml::Value) -> Vec<String> {
    fn walk(value: &toml::Value, secret: bool, out: &mut Vec<String>) {
        match value {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    walk(v, secret || is_secret_key(k), out);
                }
            }
            toml::Value::Array(a) => a.iter().for_each(|v| walk(v, secret, out)),
            _ if !secret => {}
            toml::Value::String(s) => out.push(format!("{s:?}")),
            toml::Value::Integer(i) => out.push(format!("`{i}`")),
            toml::Value::Float(f) => out.push(format!("`{}`", float_text(*f))),
            toml::Value::Boolean(b) => out.push(format!("`{b}`")),
            toml::Value::Datetime(d) => out.push(d.to_string()),
        }
    }
    let mut out = Vec::new();
    walk(value, false, &mut out);
    out
}

/// A float as serde's messages print it: always with a decimal point or an exponent.
fn float_text(f: f64) -> String {
    let text = f.to_string();
    if f.is_finite() && !text.contains(['.', 'e']) { format!("{text}.0") } else { text }
}

/// Whether `message` quotes one of `secrets` (from [`quoted_secrets`]).
pub(crate) fn quotes_any(message: &str, secrets: &[String]) -> bool {
    secrets.iter().any(|s| message.contains(s.as_str()))
}
