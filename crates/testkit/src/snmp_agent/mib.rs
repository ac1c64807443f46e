//! The simulated MIB: a sorted list of object instances (SNMPv2-MIB system group, IF-MIB
//! ifTable/ifXTable, UCD-SNMP-MIB laTable), shared by every agent with the same shape.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use switchyard_snmp::codec::{Oid, OidRef};

/// Which variable an instance is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cell {
    SysDescr,
    SysObjectId,
    SysUpTime,
    SysContact,
    SysName,
    SysLocation,
    IfNumber,
    IfIndex(usize),
    IfDescr(usize),
    IfType,
    IfMtu,
    IfSpeed(usize),
    IfAdminStatus,
    IfOperStatus(usize),
    IfInOctets(usize),
    IfOutOctets(usize),
    IfName(usize),
    IfHcInOctets(usize),
    IfHcOutOctets(usize),
    IfHighSpeed(usize),
    IfCounterDiscontinuityTime,
    LaIndex(usize),
    LaNames(usize),
    LaLoad(usize),
    LaLoadInt(usize),
}

pub(crate) struct Entry {
    pub oid: Oid,
    /// BER content of `oid`, so responses can borrow it.
    pub ber: Vec<u8>,
    pub cell: Cell,
}

/// The instances of one agent shape, in GETNEXT order.
pub(crate) struct Mib {
    pub entries: Vec<Entry>,
}

fn ber_of(oid: &Oid) -> Vec<u8> {
    let vbs = [oid.clone()];
    let mut out = Vec::new();
    let mut w = switchyard_snmp::codec::ber::Writer::new(&mut out);
    w.oid(&vbs[0]);
    // Strip the tag and the (short or long) length.
    let skip = if out[1] & 0x80 == 0 { 2 } else { 2 + (out[1] & 0x7f) as usize };
    out[skip..].to_vec()
}

impl Mib {
    /// The shared layout for `interfaces` interfaces, with or without laTable.
    pub(crate) fn shared(interfaces: usize, load: bool) -> Arc<Mib> {
        type Layouts = Mutex<HashMap<(usize, bool), Arc<Mib>>>;
        static CACHE: OnceLock<Layouts> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
        c.entry((interfaces, load))
            .or_insert_with(|| Arc::new(Mib::build(interfaces, load)))
            .clone()
    }

    fn build(n: usize, load: bool) -> Mib {
        let mut v: Vec<(Vec<u32>, Cell)> = Vec::new();
        let sys = [1, 3, 6, 1, 2, 1, 1];
        for (arc, cell) in [
            (1, Cell::SysDescr),
            (2, Cell::SysObjectId),
            (3, Cell::SysUpTime),
            (4, Cell::SysContact),
            (5, Cell::SysName),
            (6, Cell::SysLocation),
        ] {
            v.push(([&sys[..], &[arc, 0]].concat(), cell));
        }
        v.push((vec![1, 3, 6, 1, 2, 1, 2, 1, 0], Cell::IfNumber));
        let if_entry = [1, 3, 6, 1, 2, 1, 2, 2, 1];
        let ifx_entry = [1, 3, 6, 1, 2, 1, 31, 1, 1, 1];
        for i in 0..n {
            let idx = i as u32 + 1;
            for (col, cell) in [
                (1, Cell::IfIndex(i)),
                (2, Cell::IfDescr(i)),
                (3, Cell::IfType),
                (4, Cell::IfMtu),
                (5, Cell::IfSpeed(i)),
                (7, Cell::IfAdminStatus),
                (8, Cell::IfOperStatus(i)),
                (10, Cell::IfInOctets(i)),
                (16, Cell::IfOutOctets(i)),
            ] {
                v.push(([&if_entry[..], &[col, idx]].concat(), cell));
            }
            for (col, cell) in [
                (1, Cell::IfName(i)),
                (6, Cell::IfHcInOctets(i)),
                (10, Cell::IfHcOutOctets(i)),
                (15, Cell::IfHighSpeed(i)),
                (19, Cell::IfCounterDiscontinuityTime),
            ] {
                v.push(([&ifx_entry[..], &[col, idx]].concat(), cell));
            }
        }
        if load {
            let la = [1, 3, 6, 1, 4, 1, 2021, 10, 1];
            for k in 0..3 {
                let idx = k as u32 + 1;
                for (col, cell) in [
                    (1, Cell::LaIndex(k)),
                    (2, Cell::LaNames(k)),
                    (3, Cell::LaLoad(k)),
                    (5, Cell::LaLoadInt(k)),
                ] {
                    v.push(([&la[..], &[col, idx]].concat(), cell));
                }
            }
        }
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let entries = v
            .into_iter()
            .map(|(arcs, cell)| {
                let oid = Oid::new(arcs).unwrap_or_default();
                let ber = ber_of(&oid);
                Entry { oid, ber, cell }
            })
            .collect();
        Mib { entries }
    }

    /// Index of the first entry >= `oid`.
    pub(crate) fn lower_bound(&self, oid: &OidRef<'_>) -> usize {
        self.entries.partition_point(|e| oid.cmp_oid(&e.oid) == std::cmp::Ordering::Greater)
    }

    /// The exact instance, if any.
    pub(crate) fn find(&self, oid: &OidRef<'_>) -> Option<usize> {
        let i = self.lower_bound(oid);
        (i < self.entries.len() && oid.cmp_oid(&self.entries[i].oid).is_eq()).then_some(i)
    }

    /// The first instance after `oid` (GETNEXT).
    pub(crate) fn next_after(&self, oid: &OidRef<'_>) -> Option<usize> {
        let i = self.lower_bound(oid);
        match self.find(oid) {
            Some(_) => (i + 1 < self.entries.len()).then_some(i + 1),
            None => (i < self.entries.len()).then_some(i),
        }
    }

    /// Whether `oid` names an object the agent has (so a missing instance is
    /// noSuchInstance rather than noSuchObject).
    pub(crate) fn has_object(&self, oid: &OidRef<'_>) -> bool {
        let arcs: Vec<u32> = oid.iter().collect();
        let Some((_, parent)) = arcs.split_last() else { return false };
        let i = self.lower_bound(oid);
        [i.checked_sub(1), Some(i)].into_iter().flatten().filter_map(|j| self.entries.get(j)).any(
            |e| {
                e.oid.len() >= parent.len()
                    && e.oid.arcs()[..e.oid.len() - 1].starts_with(parent)
                    && e.oid.len() - 1 == parent.len()
            },
        )
    }
}
