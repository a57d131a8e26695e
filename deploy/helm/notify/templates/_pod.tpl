{{/*
The pod template both workloads share: the StatefulSet (mode embedded) and the Deployment
(mode postgres). Only /data differs: the StatefulSet's volume claim, or an emptyDir.
*/}}
{{- define "notify.podTemplate" -}}
{{- $v := .Values -}}
{{- $apiKeys := include "notify.apiKeysKey" . -}}
{{- $jwtSecret := include "notify.jwtSecretKey" . -}}
{{- $authFiles := or $apiKeys $jwtSecret -}}
metadata:
  labels:
    {{- include "notify.selectorLabels" . | nindent 4 }}
    app.kubernetes.io/version: {{ include "notify.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with include "notify.podAnnotations" . | trim }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "notify.serviceAccountName" . }}
  # notify never calls the Kubernetes API.
  automountServiceAccountToken: false
  # No <SERVICE>_PORT variables: a Service named notify-… would put NOTIFY_* names in the
  # environment, the namespace notify reads its settings from.
  enableServiceLinks: false
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ int $v.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml $v.podSecurityContext | nindent 4 }}
  containers:
    - name: notify
      image: {{ include "notify.image" . | quote }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      ports:
        - name: http
          containerPort: 8080
          protocol: TCP
      env:
        # Every interface: the Service and the kubelet's probes reach the pod's IP.
        - name: NOTIFY_HTTP_ADDR
          value: "0.0.0.0:8080"
        - name: NOTIFY_DATA_DIR
          value: /data
        - name: NOTIFY_LOG_LEVEL
          value: {{ $v.logLevel | quote }}
        - name: NOTIFY_LOG_FORMAT
          value: {{ $v.logFormat | quote }}
        - name: NOTIFY_SHUTDOWN_TIMEOUT
          value: {{ printf "%ds" (int $v.shutdownTimeoutSeconds) | quote }}
        {{- if eq $v.mode "postgres" }}
        - name: NOTIFY_EVENT_STORE
          valueFrom:
            secretKeyRef:
              name: {{ include "notify.connectionsSecretName" . }}
              key: {{ include "notify.connectionsEventStoreKey" . }}
        - name: NOTIFY_READ_MODEL
          valueFrom:
            secretKeyRef:
              name: {{ include "notify.connectionsSecretName" . }}
              key: {{ include "notify.connectionsReadModelKey" . }}
        {{- with $v.connections.readModelSchema }}
        - name: NOTIFY_READ_MODEL_SCHEMA
          value: {{ . | quote }}
        {{- end }}
        {{- else }}
        - name: NOTIFY_EVENT_STORE
          value: embedded
        - name: NOTIFY_READ_MODEL
          value: embedded
        {{- end }}
        {{- if $apiKeys }}
        - name: NOTIFY_AUTH_API_KEYS_FILE
          value: /etc/notify/auth/api-keys
        {{- end }}
        {{- if $jwtSecret }}
        - name: NOTIFY_AUTH_JWT_SECRET_FILE
          value: /etc/notify/auth/jwt-secret
        {{- end }}
        {{- if $v.auth.jwt.jwks }}
        - name: NOTIFY_AUTH_JWT_JWKS_FILE
          value: /etc/notify/jwks/jwks.json
        {{- end }}
        {{- with $v.auth.jwt.jwksUrl }}
        - name: NOTIFY_AUTH_JWT_JWKS_URL
          value: {{ . | quote }}
        {{- end }}
        {{- with $v.auth.jwt.issuer }}
        - name: NOTIFY_AUTH_JWT_ISSUER
          value: {{ . | quote }}
        {{- end }}
        {{- with $v.auth.jwt.audience }}
        - name: NOTIFY_AUTH_JWT_AUDIENCE
          value: {{ . | quote }}
        {{- end }}
        {{- if $v.auth.insecure }}
        - name: NOTIFY_INSECURE
          value: "true"
        {{- end }}
        {{- if $v.metrics.public }}
        - name: NOTIFY_METRICS_PUBLIC
          value: "true"
        {{- end }}
        {{- with $v.kafka }}
        {{- if .brokers }}
        - name: NOTIFY_KAFKA_BROKERS
          value: {{ .brokers | quote }}
        {{- with .group }}
        - name: NOTIFY_KAFKA_GROUP
          value: {{ . | quote }}
        {{- end }}
        - name: NOTIFY_KAFKA_INSTANCE_ID
        {{- if .instanceId }}
          value: {{ .instanceId | quote }}
        {{- else }}
          # Static membership per pod: a container restarted in its pod rejoins with the same
          # id and takes its partitions back at once.
          valueFrom:
            fieldRef:
              apiVersion: v1
              fieldPath: metadata.name
        {{- end }}
        {{- with .sasl.mechanism }}
        - name: NOTIFY_KAFKA_SASL_MECHANISM
          value: {{ . | quote }}
        {{- end }}
        {{- with .sasl.user }}
        - name: NOTIFY_KAFKA_SASL_USER
          value: {{ . | quote }}
        {{- end }}
        {{- if .sasl.existingSecret }}
        - name: NOTIFY_KAFKA_SASL_PASSWORD_FILE
          value: /etc/notify/kafka-sasl/password
        {{- end }}
        {{- if .tls.enabled }}
        - name: NOTIFY_KAFKA_TLS
          value: "true"
        {{- end }}
        {{- if .tls.caSecret }}
        - name: NOTIFY_KAFKA_TLS_CA_FILE
          value: /etc/notify/kafka-ca/ca.crt
        {{- end }}
        {{- end }}
        {{- end }}
        {{- range $name, $val := $v.settings }}
        - name: {{ $name }}
          value: {{ $val | quote }}
        {{- end }}
        {{- with $v.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      # The HTTP server answers once the stores are open and the read model is checked
      # against the log; a big embedded log is scanned first. /healthz is that answer.
      startupProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: {{ int $v.probes.startup.periodSeconds }}
        timeoutSeconds: {{ int $v.probes.startup.timeoutSeconds }}
        failureThreshold: {{ int $v.probes.startup.failureThreshold }}
      # 503 while a store is unreachable, the projection catches up or lags, or Kafka is
      # unreachable: out of the Service, never restarted for it.
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        periodSeconds: {{ int $v.probes.readiness.periodSeconds }}
        timeoutSeconds: {{ int $v.probes.readiness.timeoutSeconds }}
        failureThreshold: {{ int $v.probes.readiness.failureThreshold }}
        successThreshold: {{ int $v.probes.readiness.successThreshold }}
      # A constant answer, exempt from the rate limit: fails only when the process no longer
      # serves HTTP at all.
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: {{ int $v.probes.liveness.periodSeconds }}
        timeoutSeconds: {{ int $v.probes.liveness.timeoutSeconds }}
        failureThreshold: {{ int $v.probes.liveness.failureThreshold }}
      {{- if gt (int $v.lifecycle.preStopSleepSeconds) 0 }}
      lifecycle:
        preStop:
          sleep:
            seconds: {{ int $v.lifecycle.preStopSleepSeconds }}
      {{- end }}
      resources:
        {{- toYaml $v.resources | nindent 8 }}
      securityContext:
        {{- toYaml $v.securityContext | nindent 8 }}
      volumeMounts:
        - name: data
          mountPath: /data
        {{- if $authFiles }}
        - name: auth
          mountPath: /etc/notify/auth
          readOnly: true
        {{- end }}
        {{- if $v.auth.jwt.jwks }}
        - name: jwks
          mountPath: /etc/notify/jwks
          readOnly: true
        {{- end }}
        {{- if and $v.kafka.brokers $v.kafka.sasl.existingSecret }}
        - name: kafka-sasl
          mountPath: /etc/notify/kafka-sasl
          readOnly: true
        {{- end }}
        {{- if and $v.kafka.brokers $v.kafka.tls.caSecret }}
        - name: kafka-ca
          mountPath: /etc/notify/kafka-ca
          readOnly: true
        {{- end }}
        {{- with $v.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  {{- with include "notify.volumes" . | trim }}
  volumes:
    {{- . | nindent 4 }}
  {{- end }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if or $v.topologySpreadConstraints (and (eq $v.mode "postgres") $v.spreadAcrossNodes) }}
  topologySpreadConstraints:
    {{- if and (eq $v.mode "postgres") $v.spreadAcrossNodes }}
    # Replicas on different nodes where the scheduler can: one node lost takes one replica.
    - maxSkew: 1
      topologyKey: kubernetes.io/hostname
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "notify.selectorLabels" . | nindent 10 }}
      matchLabelKeys:
        - pod-template-hash
    {{- end }}
    {{- with $v.topologySpreadConstraints }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
{{- end -}}

{{/* The pod's annotations: checksums of the chart's Secrets and ConfigMap, so a change rolls
the pods (they read them at start), and podAnnotations. */}}
{{- define "notify.podAnnotations" -}}
{{- $v := .Values -}}
{{- $authFiles := or (include "notify.apiKeysKey" .) (include "notify.jwtSecretKey" .) -}}
{{- if and $authFiles (not $v.auth.existingSecret) }}
checksum/auth: {{ include (print $.Template.BasePath "/secret-auth.yaml") . | sha256sum }}
{{- end }}
{{- if $v.auth.jwt.jwks }}
checksum/jwks: {{ include (print $.Template.BasePath "/configmap-jwks.yaml") . | sha256sum }}
{{- end }}
{{- if and (eq $v.mode "postgres") (not $v.connections.existingSecret) }}
checksum/connections: {{ include (print $.Template.BasePath "/secret-connections.yaml") . | sha256sum }}
{{- end }}
{{- with $v.podAnnotations }}
{{- toYaml . | nindent 0 }}
{{- end }}
{{- end -}}

{{/* The pod's volumes. */}}
{{- define "notify.volumes" -}}
{{- $v := .Values -}}
{{- $apiKeys := include "notify.apiKeysKey" . -}}
{{- $jwtSecret := include "notify.jwtSecretKey" . -}}
{{- $authFiles := or $apiKeys $jwtSecret -}}
{{- if eq $v.mode "postgres" }}
# The service creates its data dir at start; on EventStoreDB and PostgreSQL it keeps
# nothing there.
- name: data
  emptyDir:
    sizeLimit: {{ $v.dataEmptyDir.sizeLimit }}
{{- end }}
{{- if $authFiles }}
- name: auth
  secret:
    secretName: {{ include "notify.authSecretName" . }}
    defaultMode: 288 # 0440: the owner and the pod's fsGroup
    items:
      {{- if $apiKeys }}
      - key: {{ $apiKeys }}
        path: api-keys
      {{- end }}
      {{- if $jwtSecret }}
      - key: {{ $jwtSecret }}
        path: jwt-secret
      {{- end }}
{{- end }}
{{- if $v.auth.jwt.jwks }}
- name: jwks
  configMap:
    name: {{ include "notify.fullname" . }}-jwks
    items:
      - key: jwks.json
        path: jwks.json
{{- end }}
{{- if and $v.kafka.brokers $v.kafka.sasl.existingSecret }}
- name: kafka-sasl
  secret:
    secretName: {{ $v.kafka.sasl.existingSecret }}
    defaultMode: 288 # 0440
    items:
      - key: {{ $v.kafka.sasl.passwordKey }}
        path: password
{{- end }}
{{- if and $v.kafka.brokers $v.kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ $v.kafka.tls.caSecret }}
    defaultMode: 292 # 0444: a CA is public
    items:
      - key: {{ $v.kafka.tls.caKey }}
        path: ca.crt
{{- end }}
{{- with $v.extraVolumes }}
{{- toYaml . | nindent 0 }}
{{- end }}
{{- end -}}
