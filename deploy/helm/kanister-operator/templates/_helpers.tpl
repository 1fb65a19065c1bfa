{{/* The chart's name. */}}
{{- define "kanister-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Object names: <release>-<chart>, or the release alone when it holds the chart's name. */}}
{{- define "kanister-operator.fullname" -}}
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

{{/* Labels on every object (upstream's, plus the recommended ones). */}}
{{- define "kanister-operator.labels" -}}
heritage: {{ .Release.Service }}
release: {{ .Release.Name }}
chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app: {{ include "kanister-operator.name" . }}
app.kubernetes.io/name: {{ include "kanister-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The ServiceAccount the controller runs as. */}}
{{- define "kanister-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kanister-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name: with serviceAccount.create=false, name the ServiceAccount to use (binding the namespace's `default` would give this chart's rights to every pod running as it)" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The ServiceAccount as an RBAC subject. */}}
{{- define "kanister-operator.subject" -}}
- kind: ServiceAccount
  name: {{ include "kanister-operator.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end -}}
