package equivalence_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/eventnotify/notify/infra/readmodel/pginbox"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

// backends are the read models the equivalence test runs on: the embedded one, and
// PostgreSQL when PG_URL is set (CI starts one with deploy/postgres/pg.sh).
func backends() []backend { return []backend{embedded(), postgres()} }

// postgres opens a read model in a schema of its own, projected live through the projector's
// lease as in production; the schema is dropped afterwards.
func postgres() backend {
	return backend{"postgres", func(t *testing.T, ctx context.Context, log projections.Log) readModel {
		url := os.Getenv("PG_URL")
		if url == "" {
			t.Skip("PG_URL is not set: start PostgreSQL with `deploy/postgres/pg.sh up` (CI does) to run the PostgreSQL case")
		}
		schema := "eq_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
		s, err := pginbox.Open(ctx, url, pginbox.Options{Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			s.Close()
			conn, err := pgx.Connect(context.Background(), url)
			if err == nil {
				_, err = conn.Exec(context.Background(), `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
				conn.Close(context.Background())
			}
			if err != nil {
				t.Errorf("drop schema %s: %v", schema, err)
			}
		})
		go s.RunLeading(ctx, inbox.Name, func(ctx context.Context, lease *pginbox.Lease) error {
			return projections.NewRunner(log, lease, inbox.Projection(), nil).Run(ctx)
		}, func(err error) { t.Logf("projector: %v", err) })
		return s
	}}
}
