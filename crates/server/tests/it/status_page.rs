//! The status page's files as the admin listener serves them. What the page does in a browser
//! is tested by `scripts/test-browser.sh` (headless Chromium against `switchyard demo`).

use std::time::Duration;

use crate::common::{Switchyard, get};

const CONFIG: &str = r#"[lifecycle]
shutdown_delay_seconds = 0

[[inventory.zones]]
name = "ams"

[[inventory.nodes]]
id = "ams-1"
zone = "ams"
ipv4 = "127.0.10.1"

[[inventory.services]]
name = "video"
hostnames = ["video.example"]
"#;

#[test]
fn the_page_and_its_files_are_served_with_types_validators_and_a_strict_policy() {
    let sy = Switchyard::start(CONFIG, &[], &[]);
    sy.wait_status("/readyz", 200, Duration::from_secs(20));
    for (path, content_type, needle) in [
        ("/", "text/html; charset=utf-8", "<title>Switchyard</title>"),
        ("/ui/app.js", "text/javascript; charset=utf-8", "/api/v1/fleet"),
        ("/ui/app.css", "text/css; charset=utf-8", "--down"),
    ] {
        let r = get(sy.admin, path, &[]);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some(content_type), "{path}");
        assert!(r.body.contains(needle), "{path}");
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{path}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{path}");
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        let etag = r.header("etag").expect("an ETag").to_string();
        let again = get(sy.admin, path, &[("If-None-Match", &etag)]);
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty(), "{path}");
        let other = get(sy.admin, path, &[("If-None-Match", "\"something-else\"")]);
        assert_eq!(other.status, 200, "{path}");
    }
    assert_eq!(get(sy.admin, "/ui/other.js", &[]).status, 404);
    // The page refers to nothing outside this listener.
    let html = get(sy.admin, "/", &[]).body;
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"),
        "{html}"
    );
}
