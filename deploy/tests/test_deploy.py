"""The deployment files against the real tools and the real binary: the Helm chart rendered
and linted by Helm's own engine, every manifest validated against the Kubernetes schemas,
the pod's timing checked against the configuration it mounts, the rendered configuration run
for real with the probes' semantics, the Dockerfile linted and its HEALTHCHECK run, the
systemd unit verified, and every dashboard expression matched against a running demo's
/metrics. Run by scripts/test-deploy.sh; loopback only.
"""

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import tomllib
import urllib.request

import pytest
import yaml

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "deploy", "tools"))

import dashboard  # noqa: E402
import render  # noqa: E402

BIN = os.environ.get("SWITCHYARD_BIN", os.path.join(ROOT, "target", "debug", "switchyard"))
CHART = os.path.join(ROOT, "deploy", "helm", "switchyard")
PLAIN = os.path.join(ROOT, "deploy", "k8s")

# Values sets rendered: the chart's defaults, its worked examples, and the plain manifests'.
VALUE_SETS = {
    "default": [],
    "etcd": [os.path.join(CHART, "ci", "etcd-values.yaml")],
    "daemonset": [os.path.join(CHART, "ci", "daemonset-values.yaml")],
    "servicemonitor": [os.path.join(CHART, "ci", "servicemonitor-values.yaml")],
    "plain": [os.path.join(PLAIN, "values.yaml")],
}
# The oldest Kubernetes the chart supports (preStop `sleep` is on by default from 1.30) and
# the newest the validator knows.
KUBE_VERSIONS = ["1.30.0", "1.37.0"]

# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"instance", "job"}


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=kw.pop("timeout", 60), **kw)


@pytest.fixture(scope="session")
def rendered():
    return {name: render.render(render.load_values(files)) for name, files in VALUE_SETS.items()}


def workload(docs):
    return next(d for d in docs if d["kind"] in ("Deployment", "DaemonSet"))


def container(docs):
    return workload(docs)["spec"]["template"]["spec"]["containers"][0]


def mounted_config(docs):
    return tomllib.loads(render.pod_files(docs)["switchyard.toml"])


# ---------------------------------------------------------------------------------------------
# Helm

@pytest.mark.parametrize("name", VALUE_SETS)
def test_the_chart_lints_clean_in_strict_mode(name):
    report = render.helm.lint(CHART, render.load_values(VALUE_SETS[name]) or None, strict=True)
    bad = [m for m in report["messages"] if m["severity"] >= 2] + report.get("errors", [])
    assert not bad, bad


@pytest.mark.parametrize("values,message", [
    ({"kind": "StatefulSet"}, "kind must be Deployment or DaemonSet"),
    ({"inventory": {"mode": "consul"}}, "inventory.mode must be file or etcd"),
    ({"inventory": {"mode": "etcd", "etcd": {"endpoints": None}}}, "inventory.etcd.endpoints is required"),
])
def test_the_chart_refuses_values_it_cannot_deploy(values, message):
    with pytest.raises(render.helm.HelmError) as e:
        render.render(render.merge({"secrets": {"adminToken": "t"}}, values))
    assert message in str(e.value)


def test_an_unset_admin_token_is_generated_and_a_set_one_kept():
    a = next(d for d in render.render({}) if d["kind"] == "Secret")["stringData"]["admin-token"]
    b = next(d for d in render.render({}) if d["kind"] == "Secret")["stringData"]["admin-token"]
    assert len(a) == 40 and a != b
    given = render.render({"secrets": {"adminToken": "given-token"}})
    assert next(d for d in given if d["kind"] == "Secret")["stringData"]["admin-token"] == "given-token"


def test_the_plain_manifests_are_the_chart_rendered(tmp_path):
    for name, text in render.plain_manifests().items():
        with open(os.path.join(PLAIN, name)) as fh:
            assert fh.read() == text, f"deploy/k8s/{name} is stale: run deploy/tools/render.py plain deploy/k8s"
    on_disk = {f for f in os.listdir(PLAIN) if f.endswith(".yaml") and f != "values.yaml"}
    assert on_disk == set(render.plain_manifests()), "deploy/k8s has files the chart does not render"


# ---------------------------------------------------------------------------------------------
# Kubernetes schemas

