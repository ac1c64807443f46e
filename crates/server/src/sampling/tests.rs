use super::*;

fn sample(i: usize) -> Sample {
    Sample::http("video.example", "video", "10.1.0.1".parse().unwrap(), &format!("/{i}"), "")
}

#[test]
fn nothing_is_recorded_while_off() {
    let s = DecisionSampler::new();
    let mut called = false;
    s.record(|| {
        called = true;
        Some(sample(0))
    });
    assert!(!called, "the sample is not even built while off");
}

#[test]
fn a_recording_keeps_one_in_every_and_stops_when_dropped() {
    let s = DecisionSampler::new();
    let rec = s.start(3).unwrap();
    assert!(s.start(1).is_none(), "one recording at a time");
    for i in 0..9 {
        s.record(|| Some(sample(i)));
    }
    let mut out = Vec::new();
    assert_eq!(rec.drain(&mut out, 100), 3);
    let paths: Vec<_> = out.iter().map(|s| s.path.clone().unwrap()).collect();
    assert_eq!(paths, ["/0", "/3", "/6"]);
    drop(rec);
    s.record(|| panic!("off again"));
    assert!(s.start(1).is_some());
}

#[test]
fn a_full_buffer_drops_and_counts() {
    let s = DecisionSampler::new();
    let rec = s.start(1).unwrap();
    for i in 0..CAPACITY + 5 {
        s.record(|| Some(sample(i)));
    }
    assert_eq!(rec.dropped(), 5);
    let mut out = Vec::new();
    assert_eq!(rec.drain(&mut out, 10), 10);
    assert_eq!(rec.drain(&mut out, usize::MAX), CAPACITY - 10);
}

#[test]
fn the_line_format() {
    let http = Sample::http("video.example", "video", "10.1.0.1".parse().unwrap(), "/a.ts", "x=1");
    let line = serde_json::to_string(&http).unwrap();
    assert_eq!(
        line,
        r#"{"protocol":"http","host":"video.example","service":"video","client":"10.1.0.1","path":"/a.ts?x=1"}"#
    );
    let net: IpNet = "10.3.0.0/24".parse().unwrap();
    let dns = Sample::dns("video.example", "", ClientKey::Subnet(net), "AAAA");
    let line = serde_json::to_string(&dns).unwrap();
    assert_eq!(
        line,
        r#"{"protocol":"dns","host":"video.example","client":"10.3.0.0/24","qtype":"AAAA"}"#
    );
    assert_eq!(serde_json::from_str::<Sample>(&line).unwrap(), dns);
    assert!(
        serde_json::from_str::<Sample>(r#"{"protocol":"ftp","host":"a","client":"1.2.3.4"}"#)
            .is_err()
    );
    assert!(
        serde_json::from_str::<Sample>(r#"{"protocol":"http","host":"a","client":"x"}"#).is_err()
    );
}
