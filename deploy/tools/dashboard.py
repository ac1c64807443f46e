#!/usr/bin/env python3
"""Writes deploy/grafana/switchyard.json, the Grafana dashboard of Switchyard's metrics.

  dashboard.py [OUT]    (default: deploy/grafana/switchyard.json)

Edit the panels here and regenerate; scripts/test-deploy.sh checks that the JSON is current
and that every expression names metrics and labels a running `switchyard demo` exports.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "grafana", "switchyard.json"))

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'instance=~"$instance"'
RATE = "$__rate_interval"


def target(expr, legend, ref):
    return {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref, "range": True}


class Layout:
    """Places panels on Grafana's 24-column grid, row by row."""

    def __init__(self):
        self.panels, self.y, self.x, self.row_h, self.next_id = [], 0, 0, 0, 1

    def row(self, title):
        self.newline()
        self.panels.append({"type": "row", "title": title, "id": self._id(), "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.y += 1

    def newline(self):
        self.y += self.row_h
        self.x, self.row_h = 0, 0

    def _id(self):
        self.next_id += 1
        return self.next_id - 1

    def panel(self, kind, title, description, targets, w=12, h=8, unit="short", stack=False,
              min0=True, extra=None):
        if self.x + w > 24:
            self.newline()
        p = {
            "type": kind,
            "title": title,
            "description": description,
            "id": self._id(),
            "datasource": DS,
            "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y},
            "targets": [target(e, l, chr(ord("A") + i)) for i, (e, l) in enumerate(targets)],
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {},
        }
        if kind == "timeseries":
            custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never"}
            if stack:
                custom["stacking"] = {"mode": "normal", "group": "A"}
                custom["fillOpacity"] = 40
            p["fieldConfig"]["defaults"]["custom"] = custom
            if min0:
                p["fieldConfig"]["defaults"]["min"] = 0
            p["options"] = {"legend": {"displayMode": "table", "placement": "right",
                                       "calcs": ["lastNotNull", "max"]},
                            "tooltip": {"mode": "multi", "sort": "desc"}}
        if extra:
            for k, v in extra.items():
                p[k] = v
        self.panels.append(p)
        self.x += w
        self.row_h = max(self.row_h, h)


def build():
    L = Layout()

    L.row("Overview")
    L.panel("stat", "Ready instances",
            "Instances whose last /readyz evaluation passed every check "
            "(switchyard_health_check_status is 1 for a passing check).",
            [(f'count(min by (instance) (switchyard_health_check_status{{endpoint="readyz",{SEL}}}) == 1)', "ready")],
            w=4, h=4)
    L.panel("stat", "HTTP decisions/s", "Routing decisions answered over HTTP, all instances.",
            [(f"sum(rate(switchyard_http_decisions_total{{{SEL}}}[{RATE}]))", "decisions/s")],
            w=4, h=4, unit="reqps")
    L.panel("stat", "DNS queries/s", "DNS queries answered, all instances.",
            [(f"sum(rate(switchyard_dns_queries_total{{{SEL}}}[{RATE}]))", "qps")],
            w=4, h=4, unit="reqps")
    L.panel("stat", "Nodes up", "Fleet nodes up, as the first instance sees them.",
            [(f'max(switchyard_nodes{{state="up",{SEL}}})', "up")], w=4, h=4)
    L.panel("stat", "Nodes down", "Fleet nodes down.",
            [(f'max(switchyard_nodes{{state="down",{SEL}}})', "down")], w=4, h=4,
            extra={"fieldConfig": {"defaults": {"unit": "short", "thresholds": {
                "mode": "absolute", "steps": [{"color": "green", "value": None},
                                              {"color": "red", "value": 1}]}}, "overrides": []}})
    L.panel("stat", "Last reload", "1 when the last configuration reload succeeded (or none was "
            "tried), per instance; 0 means the running configuration is older than the file.",
            [(f"min(switchyard_config_last_reload_successful{{{SEL}}})", "ok")], w=4, h=4)

    L.row("Decisions")
    L.panel("timeseries", "HTTP decisions/s by service and method",
            "switchyard_http_decisions_total: method is how the client was localized "
            "(coverage_zone, geo, default, none).",
            [(f"sum by (service, method) (rate(switchyard_http_decisions_total{{{SEL}}}[{RATE}]))",
              "{{service}} {{method}}")], unit="reqps", stack=True)
    L.panel("timeseries", "HTTP decisions/s by result",
            "ok, or why no node was given (unknown_host, no_node, ...).",
            [(f"sum by (result) (rate(switchyard_http_decisions_total{{{SEL}}}[{RATE}]))",
              "{{result}}")], unit="reqps", stack=True)
    L.panel("timeseries", "HTTP latency by endpoint",
            "p50 and p99 of switchyard_http_request_duration_seconds.",
            [(f"histogram_quantile(0.99, sum by (le, endpoint) (rate(switchyard_http_request_duration_seconds_bucket{{{SEL}}}[{RATE}])))",
              "p99 {{endpoint}}"),
             (f"histogram_quantile(0.5, sum by (le, endpoint) (rate(switchyard_http_request_duration_seconds_bucket{{{SEL}}}[{RATE}])))",
              "p50 {{endpoint}}")], unit="s")
    L.panel("timeseries", "HTTP connections",
            "Open traffic connections per instance, and the connections allowed while shedding "
            "on queue delay cuts them below the limit.",
            [(f"sum by (instance) (switchyard_http_open_connections{{{SEL}}})", "open {{instance}}"),
             (f"min by (instance) (switchyard_http_connections_allowed{{{SEL}}}) < on (instance) "
              f"max by (instance) (max_over_time(switchyard_http_connections_allowed{{{SEL}}}[1h]))",
              "allowed {{instance}}")])

    L.row("DNS")
    L.panel("timeseries", "DNS queries/s by transport", "switchyard_dns_queries_total.",
            [(f"sum by (transport) (rate(switchyard_dns_queries_total{{{SEL}}}[{RATE}]))",
              "{{transport}}")], unit="reqps", stack=True)
    L.panel("timeseries", "DNS rcodes", "Answers by response code.",
            [(f"sum by (rcode) (rate(switchyard_dns_queries_total{{{SEL}}}[{RATE}]))", "{{rcode}}")],
            unit="reqps", stack=True)
    L.panel("timeseries", "DNS drops, truncation, rate limiting",
            "Packets dropped unanswered by reason; UDP answers sent truncated; rate-limit slips "
            "(empty TC answers); TCP connections evicted at the limit.",
            [(f"sum by (reason) (rate(switchyard_dns_dropped_total{{{SEL}}}[{RATE}]))", "dropped {{reason}}"),
             (f"sum(rate(switchyard_dns_truncated_total{{{SEL}}}[{RATE}]))", "truncated"),
             (f"sum(rate(switchyard_dns_rate_limit_slipped_total{{{SEL}}}[{RATE}]))", "slipped"),
             (f"sum(rate(switchyard_dns_tcp_evicted_total{{{SEL}}}[{RATE}]))", "tcp evicted")],
            unit="pps")
    L.panel("timeseries", "DNS response time", "p50 and p99 of switchyard_dns_response_duration_seconds.",
            [(f"histogram_quantile(0.99, sum by (le) (rate(switchyard_dns_response_duration_seconds_bucket{{{SEL}}}[{RATE}])))", "p99"),
             (f"histogram_quantile(0.5, sum by (le) (rate(switchyard_dns_response_duration_seconds_bucket{{{SEL}}}[{RATE}])))", "p50")],
            unit="s")

    L.row("Admission control")
    L.panel("timeseries", "HTTP admission rejections/s by reason",
            "Requests shed before routing: overloaded (503), rate_limited (429), invalid_host, "
            "headers_too_large, payload_too_large.",
            [(f"sum by (reason) (rate(switchyard_http_admission_rejections_total{{{SEL}}}[{RATE}]))",
              "{{reason}}")], unit="reqps", stack=True)
    L.panel("timeseries", "Connections refused and slow heads",
            "Connections reset at accept past http.max_connections; request heads that missed "
            "http.request_header_timeout_ms.",
            [(f"sum(rate(switchyard_http_connections_refused_total{{{SEL}}}[{RATE}]))", "refused"),
             (f"sum(rate(switchyard_http_request_header_timeouts_total{{{SEL}}}[{RATE}]))", "header timeouts")],
            unit="cps")

    L.row("Fleet")
    L.panel("timeseries", "Nodes by state per zone",
            "switchyard_zone_nodes, as the first instance sees it (every instance probes the "
            "same fleet).",
            [(f"max by (zone, state) (switchyard_zone_nodes{{{SEL}}})", "{{zone}} {{state}}")],
            stack=True)
    L.panel("timeseries", "Zone utilization",
            "Mean utilization reported by each zone's nodes (SNMP interface load or agent), 0..1.",
            [(f"max by (zone) (switchyard_zone_utilization_ratio{{{SEL}}})", "{{zone}}")],
            unit="percentunit")
    L.panel("timeseries", "Node state changes/s", "switchyard_node_transitions_total.",
            [(f"sum by (from, to) (rate(switchyard_node_transitions_total{{{SEL}}}[{RATE}]))",
              "{{from}} -> {{to}}")], unit="ops")
    L.panel("timeseries", "Routing table rebuilds",
            "Snapshots built per second by kind (full rebuild, health patch) and p99 build time.",
            [(f"sum by (kind) (rate(switchyard_routing_table_build_seconds_count{{{SEL}}}[{RATE}]))", "{{kind}}/s"),
             (f"histogram_quantile(0.99, sum by (le, kind) (rate(switchyard_routing_table_build_seconds_bucket{{{SEL}}}[{RATE}])))", "p99 {{kind}} s")])

    L.row("Probes")
    L.panel("timeseries", "Probe latency",
            "p50 and p99 of the whole probe (phase total) by kind.",
            [(f'histogram_quantile(0.99, sum by (le, kind) (rate(switchyard_probe_duration_seconds_bucket{{phase="total",{SEL}}}[{RATE}])))', "p99 {{kind}}"),
             (f'histogram_quantile(0.5, sum by (le, kind) (rate(switchyard_probe_duration_seconds_bucket{{phase="total",{SEL}}}[{RATE}])))', "p50 {{kind}}")],
            unit="s")
    L.panel("timeseries", "Probe failures/s by kind and result",
            "Probes that did not pass: degraded, or the cause of the failure.",
            [(f'sum by (kind, result) (rate(switchyard_probes_total{{result!="pass",{SEL}}}[{RATE}]))',
              "{{kind}} {{result}}")], unit="ops", stack=True)
    L.panel("timeseries", "Probe scheduling",
            "Probes in flight; rounds skipped (overrun, per-target limit); p99 start lateness.",
            [(f"sum(switchyard_probes_in_flight{{{SEL}}})", "in flight"),
             (f"sum(rate(switchyard_probe_overruns_total{{{SEL}}}[{RATE}]))", "overruns/s"),
             (f"sum(rate(switchyard_probe_target_limited_total{{{SEL}}}[{RATE}]))", "target limited/s"),
             (f"histogram_quantile(0.99, sum by (le) (rate(switchyard_probe_schedule_lateness_seconds_bucket{{{SEL}}}[{RATE}])))", "p99 lateness s")])
    L.panel("timeseries", "Probes/s by kind", "All finished probes.",
            [(f"sum by (kind) (rate(switchyard_probes_total{{{SEL}}}[{RATE}]))", "{{kind}}")],
            unit="ops")

    L.row("Health and lifecycle")
    L.panel("table", "Failing health checks",
            "Checks whose last evaluation failed (0), by endpoint and instance.",
            [(f"switchyard_health_check_status{{{SEL}}} == 0", "")],
            w=12, extra={"targets": [dict(target(f"switchyard_health_check_status{{{SEL}}} == 0", "", "A"),
                                          instant=True, range=False, format="table")]})
    L.panel("timeseries", "Health check failures/s",
            "switchyard_health_check_failures_total by endpoint and check.",
            [(f"sum by (endpoint, check) (rate(switchyard_health_check_failures_total{{{SEL}}}[{RATE}]))",
              "{{endpoint}} {{check}}")], unit="ops")
    L.panel("timeseries", "Configuration reloads",
            "Reloads (SIGHUP or POST /admin/reload) by result over the interval.",
            [(f"sum by (result) (increase(switchyard_config_reloads_total{{{SEL}}}[{RATE}]))", "{{result}}")])
    L.panel("timeseries", "Process CPU and memory",
            "CPU seconds per second and resident memory per instance.",
            [(f"rate(process_cpu_seconds_total{{{SEL}}}[{RATE}])", "cpu {{instance}}"),
             (f"process_resident_memory_bytes{{{SEL}}} / 2^30", "rss GiB {{instance}}")])

    return {
        "title": "Switchyard",
        "uid": "switchyard-overview",
        "description": "Switchyard CDN traffic scheduler: decisions, DNS, admission control, fleet, probes, health.",
        "tags": ["switchyard", "cdn"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "timezone": "",
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard"}]},
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource",
             "query": "prometheus", "current": {}, "hide": 0, "refresh": 1},
            {"name": "instance", "label": "Instance", "type": "query", "datasource": DS,
             "definition": "label_values(switchyard_build_info, instance)",
             "query": {"query": "label_values(switchyard_build_info, instance)", "refId": "instance"},
             "includeAll": True, "multi": True, "allValue": ".*", "current": {},
             "refresh": 2, "sort": 1, "hide": 0},
        ]},
        "panels": L.panels,
    }


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else OUT
    with open(out, "w") as fh:
        json.dump(build(), fh, indent=2)
        fh.write("\n")


if __name__ == "__main__":
    main()
