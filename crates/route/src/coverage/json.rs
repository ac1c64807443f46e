//! Traffic Router coverage zone files (JSON), deserialized straight into the index builder so
//! a million-prefix file is read once, with no intermediate tree of values.
//!
//! Both files Traffic Router reads share this parser, as they share `NetworkNode.generateTree`
//! there: the coverage zone file (`coverageZones`) and the deep coverage zone file
//! (`deepCoverageZones`, whose zones also list `caches`). It reads them the way Traffic
//! Router does, so the files Traffic Control tooling writes load unchanged:
//!
//! - unknown keys, at the top and in a zone, are ignored (`revision`, `customerName`, ...);
//! - a coordinate may be a number or a numeric string (`"39.117800"`, as Traffic Router's
//!   own test files write them, read there with Jackson's `asDouble`); coordinates missing
//!   either value are ignored, as are other keys beside them;
//! - a `null` in place of a zone, a network list, a cache list or the coordinates means
//!   "none";
//! - a network listed under the other family's key (an IPv4 network in `network6`) is kept
//!   out of the index and reported: Traffic Router files it in the other family's tree,
//!   where no client of its own family is ever looked up.
//!
//! Anything Traffic Router itself refuses (an unparsable network, a prefix length out of
//! range) is an error with its line and column.

use std::fmt;

use serde::Deserializer as _;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::collect::{Collector, CzfError, MisfiledNetwork, parse_cidr};
use crate::geo::Coordinates;

/// Which of Traffic Router's two files is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// The coverage zone file: `{"coverageZones": {..}}`.
    Coverage,
    /// The deep coverage zone file: `{"deepCoverageZones": {..}}`, zones with `caches`.
    Deep,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Self::Coverage => "coverageZones",
            Self::Deep => "deepCoverageZones",
        }
    }
}

pub(super) fn parse(text: &str, kind: Kind) -> Result<Collector, CzfError> {
    let mut c = Collector::default();
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_map(Top { c: &mut c, kind }).map_err(json_err)?;
    de.end().map_err(json_err)?;
    Ok(c)
}

fn json_err(e: serde_json::Error) -> CzfError {
    let (line, raw_column) = (e.line(), e.column());
    let full = e.to_string();
    let suffix = format!(" at line {line} column {raw_column}");
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    // serde_json says column 0 for an error on a line's terminating newline; report columns
    // 1-based like every other location.
    let column = raw_column.max(1);
    CzfError::Json { line, column, message }
}

struct Top<'a> {
    c: &'a mut Collector,
    kind: Kind,
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object with a {:?} member", self.kind.key())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == self.kind.key() {
                map.next_value_seed(Zones { c: &mut *self.c, kind: self.kind })?;
                found = true;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if found { Ok(()) } else { Err(de::Error::missing_field(self.kind.key())) }
    }
}

struct Zones<'a> {
    c: &'a mut Collector,
    kind: Kind,
}

impl<'de> DeserializeSeed<'de> for Zones<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Zones<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of zones")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key::<String>()? {
            if name.trim().is_empty() {
                return Err(de::Error::custom("empty zone name"));
            }
            let zone = self.c.zone(&name);
            map.next_value_seed(Zone { c: &mut *self.c, zone, kind: self.kind })?;
        }
        Ok(())
    }
}

struct Zone<'a> {
    c: &'a mut Collector,
    zone: u32,
    kind: Kind,
}

impl<'de> DeserializeSeed<'de> for Zone<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Zone<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a zone object with network, network6 and coordinates")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "network" | "network6" => {
                    let v6 = key == "network6";
                    map.next_value_seed(Networks { c: &mut *self.c, zone: self.zone, v6 })?;
                }
                "coordinates" => {
                    let coords = map.next_value_seed(CoordinatesSeed)?;
                    if let Some(coords) = coords {
                        if !coords.is_valid() {
                            return Err(de::Error::custom(format!(
                                "coordinates {}, {} out of range",
                                coords.latitude, coords.longitude
                            )));
                        }
                        self.c.zones[self.zone as usize].coordinates = Some(coords);
                    }
                }
                "caches" if self.kind == Kind::Deep => {
                    map.next_value_seed(Caches { c: &mut *self.c, zone: self.zone })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct Networks<'a> {
    c: &'a mut Collector,
    zone: u32,
    v6: bool,
}

impl<'de> DeserializeSeed<'de> for Networks<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Networks<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of CIDR strings")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(net) = seq.next_element_seed(Network)? {
            match (self.v6, net) {
                (false, ipnet::IpNet::V4(_)) | (true, ipnet::IpNet::V6(_)) => {
                    self.c.builder.insert(net, self.zone);
                }
                _ => self.c.misfiled.push(MisfiledNetwork {
                    zone: self.c.zones[self.zone as usize].name.clone(),
                    network: net,
                    key: if self.v6 { "network6" } else { "network" },
                }),
            }
        }
        Ok(())
    }
}

struct Network;

impl<'de> DeserializeSeed<'de> for Network {
    type Value = ipnet::IpNet;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<ipnet::IpNet, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Network {
    type Value = ipnet::IpNet;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a CIDR string")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<ipnet::IpNet, E> {
        parse_cidr(s).map_err(E::custom)
    }
}

/// `coordinates`: `Some` only when both values are there, as Traffic Router requires.
struct CoordinatesSeed;

impl<'de> DeserializeSeed<'de> for CoordinatesSeed {
    type Value = Option<Coordinates>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CoordinatesSeed {
    type Value = Option<Coordinates>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with latitude and longitude")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut latitude, mut longitude) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "latitude" => latitude = map.next_value_seed(Degrees)?,
                "longitude" => longitude = map.next_value_seed(Degrees)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(latitude.zip(longitude).map(|(lat, lon)| Coordinates::new(lat, lon)))
    }
}

/// One coordinate: a JSON number, or a string holding one; `null` is no value.
struct Degrees;

impl<'de> DeserializeSeed<'de> for Degrees {
    type Value = Option<f64>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Degrees {
    type Value = Option<f64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("decimal degrees, as a number or a numeric string")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v as f64))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        match s.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Some(v)),
            _ => Err(E::custom(format!("{s:?} is not a number of degrees"))),
        }
    }
}

/// A deep zone's `caches`: node ids, empty names skipped and repeats dropped (Traffic Router
/// keeps them in a set).
struct Caches<'a> {
    c: &'a mut Collector,
    zone: u32,
}

impl<'de> DeserializeSeed<'de> for Caches<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Caches<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of cache names")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let zone = self.zone as usize;
        if self.c.caches.len() <= zone {
            self.c.caches.resize_with(zone + 1, Vec::new);
        }
        let list = &mut self.c.caches[zone];
        while let Some(name) = seq.next_element::<String>()? {
            if !name.is_empty() && !list.contains(&name) {
                list.push(name);
            }
        }
        Ok(())
    }
}
