// Command natsauth makes the NATS credentials of an install: a seed per
// principal (scheduler, worker, each clinic's booking system) and the
// auth.conf with their public keys and permissions, for the Secret the NATS
// chart includes (docs/production-nats.md).
//
//	go run ./cmd/natsauth -clinics deploy/k8s/base/clinics.json -out nats-auth
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/aftercare/aftercare/internal/natsauth"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "natsauth:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("natsauth", flag.ContinueOnError)
	clinicsFile := fs.String("clinics", "", "clinics file (CLINICS_FILE): a booking-system user per clinic")
	out := fs.String("out", "nats-auth", "directory for auth.conf and the seeds; seeds already there are kept")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *clinicsFile == "" {
		return fmt.Errorf("-clinics: required")
	}
	raw, err := os.ReadFile(*clinicsFile)
	if err != nil {
		return err
	}
	var file struct {
		Clinics []struct {
			ID string `json:"id"`
		} `json:"clinics"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		return fmt.Errorf("%s: %w", *clinicsFile, err)
	}
	var ids []string
	for _, c := range file.Clinics {
		ids = append(ids, c.ID)
	}
	users, err := natsauth.Generate(*out, ids)
	if err != nil {
		return err
	}
	for _, u := range users {
		fmt.Fprintf(stdout, "%s\t%s\t%s/%s.nk\n", u.Name, u.NKey, *out, u.Name)
	}
	fmt.Fprintf(stdout, "wrote %s/auth.conf\n", *out)
	return nil
}
