//! The etcd source against a real etcd (Debian's `etcd-server`): a burst of writes arrives
//! whole in a few publications; a source cut off while etcd compacts its history re-lists and
//! converges, deletes included; the membership lease outlives verdict writes that take
//! several TTLs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{Client, CompactionOptions, GetOptions, Txn, TxnOp};
use prometheus_client::registry::Registry;
use switchyard_fleet::cluster::Verdict;
use switchyard_fleet::etcd::{EtcdConfig, EtcdMetrics, EtcdSource, LocalFiles};
use switchyard_fleet::{Inventory, InventoryFeed};
use switchyard_route::HealthState;
use switchyard_testkit::etcd::Etcd;
use switchyard_testkit::proxy::FaultProxy;
use tokio_util::sync::CancellationToken;

const PREFIX: &str = "/switchyard/";

fn node(id: usize) -> String {
    format!(r#"{{"zone": "z", "ipv4": "127.0.{}.{}", "port": 80}}"#, (id / 250) % 250, id % 250 + 1)
}

async fn seed(client: &mut Client, ids: impl Iterator<Item = usize>) {
    let ops: Vec<TxnOp> =
        ids.map(|i| TxnOp::put(format!("{PREFIX}nodes/n{i}"), node(i), None)).collect();
    for chunk in ops.chunks(128) {
        client.txn(Txn::new().and_then(chunk.to_vec())).await.unwrap();
    }
}

async fn base(client: &mut Client) {
    client.put(format!("{PREFIX}zones/z"), "{}", None).await.unwrap();
    let svc = r#"{"hostnames": ["video.example"]}"#;
    client.put(format!("{PREFIX}services/video"), svc, None).await.unwrap();
}

fn start(endpoint: String, stop: &CancellationToken) -> (EtcdSource, InventoryFeed, Registry) {
    start_with(endpoint, stop, |_| {})
}

fn start_with(
    endpoint: String,
    stop: &CancellationToken,
    tweak: impl FnOnce(&mut EtcdConfig),
) -> (EtcdSource, InventoryFeed, Registry) {
    let mut config = EtcdConfig::new(vec![endpoint]);
    config.instance_id = Some("t".into());
    config.dial_timeout_ms = 500;
    config.request_timeout_ms = 1000;
    tweak(&mut config);
    let metrics = EtcdMetrics::default();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let (source, feed) = EtcdSource::start(
        config,
        PathBuf::from("."),
        None,
        LocalFiles::default(),
        metrics,
        stop.clone(),
    );
    (source, feed, registry)
}

fn metric(registry: &Registry, name: &str) -> f64 {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn wait_for(
    feed: &mut InventoryFeed,
    what: &str,
    f: impl Fn(&Inventory) -> bool,
) -> Arc<Inventory> {
    let got = tokio::time::timeout(
        Duration::from_secs(20),
        feed.wait_for(|i| i.as_deref().is_some_and(&f)),
    )
    .await
    .unwrap_or_else(|_| panic!("{what}: not within 20 s"));
    got.unwrap().clone().unwrap()
}

fn has(inv: &Inventory, id: &str) -> bool {
    inv.spec.nodes.iter().any(|n| n.id == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_ten_thousand_writes_arrives_whole_in_a_few_rebuilds() {
    let etcd = Etcd::start();
    let mut client = Client::connect([etcd.endpoint()], None).await.unwrap();
    base(&mut client).await;
    let stop = CancellationToken::new();
    let (_source, mut feed, registry) = start(etcd.endpoint(), &stop);
    wait_for(&mut feed, "first listing", |i| i.spec.services.len() == 1).await;
    let before = metric(&registry, "switchyard_etcd_inventory_publishes");

    let started = Instant::now();
    seed(&mut client, 0..10_000).await;
    let written = started.elapsed();
    let inv = wait_for(&mut feed, "10,000 nodes", |i| i.spec.nodes.len() == 10_000).await;
    let seen = started.elapsed();
    assert!((0..10_000).all(|i| has(&inv, &format!("n{i}"))));
    let rebuilds = metric(&registry, "switchyard_etcd_inventory_publishes") - before;
    eprintln!(
        "10,000 writes in {written:?}; all applied {:?} after the last write; {rebuilds} rebuild(s)",
        seen - written
    );
    // One per max_delay_ms (1 s) of a burst at most, plus the tail.
    let bound = written.as_secs_f64().ceil() + 2.0;
    assert!(rebuilds <= bound, "{rebuilds} rebuilds for a burst of {written:?}");
    // Every write came as an event (the member key's own writes come on top).
    assert!(metric(&registry, "switchyard_etcd_watch_events") >= 10_000.0);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_off_during_a_compaction_it_relists_and_converges_with_missed_deletes() {
    let etcd = Etcd::start();
    let mut client = Client::connect([etcd.endpoint()], None).await.unwrap();
    base(&mut client).await;
    seed(&mut client, 0..10).await;
    let proxy = FaultProxy::start(etcd.client_addr()).unwrap();
    let stop = CancellationToken::new();
    let (source, mut feed, registry) = start(format!("http://{}", proxy.listen_addr()), &stop);
    wait_for(&mut feed, "first listing", |i| i.spec.nodes.len() == 10).await;

    proxy.cut();
    tokio::time::sleep(Duration::from_millis(300)).await;
    client.delete(format!("{PREFIX}nodes/n3"), None).await.unwrap();
    client.put(format!("{PREFIX}nodes/n3"), node(3), None).await.unwrap();
    client.delete(format!("{PREFIX}nodes/n4"), None).await.unwrap();
    seed(&mut client, 10..20).await;
    let rev = client.get("x", None).await.unwrap().header().unwrap().revision();
    client.compact(rev, Some(CompactionOptions::new().with_physical())).await.unwrap();
    // Events of the compacted range are gone: only a new listing can bring n4's delete.
    proxy.resume();

    let inv = wait_for(&mut feed, "converged after the compaction", |i| {
        i.spec.nodes.len() == 19 && !has(i, "n4")
    })
    .await;
    assert!(has(&inv, "n3") && has(&inv, "n19"));
    assert!(
        metric(&registry, "switchyard_etcd_resyncs") >= 2.0,
        "a start listing and a re-listing"
    );
    // Nothing duplicated or lost afterwards: the watch goes on from the listing's revision.
    client.delete(format!("{PREFIX}nodes/n0"), None).await.unwrap();
    wait_for(&mut feed, "delete after the re-listing", |i| !has(i, "n0")).await;
    assert!(source.status().connected);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_outlives_verdict_writes_that_take_several_ttls() {
    let etcd = Etcd::start();
    let mut client = Client::connect([etcd.endpoint()], None).await.unwrap();
    base(&mut client).await;
    let proxy = FaultProxy::start(etcd.client_addr()).unwrap();
    let stop = CancellationToken::new();
    let (source, mut feed, registry) =
        start_with(format!("http://{}", proxy.listen_addr()), &stop, |c| {
            c.member_ttl_seconds = 3;
        });
    wait_for(&mut feed, "first listing", |i| i.spec.services.len() == 1).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let lease = loop {
        if let Some(l) = source.status().lease {
            break l;
        }
        assert!(Instant::now() < deadline, "no lease granted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    // 3,000 verdicts are 24 transactions; at 300 ms a round trip they take over twice the
    // TTL, and keep-alives must get through all the while.
    proxy.set_delay(Duration::from_millis(150));
    let verdicts: BTreeMap<Arc<str>, Verdict> = (0..3000)
        .map(|i| {
            let v = Verdict::new(HealthState::Down, Some("refused"), None, None, None, None);
            (Arc::from(format!("n{i}")), v)
        })
        .collect();
    let began = Instant::now();
    source.report_verdicts(Arc::new(verdicts));
    let health = format!("{PREFIX}health/");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let opts = GetOptions::new().with_prefix().with_count_only();
        let count = client.get(health.as_str(), Some(opts)).await.unwrap().count();
        if count == 3000 {
            break;
        }
        assert!(Instant::now() < deadline, "{count} of 3,000 verdicts written");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = began.elapsed();
    assert!(took > Duration::from_secs(3), "the writes took {took:?}, less than the TTL");
    assert_eq!(source.status().lease, Some(lease), "the lease changed during the writes");
    assert_eq!(metric(&registry, "switchyard_etcd_errors_total{kind=\"lease\"}"), 0.0);
    stop.cancel();
}
