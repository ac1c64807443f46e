use super::*;

#[test]
fn query_parses_verbose_excludes_and_format() {
    let query = Query::parse("verbose&exclude=a&exclude=b%2Fc&format=json&other=1");
    assert!(query.verbose);
    assert_eq!(query.exclude, ["a", "b/c"]);
    assert_eq!(query.format, Format::Json);
    assert_eq!(Query::parse(""), Query::default());
    assert_eq!(Query::parse("format=yaml").format, Format::Text);
    assert_eq!(Query::parse("exclude=a+b").exclude, ["a b"]);
}

#[test]
fn go_quoting_escapes_what_could_break_a_line() {
    let mut out = String::new();
    write_go_quoted(&mut out, "a\"b\\c\nd\te\u{1}f\u{7f}é\u{85}");
    assert_eq!(out, r#""a\"b\\c\nd\te\x01f\x7fé\u0085""#);
}

#[test]
fn malformed_queries_parse_without_panicking() {
    for raw in [
        "%",
        "%%%",
        "exclude=%ZZ",
        "&&&=",
        "=x",
        "exclude",
        "exclude=%E2%82",
        "verbose=\u{fffd}&=",
        "format=json&format=text",
    ] {
        let query = Query::parse(raw);
        assert!(query.exclude.len() <= 1, "{raw:?}: {query:?}");
    }
    assert_eq!(Query::parse("exclude=%ZZ").exclude, ["%ZZ"]);
    assert_eq!(Query::parse("exclude").exclude, [""]);
    assert_eq!(Query::parse("format=json&format=text").format, Format::Text);
}
