package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aftercare/aftercare/internal/config"
	"github.com/aftercare/aftercare/internal/logging"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/staff"
)

const auditUsage = `usage: scheduler audit migrate

Copies the audit trail of earlier versions (stream AFTERCARE_AUDIT, whose
entries hold staff replies' text and name conversations by an unsalted hash
of the number) into AFTERCARE_STAFF_AUDIT without the text and with random
conversation ids, then deletes it: that stream denies deletes, so erasure
could not reach it. Run it once, from one process, after upgrading; it is
safe to run again if it stops part way. It connects like the scheduler.`

// auditCommand runs "scheduler audit ...".
func auditCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) != 1 || args[0] != "migrate" {
		return errors.New(auditUsage)
	}
	cfg, _, err := config.LoadScheduler(getenv)
	if err != nil {
		return err
	}
	log := logging.New(stderr, cfg.LogLevel, cfg.LogFormat).With("program", "scheduler audit")
	connectCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	conn, store, err := natsjs.Open(connectCtx, cfg.NATS, "aftercare-audit-command", log)
	if err != nil {
		return err
	}
	defer conn.Close()
	res, err := (&staff.Audit{JS: store.JetStream(), Now: time.Now}).MigrateRetired(ctx)
	if err != nil {
		return err
	}
	if !res.Retired {
		fmt.Fprintf(stdout, "no %s stream: nothing to migrate\n", natsjs.RetiredStreamAudit)
		return nil
	}
	fmt.Fprintf(stdout, "copied %d entries (%d unreadable skipped; %d erased conversations left unlinked) into %s; %s deleted\n",
		res.Copied, res.Skipped, res.Unlinked, natsjs.StreamAudit, natsjs.RetiredStreamAudit)
	return nil
}
