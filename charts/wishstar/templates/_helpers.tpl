{{/* Names, labels, the image and the settings checks shared by the templates of Wishstar's chart. */}}

{{- define "wishstar.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "wishstar.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "wishstar.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wishstar.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "wishstar.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "wishstar.selectorLabels" . }}
app.kubernetes.io/version: {{ default .Chart.AppVersion .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "wishstar.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "wishstar.serviceAccountName" -}}
{{- default (include "wishstar.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The build namespaces: the listed ones, else the release namespace. */}}
{{- define "wishstar.buildNamespaces" -}}
{{- if .Values.buildNamespaces -}}
{{- toJson .Values.buildNamespaces -}}
{{- else -}}
{{- toJson (list .Release.Namespace) -}}
{{- end -}}
{{- end -}}

{{- define "wishstar.runNamespace" -}}
{{- default (first (include "wishstar.buildNamespaces" . | fromJsonArray)) .Values.settings.namespace -}}
{{- end -}}

{{/* Combinations the schema cannot say with a readable message. */}}
{{- define "wishstar.check" -}}
{{- if and (gt (int .Values.replicaCount) 1) (ne .Values.database.kind "postgresql") -}}
{{- fail (printf "replicaCount is %v but database.kind is %s: more than one replica needs PostgreSQL (set database.kind=postgresql and database.url or database.existingSecret; docs/charts.md)" .Values.replicaCount .Values.database.kind) -}}
{{- end -}}
{{- if and (eq .Values.database.kind "postgresql") (not .Values.database.url) (not .Values.database.existingSecret) -}}
{{- fail "database.kind=postgresql needs database.url (postgresql+psycopg://USER:PASSWORD@HOST:5432/DB) or database.existingSecret" -}}
{{- end -}}
{{- if and (eq .Values.database.kind "sqlite") (or .Values.database.url .Values.database.existingSecret) -}}
{{- fail "database.url and database.existingSecret are for database.kind=postgresql; with sqlite the store is a file in the state volume" -}}
{{- end -}}
{{- $namespaces := include "wishstar.buildNamespaces" . | fromJsonArray -}}
{{- if and .Values.settings.namespace (not (has .Values.settings.namespace $namespaces)) -}}
{{- fail (printf "settings.namespace %q is not in buildNamespaces %v: Wishstar would have no Role there" .Values.settings.namespace $namespaces) -}}
{{- end -}}
{{- if and .Values.ingress.enabled (not .Values.ingress.host) -}}
{{- fail "ingress.enabled needs ingress.host (the name GitLab sends webhooks to)" -}}
{{- end -}}
{{- end -}}

{{- define "wishstar.secretName" -}}
{{- include "wishstar.fullname" . -}}
{{- end -}}
