package service

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseConfig_SSE(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := (SSEConfig{MaxPerRecipient: 5, MaxClients: 10000, Heartbeat: 15 * time.Second, Ring: 10000}); c.SSE != want {
		t.Fatalf("SSE defaults = %+v, want %+v", c.SSE, want)
	}
	c, err = ParseConfig([]string{"--sse-max-clients", "50"}, env(map[string]string{"NOTIFY_SSE_MAX_PER_RECIPIENT": "2", "NOTIFY_SSE_HEARTBEAT": "1s", "NOTIFY_SSE_MAX_CLIENTS": "7"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.SSE.MaxPerRecipient != 2 || c.SSE.MaxClients != 50 || c.SSE.Heartbeat != time.Second {
		t.Fatalf("SSE from flags and environment = %+v", c.SSE)
	}
	for _, args := range [][]string{
		{"--sse-max-per-recipient", "0"},
		{"--sse-max-clients", "many"},
		{"--sse-ring", "-1"},
		{"--sse-heartbeat", "1ms"},
	} {
		if _, err := ParseConfig(args, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Fatalf("%v: error = %v, want a refusal naming the flag", args, err)
		}
	}
}
