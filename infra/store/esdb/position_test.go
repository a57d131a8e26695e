package esdb

import (
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/eventnotify/notify/app/eventstore"
)

func TestCheckpointPosition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   esdb.Position
		want eventstore.Position
	}{
		{"at an event: resume after it", esdb.Position{Commit: 500, Prepare: 500}, 500},
		{"page boundary: resume at the record starting there", esdb.Position{Commit: 500, Prepare: 0}, 499},
		{"start of the log", esdb.Position{Commit: 0, Prepare: 0}, 0},
		{"prepare ahead of commit (legacy transactions): commit", esdb.Position{Commit: 500, Prepare: 700}, 500},
	}
	for _, tt := range tests {
		if got := checkpointPosition(tt.in); got != tt.want {
			t.Errorf("%s: checkpointPosition(%+v) = %d, want %d", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestAllPosition(t *testing.T) {
	t.Parallel()
	if _, ok := allPosition(0).(esdb.Start); !ok {
		t.Errorf("position 0 resumes from %#v, want the start of $all", allPosition(0))
	}
	if got := allPosition(812); got != (esdb.Position{Commit: 812, Prepare: 812}) {
		t.Errorf("position 812 resumes from %#v, want (812, 812)", got)
	}
}

func TestExpectedRevision(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   eventstore.ExpectedRevision
		want esdb.ExpectedRevision
	}{
		{eventstore.Any, esdb.Any{}},
		{eventstore.NoStream, esdb.NoStream{}},
		{eventstore.StreamExists, esdb.StreamExists{}},
		{eventstore.Exact(0), esdb.StreamRevision{Value: 0}},
		{eventstore.Exact(41), esdb.StreamRevision{Value: 41}},
	}
	for _, tt := range tests {
		if got := expectedRevision(tt.in); got != tt.want {
			t.Errorf("expectedRevision(%s) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}
