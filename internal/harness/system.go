package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aftercare/aftercare/internal/twiliotest"
)

// Config says how to run the system.
type Config struct {
	Bin   string // directory with scheduler, worker and nats-server (see Build)
	Dir   string // working directory: the JetStream store, config files
	Fsync string // nats-server's sync_interval: "always" or an interval such as "2m"
	// Clinics is the clinics file's JSON.
	Clinics string
	// Env is added to both programs' environment (tokens, offsets, ...);
	// SchedulerEnv and WorkerEnv to one of them.
	Env, SchedulerEnv, WorkerEnv []string
	// Pprof, if set, gives each process a pprof listener (see ProfAddr).
	Pprof bool
	// Nodes, when above 1, runs a JetStream cluster of that many
	// nats-servers on loopback, with every stream and bucket at R<Nodes>.
	Nodes int
	// NATSOnly starts the nats-server(s) and not our programs: for a run of
	// the bare engine on the same settings.
	NATSOnly bool
}

// System is nats-server, the scheduler and the worker, each its own
// process, with the worker sending through a Twilio stand-in.
type System struct {
	Twilio                  *twiliotest.Server
	NATS, Scheduler, Worker *Proc
	NATSURL, NATSVersion    string
	// ProfAddr is each process's pprof address, when Config.Pprof is set.
	ProfAddr map[string]string

	// Nodes are the cluster's nats-servers (NATS is the first); each
	// node's process is replaced when it is started again.
	Nodes []*Node

	all                     []*Proc // every process started, killed ones too
	cfg                     Config
	schedulerEnv, workerEnv []string
	natsAddr                string
}

// Node is one nats-server of the system: its config, addresses and the
// process now running it.
type Node struct {
	Name     string
	Proc     *Proc
	conf     string
	addr     string // client host:port
	httpAddr string // monitoring host:port
}

