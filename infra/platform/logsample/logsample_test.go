package logsample

import (
	"testing"
	"time"
)

func TestSampler(t *testing.T) {
	type line struct {
		at   time.Duration
		kind string
		want int // the count written with it, or -1 when held back
	}
	tests := []struct {
		name  string
		lines []line
	}{
		{"the first of a kind is written", []line{{0, "a", 0}}},
		{"within the interval held back, then counted", []line{{0, "a", 0}, {time.Second, "a", -1}, {2 * time.Second, "a", -1}, {10 * time.Second, "a", 2}}},
		{"kinds are sampled apart", []line{{0, "a", 0}, {time.Second, "b", 0}, {2 * time.Second, "a", -1}, {3 * time.Second, "b", -1}}},
		{"the interval runs from the last line written", []line{{0, "a", 0}, {9 * time.Second, "a", -1}, {10 * time.Second, "a", 1}, {19 * time.Second, "a", -1}, {20 * time.Second, "a", 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Unix(1e9, 0)
			s := New(10 * time.Second)
			for i, l := range tt.lines {
				s.now = func() time.Time { return start.Add(l.at) }
				got := -1
				s.Log(l.kind, func(more int) { got = more })
				if got != l.want {
					t.Fatalf("line %d (%s at %v): written with %d, want %d", i, l.kind, l.at, got, l.want)
				}
			}
		})
	}
}
