{{- define "youworker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "youworker.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "youworker.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "youworker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: youworker
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "component" "api") */}}
{{- define "youworker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "youworker.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "youworker.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "youworker.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "youworker.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag | toString }}
{{- if eq $tag "latest" }}
{{- fail "image.tag: \"latest\" is not a pinned version; give a release tag or image.digest" }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* The Secret holding JWT_SECRET and FERNET_KEYS. */}}
{{- define "youworker.secretName" -}}
{{- default (include "youworker.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* The Secret and key holding DATABASE_URL. */}}
{{- define "youworker.dbSecretName" -}}
{{- default (include "youworker.fullname" .) .Values.database.existingSecret }}
{{- end }}
{{- define "youworker.dbSecretKey" -}}
{{- if .Values.database.existingSecret }}{{ .Values.database.existingSecretKey }}{{ else }}DATABASE_URL{{ end }}
{{- end }}

{{/* Whether the chart creates its own Secret. */}}
{{- define "youworker.ownSecret" -}}
{{- if or (not .Values.secrets.existingSecret) (not .Values.database.existingSecret) }}true{{ end }}
{{- end }}

{{/* DATABASE_URL built from database.*, the password URL-escaped. */}}
{{- define "youworker.databaseURL" -}}
{{- $db := .Values.database }}
{{- $pw := required "database.password (or database.existingSecret) is required" $db.password }}
{{- printf "postgres://%s:%s@%s:%v/%s?sslmode=%s" ($db.user | urlquery | replace "+" "%20") ($pw | urlquery | replace "+" "%20") $db.host $db.port $db.name $db.sslmode }}
{{- end }}

{{/* Variables that are secret and so never go into the ConfigMap. */}}
{{- define "youworker.secretVariables" -}}
{{- list "JWT_SECRET" "JWT_SECRET_PREVIOUS" "FERNET_KEYS" "DATABASE_URL" "MCP_IDENTITY_SECRET" "MCP_IDENTITY_SECRET_PREVIOUS" "QDRANT_API_KEY" "OIDC_CLIENT_SECRET" "WHISPER_API_KEY" | toJson }}
{{- end }}

{{/* MCP_SERVERS: the enabled built-in servers at their Services. */}}
{{- define "youworker.mcpServers" -}}
{{- $out := list }}
{{- range $name, $s := .Values.mcp.servers }}
{{- if $s.enabled }}
{{- $out = append $out (printf "%s=http://%s-mcp-%s:%v/mcp" $name (include "youworker.fullname" $) $name $.Values.mcp.port) }}
{{- end }}
{{- end }}
{{- join "," $out }}
{{- end }}

{{/* The ConfigMap's data: what the chart sets, then .Values.config (which may not override it). */}}
{{- define "youworker.configData" -}}
{{- $c := dict
  "LOG_FORMAT" "json"
  "DATA_DIR" .Values.dataDir.path
  "API_ADDR" (printf ":%v" .Values.api.port)
  "METRICS_ADDR" (printf ":%v" .Values.metricsPort)
  "WORKER_METRICS_ADDR" (printf ":%v" .Values.metricsPort)
  "HTTP_SHUTDOWN_TIMEOUT" (printf "%vs" .Values.api.shutdownTimeoutSeconds)
  "WORKER_STOP_TIMEOUT" (printf "%vs" .Values.worker.stopTimeoutSeconds)
  "TEMPORAL_ADDRESS" .Values.temporal.address
  "TEMPORAL_NAMESPACE" .Values.temporal.namespace
  "TEMPORAL_TASK_QUEUE" .Values.temporal.taskQueue
  "OLLAMA_HOST" .Values.ollama.host
  "MCP_SERVERS" (include "youworker.mcpServers" .)
}}
{{- if .Values.qdrant.url }}
{{- $_ := set $c "QDRANT_URL" .Values.qdrant.url }}
{{- end }}
{{- with .Values.tracing }}
{{- if .otlpEndpoint }}
{{- $_ := set $c "OTEL_EXPORTER_OTLP_ENDPOINT" .otlpEndpoint }}
{{- $_ := set $c "OTEL_EXPORTER_OTLP_PROTOCOL" .protocol }}
{{- $_ := set $c "OTEL_TRACES_SAMPLER" .sampler }}
{{- if .samplerArg }}
{{- $_ := set $c "OTEL_TRACES_SAMPLER_ARG" (toString .samplerArg) }}
{{- end }}
{{- if .propagators }}
{{- $_ := set $c "OTEL_PROPAGATORS" .propagators }}
{{- end }}
{{- end }}
{{- end }}
{{- if hasKey .Values.config "OTEL_SERVICE_NAME" }}
{{- fail "config.OTEL_SERVICE_NAME: every pod would report one service; each process names itself (youworker-api, youworker-worker, youworker-mcp-NAME)" }}
{{- end }}
{{- $secret := include "youworker.secretVariables" . | fromJsonArray }}
{{- range $k, $v := .Values.config }}
{{- if has $k $secret }}
{{- fail (printf "config.%s: a secret; give it in secrets.extra or an existing Secret, never in the ConfigMap" $k) }}
{{- end }}
{{- if hasKey $c $k }}
{{- fail (printf "config.%s: set by the chart from other values (see values.yaml)" $k) }}
{{- end }}
{{- $_ := set $c $k (toString $v) }}
{{- end }}
{{- toYaml $c }}
{{- end }}

{{/* Secret env of a youworker container. */}}
{{- define "youworker.secretEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "youworker.dbSecretName" . }}
      key: {{ include "youworker.dbSecretKey" . }}
- name: JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "youworker.secretName" . }}
      key: JWT_SECRET
- name: FERNET_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ include "youworker.secretName" . }}
      key: FERNET_KEYS
{{- range .Values.secrets.optionalKeys }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ include "youworker.secretName" $ }}
      key: {{ . }}
      optional: true
{{- end }}
{{- end }}

{{/* Pod annotations that roll the pods when the configuration or the chart's Secret changes. */}}
{{- define "youworker.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}

{{/* Pod-level settings every youworker pod shares. */}}
{{- define "youworker.podSpecCommon" -}}
serviceAccountName: {{ include "youworker.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}

{{- define "youworker.volumes" -}}
- name: data
  {{- if .Values.dataDir.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ .Values.dataDir.existingClaim }}
  {{- else }}
  emptyDir:
    sizeLimit: {{ .Values.dataDir.sizeLimit }}
  {{- end }}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmp.sizeLimit }}
{{- end }}

{{- define "youworker.volumeMounts" -}}
- name: data
  mountPath: {{ .Values.dataDir.path }}
- name: tmp
  mountPath: /tmp
{{- end }}