// StartSystem starts nats-server, then the scheduler and the worker.
func StartSystem(cfg Config) (*System, error) {
	s := &System{Twilio: twiliotest.NewServer(), ProfAddr: map[string]string{}, cfg: cfg}
	if err := s.start(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *System) start() error {
	cfg := s.cfg
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return err
	}
	nodes := max(cfg.Nodes, 1)
	// Three ports a node: clients, routes, monitoring.
	ports := make([]int, 3*nodes)
	for i := range ports {
		var err error
		if ports[i], err = FreePort(); err != nil {
			return err
		}
	}
	var routes, urls []string
	for i := range nodes {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3*i+1]))
	}
	var schedProf, workerProf []string
	for i := range nodes {
		n := &Node{Name: fmt.Sprintf("n%d", i+1), addr: fmt.Sprintf("127.0.0.1:%d", ports[3*i]), httpAddr: fmt.Sprintf("127.0.0.1:%d", ports[3*i+2])}
		conf := fmt.Sprintf("server_name: %s\nlisten: %s\nhttp: %s\njetstream {\n  store_dir: %q\n  sync_interval: %s\n}\n",
			n.Name, n.addr, n.httpAddr, filepath.Join(cfg.Dir, "jetstream", n.Name), cfg.Fsync)
		if nodes > 1 {
			conf += fmt.Sprintf("cluster {\n  name: aftercare\n  listen: 127.0.0.1:%d\n  routes: [%s]\n}\n", ports[3*i+1], strings.Join(routes, ", "))
		}
		if cfg.Pprof {
			// Every node's profile: at R3 the streams' leaders are spread
			// over them. The first is "nats-server", the others by name.
			port, err := FreePort()
			if err != nil {
				return err
			}
			conf += fmt.Sprintf("prof_port: %d\n", port)
			name := "nats-server"
			if i > 0 {
				name += "-" + n.Name
			}
			s.ProfAddr[name] = fmt.Sprintf("127.0.0.1:%d", port)
		}
		if cfg.Pprof && i == 0 {
			for _, program := range []string{"scheduler", "worker"} {
				port, err := FreePort()
				if err != nil {
					return err
				}
				s.ProfAddr[program] = fmt.Sprintf("127.0.0.1:%d", port)
			}
			schedProf = []string{"PPROF_ADDR=" + s.ProfAddr["scheduler"]}
			workerProf = []string{"PPROF_ADDR=" + s.ProfAddr["worker"]}
		}
		n.conf = filepath.Join(cfg.Dir, n.Name+".conf")
		if err := os.WriteFile(n.conf, []byte(conf), 0o600); err != nil {
			return err
		}
		s.Nodes = append(s.Nodes, n)
		urls = append(urls, "nats://"+n.addr)
	}
	s.natsAddr = s.Nodes[0].addr
	s.NATSURL = strings.Join(urls, ",")
	if out, err := output(filepath.Join(cfg.Bin, "nats-server"), "--version"); err == nil {
		s.NATSVersion = strings.TrimPrefix(string(bytes.TrimSpace(out)), "nats-server: ")
	}
	for i := range s.Nodes {
		if err := s.StartNode(i); err != nil {
			return err
		}
	}
	if nodes > 1 {
		// A fresh cluster elects its meta leader before it takes streams.
		if err := s.WaitHealthy(2 * time.Minute); err != nil {
			return err
		}
		cfg.Env = append([]string{fmt.Sprintf("NATS_REPLICAS=%d", nodes)}, cfg.Env...)
	}
	if cfg.NATSOnly {
		return nil
	}

	clinics := filepath.Join(cfg.Dir, "clinics.json")
	if err := os.WriteFile(clinics, []byte(cfg.Clinics), 0o600); err != nil {
		return err
	}
	// Load runs text one clinic far more than a real clinic's day: no quota
	// is what they measure.
	env := append([]string{"NATS_URL=" + s.NATSURL, "HTTP_ADDR=127.0.0.1:0", "CLINICS_FILE=" + clinics,
		"INBOUND_SPOOL_DIR=" + filepath.Join(cfg.Dir, "spool"), "ALLOW_ANY_SEND_WINDOW=true", "FREQUENCY_CAP_PER_DAY=0", "FREQUENCY_CAP_PER_WEEK=0", // texts seconds apart, at any hour
		"QUOTA_TEXTS_PER_CLINIC_PER_DAY=1000000000", "QUOTA_TEXTS_PER_RECIPIENT_PER_DAY=1000000"}, cfg.Env...)
	s.schedulerEnv = slices.Concat(env, cfg.SchedulerEnv, schedProf)
	s.workerEnv = slices.Concat(env, []string{
		"SMS_DRIVER=twilio", "TWILIO_ACCOUNT_SID=" + twiliotest.AccountSID, "TWILIO_AUTH_TOKEN=" + twiliotest.AuthToken,
		"TWILIO_API_BASE_URL=" + s.Twilio.URL,
		"ESCALATION_WEBHOOK_ALLOW_LOOPBACK=true", // the clinic's receiver listens on 127.0.0.1
	}, cfg.WorkerEnv, workerProf)
	if err := s.StartProgram("scheduler"); err != nil {
		return err
	}
	return s.StartProgram("worker")
}

// StartNATS starts the first nats-server (again) on the same port and
// store, and waits until it listens.
func (s *System) StartNATS() error { return s.StartNode(0) }

// StartNode starts node i's nats-server (again) on its ports and store, and
// waits until it listens.
func (s *System) StartNode(i int) error {
	n := s.Nodes[i]
	p, err := Start("nats-server", filepath.Join(s.cfg.Bin, "nats-server"), []string{"-c", n.conf}, nil, false)
	if err != nil {
		return err
	}
	n.Proc = p
	if i == 0 {
		s.NATS = p
	}
	s.all = append(s.all, p)
	if err := WaitTCP(n.addr); err != nil {
		return fmt.Errorf("nats-server %s: %w\n%s", n.Name, err, p.Tail())
	}
	return nil
}

