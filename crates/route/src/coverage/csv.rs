//! `cidr,zone` CSV coverage zones.

use super::collect::{Collector, CzfError, parse_cidr};

pub(super) fn parse(text: &str) -> Result<Collector, CzfError> {
    let mut c = Collector::default();
    let mut seen_data = false;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let err = |column: usize, message: String| CzfError::Csv { line, column, message };
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut fields = raw.split(',');
        let cidr = fields.next().unwrap_or_default();
        let Some(zone) = fields.next() else {
            return Err(err(raw.len() + 1, "expected `cidr,zone`".into()));
        };
        let zone_col = cidr.len() + 2;
        if fields.next().is_some() {
            let col = zone_col + zone.len();
            return Err(err(col, "too many fields, expected `cidr,zone`".into()));
        }
        if !seen_data && cidr.trim().eq_ignore_ascii_case("cidr") {
            seen_data = true;
            continue;
        }
        seen_data = true;
        let net = parse_cidr(cidr).map_err(|m| err(1 + leading_ws(cidr), m))?;
        let zone = zone.trim();
        if zone.is_empty() {
            return Err(err(zone_col, "empty zone name".into()));
        }
        let id = c.zone(zone);
        c.builder.insert(net, id);
    }
    Ok(c)
}

fn leading_ws(s: &str) -> usize {
    s.len() - s.trim_start().len()
}
