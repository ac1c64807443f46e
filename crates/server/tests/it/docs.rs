//! The documentation held against the code: `docs/configuration.md` names every key the
//! configuration types accept, and no key they do not.
//!
//! The key set is read from the types' own `Deserialize` impls, not from a list kept by hand:
//! each struct is fed a map holding one key no struct has, and a struct that denies unknown
//! fields answers with `Error::unknown_field(key, FIELDS)`, handing over its field list. An
//! error type of this file records those calls (and `unknown_variant`, which hands over the
//! variant names of a tagged enum), then the walk goes down every field the same way. A new
//! field, section, probe kind or nested table shows up here without anyone listing it.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, Deserializer, IntoDeserializer, Visitor};

/// The key fed to every struct: no configuration type has a field of this name.
const PROBE: &str = "\u{1}probe";

/// One call of the error hooks, in the order the deserializers made them.
#[derive(Debug, Clone)]
enum Hook {
    /// A struct that denies unknown fields met [`PROBE`]: its field list.
    UnknownField(&'static [&'static str]),
    /// A tag or variant name of [`PROBE`] met an enum: its variant names.
    UnknownVariant(&'static [&'static str]),
    /// A required field (or an internally tagged enum's tag) was missing.
    MissingField(&'static str),
    /// Any other error, with its message.
    Custom(String),
}

thread_local! {
    static HOOKS: RefCell<Vec<Hook>> = const { RefCell::new(Vec::new()) };
}

fn hook(h: Hook) {
    HOOKS.with(|hooks| hooks.borrow_mut().push(h));
}

/// The error type the walk deserializes with; it records what serde tells it.
#[derive(Debug)]
struct Traced(String);

impl fmt::Display for Traced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Traced {}

impl de::Error for Traced {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        let msg = msg.to_string();
        hook(Hook::Custom(msg.clone()));
        Traced(msg)
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        if field == PROBE {
            hook(Hook::UnknownField(expected));
        } else {
            hook(Hook::Custom(format!("unknown field `{field}`")));
        }
        Traced(format!("unknown field `{field}`"))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        if variant == PROBE {
            hook(Hook::UnknownVariant(expected));
        }
        Traced(format!("unknown variant `{variant}`"))
    }

    fn missing_field(field: &'static str) -> Self {
        hook(Hook::MissingField(field));
        Traced(format!("missing field `{field}`"))
    }
}

/// A document to deserialize from: tables, arrays, strings and an empty value.
#[derive(Debug, Clone)]
enum Node {
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
    Str(String),
    Unit,
}