def validate_k8s(doc, version):
    import kubernetes_validate
    from kubernetes_validate.utils import SchemaNotFoundError
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except SchemaNotFoundError:
        if doc["kind"] != "ServiceMonitor":
            raise
        validate_service_monitor(doc)


def validate_service_monitor(doc):
    """The Prometheus Operator's own models, generated from its CRDs; pydantic ignores unknown
    fields, so the object must also survive a round trip unchanged."""
    from cloudcoil.models.prometheus_operator.v1 import ServiceMonitor
    model = ServiceMonitor.model_validate(doc)
    back = model.model_dump(by_alias=True, exclude_unset=True, mode="json")
    assert back == doc, f"fields the ServiceMonitor schema does not know: {doc} != {back}"


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_rendered_object_matches_the_kubernetes_schema(rendered, name, version):
    kinds = set()
    for doc in rendered[name]:
        validate_k8s(doc, version)
        kinds.add(doc["kind"])
    assert {"ConfigMap", "Secret", "Service", "PodDisruptionBudget"} <= kinds
    if name == "servicemonitor":
        assert "ServiceMonitor" in kinds


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_the_plain_manifest_files_match_the_kubernetes_schema(version):
    files = sorted(f for f in os.listdir(PLAIN) if f.endswith(".yaml") and f != "values.yaml")
    assert "workload.yaml" in files
    for f in files:
        out = run([os.path.join(os.path.dirname(sys.executable), "kubernetes-validate"),
                   "--strict", "-k", version, os.path.join(PLAIN, f)])
        assert out.returncode == 0 and "ERROR" not in out.stdout + out.stderr, out.stdout + out.stderr


def test_the_schema_check_catches_a_misspelt_field(rendered):
    import kubernetes_validate
    doc = json.loads(json.dumps(workload(rendered["default"])))
    c = doc["spec"]["template"]["spec"]["containers"][0]
    c["readinesProbe"] = c.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBE_VERSIONS[-1], strict=True)
    sm = next(d for d in rendered["servicemonitor"] if d["kind"] == "ServiceMonitor")
    sm = json.loads(json.dumps(sm))
    sm["spec"]["endpoints"][0]["scrapeIntervall"] = "30s"
    with pytest.raises(AssertionError):
        validate_service_monitor(sm)


# ---------------------------------------------------------------------------------------------
# The pod's settings

@pytest.mark.parametrize("name", VALUE_SETS)
def test_the_pod_runs_unprivileged_on_a_read_only_root(rendered, name):
    pod = workload(rendered[name])["spec"]["template"]["spec"]
    c = container(rendered[name])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"]
    assert all(p["containerPort"] >= 1024 for p in c["ports"]), "no capability to bind below 1024"
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][kind]), kind
    # What the configuration writes to must be a volume: the cache of the etcd mode.
    cfg = mounted_config(rendered[name])
    cache = cfg.get("inventory", {}).get("etcd", {}).get("cache_file")
    if cache:
        mounts = [m["mountPath"] for m in c["volumeMounts"] if not m.get("readOnly")]
        assert any(cache.startswith(m + "/") for m in mounts), (cache, mounts)


