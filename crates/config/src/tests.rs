use serde::Deserialize;

use crate::document::{Document, elements, line_col, locate, section};
use crate::{ConfigError, Problem, Problems, join};

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Limits {
    #[serde(default)]
    max: u32,
    #[serde(default)]
    name: String,
}

#[test]
fn paths_join_keys_and_indexes() {
    assert_eq!(join("", "a"), "a");
    assert_eq!(join("a", ""), "a");
    assert_eq!(join("a", "b"), "a.b");
    assert_eq!(join("a", "[2]"), "a[2]");
    assert_eq!(Problem::at("zone", "x").under("nodes[1]").path, "nodes[1].zone");
    let mut p = Problems::new("probe.engine");
    p.push("max_in_flight", "must be at least 1");
    assert_eq!(p.into_vec()[0].to_string(), "probe.engine.max_in_flight: must be at least 1");
}

#[test]
fn every_problem_of_a_section_is_reported_and_located() {
    let text = "[limits]\nmax = \"many\"\nnmae = \"x\"\ncolour = 1\n";
    let (doc, mut table) = Document::parse(text).unwrap();
    let mut problems = Vec::new();
    let limits = section::<Limits>(table.remove("limits").unwrap(), "limits", &mut problems);
    // A value of the wrong type was removed: the section keeps its defaults.
    assert_eq!(limits, None);
    doc.locate_all(&mut problems);
    let at: Vec<_> = problems.iter().map(|p| (p.path.as_str(), p.location)).collect();
    assert_eq!(
        at,
        [
            ("limits.max", Some((2, 1))),
            ("limits.nmae", Some((3, 1))),
            ("limits.colour", Some((4, 1)))
        ]
    );
}

#[test]
fn unknown_keys_alone_keep_the_rest_of_the_section() {
    let (_, mut table) = Document::parse("[limits]\nmax = 3\nextra = true\n").unwrap();
    let mut problems = Vec::new();
    let limits = section::<Limits>(table.remove("limits").unwrap(), "limits", &mut problems);
    assert_eq!(limits, Some(Limits { max: 3, name: String::new() }));
    assert_eq!(problems.len(), 1);
    assert!(problems[0].message.starts_with("unknown field `extra`"), "{problems:?}");
}

#[test]
fn each_bad_element_of_an_array_is_reported() {
    let text = "[[l]]\nmax = 1\n[[l]]\nmax = -1\n[[l]]\nname = 2\n";
    let (doc, mut table) = Document::parse(text).unwrap();
    let toml::Value::Array(items) = table.remove("l").unwrap() else { panic!() };
    let mut problems = Vec::new();
    assert!(elements::<Limits>(items, "l", &mut problems).is_none());
    doc.locate_all(&mut problems);
    let paths: Vec<_> = problems.iter().map(|p| (p.path.as_str(), p.location)).collect();
    assert_eq!(paths, [("l[1].max", Some((4, 1))), ("l[2].name", Some((6, 1)))]);
}

#[test]
fn syntax_errors_carry_their_position() {
    let e = Document::parse("a = 1\nb = = 2\n").err().unwrap();
    assert_eq!(e.location.map(|l| l.0), Some(2));
    assert!(e.message.starts_with("TOML syntax"), "{e}");
    let file = ConfigError { origin: "x.toml".into(), problems: vec![e] };
    assert!(file.to_string().starts_with("x.toml:2:"), "{file}");
}

#[test]
fn line_col_counts_characters() {
    assert_eq!(line_col("ab\ncdé\nf", 0), (1, 1));
    assert_eq!(line_col("ab\ncdé\nf", 3), (2, 1));
    assert_eq!(line_col("ab\ncdé\nf", 8), (3, 1));
    assert_eq!(line_col("ab\ncdé\nf", 7), (2, 4));
}

