//! Traffic Router coverage zone file (JSON), deserialized straight into the index builder so
//! a million-prefix file is read once, with no intermediate tree of values.

use std::fmt;

use serde::Deserializer as _;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{Collector, CoverageZones, CzfError, parse_cidr};
use crate::geo::Coordinates;

pub(super) fn parse(text: &str) -> Result<CoverageZones, CzfError> {
    let mut c = Collector::default();
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_map(Top(&mut c)).map_err(json_err)?;
    de.end().map_err(json_err)?;
    Ok(c.finish()?)
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

struct Top<'a>(&'a mut Collector);

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with a \"coverageZones\" member")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "coverageZones" {
                map.next_value_seed(Zones(&mut *self.0))?;
                found = true;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if found { Ok(()) } else { Err(de::Error::missing_field("coverageZones")) }
    }
}

struct Zones<'a>(&'a mut Collector);

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
            let zone = self.0.zone(&name);
            map.next_value_seed(Zone { c: &mut *self.0, zone })?;
        }
        Ok(())
    }
}

struct Zone<'a> {
    c: &'a mut Collector,
    zone: u32,
}

impl<'de> DeserializeSeed<'de> for Zone<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Zone<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a zone object with network, network6 and coordinates")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "network" | "network6" => {
                    let v6 = key == "network6";
                    map.next_value_seed(Networks { c: &mut *self.c, zone: self.zone, v6 })?;
                }
                "coordinates" => {
                    let coords: Coordinates = map.next_value()?;
                    if !coords.is_valid() {
                        return Err(de::Error::custom(format!(
                            "coordinates {}, {} out of range",
                            coords.latitude, coords.longitude
                        )));
                    }
                    self.c.zones[self.zone as usize].coordinates = Some(coords);
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
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Networks<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of CIDR strings")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(net) = seq.next_element_seed(Network { v6: self.v6 })? {
            self.c.builder.insert(net, self.zone);
        }
        Ok(())
    }
}

struct Network {
    v6: bool,
}

impl<'de> DeserializeSeed<'de> for Network {
    type Value = ipnet::IpNet;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<ipnet::IpNet, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Network {
    type Value = ipnet::IpNet;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.v6 { "an IPv6 CIDR string" } else { "an IPv4 CIDR string" })
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<ipnet::IpNet, E> {
        let net = parse_cidr(s).map_err(E::custom)?;
        match (self.v6, net) {
            (false, ipnet::IpNet::V4(_)) | (true, ipnet::IpNet::V6(_)) => Ok(net),
            (false, _) => Err(E::custom(format!("{s:?} is not IPv4 (use \"network6\")"))),
            (true, _) => Err(E::custom(format!("{s:?} is not IPv6 (use \"network\")"))),
        }
    }
}
