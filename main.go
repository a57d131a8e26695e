// Command notify is the event-sourced notification service. It runs on its embedded event log
// and read model by default; see README.md for the settings.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/eventnotify/notify/infra/service"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := service.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
