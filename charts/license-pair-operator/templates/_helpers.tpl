{{/* Name of the chart (or nameOverride). */}}
{{- define "lpo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: release-chart, or the release name when it already contains the chart name. */}}
{{- define "lpo.fullname" -}}
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

{{- define "lpo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "lpo.labels" -}}
helm.sh/chart: {{ include "lpo.chart" . }}
{{ include "lpo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: license-pair-operator
{{- end -}}

{{/* Labels that select the operator pods. */}}
{{- define "lpo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lpo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "lpo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "lpo.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "lpo.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
The rules the operator needs on the pairs and their children (cluster-wide or per namespace), verb by
verb what the code uses (docs/security.md says which code path needs which): informers list and watch,
server-side apply is a patch (and a create when the object is new), status is a merge patch.
*/}}
{{- define "lpo.rules" -}}
- apiGroups: [lpo.dev]
  resources: [licenseserverpairs]
  verbs: [list, watch]
- apiGroups: [lpo.dev]
  resources: [licenseserverpairs/status]
  verbs: [patch]
- apiGroups: ['']
  resources: [pods]
  verbs: [list, watch, create, delete]
- apiGroups: ['']
  resources: [services]
  verbs: [list, watch, create, patch, delete]
- apiGroups: ['']
  resources: [persistentvolumeclaims]
  verbs: [list, watch, create]
# The admin token Secret (get, create) and each member's certificate Secret (server-side apply: patch).
- apiGroups: ['']
  resources: [secrets]
  verbs: [get, create, patch]
# The pair's CA bundle for clients (server-side apply; read back by name once after a restart, for
# the CAs still in their overlap with spec.tls.mode Provided).
- apiGroups: ['']
  resources: [configmaps]
  verbs: [get, create, patch]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [list, watch, create, patch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [list, watch, create, patch, delete]
- apiGroups: ['']
  resources: [events]
  verbs: [create, patch]
{{- end -}}