@pytest.mark.parametrize("name", VALUE_SETS)
def test_the_probes_are_the_ones_asked_for(rendered, name):
    c = container(rendered[name])
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["admin"] == int(mounted_config(rendered[name])["listen"]["admin"].rsplit(":", 1)[1])
    live, ready, start = c["livenessProbe"], c["readinessProbe"], c["startupProbe"]
    assert live["httpGet"] == {"path": "/livez", "port": "admin"}
    assert (live["initialDelaySeconds"], live["failureThreshold"]) == (15, 3)
    assert ready["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert (ready["initialDelaySeconds"], ready["periodSeconds"], ready["failureThreshold"]) == (5, 5, 6)
    assert start["httpGet"] == {"path": "/livez", "port": "admin"}
    # Each probe's timeout is above the server's own health check time limit.
    limit_s = mounted_config(rendered[name]).get("health", {}).get("check_timeout_ms", 2000) / 1000
    for p in (live, ready, start):
        assert p["timeoutSeconds"] >= limit_s


# The time from exec to a /livez answer that the startup probe must allow: the listeners bind
# before the inventory is read (a 10k-node fleet, an unreachable etcd), so the worst start is
# the process's own start on a loaded node. Measured by test_the_rendered_configuration_*.
STARTUP_BUDGET_S = 60


@pytest.mark.parametrize("name", VALUE_SETS)
def test_the_startup_probe_covers_the_worst_start(rendered, name):
    start = container(rendered[name])["startupProbe"]
    assert start["failureThreshold"] * start["periodSeconds"] >= STARTUP_BUDGET_S


@pytest.mark.parametrize("name", VALUE_SETS)
def test_termination_grace_covers_pre_stop_shutdown_delay_and_drain(rendered, name):
    pod = workload(rendered[name])["spec"]["template"]["spec"]
    c = container(rendered[name])
    lifecycle = mounted_config(rendered[name])["lifecycle"]
    pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    need = pre_stop + lifecycle["shutdown_delay_seconds"] + lifecycle["drain_timeout_seconds"]
    assert pod["terminationGracePeriodSeconds"] >= need + 1, (pod["terminationGracePeriodSeconds"], need)
    values = render.merge(render.load_values([os.path.join(CHART, "values.yaml")]),
                          render.load_values(VALUE_SETS[name]))
    assert lifecycle["shutdown_delay_seconds"] == values["config"]["shutdownDelaySeconds"]
    # Changing the timing in values moves the grace period with it.
    longer = render.render(render.merge(render.load_values(VALUE_SETS[name]),
                                        {"config": {"drainTimeoutSeconds": 120}}))
    assert workload(longer)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= pre_stop + 120


@pytest.mark.parametrize("name", VALUE_SETS)
def test_services_pdb_and_monitor_select_the_pods_and_their_ports(rendered, name):
    docs = rendered[name]
    pod_labels = workload(docs)["spec"]["template"]["metadata"]["labels"]
    ports = {p["name"]: p for p in container(docs)["ports"]}
    services = [d for d in docs if d["kind"] == "Service"]
    for svc in services:
        assert svc["spec"]["selector"].items() <= pod_labels.items(), svc["metadata"]["name"]
        for p in svc["spec"]["ports"]:
            assert p["protocol"] == ports[p["targetPort"]]["protocol"], (svc["metadata"]["name"], p)
        if svc["spec"]["type"] != "ClusterIP":
            assert svc["spec"]["externalTrafficPolicy"] == "Local", "client addresses must survive"
    dns = next(s for s in services if s["metadata"]["name"].endswith("-dns"))
    assert {(p["port"], p["protocol"]) for p in dns["spec"]["ports"]} == {(53, "UDP"), (53, "TCP")}
    http = next(s for s in services if s["metadata"]["name"].endswith("-http"))
    assert [p["port"] for p in http["spec"]["ports"]] == [80]
    pdb = next(d for d in docs if d["kind"] == "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    for sm in (d for d in docs if d["kind"] == "ServiceMonitor"):
        chosen = [s for s in services if sm["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()]
        named = [p for s in chosen for p in s["spec"]["ports"] if p["name"] == sm["spec"]["endpoints"][0]["port"]]
        assert len(named) == 1 and named[0]["targetPort"] == "admin"
        assert sm["spec"]["endpoints"][0]["path"] == "/metrics"


def test_etcd_mode_gets_its_credentials_files_and_instance_id(rendered):
    docs = rendered["etcd"]
    etcd = mounted_config(docs)["inventory"]["etcd"]
    files = render.pod_files(docs)
    assert "fleet_file" not in mounted_config(docs)["inventory"]
    assert files[etcd["password_file"]] == "replace-with-the-etcd-password"
    sources = workload(docs)["spec"]["template"]["spec"]["volumes"][0]["projected"]["sources"]
    tls = [s["secret"] for s in sources if s.get("secret", {}).get("name") == "switchyard-etcd-client-tls"]
    assert {i["path"] for i in tls[0]["items"]} == {etcd["ca_file"], etcd["cert_file"], etcd["key_file"]}
    c = container(docs)
    assert "--instance-id=$(POD_NAME)" in c["args"]
    assert c["env"] == [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]


def test_the_configuration_holding_snmp_credentials_is_in_the_secret(rendered):
    with_snmp = {d["kind"]: d for d in rendered["default"] if d["kind"] in ("Secret", "ConfigMap")}
    assert "auth_password" in with_snmp["Secret"]["stringData"]["switchyard.toml"]
    assert "switchyard.toml" not in with_snmp["ConfigMap"]["data"]
    without = {d["kind"]: d for d in rendered["servicemonitor"] if d["kind"] in ("Secret", "ConfigMap")}
    assert "switchyard.toml" in without["ConfigMap"]["data"]
    assert "switchyard.toml" not in without["Secret"]["stringData"]
    for name in VALUE_SETS:
        for d in rendered[name]:
            if d["kind"] == "ConfigMap":
                assert not re.search(r"(password|community|token)\s*=", json.dumps(d["data"])), name


# ---------------------------------------------------------------------------------------------
# The rendered configuration and arguments against the binary

def write_pod_files(docs, folder):
    """The pod's /etc/switchyard in `folder`, with stand-ins for Secrets made outside the
    chart (the etcd client certificate)."""
    for path, text in render.pod_files(docs).items():
        full = os.path.join(folder, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as fh:
            fh.write(text)
    etcd = tomllib.loads(render.pod_files(docs)["switchyard.toml"]).get("inventory", {}).get("etcd", {})
    for key in ("ca_file", "cert_file", "key_file"):
        if key in etcd and not os.path.exists(os.path.join(folder, etcd[key])):
            os.makedirs(os.path.dirname(os.path.join(folder, etcd[key])), exist_ok=True)
            shutil.copy(os.path.join(ROOT, "deploy", "tests", "stand-in.pem"), os.path.join(folder, etcd[key]))
    return os.path.join(folder, "switchyard.toml")


@pytest.mark.parametrize("name", VALUE_SETS)
def test_the_rendered_configuration_passes_check_config(rendered, name, tmp_path):
    path = write_pod_files(rendered[name], tmp_path)
    out = run([BIN, "check-config", path], env={k: v for k, v in os.environ.items() if not k.startswith("SWITCHYARD_")})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{path}: ok"


def help_flags(args):
    text = run([BIN, *args, "--help"]).stdout
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text))


@pytest.mark.parametrize("name", VALUE_SETS)
def test_the_container_arguments_are_the_binary_s(rendered, name):
    args = container(rendered[name])["args"]
    i = args.index("serve")
    global_flags, serve_flags = help_flags([]), help_flags(["serve"])
    for arg in args[:i]:
        assert arg.split("=")[0] in global_flags, arg
    for arg in args[i + 1:]:
        assert arg.split("=")[0] in serve_flags, arg


# ---------------------------------------------------------------------------------------------
# The rendered configuration running, probed as kubelet and the image probe it

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthcheck(*args):
    return run([BIN, "healthcheck", "--timeout-ms", "1000", *args], timeout=10)


def dockerfile_healthcheck():
    """The HEALTHCHECK command of the Dockerfile's final stage, exec form."""
    with open(os.path.join(ROOT, "Dockerfile")) as fh:
        text = fh.read().replace("\\\n", " ")
    line = next(l for l in text.splitlines() if l.startswith("HEALTHCHECK"))
    return json.loads(line.split("CMD", 1)[1].strip())


def test_the_rendered_configuration_runs_with_the_probes_semantics(rendered, tmp_path):
    """The plain manifests' pod, as a process: its mounted configuration (listeners moved to
    loopback ports, the sample fleet replaced by a loopback node), probed with the
    healthcheck subcommand the image uses and at the paths kubelet uses; then SIGTERM, timed
    against the manifest's grace period."""
    docs = rendered["plain"]
    path = write_pod_files(docs, tmp_path)
    admin, http, dns = free_port(), free_port(), free_port()
    edge = free_port()
    text = open(path).read()
    text = text.replace('"0.0.0.0:9090"', f'"127.0.0.1:{admin}"')
    text = text.replace('"0.0.0.0:8080"', f'"127.0.0.1:{http}"').replace('"0.0.0.0:5353"', f'"127.0.0.1:{dns}"')
    assert f"127.0.0.1:{admin}" in text
    open(path, "w").write(text)
    with open(tmp_path / "fleet.toml", "w") as fh:
        fh.write(f'[[zones]]\nname = "ams"\nlatitude = 52.37\nlongitude = 4.9\n\n'
                 f'[[nodes]]\nid = "ams-1"\nzone = "ams"\nipv4 = "127.0.0.1"\nport = {edge}\n\n'
                 f'[[services]]\nname = "video"\nhostnames = ["video.cdn.example"]\n')
    livez = f"http://127.0.0.1:{admin}/livez"
    readyz = f"http://127.0.0.1:{admin}/readyz"
    image_probe = [BIN if a == "/switchyard" else str(path) if a == "/etc/switchyard/switchyard.toml" else a
                   for a in dockerfile_healthcheck()]

    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHYARD_")}
    started = time.monotonic()
    proc = subprocess.Popen([BIN, "--log-format=json", "serve", "--config", str(path)],
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "log", "w"), env=env)
    try:
        while healthcheck("--url", livez).returncode != 0:
            assert proc.poll() is None, open(tmp_path / "log").read()
            assert time.monotonic() - started < STARTUP_BUDGET_S
            time.sleep(0.02)
        to_live = time.monotonic() - started
        print(f"exec to /livez 200: {to_live * 1000:.0f} ms")
        assert to_live < STARTUP_BUDGET_S / 10, "a tenth of the startup budget"
        deadline = time.monotonic() + 30
        while healthcheck("--url", readyz).returncode != 0:
            assert time.monotonic() < deadline, open(tmp_path / "log").read()
            time.sleep(0.1)
        ok = run(image_probe)
        assert ok.returncode == 0, ok.stderr
        assert healthcheck("--config", str(path)).returncode == 0
        assert healthcheck("--url", f"http://127.0.0.1:{admin}/livez/no-such-check").returncode == 1

        lifecycle = tomllib.loads(text)["lifecycle"]
        pod = workload(docs)["spec"]["template"]["spec"]
        pre_stop = container(docs)["lifecycle"]["preStop"]["sleep"]["seconds"]
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        while healthcheck("--url", readyz).returncode == 0:
            assert time.monotonic() - signalled < 2, "/readyz must fail at once on SIGTERM"
            time.sleep(0.02)
        # Liveness holds while traffic is still served: kubelet must not restart a draining pod.
        assert healthcheck("--url", livez).returncode == 0
        code = proc.wait(timeout=pod["terminationGracePeriodSeconds"] - pre_stop)
        took = time.monotonic() - signalled
        print(f"SIGTERM to exit: {took:.1f} s (grace {pod['terminationGracePeriodSeconds']} s)")
        assert code == 0, open(tmp_path / "log").read()
        assert took >= lifecycle["shutdown_delay_seconds"] - 0.5, "served through the shutdown delay"
        assert run(image_probe).returncode == 1, "the image probe fails once the process is gone"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------------------------
# Dockerfile

def test_the_dockerfile_lints_clean():
    hadolint = shutil.which("hadolint", path=os.path.dirname(sys.executable)) or shutil.which("hadolint")
    out = run([hadolint, "--failure-threshold", "info", os.path.join(ROOT, "Dockerfile")])
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_image_is_static_on_distroless_non_root_with_the_healthcheck():
    with open(os.path.join(ROOT, "Dockerfile")) as fh:
        lines = [l.strip() for l in fh.read().replace("\\\n", " ").splitlines()]
    stages = [l for l in lines if l.startswith("FROM ")]
    assert len(stages) >= 2, "multi-stage"
    final = stages[-1].split()[1]
    assert final.startswith("gcr.io/distroless/static") or final == "scratch", final
    after = lines[lines.index(stages[-1]):]
    user = next(l for l in after if l.startswith("USER ")).split()[1]
    assert user.split(":")[0] not in ("0", "root")
    assert dockerfile_healthcheck()[:2] == ["/switchyard", "healthcheck"]
    assert any("scripts/build-static.sh" in l for l in lines)


# ---------------------------------------------------------------------------------------------
# systemd

UNIT = os.path.join(ROOT, "deploy", "systemd", "switchyard.service")


def unit_settings():
    settings = {}
    for line in open(UNIT):
        line = line.strip()
        if line and not line.startswith(("#", "[")):
            k, v = line.split("=", 1)
            settings.setdefault(k, []).append(v)
    return settings


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_the_systemd_unit_verifies_and_scores_well(tmp_path):
    unit = tmp_path / "switchyard.service"
    unit.write_text(open(UNIT).read().replace("/usr/local/bin/switchyard", BIN))
    out = run(["systemd-analyze", "verify", str(unit)])
    assert out.returncode == 0 and not (out.stdout + out.stderr).strip(), out.stdout + out.stderr
    sec = run(["systemd-analyze", "security", "--offline=true", str(unit)])
    score = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", sec.stdout).group(1))
    print(f"systemd-analyze security exposure: {score}")
    assert score <= 2.0, sec.stdout


def test_the_systemd_unit_reloads_with_sighup_drains_in_time_and_binds_53_only():
    s = unit_settings()
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["DynamicUser"] == ["yes"] and s["ProtectSystem"] == ["strict"]
    assert s["NoNewPrivileges"] == ["yes"]
    assert s["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"] == s["AmbientCapabilities"]
    assert s["SocketBindDeny"] == ["any"]
    privileged = [a for a in s["SocketBindAllow"] if int(re.split(r"[:-]", a.split(":")[-1])[0]) < 1024]
    assert sorted(privileged) == ["tcp:53", "udp:53"]
    example = tomllib.load(open(os.path.join(ROOT, "examples", "switchyard.toml"), "rb"))["lifecycle"]
    assert int(s["TimeoutStopSec"][0]) > example["shutdown_delay_seconds"] + example["drain_timeout_seconds"]


# ---------------------------------------------------------------------------------------------
# Grafana

DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "switchyard.json")


def dashboard_exprs():
    with open(DASHBOARD) as fh:
        d = json.load(fh)
    exprs = []
    for panel in d["panels"]:
        for t in panel.get("targets", []):
            exprs.append((panel["title"], t["expr"]))
    for var in d["templating"]["list"]:
        if var["type"] == "query":
            q = var["query"]["query"]
            m = re.fullmatch(r"label_values\((\w+), (\w+)\)", q)
            assert m, q
            exprs.append((f"variable {var['name']}", m.group(1)))
    return exprs


def concrete(expr):
    return expr.replace("$__rate_interval", "5m").replace("$instance", ".*")


def test_the_dashboard_is_current_and_well_formed():
    with open(DASHBOARD) as fh:
        d = json.load(fh)
    assert d == json.loads(json.dumps(dashboard.build())), "run deploy/tools/dashboard.py"
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    for p in d["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24
        for t in p.get("targets", []):
            assert t["datasource"]["uid"] == "${datasource}"


def test_every_dashboard_expression_parses():
    import promql_parser
    for title, expr in dashboard_exprs():
        try:
            promql_parser.parse(concrete(expr))
        except Exception as e:  # the parser raises its own ValueError subclasses
            pytest.fail(f"{title}: {expr}: {e}")
    promtool = shutil.which("promtool")
    if promtool:
        rules = {"groups": [{"name": "dashboard", "rules": [
            {"record": f"dashboard:expr{i}", "expr": concrete(e)} for i, (_, e) in enumerate(dashboard_exprs())]}]}
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"switchyard-dashboard-rules-{os.getpid()}.yml")
        with open(path, "w") as fh:
            yaml.safe_dump(rules, fh)
        out = run([promtool, "check", "rules", path])
        os.unlink(path)
        assert out.returncode == 0, out.stdout + out.stderr


def selectors(node, out, by_labels):
    """Metric names with their matcher labels, and the labels every `by (...)` groups on with
    the metric names below it."""
    import promql_parser as p
    if isinstance(node, p.VectorSelector):
        out.append((node.name, [m.name for m in node.matchers.matchers]))
        return [node.name]
    if isinstance(node, p.MatrixSelector):
        return selectors(node.vector_selector, out, by_labels)
    if isinstance(node, p.AggregateExpr):
        names = selectors(node.expr, out, by_labels)
        if node.modifier is not None:
            by_labels.append((list(node.modifier.labels), names))
        return names
    if isinstance(node, p.BinaryExpr):
        return selectors(node.lhs, out, by_labels) + selectors(node.rhs, out, by_labels)
    if isinstance(node, p.Call):
        return [n for a in node.args for n in selectors(a, out, by_labels)]
    if isinstance(node, (p.ParenExpr, p.UnaryExpr, p.SubqueryExpr)):
        return selectors(node.expr, out, by_labels)
    return []


def dns_query(name, qtype=1):
    header = struct.pack(">HHHHHH", 0x5359, 0x0100, 1, 0, 0, 0)
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return header + qname + struct.pack(">HH", qtype, 1)


def scrape(admin):
    with urllib.request.urlopen(f"http://{admin}/metrics", timeout=5) as r:
        text = r.read().decode()
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][\w:]*)(\{(.*)\})? ", line)
        labels = set(re.findall(r'(\w+)="(?:[^"\\]|\\.)*"', m.group(3) or ""))
        samples.setdefault(m.group(1), set()).update(labels)
    return samples, text


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`switchyard demo` on loopback ports, with HTTP and DNS traffic sent to it and one SIGHUP
    reload, so the counters the dashboard reads have series."""
    log = tmp_path_factory.mktemp("demo") / "log"
    proc = subprocess.Popen([BIN, "--log-format=json", "demo", "--admin-listen", "127.0.0.1:0",
                             "--http-listen", "127.0.0.1:0", "--dns-listen", "127.0.0.1:0",
                             "--chaos-period-seconds", "2"],
                            stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    try:
        addrs, deadline = {}, time.monotonic() + 60
        while len(addrs) < 3:
            assert proc.poll() is None and time.monotonic() < deadline, open(log).read()
            for line in open(log):
                m = re.search(r'"message":"(admin|http|dns) listener ready","addr":"([^"]+)"', line)
                if m:
                    addrs[m.group(1)] = m.group(2)
            time.sleep(0.05)
        while healthcheck("--url", f"http://{addrs['admin']}/readyz").returncode != 0:
            assert time.monotonic() < deadline, open(log).read()
            time.sleep(0.1)
        for path in ["/v1/route?host=video.demo.example&ip=10.2.0.1&path=/movies/a/seg1.ts",
                     "/d?host=video.demo.example&ip=10.3.0.1", "/v1/route?host=unknown.example"]:
            try:
                urllib.request.urlopen(f"http://{addrs['http']}{path}", timeout=5).read()
            except urllib.error.HTTPError:
                pass
        host, port = addrs["dns"].rsplit(":", 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            for q in ("video.demo.example", "nope.demo.example"):
                s.sendto(dns_query(q), (host, int(port)))
                s.recvfrom(4096)
        proc.send_signal(signal.SIGHUP)
        want = {"switchyard_config_reloads_total", "switchyard_zone_utilization_ratio"}
        while not want <= set(scrape(addrs["admin"])[0]):
            assert time.monotonic() < deadline + 60, f"never exported: {want - set(scrape(addrs['admin'])[0])}"
            time.sleep(0.2)
        yield addrs
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_every_dashboard_expression_names_exported_metrics_and_labels(demo):
    import promql_parser
    samples, text = scrape(demo["admin"])
    missing = []
    for title, expr in dashboard_exprs():
        found, by = [], []
        selectors(promql_parser.parse(concrete(expr)), found, by)
        assert found, f"{title}: no metric in {expr}"
        for name, matchers in found:
            if name not in samples:
                missing.append(f"{title}: {name}")
                continue
            for label in set(matchers) - TARGET_LABELS:
                if label not in samples[name]:
                    missing.append(f"{title}: {name} has no label {label}")
        for labels, names in by:
            have = set().union(*(samples.get(n, set()) for n in names)) | TARGET_LABELS
            for label in labels:
                if label not in have:
                    missing.append(f"{title}: no label {label} on {names}")
    assert not missing, "\n".join(missing)
    promtool = shutil.which("promtool")
    if promtool:
        out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr


def test_the_dashboard_covers_what_operators_asked_for():
    used = " ".join(e for _, e in dashboard_exprs())
    for what, needle in {
        "decisions/s by service and method": "by (service, method) (rate(switchyard_http_decisions_total",
        "DNS qps": "rate(switchyard_dns_queries_total",
        "DNS rcodes": "by (rcode) (rate(switchyard_dns_queries_total",
        "admission rejections": "switchyard_http_admission_rejections_total",
        "nodes by state per zone": "by (zone, state) (switchyard_zone_nodes",
        "probe latency": "switchyard_probe_duration_seconds_bucket",
        "probe failures": 'switchyard_probes_total{result!="pass"',
        "utilization": "switchyard_zone_utilization_ratio",
        "readiness": 'switchyard_health_check_status{endpoint="readyz"',
        "reloads": "switchyard_config_reloads_total",
    }.items():
        assert needle in used, what
