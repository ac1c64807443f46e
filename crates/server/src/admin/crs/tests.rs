//! The pieces of the `/crs` answers that are pure: Java's spellings and the metrics text.

use super::model::{java_double, java_ipv6};
use super::stats::{label, samples};

#[test]
fn doubles_and_addresses_print_as_java_does() {
    assert_eq!(java_double(52.37), "52.37");
    assert_eq!(java_double(-77.0), "-77.0");
    assert_eq!(java_double(0.0), "0.0");
    assert_eq!(java_double(0.0001), "1.0E-4");
    assert_eq!(java_double(-0.00015), "-1.5E-4");
    assert_eq!(java_double(12345678.5), "1.23456785E7");
    assert_eq!(java_ipv6("fc01:9400:1000:8::4".parse().unwrap()), "fc01:9400:1000:8:0:0:0:4");
}

#[test]
fn metric_samples_are_read_with_their_labels() {
    let text = "# HELP x\n\
        switchyard_http_decisions_total{service=\"a \\\"b\\\"\",method=\"geoip\",result=\"ok\"} 3\n\
        switchyard_http_decisions_total_other 9\n\
        process_start_time_seconds 1700000000.5\n";
    let got: Vec<_> = samples(text, "switchyard_http_decisions_total").collect();
    assert_eq!(got.len(), 1);
    assert_eq!(label(&got[0].0, "service"), "a \"b\"");
    assert_eq!(label(&got[0].0, "method"), "geoip");
    assert_eq!(got[0].1, 3.0);
    let start: Vec<_> = samples(text, "process_start_time_seconds").map(|(_, v)| v).collect();
    assert_eq!(start, [1_700_000_000.5]);
}
