use super::*;

fn parse(pairs: &[(&str, &str)]) -> Result<ProfileRequest, String> {
    let params = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    ProfileRequest::parse(&params)
}

#[test]
fn seconds_default_and_bounds() {
    assert_eq!(parse(&[]).unwrap(), ProfileRequest { seconds: 10, format: Format::Pprof });
    assert_eq!(parse(&[("seconds", "1")]).unwrap().seconds, 1);
    assert_eq!(parse(&[("seconds", "60")]).unwrap().seconds, 60);
    for bad in ["0", "61", "1000", "-1", "1.5", "", "ten"] {
        let e = parse(&[("seconds", bad)]).unwrap_err();
        assert!(e.contains("`seconds`"), "{bad}: {e}");
    }
}

#[test]
fn formats() {
    assert_eq!(parse(&[("format", "svg")]).unwrap().format, Format::Svg);
    assert_eq!(parse(&[("format", "proto")]).unwrap().format, Format::Pprof);
    assert_eq!(parse(&[("format", "pprof")]).unwrap().format, Format::Pprof);
    let e = parse(&[("format", "png")]).unwrap_err();
    assert!(e.contains("`format`"), "{e}");
}

#[test]
fn one_profile_at_a_time() {
    let first = Running::claim().expect("nothing runs yet");
    assert!(Running::claim().is_none());
    drop(first);
    assert!(Running::claim().is_some());
}

#[test]
fn gzip_has_the_magic_bytes() {
    let out = gzip(b"hello").unwrap();
    assert_eq!(&out[..2], &[0x1f, 0x8b]);
}
