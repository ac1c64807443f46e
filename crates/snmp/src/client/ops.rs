//! SNMP operations on a [`Target`]: get, get-next, get-bulk, set, walks and table walks.

use std::collections::BTreeMap;

use crate::codec::{
    ErrorStatus, Oid, OidRef, PduHeader, PduRef, PduType, ValueRef, VarBind, Version,
};

use super::{Error, Target};

/// A GET or SET response names the requested OIDs in order (RFC 3416 section 4.2.1), unless
/// it reports an error.
fn same_oids<'o>(oids: impl Iterator<Item = &'o Oid> + Clone) -> impl Fn(&PduRef<'_>) -> bool {
    move |p| {
        if p.error_status != 0 {
            return plausible_error(p, oids.clone().count());
        }
        p.varbinds.len() == oids.clone().count()
            && p.varbinds.iter().zip(oids.clone()).all(|(v, o)| v.oid == *o)
    }
}

/// An error response points at one of the request's bindings, or at none (RFC 3416 4.2.1).
fn plausible_error(p: &PduRef<'_>, requested: usize) -> bool {
    usize::try_from(p.error_index).is_ok_and(|i| i <= requested)
}

/// A GETNEXT response has one binding per request OID, each past it.
fn past_oids(oids: &[Oid]) -> impl Fn(&PduRef<'_>) -> bool + '_ {
    move |p| {
        (p.error_status != 0 && plausible_error(p, oids.len()))
            || (p.varbinds.len() == oids.len()
                && p.varbinds
                    .iter()
                    .zip(oids)
                    .all(|(v, o)| v.value == ValueRef::EndOfMibView || v.oid.cmp_oid(o).is_gt()))
    }
}

/// A GETBULK response has at most non-repeaters + repetitions x repeaters bindings.
fn bulk_fits(non_rep: u32, reps: u32, n: usize) -> impl Fn(&PduRef<'_>) -> bool {
    let nr = (non_rep as usize).min(n);
    let max = nr + (reps as usize).saturating_mul(n - nr);
    move |p| p.varbinds.len() <= max
}

fn check_status(p: &PduRef<'_>) -> Result<(), Error> {
    if p.error_status == 0 {
        return Ok(());
    }
    let index = u32::try_from(p.error_index).unwrap_or(0);
    let oid = index.checked_sub(1).and_then(|i| p.varbinds.get(i as usize)).map(|v| v.oid.to_oid());
    Err(Error::Agent { status: p.status(), index, oid })
}

/// The result of a table walk: rows keyed by instance index, one optional value per
/// requested column (None where the agent has no value for that row).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    pub columns: Vec<Oid>,
    pub rows: BTreeMap<Vec<u32>, Vec<Option<crate::codec::Value>>>,
}

impl Target {
    /// GET of one or more OIDs. Exceptions (noSuchObject, noSuchInstance) come back as values.
    pub async fn get(&self, oids: &[Oid]) -> Result<Vec<VarBind>, Error> {
        self.simple(PduType::Get, oids).await
    }

    /// GETNEXT of one or more OIDs.
    pub async fn get_next(&self, oids: &[Oid]) -> Result<Vec<VarBind>, Error> {
        self.simple(PduType::GetNext, oids).await
    }

