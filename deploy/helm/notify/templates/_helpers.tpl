{{/*
Names. The full name is cut to 52 characters: a StatefulSet's pods carry a
controller-revision-hash label of its name plus 11 characters, and a label value has at most 63.
It also keeps every pod name within 63 characters, well inside the rule for
NOTIFY_KAFKA_INSTANCE_ID (1-200 of [A-Za-z0-9._-]), which the pod's name is by default.
*/}}
{{- define "notify.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "notify.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "notify.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "notify.selectorLabels" -}}
app.kubernetes.io/name: {{ include "notify.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "notify.labels" -}}
helm.sh/chart: {{ include "notify.chart" . }}
{{ include "notify.selectorLabels" . }}
app.kubernetes.io/version: {{ include "notify.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "notify.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "notify.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "notify.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{- define "notify.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (include "notify.imageTag" .) -}}
{{- end -}}
{{- end -}}

{{/* The Secret the auth files come from (existing, or the chart's). */}}
{{- define "notify.authSecretName" -}}
{{- if .Values.auth.existingSecret -}}
{{- .Values.auth.existingSecret -}}
{{- else -}}
{{- printf "%s-auth" (include "notify.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The key of the API key file in that Secret; empty when there is none. */}}
{{- define "notify.apiKeysKey" -}}
{{- if .Values.auth.existingSecret -}}
{{- .Values.auth.apiKeysKey -}}
{{- else if .Values.auth.apiKeys -}}
api-keys
{{- end -}}
{{- end -}}

{{/* The key of the HS256 secret in that Secret; empty when there is none. */}}
{{- define "notify.jwtSecretKey" -}}
{{- if .Values.auth.existingSecret -}}
{{- .Values.auth.jwtSecretKey -}}
{{- else if .Values.auth.jwtSecret -}}
jwt-secret
{{- end -}}
{{- end -}}

{{- define "notify.connectionsSecretName" -}}
{{- if .Values.connections.existingSecret -}}
{{- .Values.connections.existingSecret -}}
{{- else -}}
{{- printf "%s-connections" (include "notify.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "notify.connectionsEventStoreKey" -}}
{{- if .Values.connections.existingSecret -}}{{ .Values.connections.eventStoreKey }}{{- else -}}event-store{{- end -}}
{{- end -}}

{{- define "notify.connectionsReadModelKey" -}}
{{- if .Values.connections.existingSecret -}}{{ .Values.connections.readModelKey }}{{- else -}}read-model{{- end -}}
{{- end -}}
