package service

import (
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/eventnotify/notify/infra/transport/httpapi/auth"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfig_RefusesUnauthenticatedBeyondLoopback(t *testing.T) {
	t.Parallel()
	key := auth.HashKey("k") + ":send"
	tests := []struct {
		name string
		args []string
		env  map[string]string
		ok   bool
	}{
		{"default loopback, no auth", nil, nil, true},
		{"localhost, no auth", []string{"--http-addr", "localhost:8080"}, nil, true},
		{"all interfaces, no auth", []string{"--http-addr", ":8080"}, nil, false},
		{"a LAN address, no auth", []string{"--http-addr", "10.0.0.5:8080"}, nil, false},
		{"all interfaces, --insecure", []string{"--http-addr", "0.0.0.0:8080", "--insecure"}, nil, true},
		{"all interfaces, NOTIFY_INSECURE", []string{"--http-addr", "0.0.0.0:8080"}, map[string]string{"NOTIFY_INSECURE": "true"}, true},
		{"all interfaces, API keys", []string{"--http-addr", "0.0.0.0:8080"}, map[string]string{"NOTIFY_AUTH_API_KEYS": key}, true},
		{"all interfaces, token secret", []string{"--http-addr", "0.0.0.0:8080", "--auth-jwt-issuer", "i", "--auth-jwt-audience", "a"},
			map[string]string{"NOTIFY_AUTH_JWT_SECRET": strings.Repeat("s", 32)}, true},
	}
	for _, tt := range tests {
		_, err := ParseConfig(tt.args, env(tt.env), io.Discard)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestConfig_SecretsAreNeverEchoed(t *testing.T) {
	t.Parallel()
	for name, e := range map[string]map[string]string{
		"short token secret":    {"NOTIFY_AUTH_JWT_SECRET": "hunter2-hunter2", "NOTIFY_AUTH_JWT_ISSUER": "i", "NOTIFY_AUTH_JWT_AUDIENCE": "a"},
		"secret without issuer": {"NOTIFY_AUTH_JWT_SECRET": "hunter2-hunter2-hunter2-hunter2-hunter2"},
		"a raw key, not a hash": {"NOTIFY_AUTH_API_KEYS": "hunter2-hunter2:send"},
	} {
		_, err := ParseConfig(nil, env(e), io.Discard)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: err = %v, want a refusal that does not echo the secret", name, err)
		}
	}
}

func TestConfig_AuthAndLimits(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig([]string{"--rate-limit", "5", "--rate-burst", "7", "--request-timeout", "3s"},
		env(map[string]string{"NOTIFY_AUTH_API_KEYS": auth.HashKey("a") + ":send," + auth.HashKey("b") + ":admin+send"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Auth.APIKeys) != 2 || c.RateLimit != 5 || c.RateBurst != 7 || c.RequestTimeout.Seconds() != 3 {
		t.Fatalf("config = %+v", c)
	}
	if _, err := ParseConfig([]string{"--rate-limit", "-1"}, env(nil), io.Discard); err == nil {
		t.Fatal("a negative rate was accepted")
	}
	if _, err := ParseConfig([]string{"--auth-api-keys-file", "/nonexistent"}, env(nil), io.Discard); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a missing key file = %v", err)
	}
}
