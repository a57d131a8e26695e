package service

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/eventnotify/notify/infra/platform/boltfile"
	"github.com/eventnotify/notify/infra/readmodel/inboxdb"
	"github.com/eventnotify/notify/infra/store/eventlog"
)

// run is `notify check`; it reports to out.
func (c checkCmd) run(out io.Writer) int {
	healthy := true
	logPath := filepath.Join(c.DataDir, "events.db")
	lr, err := eventlog.Check(logPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		fmt.Fprintf(out, "%s: no event log (a new data directory)\n", logPath)
	case err != nil:
		healthy = false
		fmt.Fprintf(out, "%s: DAMAGED: %v\n", logPath, err)
		if errors.Is(err, boltfile.ErrDamaged) {
			fmt.Fprintln(out, "  the event log is the primary data: restore it from a backup; the service refuses to start on it")
		}
	default:
		fmt.Fprintf(out, "%s: %d records, head %d, log id %s\n", logPath, lr.Records, lr.Head, orNone(lr.ID))
		if lr.Unchecked > 0 {
			fmt.Fprintf(out, "  %d records written before checksums: read, not verified\n", lr.Unchecked)
		}
		if lr.Fallback {
			fmt.Fprintln(out, "  WARNING: one meta page is damaged; bbolt reads the other (the last commit may be gone)")
		}
		for i, c := range lr.Corrupt {
			healthy = false
			if i == 20 {
				fmt.Fprintf(out, "  … and %d more corrupt records\n", len(lr.Corrupt)-20)
				break
			}
			fmt.Fprintf(out, "  CORRUPT: %v\n", c)
		}
		if len(lr.Corrupt) > 0 {
			fmt.Fprintln(out, "  corrupt records are never served: projections park them (GET /v1/projections) and go on; their notifications cannot be changed. Restore the file from a backup to get them back.")
		}
	}
	rmPath := filepath.Join(c.DataDir, "inbox.db")
	rr, err := inboxdb.Check(rmPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		fmt.Fprintf(out, "%s: no read model (built from the log at the next start)\n", rmPath)
	case err != nil:
		healthy = false
		fmt.Fprintf(out, "%s: DAMAGED: %v\n  it is derived data: the service drops it and rebuilds it from the log at the next start\n", rmPath, err)
	default:
		fmt.Fprintf(out, "%s: %d documents, inbox projection at %d, built from log %s\n", rmPath, rr.Documents, rr.Checkpoint, orNone(rr.LogID))
		if rr.Layout != inboxdb.LayoutVersion {
			fmt.Fprintln(out, "  written by an older version: rebuilt from the log at the next start")
		}
		if rr.Damaged > 0 {
			healthy = false
			fmt.Fprintf(out, "  DAMAGED: %d documents or counts fail their checksum; the service rebuilds the read model when it meets one, or at the next start\n", rr.Damaged)
		}
		if lr.ID != "" && rr.LogID != "" && lr.ID != rr.LogID {
			healthy = false
			fmt.Fprintln(out, "  MISMATCH: the read model was built from another event log; the service drops and rebuilds it at the next start")
		} else if lr.ID != "" && rr.Checkpoint > lr.Head {
			healthy = false
			fmt.Fprintln(out, "  MISMATCH: the read model is ahead of the event log (an older log restored?); the service drops and rebuilds it at the next start")
		}
	}
	if !healthy {
		return 1
	}
	fmt.Fprintln(out, "healthy")
	return 0
}

func orNone(s string) string {
	if s == "" {
		return "(none recorded)"
	}
	return s
}
