//! Issues SNMP GETs of sysUpTime.0 from N concurrent tasks through one shared client for a
//! fixed duration and prints how many succeeded; the counterpart of bench/snmp/gosnmp_get.
//!
//! `getload -host 127.0.0.1 -port 161 -v 2c|3 -c COMMUNITY -u USER -A AUTHPASS -X PRIVPASS -n 16 -d 5s`
//! (v3 is SHA/AES-128 authPriv).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use switchyard_snmp::client::{Client, RequestOptions, Security};
use switchyard_snmp::codec::Oid;
use switchyard_snmp::usm::{AuthProtocol, PrivProtocol, UsmUser};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| default.to_string())
    };
    let addr: std::net::SocketAddr =
        format!("{}:{}", arg("-host", "127.0.0.1"), arg("-port", "161")).parse()?;
    let workers: usize = arg("-n", "16").parse()?;
    let secs: f64 = arg("-d", "5s").trim_end_matches('s').parse()?;
    let security = if arg("-v", "2c") == "3" {
        let user = UsmUser::no_auth(arg("-u", ""))?
            .with_auth(AuthProtocol::Sha1, arg("-A", "").as_bytes())?
            .with_privacy(PrivProtocol::Aes128, arg("-X", "").as_bytes())?;
        Security::v3(user)
    } else {
        Security::v2c(arg("-c", "public"))
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (ok, failed) = rt.block_on(async move {
        let client = Client::new().expect("client");
        let opts = RequestOptions {
            timeout: Duration::from_secs(2),
            retries: 2,
            max_in_flight: workers,
            ..Default::default()
        };
        // One target shared by all tasks, as a poller would hold it.
        let target = client.target_with(addr, security, opts);
        let oid: Oid = "1.3.6.1.2.1.1.3.0".parse().expect("oid");
        let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        // One timer ends the run; the workers only read a flag between requests.
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
            flag.store(true, Ordering::Relaxed);
        });
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..workers {
            let (t, oid, ok, failed) = (target.clone(), oid.clone(), ok.clone(), failed.clone());
            let stop = stop.clone();
            set.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match t.get(std::slice::from_ref(&oid)).await {
                        Ok(v) if v.len() == 1 => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            });
        }
        while set.join_next().await.is_some() {}
        (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed))
    });
    println!("ok {ok} failed {failed}");
    Ok(())
}
