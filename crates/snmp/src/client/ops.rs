//! SNMP operations on a [`Target`]: get, get-next, get-bulk, set, walks and table walks.
//!
//! A reply is judged as soon as it arrives (RFC 3416 section 4.2): an error-status is an
//! [`Error::Agent`], bindings that do not answer the request are an [`Error::Mismatch`] and
//! OIDs that do not advance are an [`Error::NonIncreasing`]. None of these is retried: the
//! agent answered, and asking again would only get the same answer later.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::codec::{ErrorStatus, Oid, OidRef, PduHeader, PduType, Value, VarBind, Version};

use super::error::{Error, NonIncreasing};
use super::reply::{
    Step, Table, WalkEnd, check_advances, check_bulk, check_same_oids, check_status, clamp,
    mismatch, past_subtree,
};
use super::target::Target;

impl Target {
    /// GET of one or more OIDs. Exceptions (noSuchObject, noSuchInstance) come back as values.
    pub async fn get(&self, oids: &[Oid]) -> Result<Vec<VarBind>, Error> {
        self.request(PduHeader::request(PduType::Get, 0), oids, |p| {
            check_status(&p)?;
            check_same_oids(&p, oids.iter())?;
            Ok(p.varbinds.to_vec())
        })
        .await
    }

    /// GETNEXT of one or more OIDs.
    pub async fn get_next(&self, oids: &[Oid]) -> Result<Vec<VarBind>, Error> {
        self.request(PduHeader::request(PduType::GetNext, 0), oids, |p| {
            check_status(&p)?;
            if p.varbinds.len() != oids.len() {
                return Err(mismatch(oids.iter(), &p));
            }
            for (vb, o) in p.varbinds.iter().zip(oids) {
                check_advances(o, &vb)?;
            }
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
        self.request(h, oids, |p| {
            check_status(&p)?;
            check_bulk(&p, oids, non_repeaters, max_repetitions)?;
            Ok(p.varbinds.to_vec())
        })
        .await
    }

    /// SET; the response's bindings are returned.
    pub async fn set(&self, varbinds: &[VarBind]) -> Result<Vec<VarBind>, Error> {
        self.request(PduHeader::request(PduType::Set, 0), varbinds, |p| {
            check_status(&p)?;
            check_same_oids(&p, varbinds.iter().map(|v| &v.oid))?;
            Ok(p.varbinds.to_vec())
        })
        .await
    }

    /// Walks the subtree under `root` with GETNEXT, as `snmpwalk` does, handing each binding
    /// to `row` as it arrives (so a caller can show what came before an error). The walk
    /// ends at the first OID past the subtree, at an exception value (handed over first) or
    /// at a noSuchName error (SNMPv1's end of the MIB). A binding that does not advance is
    /// handed over, then reported as [`Error::NonIncreasing`].
    ///
    /// Unlike [`Target::walk`], an empty subtree yields nothing: `snmpwalk` then GETs the
    /// root itself, which is the caller's choice here.
    pub async fn walk_with(
        &self,
        root: &Oid,
        mut row: impl FnMut(VarBind),
    ) -> Result<WalkEnd, Error> {
        let mut cur = root.clone();
        loop {
            let step = self
                .request(PduHeader::request(PduType::GetNext, 0), std::slice::from_ref(&cur), |p| {
                    // snmpwalk treats noSuchName as the end whatever the version.
                    if p.error_status == ErrorStatus::NoSuchName.as_i32() {
                        return Ok(Step::NoSuchName);
                    }
                    check_status(&p)?;
                    match (p.varbinds.len(), p.varbinds.get(0)) {
                        (1, Some(vb)) => Ok(Step::Row(vb.to_owned())),
                        _ => Err(mismatch(std::iter::once(&cur), &p)),
                    }
                })
                .await?;
            let vb = match step {
                Step::NoSuchName => return Ok(WalkEnd::NoSuchName),
                Step::Row(vb) => vb,
            };
            if past_subtree(root, &vb.oid) {
                return Ok(WalkEnd::LeftSubtree);
            }
            if vb.value.is_exception() {
                row(vb);
                return Ok(WalkEnd::Exception);
            }
            if vb.oid <= cur {
                let returned = vb.oid.clone();
                row(vb);
                return Err(NonIncreasing::error(cur, returned));
            }
            cur = vb.oid.clone();
            row(vb);
        }
    }

    /// Walks the subtree under `root` with GETNEXT and returns its values (exception values
    /// left out). An empty subtree falls back to a GET of `root` itself, as `snmpwalk` does.
    pub async fn walk(&self, root: &Oid) -> Result<Vec<VarBind>, Error> {
        let mut out = Vec::new();
        self.walk_with(root, |vb| {
            if !vb.value.is_exception() {
                out.push(vb);
            }
        })
        .await?;
        self.get_root_if_empty(root, &mut out).await?;
        Ok(out)
    }

    async fn get_root_if_empty(&self, root: &Oid, out: &mut Vec<VarBind>) -> Result<(), Error> {
        if out.is_empty() {
            let got = self.get(std::slice::from_ref(root)).await?;
            out.extend(got.into_iter().filter(|v| !v.value.is_exception()));
        }
        Ok(())
    }

    /// Walks `root` with GETBULK, as `snmpbulkwalk` does, handing each binding to `row` as it
    /// arrives. Every binding of a reply that lies in the subtree is handed over, including
    /// the endOfMibView repetitions an agent sends at the end of its view, exactly as
    /// `snmpbulkwalk` prints them; a binding outside the subtree or an exception value ends
    /// the walk after that reply. Bindings must advance within the reply (stricter than
    /// `snmpbulkwalk`, which only compares them with the request).
    ///
    /// max-repetitions starts at [`super::RequestOptions::max_repetitions`], halves on
    /// tooBig (also the empty tooBig responses some agents send) and on timeouts, and grows
    /// back after successes, never above where it started. Agents that return fewer rows
    /// than asked (net-snmp caps a response at 100 varbinds) are followed from the last OID
    /// received. On v1 this is a GETNEXT walk.
    pub async fn bulk_walk_with(
        &self,
        root: &Oid,
        mut row: impl FnMut(VarBind),
    ) -> Result<WalkEnd, Error> {
        if self.inner.security.version() == Version::V1 {
            return self.walk_with(root, row).await;
        }
        let ceiling = self.inner.opts.max_repetitions.max(1);
        let mut reps = ceiling;
        let mut good = 0u32;
        let mut cur = root.clone();
        loop {
            let h = PduHeader::bulk(0, 0, clamp(reps));
            let res = self
                .request(h, std::slice::from_ref(&cur), |p| {
                    if p.status() == ErrorStatus::TooBig {
                        return Ok(None);
                    }
                    if p.error_status == ErrorStatus::NoSuchName.as_i32() {
                        return Ok(Some((None, Some(WalkEnd::NoSuchName))));
                    }
                    check_status(&p)?;
                    if p.varbinds.len() > reps as usize {
                        return Err(mismatch(std::iter::once(&cur), &p));
                    }
                    let mut end = p.varbinds.is_empty().then_some(WalkEnd::LeftSubtree);
                    let mut prev: Option<OidRef<'_>> = None;
                    let mut last = None;
                    for vb in p.varbinds.iter() {
                        if !vb.oid.starts_with(root) {
                            end.get_or_insert(WalkEnd::LeftSubtree);
                            continue;
                        }
                        if vb.value.is_exception() {
                            end.get_or_insert(WalkEnd::Exception);
                            row(vb.to_owned());
                            continue;
                        }
                        let order = match prev {
                            Some(prev) => vb.oid.iter().cmp(prev.iter()),
                            None => vb.oid.cmp_oid(&cur),
                        };
                        if order != Ordering::Greater {
                            let previous = prev.map_or_else(|| cur.clone(), |p| p.to_oid());
                            row(vb.to_owned());
                            return Err(NonIncreasing::error(previous, vb.oid.to_oid()));
                        }
                        row(vb.to_owned());
                        prev = Some(vb.oid);
                        last = Some(vb.oid);
                    }
                    Ok(Some((last.map(|o| o.to_oid()), end)))
                })
                .await;
            match res {
                Ok(Some((last, end))) => {
                    if let Some(end) = end {
                        return Ok(end);
                    }
                    if let Some(last) = last {
                        cur = last;
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
    }

    /// Walks `root` with GETBULK and returns its values (exception values left out); an
    /// empty subtree falls back to a GET of `root`. See [`Target::bulk_walk_with`].
    pub async fn bulk_walk(&self, root: &Oid) -> Result<Vec<VarBind>, Error> {
        let mut out = Vec::new();
        self.bulk_walk_with(root, |vb| {
            if !vb.value.is_exception() {
                out.push(vb);
            }
        })
        .await?;
        self.get_root_if_empty(root, &mut out).await?;
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
                if vb.value == Value::EndOfMibView {
                    finished[slot] = true;
                    continue;
                }
                if vb.oid <= cursors[col] {
                    let previous = cursors[col].clone();
                    return Err(NonIncreasing::error(previous, vb.oid));
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
