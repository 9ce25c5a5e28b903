{{/*
Chart name, truncated to the 63 characters Kubernetes names allow.
*/}}
{{- define "signalcraft.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Release-wide name: <release>-signalcraft unless the release name already contains it.
Components append "-<service>", so it leaves room for the longest suffix ("-query-api").
*/}}
{{- define "signalcraft.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "signalcraft.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object.
*/}}
{{- define "signalcraft.labels" -}}
helm.sh/chart: {{ include "signalcraft.chart" . }}
{{ include "signalcraft.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: signalcraft
{{- end }}

{{- define "signalcraft.selectorLabels" -}}
app.kubernetes.io/name: {{ include "signalcraft.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Per-service helpers take a dict: (dict "root" $ "key" $key "svc" $svc).
*/}}
{{- define "signalcraft.componentName" -}}
{{- default .key .svc.name }}
{{- end }}

{{- define "signalcraft.componentFullname" -}}
{{- printf "%s-%s" (include "signalcraft.fullname" .root) (include "signalcraft.componentName" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "signalcraft.componentLabels" -}}
{{ include "signalcraft.labels" .root }}
app.kubernetes.io/component: {{ include "signalcraft.componentName" . }}
{{- end }}

{{- define "signalcraft.componentSelectorLabels" -}}
{{ include "signalcraft.selectorLabels" .root }}
app.kubernetes.io/component: {{ include "signalcraft.componentName" . }}
{{- end }}

{{- define "signalcraft.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "signalcraft.secretName" -}}
{{- if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else }}
{{- printf "%s-secrets" (include "signalcraft.fullname" .) }}
{{- end }}
{{- end }}

{{- define "signalcraft.configMapName" -}}
{{- printf "%s-env" (include "signalcraft.fullname" .) }}
{{- end }}

{{- define "signalcraft.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "signalcraft.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The base URL of the webhook endpoints shown by the API.
*/}}
{{- define "signalcraft.publicIngestUrl" -}}
{{- if .Values.publicIngestUrl }}
{{- .Values.publicIngestUrl | trimSuffix "/" }}
{{- else if .Values.ingress.enabled }}
{{- printf "%s://%s" (ternary "https" "http" (gt (len .Values.ingress.tls) 0)) .Values.ingress.host }}
{{- else }}
{{- $ingest := index .Values.services "ingest" | default dict }}
{{- printf "http://%s-%s.%s.svc:%v" (include "signalcraft.fullname" .) (default "ingest" $ingest.name) .Release.Namespace (default 8001 $ingest.port) }}
{{- end }}
{{- end }}
