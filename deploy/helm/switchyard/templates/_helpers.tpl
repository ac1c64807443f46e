{{/* Names, labels and the rendered switchyard.toml. */}}

{{- define "switchyard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "switchyard.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "switchyard.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "switchyard.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "switchyard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchyard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "switchyard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "switchyard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: scheduler
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "switchyard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "switchyard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Whether switchyard.toml holds credentials (SNMP), and so lives in the Secret. */}}
{{- define "switchyard.configInSecret" -}}
{{- if .Values.snmp.enabled }}true{{ end }}
{{- end }}

{{/* terminationGracePeriodSeconds: preStop sleep + shutdown delay + drain + slack. */}}
{{- define "switchyard.terminationGracePeriod" -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- $sum := addf .Values.preStopSleepSeconds .Values.config.shutdownDelaySeconds .Values.config.drainTimeoutSeconds .Values.terminationSlackSeconds }}
{{- ceil $sum | int }}
{{- else }}
{{- .Values.terminationGracePeriodSeconds | int }}
{{- end }}
{{- end }}

{{/* The admin token: as given, else kept from the Secret already in the cluster, else new. */}}
{{- define "switchyard.adminToken" -}}
{{- if .Values.secrets.adminToken }}
{{- .Values.secrets.adminToken }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "switchyard.fullname" .) }}
{{- if and $existing (index $existing.data "admin-token") }}
{{- index $existing.data "admin-token" | b64dec }}
{{- else }}
{{- randAlphaNum 40 }}
{{- end }}
{{- end }}
{{- end }}

{{/* switchyard.toml. Paths are relative to its folder, /etc/switchyard, where the projected
volume puts the ConfigMap's and the Secret's files. */}}
{{- define "switchyard.config" -}}
{{- $inv := .Values.inventory -}}
# switchyard.toml rendered by the Helm chart {{ .Chart.Name }}-{{ .Chart.Version }}.
# `switchyard check-config` validates it.

[listen]
admin = "0.0.0.0:{{ .Values.ports.admin }}"
{{- if .Values.service.http.enabled }}
http = "0.0.0.0:{{ .Values.ports.http }}"
{{- end }}
{{- if .Values.service.dns.enabled }}
dns = "0.0.0.0:{{ .Values.ports.dns }}"
{{- end }}

[admin]
token_file = "secrets/admin-token"
mutations_enabled = {{ .Values.config.adminMutationsEnabled }}

[lifecycle]
shutdown_delay_seconds = {{ .Values.config.shutdownDelaySeconds }}
drain_timeout_seconds = {{ .Values.config.drainTimeoutSeconds }}

[inventory]
{{- if $inv.coverageZonesJson }}
coverage_zones_file = "coverage-zones.json"
{{- end }}
{{- if eq $inv.mode "file" }}
fleet_file = "fleet.toml"
{{- else if eq $inv.mode "etcd" }}

[inventory.etcd]
endpoints = {{ required "inventory.etcd.endpoints is required in etcd mode" $inv.etcd.endpoints | toJson }}
prefix = {{ $inv.etcd.prefix | toJson }}
{{- if $inv.etcd.username }}
username = {{ $inv.etcd.username | toJson }}
{{- end }}
{{- if $inv.etcd.password }}
password_file = "secrets/etcd-password"
{{- end }}
{{- if $inv.etcd.tls.secretName }}
ca_file = "etcd-tls/ca.crt"
{{- if $inv.etcd.tls.clientCertificate }}
cert_file = "etcd-tls/tls.crt"
key_file = "etcd-tls/tls.key"
{{- end }}
{{- end }}
{{- if $inv.etcd.cache }}
cache_file = "/var/lib/switchyard/inventory-cache.json"
{{- end }}
stale_after_seconds = {{ $inv.etcd.staleAfterSeconds }}
{{- with $inv.etcd.extraToml }}
{{ . }}
{{- end }}
{{- else }}
{{- fail "inventory.mode must be file or etcd" }}
{{- end }}
{{- with .Values.snmp }}
{{- if .enabled }}

[probe.by_tag.{{ .tag }}]
check = {{ .check }}
{{- if eq (toString .version) "3" }}
snmp = { version = "3", user = {{ .user | toJson }}, auth_protocol = {{ .authProtocol | toJson }}, auth_password = {{ .authPassword | toJson }}, priv_protocol = {{ .privProtocol | toJson }}, priv_password = {{ .privPassword | toJson }}, interface = {{ .interface | toJson }}, utilization_degraded = {{ .utilizationDegraded }}, utilization_down = {{ .utilizationDown }}, load_degraded = {{ .loadDegraded }}, load_down = {{ .loadDown }} }
{{- else }}
snmp = { version = {{ toString .version | toJson }}, community = {{ .community | toJson }}, interface = {{ .interface | toJson }}, utilization_degraded = {{ .utilizationDegraded }}, utilization_down = {{ .utilizationDown }}, load_degraded = {{ .loadDegraded }}, load_down = {{ .loadDown }} }
{{- end }}
interval_ms = {{ .intervalMs }}
timeout_ms = {{ .timeoutMs }}
{{- end }}
{{- end }}

{{ .Values.config.extraToml }}
{{- end }}
