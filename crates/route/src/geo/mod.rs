//! Coordinates, great-circle distance, nearest-zone search, and the optional MaxMind GeoIP
//! fallback (Traffic Router's geolocation step when the coverage zone file has no match).

#[cfg(test)]
pub(crate) mod test_mmdb;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Mean Earth radius in kilometres (IUGG), the radius Traffic Router's distance uses.
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// A point on the Earth in decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coordinates {
    /// Latitude in decimal degrees, -90..=90.
    pub latitude: f64,
    /// Longitude in decimal degrees, -180..=180.
    pub longitude: f64,
}

impl Coordinates {
    /// A point at `latitude`, `longitude` (degrees).
    pub fn new(latitude: f64, longitude: f64) -> Self {
        Self { latitude, longitude }
    }

    /// True when both values are finite and in range.
    pub fn is_valid(&self) -> bool {
        (-90.0..=90.0).contains(&self.latitude) && (-180.0..=180.0).contains(&self.longitude)
    }

    /// Great-circle distance in kilometres (haversine formula).
    pub fn distance_km(&self, other: &Coordinates) -> f64 {
        let (p1, p2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let dp = p2 - p1;
        let dl = (other.longitude - self.longitude).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
    }

    /// Unit vector on the sphere; a larger dot product between two such vectors means a
    /// shorter great-circle distance, which lets nearest-point search skip trigonometry.
    fn unit(&self) -> [f64; 3] {
        let (lat, lon) = (self.latitude.to_radians(), self.longitude.to_radians());
        [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
    }
}

/// Points with precomputed unit vectors, searchable for the nearest ones to a location.
#[derive(Debug, Clone, Default)]
pub struct NearestIndex {
    points: Vec<(u32, [f64; 3])>,
}

impl NearestIndex {
    /// Indexes `(id, coordinates)` pairs.
    pub fn new(points: impl IntoIterator<Item = (u32, Coordinates)>) -> Self {
        Self { points: points.into_iter().map(|(id, c)| (id, c.unit())).collect() }
    }

    /// The id of the point nearest to `at`, ties to the first indexed. A linear scan of dot
    /// products: a few nanoseconds per point, so well under a microsecond for 500 zones.
    pub fn nearest(&self, at: &Coordinates) -> Option<u32> {
        let u = at.unit();
        let mut best: Option<(u32, f64)> = None;
        for &(id, p) in &self.points {
            let d = dot(&u, &p);
            if best.is_none_or(|(_, b)| d > b) {
                best = Some((id, d));
            }
        }
        best.map(|(id, _)| id)
    }

    /// Ids of all points ordered from nearest to farthest from `at` (stable on ties),
    /// skipping `exclude`, at most `limit` of them.
    pub fn nearest_n(&self, at: &Coordinates, exclude: Option<u32>, limit: usize) -> Vec<u32> {
        let u = at.unit();
        let mut all: Vec<(u32, f64)> = self
            .points
            .iter()
            .filter(|(id, _)| Some(*id) != exclude)
            .map(|&(id, p)| (id, dot(&u, &p)))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1));
        all.truncate(limit);
        all.into_iter().map(|(id, _)| id).collect()
    }
}

fn dot(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Errors opening or reading a GeoIP database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GeoError {
    /// The file could not be read or is not a MaxMind DB.
    #[error("cannot open GeoIP database: {0}")]
    Open(#[source] maxminddb::MaxMindDbError),
}

/// A MaxMind DB (GeoLite2/GeoIP2 City or any database with `location.latitude` and
/// `location.longitude`), read fully into memory. Cheap to clone (shared reader).
#[derive(Clone)]
pub struct GeoIp {
    reader: Arc<maxminddb::Reader<Vec<u8>>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.reader.metadata();
        f.debug_struct("GeoIp")
            .field("database_type", &m.database_type)
            .field("build_epoch", &m.build_epoch)
            .finish()
    }
}

/// What a GeoIP lookup found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoHit {
    /// Location of the network.
    pub coordinates: Coordinates,
    /// Prefix length of the database network that matched.
    pub prefix_len: u8,
}

#[derive(Deserialize)]
struct Record {
    location: Option<Location>,
}

#[derive(Deserialize)]
struct Location {
    latitude: Option<f64>,
    longitude: Option<f64>,
}

impl GeoIp {
    /// Opens an `.mmdb` file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GeoError> {
        let reader = maxminddb::Reader::open_readfile(path).map_err(GeoError::Open)?;
        Ok(Self { reader: Arc::new(reader) })
    }

    /// Reads a database from bytes already in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, GeoError> {
        let reader = maxminddb::Reader::from_source(bytes).map_err(GeoError::Open)?;
        Ok(Self { reader: Arc::new(reader) })
    }

    /// Database type from the metadata, e.g. `GeoLite2-City`.
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// Coordinates of `ip`, or `None` when the database has no location for it. Decoding
    /// problems count as "no location": one bad record must not fail a request.
    pub fn locate(&self, ip: IpAddr) -> Option<GeoHit> {
        let result = self.reader.lookup(ip).ok()?;
        let record: Record = result.decode().ok()??;
        let loc = record.location?;
        let coordinates = Coordinates::new(loc.latitude?, loc.longitude?);
        if !coordinates.is_valid() {
            return None;
        }
        let prefix_len = result.network().map(|n| n.prefix()).unwrap_or(0);
        Some(GeoHit { coordinates, prefix_len })
    }
}