#[test]
fn a_missing_key_is_located_at_the_nearest_present_table() {
    let src = "[probe.by_tag.snmp]\ncheck = { kind = \"snmp\", version = \"3\" }\n";
    let spans = toml::de::DeTable::parse(src).unwrap().into_inner();
    let at = |path: &str| locate(&spans, path).map(|s| line_col(src, s.start));
    assert_eq!(at("probe.by_tag.snmp.check.user"), Some((2, 1)));
    assert_eq!(at("probe.by_tag.snmp.check.version"), Some((2, 26)));
    assert_eq!(at("probe.by_tag.snmp.interval_ms"), Some((1, 15)));
    assert_eq!(at("probe.by_tag.http.check"), Some((1, 8)), "at `by_tag`");
    assert_eq!(at("dns.zones"), None, "nothing of the path is in the file");
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Agent {
    #[serde(default)]
    community: String,
    #[serde(default)]
    auth_password: Option<String>,
    #[serde(default)]
    port: u16,
    #[serde(default)]
    check: Option<Check>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(dead_code)]
enum Check {
    Snmp { community: String },
}

fn problems_of(text: &str) -> Vec<Problem> {
    let (_, mut table) = Document::parse(text).unwrap();
    let mut problems = Vec::new();
    assert!(section::<Agent>(table.remove("agent").unwrap(), "agent", &mut problems).is_none());
    problems
}

#[test]
fn a_secret_of_the_wrong_type_is_reported_without_its_value() {
    let text = "[agent]\ncommunity = 48151623\nauth_password = 3.25\nport = \"eighty\"\n";
    let problems = problems_of(text);
    let mut all: Vec<String> = problems.iter().map(ToString::to_string).collect();
    all.sort();
    assert_eq!(
        all,
        [
            "agent.auth_password: invalid type: floating point (value not shown), \
             expected a string",
            "agent.community: invalid type: integer (value not shown), expected a string",
            // Not a secret: the value stays, it helps.
            "agent.port: invalid type: string \"eighty\", expected u16",
        ]
    );
}

#[test]
fn a_secret_inside_a_tagged_enum_is_not_echoed_either() {
    // serde cannot name the key inside an internally tagged enum: the path stops at
    // `check`, so the value itself is recognised.
    let problems = problems_of("[agent]\ncheck = { kind = \"snmp\", community = 48151623 }\n");
    assert_eq!(problems.len(), 1, "{problems:?}");
    let text = problems[0].to_string();
    assert!(!text.contains("48151623"), "{text}");
    assert!(text.contains("integer (value not shown), expected a string"), "{text}");
}

#[test]
fn hidden_values_leave_the_rest_of_the_message() {
    use crate::secret::{hide_value, is_secret_key};
    let cases = [
        (
            r#"invalid type: string "a\"b, expected c", expected u32"#,
            "invalid type: string (value not shown), expected u32",
        ),
        (
            "invalid type: boolean `true`, expected a string",
            "invalid type: boolean (value not shown), expected a string",
        ),
        (
            "invalid type: character ```, expected a string",
            "invalid type: character (value not shown), expected a string",
        ),
        ("invalid type: sequence, expected a string", "invalid type: sequence, expected a string"),
        (
            "unknown field `tokn`, expected `token_file`",
            "unknown field `tokn`, expected `token_file`",
        ),
        (
            "unknown variant `s3cret`, expected `a`",
            "invalid value (not shown: this key holds a secret)",
        ),
        (
            "invalid value: map `x`, expected y",
            "invalid value (not shown: this key holds a secret)",
        ),
    ];
    for (message, want) in cases {
        assert_eq!(hide_value(message), want, "{message}");
    }
    for key in
        ["community", "auth_password", "priv_password", "token_file", "password", "Client_Secret"]
    {
        assert!(is_secret_key(key), "{key}");
    }
    for key in ["port", "hash_key", "user", "version"] {
        assert!(!is_secret_key(key), "{key}");
    }
}
