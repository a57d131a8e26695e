// Command envcheck parses an environment the way notify does at start, and starts nothing:
// it reads a JSON object of variable names to values on stdin, runs the service's own
// configuration parser (infra/service.ParseConfig) on exactly those variables, and prints
// what it made of them as JSON: the refusal, or a summary without any secret. With -names it
// prints instead the NOTIFY_* names the service has a flag for.
//
// The Helm chart's validation (deploy/helm/validate, a module of its own) runs it on the
// environment each shipped values file renders, so the chart is held to the service's own
// rules rather than to a copy of them. It lives in the service's module so that it builds
// with the service's dependencies, not Helm's.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/eventnotify/notify/infra/service"
)

// Summary is what the configuration came to: no secret and no connection string in it.
type Summary struct {
	OK              bool   `json:"ok"`
	Error           string `json:"error,omitempty"`
	HTTPAddr        string `json:"httpAddr,omitempty"`
	DataDir         string `json:"dataDir,omitempty"`
	EventStore      string `json:"eventStore,omitempty"` // embedded or esdb
	ReadModel       string `json:"readModel,omitempty"`  // embedded or postgres
	AuthConfigured  bool   `json:"authConfigured"`
	APIKeys         int    `json:"apiKeys"`
	JWTSecret       bool   `json:"jwtSecret"`
	JWKS            bool   `json:"jwks"`
	JWTIssuer       string `json:"jwtIssuer,omitempty"`
	Insecure        bool   `json:"insecure"`
	MetricsPublic   bool   `json:"metricsPublic"`
	KafkaBrokers    int    `json:"kafkaBrokers"`
	KafkaInstanceID string `json:"kafkaInstanceId,omitempty"`
	ShutdownTimeout string `json:"shutdownTimeout,omitempty"`
	ReadyMaxLag     uint64 `json:"readyMaxLag"`
	LogFormat       string `json:"logFormat,omitempty"`
	KafkaSASL       bool   `json:"kafkaSasl"`
	KafkaTLS        bool   `json:"kafkaTls"`
	ReadModelSchema string `json:"readModelSchema,omitempty"`
}

func main() {
	names := flag.Bool("names", false, "print the NOTIFY_* names the service has a flag for, one a line")
	flag.Parse()
	if *names {
		for _, n := range flagNames() {
			fmt.Println(n)
		}
		return
	}
	var env map[string]string
	if err := json.NewDecoder(os.Stdin).Decode(&env); err != nil {
		fmt.Fprintln(os.Stderr, "envcheck: stdin: want a JSON object of variable names to values:", err)
		os.Exit(2)
	}
	out := json.NewEncoder(os.Stdout)
	if err := out.Encode(check(env)); err != nil {
		os.Exit(2)
	}
}

func check(env map[string]string) Summary {
	cfg, err := service.ParseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		return Summary{Error: err.Error()} // the parser never echoes a secret
	}
	s := Summary{
		OK: true, HTTPAddr: cfg.HTTPAddr, DataDir: cfg.DataDir, EventStore: "embedded", ReadModel: "embedded",
		AuthConfigured: cfg.AuthConfigured(), APIKeys: len(cfg.Auth.APIKeys), JWTSecret: len(cfg.Auth.JWT.Secret) > 0,
		JWKS: len(cfg.Auth.JWT.JWKS) > 0 || cfg.Auth.JWT.JWKSURL != "", JWTIssuer: cfg.Auth.JWT.Issuer,
		Insecure: cfg.Insecure, MetricsPublic: cfg.MetricsPublic, KafkaBrokers: len(cfg.Kafka.Brokers),
		ShutdownTimeout: cfg.ShutdownTimeout.String(), ReadyMaxLag: cfg.ReadyMaxLag, LogFormat: cfg.LogFormat,
		KafkaSASL: cfg.Kafka.SASL.Mechanism != "", KafkaTLS: cfg.Kafka.TLS.Enabled, ReadModelSchema: cfg.ReadModelSchema,
	}
	if cfg.EventStore != "embedded" {
		s.EventStore = "esdb"
	}
	if cfg.ReadModel != "embedded" {
		s.ReadModel = "postgres"
	}
	if len(cfg.Kafka.Brokers) > 0 {
		s.KafkaInstanceID = cfg.Kafka.InstanceID
	}
	return s
}

// flagNames reads the environment twins from the service's usage text.
func flagNames() []string {
	names := service.SettingEnvs()
	slices.Sort(names)
	return slices.Compact(names)
}