impl<'de> Deserializer<'de> for Node {
    type Error = Traced;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Traced> {
        match self {
            Node::Map(entries) => visitor.visit_map(MapDeserializer::new(entries.into_iter())),
            Node::Seq(items) => visitor.visit_seq(SeqDeserializer::new(items.into_iter())),
            Node::Str(s) => visitor.visit_string(s),
            Node::Unit => visitor.visit_unit(),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Traced> {
        match self {
            Node::Unit => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

impl<'de> IntoDeserializer<'de, Traced> for Node {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

/// One step from the root of a document to a table in it.
#[derive(Debug, Clone)]
enum Step {
    /// The value of a struct field.
    Field(&'static str),
    /// An element of an array.
    Elem,
    /// The value of an entry of a table with free keys (`probe.by_tag.TAG`).
    Key,
    /// The variant of an internally tagged enum: its tag field and the variant's name.
    Variant(&'static str, &'static str),
}

/// The name of a location as `docs/configuration.md` writes it: dotted fields, `[]` for an
/// array element, `*` for a free key, `(variant)` for a tagged enum's variant, e.g.
/// `inventory.nodes[].id`, `probe.by_tag.*`, `probe.default.check(http).path`.
fn name(prefix: &str, steps: &[Step]) -> String {
    let mut out = prefix.to_owned();
    for step in steps {
        match step {
            Step::Field(f) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(f);
            }
            Step::Elem => out.push_str("[]"),
            Step::Key => out.push_str(".*"),
            Step::Variant(_, v) => {
                out.push('(');
                out.push_str(v);
                out.push(')');
            }
        }
    }
    out
}

/// The document holding `entries` in the table at `steps`, and nothing else.
fn build(steps: &[Step], entries: Vec<(String, Node)>) -> Node {
    let mut node = Node::Map(entries);
    for step in steps.iter().rev() {
        node = match step {
            Step::Field(f) => Node::Map(vec![((*f).to_owned(), node)]),
            Step::Elem => Node::Seq(vec![node]),
            Step::Key => Node::Map(vec![("tag".to_owned(), node)]),
            Step::Variant(tag, v) => match node {
                Node::Map(mut m) => {
                    m.insert(0, ((*tag).to_owned(), Node::Str((*v).to_owned())));
                    Node::Map(m)
                }
                other => other,
            },
        };
    }
    node
}

/// Deserializes `T` from `node` and returns the hooks called on the way.
fn run<T: DeserializeOwned>(node: Node) -> Vec<Hook> {
    HOOKS.with(|h| h.borrow_mut().clear());
    let _ = T::deserialize(node);
    HOOKS.with(|h| std::mem::take(&mut *h.borrow_mut()))
}

fn probe_entry() -> Vec<(String, Node)> {
    vec![(PROBE.to_owned(), Node::Unit)]
}

/// Whether a message is serde's complaint about a key it does not know.
fn is_unknown_field(hooks: &[Hook]) -> bool {
    hooks.iter().any(|h| matches!(h, Hook::Custom(m) if m.starts_with("unknown field")))
}

/// What the walk found.
#[derive(Debug, Default)]
struct Keys {
    /// Every key (struct field or enum tag), by its full name.
    keys: BTreeSet<String>,
    /// Every table location walked into, by name.
    tables: BTreeSet<String>,
    /// Locations whose type was met before under another name: location -> first name.
    /// Their keys are those of the first, and are documented once.
    aliases: BTreeMap<String, String>,
    /// The first location of each field list.
    by_fields: BTreeMap<Vec<&'static str>, String>,
    /// Tables that take their keys through `#[serde(flatten)]`, where serde hands over no
    /// field list: their keys are found by trying names (see [`Keys::opaque_keys`]).
    opaque: BTreeMap<String, Vec<Step>>,
}

impl Keys {
    /// Walks `T`, naming its keys under `prefix`.
    fn walk<T: DeserializeOwned>(&mut self, prefix: &str) {
        self.explore::<T>(prefix, &[]);
    }

    /// Walks the table at `steps`, if it is one; returns whether it was.
    fn explore<T: DeserializeOwned>(&mut self, prefix: &str, steps: &[Step]) -> bool {
        let hooks = run::<T>(build(steps, probe_entry()));
        match hooks.first() {
            Some(Hook::UnknownField(fields)) => {
                self.table::<T>(prefix, steps, fields);
                true
            }
            Some(Hook::MissingField(tag)) => self.tagged::<T>(prefix, steps, tag),
            _ if is_unknown_field(&hooks) => {
                let at = name(prefix, steps);
                self.tables.insert(at.clone());
                self.opaque.insert(at, steps.to_vec());
                true
            }
            _ => false,
        }
    }

    /// An internally tagged enum at `steps` (or a struct missing a required field, which is
    /// not walked).
    fn tagged<T: DeserializeOwned>(
        &mut self,
        prefix: &str,
        steps: &[Step],
        tag: &'static str,
    ) -> bool {
        let hooks = run::<T>(build(steps, vec![(tag.to_owned(), Node::Str(PROBE.to_owned()))]));
        let Some(Hook::UnknownVariant(variants)) = hooks.first() else { return false };
        let mut tag_steps = steps.to_vec();
        tag_steps.push(Step::Field(tag));
        self.keys.insert(name(prefix, &tag_steps));
        for variant in *variants {
            let mut at = steps.to_vec();
            at.push(Step::Variant(tag, variant));
            if !self.explore::<T>(prefix, &at) {
                // A variant without settings of its own.
                self.tables.insert(name(prefix, &at));
            }
        }
        true
    }

    /// A struct at `steps` with `fields`: records them and walks each.
    fn table<T: DeserializeOwned>(
        &mut self,
        prefix: &str,
        steps: &[Step],
        fields: &'static [&'static str],
    ) {
        let at = name(prefix, steps);
        self.tables.insert(at.clone());
        if let Some(first) = self.by_fields.get(fields) {
            self.aliases.insert(at, first.clone());
            return;
        }
        self.by_fields.insert(fields.to_vec(), at);
        for field in fields {
            let mut f = steps.to_vec();
            f.push(Step::Field(field));
            self.keys.insert(name(prefix, &f));
            if self.explore::<T>(prefix, &f) {
                continue;
            }
            let mut elem = f.clone();
            elem.push(Step::Elem);
            if self.explore::<T>(prefix, &elem) {
                continue;
            }
            f.push(Step::Key);
            self.explore::<T>(prefix, &f);
        }
    }

    /// The keys of the flattened tables, found by trying every field name met elsewhere and
    /// every name in `extra`: a name the table does not know gets serde's "unknown field".
    /// A new field of such a table is seen only when its name is used somewhere else too.
    fn opaque_keys<T: DeserializeOwned>(&mut self, extra: &BTreeSet<String>) {
        let mut names: BTreeSet<String> =
            self.by_fields.keys().flatten().map(|s| (*s).to_owned()).collect();
        names.extend(extra.iter().cloned());
        for (at, steps) in self.opaque.clone() {
            for field in &names {
                let hooks = run::<T>(build(&steps, vec![(field.clone(), Node::Unit)]));
                let duplicate = hooks
                    .iter()
                    .any(|h| matches!(h, Hook::Custom(m) if m.starts_with("duplicate field")));
                if !is_unknown_field(&hooks) && !duplicate {
                    self.keys.insert(format!("{at}.{field}"));
                }
            }
        }
    }

    /// `key` with every alias location in it replaced by the first location of its type.
    fn canonical(&self, key: &str) -> String {
        let mut key = key.to_owned();
        'again: loop {
            for (alias, first) in &self.aliases {
                if let Some(rest) = key.strip_prefix(alias.as_str())
                    && (rest.is_empty() || rest.starts_with(['.', '(', '[']))
                {
                    key = format!("{first}{rest}");
                    continue 'again;
                }
            }
            return key;
        }
    }
}

/// Walks the configuration types: the keys of the whole file, and of the fleet arrays.
fn trace(doc_names: &BTreeSet<String>) -> Keys {
    let mut keys = Keys::default();
    keys.walk::<switchyard::config::Config>("");
    // `[inventory]` reads its `nodes`, `zones` and `services` arrays apart from the rest
    // (`InventoryConfig::fleet` is `#[serde(skip)]`), so the fleet is walked on its own.
    keys.walk::<switchyard_route::FleetSpec>("inventory");
    keys.opaque_keys::<switchyard::config::Config>(doc_names);
    keys
}

fn docs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

fn read_doc(name: &str) -> String {
    let path = docs_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The keys named in the first column of the tables whose header's first cell is `key`,
/// each written as `` `key` ``.
fn documented_keys(text: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut in_key_table = false;
    let mut previous_was_row = false;
    for line in text.lines() {
        let line = line.trim();
        let is_row = line.starts_with('|');
        if !is_row {
            previous_was_row = false;
            in_key_table = false;
            continue;
        }
        let first = line.trim_start_matches('|').split('|').next().unwrap_or("").trim();
        if !previous_was_row {
            in_key_table = first == "key";
        } else if in_key_table
            && let Some(key) = first.strip_prefix('`').and_then(|k| k.strip_suffix('`'))
        {
            keys.push(key.to_owned());
        }
        previous_was_row = true;
    }
    keys
}

#[test]
fn the_walk_finds_the_keys_of_every_section_and_probe_kind() {
    let keys = trace(&BTreeSet::new());
    // If serde stopped calling the hooks, the walk would find nothing and the doc test below
    // would pass vacuously: hold it to keys of every depth and shape.
    for key in [
        "listen.admin",
        "health.memory_high_ratio",
        "inventory.etcd.replicas",
        "inventory.nodes[].zone",
        "inventory.services[].hash_key.path_regex",
        "probe.default.check.kind",
        "probe.default.check(http).tls.sni",
        "probe.default.check(snmp).auth_password",
        "probe.default.check(tls).sni",
        "probe.warm.deadline_ms",
        "http.max_connections",
        "dns.name_servers[].ipv6",
    ] {
        assert!(keys.keys.contains(key), "{key} not found; found:\n{:#?}", keys.keys);
    }
    assert!(!keys.keys.contains("probe.default.check(tls).qname"), "{:#?}", keys.keys);
    assert_eq!(keys.canonical("probe.by_tag.*.snmp.port"), "probe.default.check(snmp).port");
    assert_eq!(keys.aliases.get("probe.by_tag.*").map(String::as_str), Some("probe.default"));
}

#[test]
fn configuration_doc_names_every_key_and_no_other() {
    let text = read_doc("configuration.md");
    let documented = documented_keys(&text);
    let names: BTreeSet<String> =
        documented.iter().filter_map(|k| k.rsplit(['.', ')']).next().map(str::to_owned)).collect();
    let keys = trace(&names);
    // A key counts as documented under its own name (`probe.default.snmp`, which is an alias
    // location as well as a key) or under the first name of its type.
    let canonical: BTreeSet<String> =
        documented.iter().flat_map(|k| [k.clone(), keys.canonical(k)]).collect();

    let undocumented: Vec<&String> = keys.keys.iter().filter(|k| !canonical.contains(*k)).collect();
    let known = |k: &String| keys.keys.contains(k) || keys.tables.contains(k);
    let unknown: Vec<&String> = documented.iter().filter(|k| !known(&keys.canonical(k))).collect();
    let mut seen = BTreeSet::new();
    let repeated: Vec<&String> = documented.iter().filter(|k| !seen.insert(*k)).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty() && repeated.is_empty(),
        "docs/configuration.md is out of step with the configuration types.\n\
         keys the types accept that it does not document: {undocumented:#?}\n\
         keys it documents that the types do not accept: {unknown:#?}\n\
         keys it documents twice: {repeated:#?}\n\
         (aliases, documented under either name: {:#?})",
        keys.aliases
    );
}

#[test]
fn api_doc_names_every_metric_family_the_demo_exports() {
    let demo = crate::common::Switchyard::demo(&[]);
    // Every front end and the prober have registered their families by the time it is ready.
    demo.wait_status("/readyz", 200, std::time::Duration::from_secs(30));
    // Families with labels show once they have a series: make one decision.
    let http = demo.listener("http");
    let route = crate::common::get(http, "/v1/route?host=video.demo.example&ip=10.2.0.1", &[]);
    assert_eq!(route.status, 200, "{}", route.body);
    let metrics = crate::common::get(demo.admin, "/metrics", &[]);
    assert_eq!(metrics.status, 200, "{}", metrics.body);
    let families: BTreeSet<&str> = metrics
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(families.contains("switchyard_http_decisions_total"), "{families:?}");
    assert!(families.contains("switchyard_probes_total"), "{families:?}");
    let api = read_doc("api.md");
    let missing: Vec<&&str> =
        families.iter().filter(|f| !api.contains(&format!("| `{f}` |"))).collect();
    assert!(missing.is_empty(), "metric families missing from docs/api.md: {missing:#?}");
}
