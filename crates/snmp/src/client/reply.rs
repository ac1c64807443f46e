//! Judging a reply against its request, and the shapes walks return. A reply is judged as
//! soon as it arrives (RFC 3416 section 4.2): an error-status is an [`Error::Agent`],
//! bindings that do not answer the request are an [`Error::Mismatch`] and OIDs that do not
//! advance are an [`Error::NonIncreasing`].

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::codec::{Oid, PduRef, Value, VarBind, VarBindRef};

use super::error::{Error, Mismatch, NonIncreasing};

/// An error-status names the binding at error-index (1-based) in the reply; none when the
/// index is 0 or points past the list, which net-snmp reports with an empty "Failed object".
pub(super) fn check_status(p: &PduRef<'_>) -> Result<(), Error> {
    if p.error_status == 0 {
        return Ok(());
    }
    let index = u32::try_from(p.error_index).unwrap_or(0);
    let oid = index.checked_sub(1).and_then(|i| p.varbinds.get(i as usize)).map(|v| v.oid.to_oid());
    Err(Error::Agent { status: p.status(), index, oid })
}

pub(super) fn mismatch<'o>(requested: impl Iterator<Item = &'o Oid>, p: &PduRef<'_>) -> Error {
    Error::Mismatch(Arc::new(Mismatch {
        requested: requested.cloned().collect(),
        received: p.varbinds.to_vec(),
    }))
}

/// A GET or SET reply names the requested OIDs, in order (RFC 3416 sections 4.2.1, 4.2.5).
pub(super) fn check_same_oids<'o>(
    p: &PduRef<'_>,
    oids: impl ExactSizeIterator<Item = &'o Oid> + Clone,
) -> Result<(), Error> {
    if p.varbinds.len() == oids.len()
        && p.varbinds.iter().zip(oids.clone()).all(|(v, o)| v.oid == *o)
    {
        return Ok(());
    }
    Err(mismatch(oids, p))
}

/// A binding answering a GETNEXT for `after` lies past it, unless it is an exception value
/// (an agent at the end of its MIB view answers endOfMibView with the requested OID).
pub(super) fn check_advances(after: &Oid, vb: &VarBindRef<'_>) -> Result<(), Error> {
    if vb.value.is_exception() || vb.oid.cmp_oid(after).is_gt() {
        return Ok(());
    }
    Err(NonIncreasing::error(after.clone(), vb.oid.to_oid()))
}

/// A GETBULK reply (RFC 3416 section 4.2.3): at most non-repeaters + repetitions x
/// repeaters bindings, the non-repeaters past their request OIDs and each repeater's column
/// advancing row by row.
pub(super) fn check_bulk(
    p: &PduRef<'_>,
    oids: &[Oid],
    non_rep: u32,
    reps: u32,
) -> Result<(), Error> {
    let n = oids.len();
    let nr = (non_rep as usize).min(n);
    let width = n - nr;
    let max = nr + (reps as usize).saturating_mul(width);
    if p.varbinds.len() > max {
        return Err(mismatch(oids.iter(), p));
    }
    let vbs: Vec<VarBindRef<'_>> = p.varbinds.iter().collect();
    for (i, vb) in vbs.iter().enumerate() {
        if i < nr {
            check_advances(&oids[i], vb)?;
            continue;
        }
        let k = i - nr;
        if k < width {
            check_advances(&oids[nr + k], vb)?;
        } else if !vb.value.is_exception() {
            let prev = &vbs[i - width].oid;
            if vb.oid.iter().cmp(prev.iter()) != Ordering::Greater {
                let previous = prev.to_oid();
                return Err(NonIncreasing::error(previous, vb.oid.to_oid()));
            }
        }
    }
    Ok(())
}

/// The result of a table walk: rows keyed by instance index, one optional value per
/// requested column (None where the agent has no value for that row).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    pub columns: Vec<Oid>,
    pub rows: BTreeMap<Vec<u32>, Vec<Option<Value>>>,
}

/// How a walk that did not fail ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WalkEnd {
    /// The agent answered with an OID past the subtree (not handed over).
    LeftSubtree,
    /// An exception value (endOfMibView, noSuchObject, noSuchInstance) inside the subtree
    /// ended it; that binding was handed over as the last row, as `snmpwalk` prints it.
    Exception,
    /// The agent answered noSuchName, SNMPv1's end of the MIB (`snmpwalk` prints
    /// "End of MIB").
    NoSuchName,
}

/// One GETNEXT step of a walk.
pub(super) enum Step {
    Row(VarBind),
    NoSuchName,
}

/// Whether `oid` lies at or past the OID after `root`'s subtree (`root` with its last arc
/// plus one), the bound `snmpwalk` walks to. OIDs below `root` are not past it: a walk that
/// gets one back has hit an agent that does not advance.
pub(super) fn past_subtree(root: &Oid, oid: &Oid) -> bool {
    let r = root.arcs();
    let Some((&last, head)) = r.split_last() else { return true };
    let bound = head.iter().map(|&a| a as u64).chain(std::iter::once(last as u64 + 1));
    oid.arcs().iter().map(|&a| a as u64).cmp(bound) != Ordering::Less
}

pub(super) fn clamp(v: u32) -> i32 {
    v.min(i32::MAX as u32) as i32
}
