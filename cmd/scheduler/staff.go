package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/config"
	"github.com/aftercare/aftercare/internal/logging"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/staff"
)

const staffUsage = `usage: scheduler staff add -clinic ID -email EMAIL -name NAME [-role clinic_admin|clinician|front_desk] [-password-stdin]

Creates a staff account, such as a clinic's first admin (later ones are
made in the inbox by an admin). Without -password-stdin a random password
is printed once; hand it over privately. It connects like the scheduler
(NATS_URL, ...); on the embedded server, stop the scheduler first or set
NATS_URL to the running one.`

// staffCommand runs "scheduler staff ...".
func staffCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return errors.New(staffUsage)
	}
	fs := flag.NewFlagSet("staff add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	clinic := fs.String("clinic", "", "the clinic's id, as in the clinics file")
	email := fs.String("email", "", "the person's email: their login")
	name := fs.String("name", "", "the person's name, as colleagues see it")
	role := fs.String("role", string(staff.ClinicAdmin), "clinic_admin, clinician or front_desk")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin instead of making one")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, clinics, err := config.LoadScheduler(getenv)
	if err != nil {
		return err
	}
	known := false
	for _, c := range clinics {
		known = known || c.ID == *clinic
	}
	if !known {
		return fmt.Errorf("-clinic %q is no clinic in %s", *clinic, cfg.ClinicsFile)
	}
	password := staff.NewPassword()
	if *fromStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read the password: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	}
	log := logging.New(stderr, cfg.LogLevel, cfg.LogFormat).With("program", "scheduler staff")
	connectCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	conn, store, err := natsjs.Open(connectCtx, cfg.NATS, "aftercare-staff-command", log)
	if err != nil {
		return err
	}
	defer conn.Close()
	by := aftercare.Author{Kind: aftercare.AuthorSystem, Name: "scheduler staff add"}
	a, err := staff.New(store, staff.Limits{}, time.Now, log).Create(ctx, staff.NewAccount{
		ClinicID: *clinic, Email: *email, Name: *name, Role: staff.Role(*role), Password: password}, by)
	if err != nil {
		return err
	}
	audit := &staff.Audit{JS: store.JetStream(), Now: time.Now}
	if err := audit.Record(ctx, staff.Entry{ClinicID: a.ClinicID, Author: by, Action: "create_account", Kind: "account", Target: a.ID,
		Note: string(a.Role) + " " + a.Name}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created %s (%s) at %s: id %s\n", a.Email, a.Role, a.ClinicID, a.ID)
	if !*fromStdin {
		fmt.Fprintf(stdout, "one-time password: %s\n", password)
	}
	return nil
}

// The demo login of a local run (DEMO_STAFF, embedded nats-server only).
const (
	demoEmail    = "demo@aftercare.local"
	demoPassword = "aftercare-demo"
)

// demoStaff creates the demo clinic admin when the clinic has no staff.
func demoStaff(ctx context.Context, svc *staff.Service, clinic string) error {
	list, err := svc.List(ctx, clinic)
	if err != nil || len(list) > 0 {
		return err
	}
	_, err = svc.Create(ctx, staff.NewAccount{ClinicID: clinic, Email: demoEmail, Name: "Demo Admin", Role: staff.ClinicAdmin, Password: demoPassword},
		aftercare.Author{Kind: aftercare.AuthorSystem, Name: "local run"})
	if errors.Is(err, staff.ErrEmailTaken) {
		return nil
	}
	return err
}
