{{/*
notify.validate refuses, at render time, what would make the pods crash-loop or do something
other than what the values say. Each message says why and what to set instead. It renders
nothing; templates/validate.yaml includes it.
*/}}
{{- define "notify.validate" -}}
{{- $v := .Values -}}
{{- $mode := $v.mode -}}
{{- if not (has $mode (list "embedded" "postgres")) -}}
{{- fail (printf "mode is %q: want embedded (one replica, the event log on a volume) or postgres (several replicas on EventStoreDB, PostgreSQL and Kafka)" (toString $mode)) -}}
{{- end -}}
{{- $replicas := int $v.replicaCount -}}
{{- if lt $replicas 1 -}}
{{- fail (printf "replicaCount is %d: want at least 1" $replicas) -}}
{{- end -}}

{{- /* Embedded: one writer. */ -}}
{{- if eq $mode "embedded" -}}
{{- if gt $replicas 1 -}}
{{- fail (printf "replicaCount is %d, but mode embedded runs exactly one replica: the embedded event log (/data/events.db) is a single-writer bbolt file on a ReadWriteOnce volume, and a second replica would be a second log of its own, with its own inbox, not a copy of the first. For several replicas use mode postgres (EventStoreDB + PostgreSQL read model), see values-postgres.yaml" $replicas) -}}
{{- end -}}
{{- $c := $v.connections -}}
{{- if or $c.existingSecret $c.eventStore $c.readModel $c.readModelSchema -}}
{{- fail "connections.* apply to mode postgres only; mode is embedded, where the event log and read model are files under /data: unset them, or set mode: postgres" -}}
{{- end -}}
{{- end -}}

{{- /* PostgreSQL: the connection strings come from a Secret. */ -}}
{{- if eq $mode "postgres" -}}
{{- $c := $v.connections -}}
{{- if $c.existingSecret -}}
{{- if not (and $c.eventStoreKey $c.readModelKey) -}}
{{- fail "connections.eventStoreKey and connections.readModelKey name the keys of connections.existingSecret that hold the EventStoreDB and PostgreSQL connection strings: neither may be empty" -}}
{{- end -}}
{{- if or $c.eventStore $c.readModel -}}
{{- fail "set either connections.existingSecret or connections.eventStore/readModel, not both: which one would the pods use?" -}}
{{- end -}}
{{- else -}}
{{- if not (and $c.eventStore $c.readModel) -}}
{{- fail "mode postgres needs its connection strings: connections.existingSecret (a Secret with the keys event-store and read-model), or connections.eventStore (esdb://…) and connections.readModel (postgres://…) for the chart to put in a Secret" -}}
{{- end -}}
{{- if not (or (hasPrefix "esdb://" $c.eventStore) (hasPrefix "esdb+discover://" $c.eventStore)) -}}
{{- fail "connections.eventStore must be an EventStoreDB connection string (esdb://… or esdb+discover://…): replicas sharing a PostgreSQL read model must share one event log, and an embedded log is one per pod" -}}
{{- end -}}
{{- if not (or (hasPrefix "postgres://" $c.readModel) (hasPrefix "postgresql://" $c.readModel)) -}}
{{- fail "connections.readModel must be a PostgreSQL URL (postgres://…)" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* Authentication: the service refuses 0.0.0.0 without it. */ -}}
{{- $a := $v.auth -}}
{{- if and $a.existingSecret (or $a.apiKeys $a.jwtSecret) -}}
{{- fail "set either auth.existingSecret (with auth.apiKeysKey / auth.jwtSecretKey) or auth.apiKeys / auth.jwtSecret for the chart to create the Secret, not both" -}}
{{- end -}}
{{- $apiKeys := include "notify.apiKeysKey" . -}}
{{- $jwtSecret := include "notify.jwtSecretKey" . -}}
{{- $tokenKey := or $jwtSecret $a.jwt.jwks $a.jwt.jwksUrl -}}
{{- if not (or $apiKeys $tokenKey $a.insecure) -}}
{{- fail "no authentication is configured, and notify refuses to listen on 0.0.0.0 without it (the pods would exit at start): set auth.existingSecret with auth.apiKeysKey and/or auth.jwtSecretKey, or auth.apiKeys / auth.jwtSecret, auth.jwt.jwks or auth.jwt.jwksUrl; or, knowing that anyone who reaches the Service then reads and changes every inbox, auth.insecure: true" -}}
{{- end -}}
{{- if and $tokenKey (not (and $a.jwt.issuer $a.jwt.audience)) -}}
{{- fail "recipient tokens are on (a JWT secret, JWKS or JWKS URL), so auth.jwt.issuer and auth.jwt.audience are mandatory: notify checks both on every token and refuses to start without them" -}}
{{- end -}}
{{- if and (or $a.jwt.issuer $a.jwt.audience) (not $tokenKey) -}}
{{- fail "auth.jwt.issuer / auth.jwt.audience are set but no token key is (auth.jwtSecretKey, auth.jwtSecret, auth.jwt.jwks or auth.jwt.jwksUrl): tokens could not be checked, and notify refuses to start so" -}}
{{- end -}}
{{- range $i, $k := $a.apiKeys -}}
{{- if not (regexMatch "^[0-9a-fA-F]{64}:(send|admin)(\\+(send|admin))*$" (toString $k)) -}}
{{- fail (printf "auth.apiKeys[%d]: want sha256hex:scope[+scope] (scopes send, admin), where sha256hex is the SHA-256 of the key (printf %%s \"$KEY\" | sha256sum), never the key itself" $i) -}}
{{- end -}}
{{- end -}}
{{- if and $a.jwtSecret (lt (len $a.jwtSecret) 32) -}}
{{- fail "auth.jwtSecret is shorter than 32 bytes: notify refuses a weak HS256 secret (openssl rand -hex 32)" -}}
{{- end -}}

