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

{{/*
Kafka: what the settings need, and where the TLS files and the OAUTHBEARER token are mounted.
*/}}
{{- define "signalcraft.kafkaUsesSasl" -}}
{{- if has .Values.kafka.securityProtocol (list "SASL_PLAINTEXT" "SASL_SSL") }}true{{ end }}
{{- end }}

{{- define "signalcraft.kafkaUsesTls" -}}
{{- if has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL") }}true{{ end }}
{{- end }}

{{- define "signalcraft.kafkaUsesPassword" -}}
{{- if and (include "signalcraft.kafkaUsesSasl" .) (has .Values.kafka.sasl.mechanism (list "PLAIN" "SCRAM-SHA-256" "SCRAM-SHA-512")) }}true{{ end }}
{{- end }}

{{- define "signalcraft.kafkaMountDir" -}}/etc/signalcraft/kafka{{- end }}

{{- define "signalcraft.kafkaOauthTokenFile" -}}
{{- $sasl := .Values.kafka.sasl }}
{{- if $sasl.oauthTokenSecret.name }}
{{- printf "%s/oauth/%s" (include "signalcraft.kafkaMountDir" .) $sasl.oauthTokenSecret.key }}
{{- else }}
{{- $sasl.oauthTokenFile }}
{{- end }}
{{- end }}

{{/*
Settings that cannot work together stop `helm install` with what to change (the services would
refuse them at start too, see libs/runtime/signalcraft_runtime/kafka_client.py).
*/}}
{{- define "signalcraft.validate" -}}
{{- $kafka := .Values.kafka }}
{{- $sasl := include "signalcraft.kafkaUsesSasl" . }}
{{- if and $sasl (not $kafka.sasl.mechanism) }}
{{- fail (printf "kafka.securityProtocol=%s needs kafka.sasl.mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)" $kafka.securityProtocol) }}
{{- end }}
{{- if and (not $sasl) $kafka.sasl.mechanism }}
{{- fail (printf "kafka.sasl.mechanism=%s needs kafka.securityProtocol SASL_SSL (or SASL_PLAINTEXT), not %s" $kafka.sasl.mechanism $kafka.securityProtocol) }}
{{- end }}
{{- if and (eq $kafka.sasl.mechanism "OAUTHBEARER") (not $kafka.sasl.oauthTokenSecret.name) (not $kafka.sasl.oauthTokenFile) }}
{{- fail "kafka.sasl.mechanism=OAUTHBEARER needs kafka.sasl.oauthTokenSecret.name or kafka.sasl.oauthTokenFile" }}
{{- end }}
{{- if and (not (include "signalcraft.kafkaUsesTls" .)) (or $kafka.tls.caSecret.name $kafka.tls.clientSecret.name) }}
{{- fail (printf "kafka.tls secrets are set but kafka.securityProtocol=%s does not use TLS: use SSL or SASL_SSL" $kafka.securityProtocol) }}
{{- end }}
{{- range $key, $svc := .Values.services }}
{{- $hpa := $svc.autoscaling | default dict }}
{{- if $hpa.enabled }}
{{- if gt (int $hpa.minReplicas) (int $hpa.maxReplicas) }}
{{- fail (printf "services.%s.autoscaling: minReplicas %v exceeds maxReplicas %v" $key $hpa.minReplicas $hpa.maxReplicas) }}
{{- end }}
{{- if and (ne $svc.module "signalcraft_ingest") (gt (int $hpa.maxReplicas) (int $.Values.topicPartitions)) }}
{{- fail (printf "services.%s.autoscaling.maxReplicas %v exceeds topicPartitions %v: a consumer replica past the partition count has nothing to do" $key $hpa.maxReplicas $.Values.topicPartitions) }}
{{- end }}
{{- if not (or $hpa.targetCPUUtilizationPercentage $hpa.targetMemoryUtilizationPercentage) }}
{{- fail (printf "services.%s.autoscaling needs targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage" $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The pod's volumes and the container's mounts: /tmp, Kafka TLS files and token, then the extra ones.
*/}}
{{- define "signalcraft.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
{{- with .Values.kafka.tls.caSecret.name }}
- name: kafka-ca
  secret:
    secretName: {{ . }}
    items:
      - key: {{ $.Values.kafka.tls.caSecret.key }}
        path: {{ $.Values.kafka.tls.caSecret.key }}
{{- end }}
{{- with .Values.kafka.tls.clientSecret.name }}
- name: kafka-client-cert
  secret:
    secretName: {{ . }}
    items:
      - key: {{ $.Values.kafka.tls.clientSecret.certKey }}
        path: {{ $.Values.kafka.tls.clientSecret.certKey }}
      - key: {{ $.Values.kafka.tls.clientSecret.keyKey }}
        path: {{ $.Values.kafka.tls.clientSecret.keyKey }}
{{- end }}
{{- if and (eq .Values.kafka.sasl.mechanism "OAUTHBEARER") .Values.kafka.sasl.oauthTokenSecret.name }}
- name: kafka-oauth-token
  secret:
    secretName: {{ .Values.kafka.sasl.oauthTokenSecret.name }}
    items:
      - key: {{ .Values.kafka.sasl.oauthTokenSecret.key }}
        path: {{ .Values.kafka.sasl.oauthTokenSecret.key }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "signalcraft.volumeMounts" -}}
{{- $dir := include "signalcraft.kafkaMountDir" . -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.kafka.tls.caSecret.name }}
- name: kafka-ca
  mountPath: {{ $dir }}/ca
  readOnly: true
{{- end }}
{{- if .Values.kafka.tls.clientSecret.name }}
- name: kafka-client-cert
  mountPath: {{ $dir }}/client
  readOnly: true
{{- end }}
{{- if and (eq .Values.kafka.sasl.mechanism "OAUTHBEARER") .Values.kafka.sasl.oauthTokenSecret.name }}
{{- /* A whole-directory mount (no subPath): the kubelet updates it when the Secret changes. */}}
- name: kafka-oauth-token
  mountPath: {{ $dir }}/oauth
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}
