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

{{/* The rules the operator needs on the pairs and their children (cluster-wide or per namespace). */}}
{{- define "lpo.rules" -}}
- apiGroups: [lpo.dev]
  resources: [licenseserverpairs]
  verbs: [get, list, watch, patch, update]
- apiGroups: [lpo.dev]
  resources: [licenseserverpairs/status]
  verbs: [get, patch, update]
- apiGroups: ['']
  resources: [pods]
  verbs: [get, list, watch, create, delete, patch]
- apiGroups: ['']
  resources: [services]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: ['']
  resources: [persistentvolumeclaims]
  verbs: [get, list, watch, create, delete]
- apiGroups: ['']
  resources: [secrets]
  verbs: [get, create]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: ['']
  resources: [events]
  verbs: [create, patch]
{{- end -}}