{{- /* Kafka. */ -}}
{{- $k := $v.kafka -}}
{{- if $k.instanceId -}}
{{- if ne $k.instanceId "none" -}}
{{- if not (regexMatch "^[A-Za-z0-9._-]{1,200}$" $k.instanceId) -}}
{{- fail (printf "kafka.instanceId %q: want 1 to 200 characters of [A-Za-z0-9._-], none, or empty for the pod's name" $k.instanceId) -}}
{{- end -}}
{{- if gt $replicas 1 -}}
{{- fail "kafka.instanceId is one fixed id, but there are several replicas: static members with one id fence one another. Leave it empty (each pod's name) or set none" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not $k.brokers -}}
{{- if or $k.group $k.instanceId $k.sasl.mechanism $k.sasl.user $k.sasl.existingSecret $k.tls.enabled $k.tls.caSecret -}}
{{- fail "kafka.* settings are set but kafka.brokers is empty: Kafka is off, and notify refuses settings that would do nothing" -}}
{{- end -}}
{{- end -}}
{{- if and $k.sasl.mechanism (not (and $k.sasl.user $k.sasl.existingSecret)) -}}
{{- fail "kafka.sasl.mechanism needs kafka.sasl.user and kafka.sasl.existingSecret (the Secret holding the password, mounted as a file)" -}}
{{- end -}}
{{- if and $k.tls.caSecret (not $k.tls.enabled) -}}
{{- fail "kafka.tls.caSecret is set but kafka.tls.enabled is false" -}}
{{- end -}}

{{- /* Metrics. */ -}}
{{- if and $v.serviceMonitor.enabled (not $v.metrics.public) (not $a.insecure) -}}
{{- fail "serviceMonitor.enabled needs metrics.public: true. With authentication on, /metrics takes an admin key in the X-Api-Key header, and a ServiceMonitor can send no such header (only Authorization, basic auth or OAuth2). metrics.public serves /metrics without credentials; without a ServiceMonitor, scrape with an admin key instead (deploy/helm/README.md, Metrics)" -}}
{{- end -}}

{{- /* Shutdown: the grace period must outlast what the service does after SIGTERM. */ -}}
{{- $need := add (int $v.lifecycle.preStopSleepSeconds) (int $v.shutdownTimeoutSeconds) 10 -}}
{{- if lt (int $v.terminationGracePeriodSeconds) (int $need) -}}
{{- fail (printf "terminationGracePeriodSeconds is %d, below preStopSleepSeconds + shutdownTimeoutSeconds + 10 (Kafka's close) = %d: the kubelet would SIGKILL the service while requests still run" (int $v.terminationGracePeriodSeconds) (int $need)) -}}
{{- end -}}

{{- /* settings: plain NOTIFY_* values only; the chart's own and the secrets elsewhere. */ -}}
{{- $managed := list "NOTIFY_HTTP_ADDR" "NOTIFY_DATA_DIR" "NOTIFY_EVENT_STORE" "NOTIFY_READ_MODEL" "NOTIFY_READ_MODEL_SCHEMA" "NOTIFY_KAFKA_BROKERS" "NOTIFY_KAFKA_GROUP" "NOTIFY_KAFKA_INSTANCE_ID" "NOTIFY_KAFKA_SASL_MECHANISM" "NOTIFY_KAFKA_SASL_USER" "NOTIFY_KAFKA_SASL_PASSWORD_FILE" "NOTIFY_KAFKA_TLS" "NOTIFY_KAFKA_TLS_CA_FILE" "NOTIFY_AUTH_API_KEYS_FILE" "NOTIFY_AUTH_JWT_SECRET_FILE" "NOTIFY_AUTH_JWT_JWKS_FILE" "NOTIFY_AUTH_JWT_JWKS_URL" "NOTIFY_AUTH_JWT_ISSUER" "NOTIFY_AUTH_JWT_AUDIENCE" "NOTIFY_INSECURE" "NOTIFY_METRICS_PUBLIC" "NOTIFY_LOG_LEVEL" "NOTIFY_LOG_FORMAT" "NOTIFY_SHUTDOWN_TIMEOUT" -}}
{{- $secrets := list "NOTIFY_AUTH_API_KEYS" "NOTIFY_AUTH_JWT_SECRET" "NOTIFY_KAFKA_SASL_PASSWORD" -}}
{{- range $name, $val := $v.settings -}}
{{- if has $name $secrets -}}
{{- fail (printf "settings.%s is a secret: it would be in the pod spec for anyone who can read it. Use auth.existingSecret / kafka.sasl.existingSecret, which mount it as a file" $name) -}}
{{- end -}}
{{- if has $name $managed -}}
{{- fail (printf "settings.%s is set by the chart from its own values (see values.yaml): set that value instead" $name) -}}
{{- end -}}
{{- if not (regexMatch "^[A-Za-z_][A-Za-z0-9_]*$" $name) -}}
{{- fail (printf "settings.%s: not an environment variable name" $name) -}}
{{- end -}}
{{- if not (kindIs "string" $val) -}}
{{- fail (printf "settings.%s: quote the value (%v): Helm reads unquoted numbers as floats, and 1000000 would reach the service as 1e+06" $name $val) -}}
{{- end -}}
{{- end -}}
{{- end -}}