// WaitHealthy waits until every running node answers its /healthz with
// 200: JetStream is up and its streams are current there.
func (s *System) WaitHealthy(within time.Duration) error {
	deadline := time.Now().Add(within)
	for _, n := range s.Nodes {
		if n.Proc == nil || n.Proc.Exited() {
			continue
		}
		for {
			res, err := http.Get("http://" + n.httpAddr + "/healthz")
			if err == nil {
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("nats-server %s not healthy within %v", n.Name, within)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// Leaders names the JetStream meta leader and the leader of each stream
// ("" while there is none), as the first running node's monitoring sees it.
func (s *System) Leaders() (meta string, streams map[string]string, err error) {
	for _, n := range s.Nodes {
		if n.Proc == nil || n.Proc.Exited() {
			continue
		}
		var jsz struct {
			Meta struct {
				Leader string `json:"leader"`
			} `json:"meta_cluster"`
			Accounts []struct {
				Streams []struct {
					Name    string `json:"name"`
					Cluster struct {
						Leader string `json:"leader"`
					} `json:"cluster"`
				} `json:"stream_detail"`
			} `json:"account_details"`
		}
		res, err := http.Get("http://" + n.httpAddr + "/jsz?streams=true")
		if err != nil {
			return "", nil, err
		}
		err = json.NewDecoder(res.Body).Decode(&jsz)
		res.Body.Close()
		if err != nil {
			return "", nil, err
		}
		streams = map[string]string{}
		for _, a := range jsz.Accounts {
			for _, st := range a.Streams {
				streams[st.Name] = st.Cluster.Leader
			}
		}
		return jsz.Meta.Leader, streams, nil
	}
	return "", nil, errors.New("no nats-server running")
}

// NodeIndex finds a node by server name, or -1.
func (s *System) NodeIndex(name string) int {
	return slices.IndexFunc(s.Nodes, func(n *Node) bool { return n.Name == name })
}

// StartProgram starts "scheduler" or "worker" (again) and waits until its
// readyz answers 200.
func (s *System) StartProgram(name string) error {
	env := s.schedulerEnv
	if name == "worker" {
		env = s.workerEnv
	}
	p, err := Start(name, filepath.Join(s.cfg.Bin, name), nil, env, true)
	if err != nil {
		return err
	}
	s.all = append(s.all, p)
	if name == "worker" {
		s.Worker = p
	} else {
		s.Scheduler = p
	}
	if err := WaitReady(p.Addr, 2*time.Minute); err != nil {
		return fmt.Errorf("%s: %w\n%s", name, err, p.Tail())
	}
	return nil
}

// Procs lists the running processes: scheduler, worker, nats-server(s).
func (s *System) Procs() []*Proc {
	var procs []*Proc
	for _, p := range []*Proc{s.Scheduler, s.Worker} {
		if p != nil {
			procs = append(procs, p)
		}
	}
	for _, n := range s.Nodes {
		procs = append(procs, n.Proc)
	}
	return procs
}

// AllProcs lists every process started so far, those since killed or
// stopped too, for their logs.
func (s *System) AllProcs() []*Proc { return s.all }

// StoreDir is where the first nats-server keeps JetStream's files.
func (s *System) StoreDir() string { return filepath.Join(s.cfg.Dir, "jetstream", s.Nodes[0].Name) }

// NATSAddr is nats-server's host:port.
func (s *System) NATSAddr() string { return s.natsAddr }

// Stop stops every process gracefully and closes the stand-in.
func (s *System) Stop() {
	for _, p := range s.Procs() {
		if p != nil && !p.Exited() {
			p.Stop()
		}
	}
	s.Twilio.Close()
}

// WaitReady waits until the program at addr answers /readyz with 200.
func WaitReady(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready within %v", addr, within)
}

// DirSize is the total size of the files under dir.
func DirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