    async fn simple(&self, ty: PduType, oids: &[Oid]) -> Result<Vec<VarBind>, Error> {
        let accept = |p: &PduRef<'_>| {
            if ty == PduType::Get { same_oids(oids.iter())(p) } else { past_oids(oids)(p) }
        };
        self.request(PduHeader::request(ty, 0), oids, accept, |p| {
            check_status(&p)?;
            Ok(p.varbinds.to_vec())
        })
        .await
    }

    /// GETBULK (v2c and v3 only, RFC 3416 section 4.2.3).
    pub async fn get_bulk(
        &self,
        non_repeaters: u32,
        max_repetitions: u32,
        oids: &[Oid],
    ) -> Result<Vec<VarBind>, Error> {
        if self.inner.security.version() == Version::V1 {
            return Err(Error::InvalidRequest("GETBULK needs SNMPv2c or v3"));
        }
        let h = PduHeader::bulk(0, clamp(non_repeaters), clamp(max_repetitions));
        self.request(h, oids, bulk_fits(non_repeaters, max_repetitions, oids.len()), |p| {
            check_status(&p)?;
            Ok(p.varbinds.to_vec())
        })
        .await
    }

    /// SET; the response's bindings are returned.
    pub async fn set(&self, varbinds: &[VarBind]) -> Result<Vec<VarBind>, Error> {
        self.request(
            PduHeader::request(PduType::Set, 0),
            varbinds,
            same_oids(varbinds.iter().map(|v| &v.oid)),
            |p| {
                check_status(&p)?;
                Ok(p.varbinds.to_vec())
            },
        )
        .await
    }

    /// Walks the subtree under `root` with GETNEXT, as `snmpwalk` does. On v1 the
    /// noSuchName error ends the walk (RFC 1157 section 4.1.3).
    pub async fn walk(&self, root: &Oid) -> Result<Vec<VarBind>, Error> {
        let mut out = Vec::new();
        let mut cur = root.clone();
        loop {
            let step = self
                .request(
                    PduHeader::request(PduType::GetNext, 0),
                    std::slice::from_ref(&cur),
                    past_oids(std::slice::from_ref(&cur)),
                    |p| {
                        if p.error_status == ErrorStatus::NoSuchName.as_i32()
                            && self.inner.security.version() == Version::V1
                        {
                            return Ok(None);
                        }
                        check_status(&p)?;
                        Ok(p.varbinds.get(0).map(|v| v.to_owned()))
                    },
                )
                .await?;
            let Some(vb) = step else { break };
            if vb.value == crate::codec::Value::EndOfMibView || !vb.oid.starts_with(root) {
                break;
            }
            if vb.oid <= cur {
                return Err(Error::NonIncreasing(vb.oid));
            }
            cur = vb.oid.clone();
            out.push(vb);
        }
        if out.is_empty() {
            // snmpwalk falls back to a GET of the root itself when the subtree is empty.
            let got = self.get(std::slice::from_ref(root)).await?;
            out.extend(got.into_iter().filter(|v| !v.value.is_exception()));
        }
        Ok(out)
    }

    /// Walks `root` with GETBULK, as `snmpbulkwalk` does. max-repetitions starts at
    /// [`super::RequestOptions::max_repetitions`], halves on tooBig (also the empty tooBig
    /// responses some agents send) and on timeouts, and grows back after successes. Agents
    /// that return fewer rows than asked (net-snmp caps a response at 100 varbinds) are
    /// followed from the last OID received. On v1 this is a GETNEXT walk.
    pub async fn bulk_walk(&self, root: &Oid) -> Result<Vec<VarBind>, Error> {
        if self.inner.security.version() == Version::V1 {
            return self.walk(root).await;
        }
        let mut out = Vec::new();
        let ceiling = self.inner.opts.max_repetitions.max(1);
        let mut reps = ceiling;
        let mut good = 0u32;
        let mut cur = root.clone();
        loop {
            let h = PduHeader::bulk(0, 0, clamp(reps));
            let res = self
                .request(h, std::slice::from_ref(&cur), bulk_fits(0, reps, 1), |p| {
                    if p.status() == ErrorStatus::TooBig {
                        return Ok(None);
                    }
                    check_status(&p)?;
                    let mut done = p.varbinds.is_empty();
                    let mut prev = None;
                    let mut taken = 0;
                    for vb in p.varbinds.iter() {
                        if vb.value == ValueRef::EndOfMibView || !vb.oid.starts_with(root) {
                            done = true;
                            break;
                        }
                        let order = match &prev {
                            Some(prev) => vb.oid.iter().cmp(OidRef::iter(prev)),
                            None => vb.oid.cmp_oid(&cur),
                        };
                        if order != std::cmp::Ordering::Greater {
                            return Err(Error::NonIncreasing(vb.oid.to_oid()));
                        }
                        out.push(vb.to_owned());
                        prev = Some(vb.oid);
                        taken += 1;
                    }
                    Ok(Some((taken, done)))
                })
                .await;
            match res {
                Ok(Some((taken, done))) => {
                    if taken > 0
                        && let Some(last) = out.last()
                    {
                        cur = last.oid.clone();
                    }
                    if done {
                        break;
                    }
                    good += 1;
                    if good >= 4 && reps < ceiling {
                        reps = (reps * 2).min(ceiling);
                        good = 0;
                    }
                }
                Ok(None) | Err(Error::Timeout) if reps > 1 => {
                    reps = (reps / 2).max(1);
                    good = 0;
                }
                Ok(None) => {
                    return Err(Error::Agent { status: ErrorStatus::TooBig, index: 0, oid: None });
                }
                Err(e) => return Err(e),
            }
        }
        if out.is_empty() {
            let got = self.get(std::slice::from_ref(root)).await?;
            out.extend(got.into_iter().filter(|v| !v.value.is_exception()));
        }
        Ok(out)
    }

    /// Walks several columns of one table together (GETBULK with one repeater per column,
    /// GETNEXT on v1) and joins them by instance index.
    pub async fn walk_table(&self, columns: &[Oid]) -> Result<Table, Error> {
        let mut table = Table { columns: columns.to_vec(), rows: BTreeMap::new() };
        let n = columns.len();
        let mut cursors: Vec<Oid> = columns.to_vec();
        let mut active: Vec<usize> = (0..n).collect();
        let v1 = self.inner.security.version() == Version::V1;
        let mut reps = self.inner.opts.max_repetitions.max(1) / (n as u32).max(1);
        reps = reps.max(1);
        while !active.is_empty() {
            let req: Vec<Oid> = active.iter().map(|&c| cursors[c].clone()).collect();
            let vbs = if v1 {
                match self.get_next(&req).await {
                    Ok(v) => v,
                    Err(Error::Agent { status: ErrorStatus::NoSuchName, index, .. }) => {
                        // The column at `index` is exhausted.
                        let i = (index as usize).saturating_sub(1).min(active.len() - 1);
                        active.remove(i);
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            } else {
                match self.get_bulk(0, reps, &req).await {
                    Ok(v) => v,
                    Err(Error::Agent { status: ErrorStatus::TooBig, .. }) | Err(Error::Timeout)
                        if reps > 1 =>
                    {
                        reps = (reps / 2).max(1);
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            };
            if vbs.is_empty() {
                break;
            }
            let width = active.len();
            let mut finished = vec![false; width];
            for (i, vb) in vbs.into_iter().enumerate() {
                let slot = i % width;
                if finished[slot] {
                    continue;
                }
                let col = active[slot];
                let Some(index) = vb.oid.suffix_after(&columns[col]).filter(|s| !s.is_empty())
                else {
                    finished[slot] = true;
                    continue;
                };
                if vb.value == crate::codec::Value::EndOfMibView {
                    finished[slot] = true;
                    continue;
                }
                if vb.oid <= cursors[col] {
                    return Err(Error::NonIncreasing(vb.oid));
                }
                let row = table.rows.entry(index.to_vec()).or_insert_with(|| vec![None; n]);
                cursors[col] = vb.oid.clone();
                row[col] = Some(vb.value);
            }
            let mut k = 0;
            active.retain(|_| {
                let keep = !finished[k];
                k += 1;
                keep
            });
        }
        Ok(table)
    }
}

fn clamp(v: u32) -> i32 {
    v.min(i32::MAX as u32) as i32
}
