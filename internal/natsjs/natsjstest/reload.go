package natsjstest

import (
	"net"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	natsserver "github.com/nats-io/nats-server/v2/test"
)

// Reloadable is a test nats-server whose options a test can change while
// clients stay connected, as an operator's config reload would.
type Reloadable struct {
	*server.Server
	opts server.Options
}

// StartReloadable runs a nats-server with JetStream like StartServer, whose
// options Reload can change.
func StartReloadable(t testing.TB) *Reloadable {
	t.Helper()
	opts := natsserver.DefaultTestOptions
	opts.Port = -1
	opts.JetStream = true
	opts.StoreDir = t.TempDir()
	start := opts
	ns := natsserver.RunServer(&start)
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	opts.Port = ns.Addr().(*net.TCPAddr).Port // a restart keeps its URL
	return &Reloadable{Server: ns, opts: opts}
}

// Reload applies change to the server's options; nats-server applies it to
// the connected clients too (a lower max_control_line, other users...).
func (r *Reloadable) Reload(change func(*server.Options)) error {
	change(&r.opts)
	opts := r.opts
	return r.ReloadOptions(&opts)
}

// Restart shuts the server down, if it runs, and starts it again with its
// options on the same port and store, as a restart of nats-server would.
func (r *Reloadable) Restart(t testing.TB) {
	t.Helper()
	r.Shutdown()
	r.WaitForShutdown()
	opts := r.opts
	r.Server = natsserver.RunServer(&opts)
	ns := r.Server
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
}
