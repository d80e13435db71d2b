package harness

import (
	"bytes"
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
}

// System is nats-server, the scheduler and the worker, each its own
// process, with the worker sending through a Twilio stand-in.
type System struct {
	Twilio                  *twiliotest.Server
	NATS, Scheduler, Worker *Proc
	NATSURL, NATSVersion    string
	// ProfAddr is each process's pprof address, when Config.Pprof is set.
	ProfAddr map[string]string

	all                     []*Proc // every process started, killed ones too
	cfg                     Config
	natsConf                string
	schedulerEnv, workerEnv []string
	natsAddr                string
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
	port, err := FreePort()
	if err != nil {
		return err
	}
	s.natsAddr = fmt.Sprintf("127.0.0.1:%d", port)
	s.NATSURL = "nats://" + s.natsAddr
	natsConf := fmt.Sprintf("listen: %s\njetstream {\n  store_dir: %q\n  sync_interval: %s\n}\n", s.natsAddr, filepath.Join(cfg.Dir, "jetstream"), cfg.Fsync)
	var schedProf, workerProf []string
	if cfg.Pprof {
		ports := make([]int, 3)
		for i := range ports {
			if ports[i], err = FreePort(); err != nil {
				return err
			}
		}
		natsConf += fmt.Sprintf("prof_port: %d\n", ports[0])
		s.ProfAddr["nats-server"] = fmt.Sprintf("127.0.0.1:%d", ports[0])
		s.ProfAddr["scheduler"] = fmt.Sprintf("127.0.0.1:%d", ports[1])
		s.ProfAddr["worker"] = fmt.Sprintf("127.0.0.1:%d", ports[2])
		schedProf = []string{"PPROF_ADDR=" + s.ProfAddr["scheduler"]}
		workerProf = []string{"PPROF_ADDR=" + s.ProfAddr["worker"]}
	}
	s.natsConf = filepath.Join(cfg.Dir, "nats.conf")
	if err := os.WriteFile(s.natsConf, []byte(natsConf), 0o600); err != nil {
		return err
	}
	if out, err := output(filepath.Join(cfg.Bin, "nats-server"), "--version"); err == nil {
		s.NATSVersion = strings.TrimPrefix(string(bytes.TrimSpace(out)), "nats-server: ")
	}
	if err := s.StartNATS(); err != nil {
		return err
	}

	clinics := filepath.Join(cfg.Dir, "clinics.json")
	if err := os.WriteFile(clinics, []byte(cfg.Clinics), 0o600); err != nil {
		return err
	}
	env := append([]string{"NATS_URL=" + s.NATSURL, "HTTP_ADDR=127.0.0.1:0", "CLINICS_FILE=" + clinics}, cfg.Env...)
	s.schedulerEnv = slices.Concat(env, cfg.SchedulerEnv, schedProf)
	s.workerEnv = slices.Concat(env, []string{
		"SMS_DRIVER=twilio", "TWILIO_ACCOUNT_SID=" + twiliotest.AccountSID, "TWILIO_AUTH_TOKEN=" + twiliotest.AuthToken,
		"TWILIO_API_BASE_URL=" + s.Twilio.URL,
	}, cfg.WorkerEnv, workerProf)
	if err := s.StartProgram("scheduler"); err != nil {
		return err
	}
	return s.StartProgram("worker")
}

// StartNATS starts nats-server (again) on the same port and store, and
// waits until it listens.
func (s *System) StartNATS() error {
	p, err := Start("nats-server", filepath.Join(s.cfg.Bin, "nats-server"), []string{"-c", s.natsConf}, nil, false)
	if err != nil {
		return err
	}
	s.NATS = p
	s.all = append(s.all, p)
	if err := WaitTCP(s.natsAddr); err != nil {
		return fmt.Errorf("nats-server: %w\n%s", err, p.Tail())
	}
	return nil
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

// Procs lists the running processes: scheduler, worker, nats-server.
func (s *System) Procs() []*Proc { return []*Proc{s.Scheduler, s.Worker, s.NATS} }

// AllProcs lists every process started so far, those since killed or
// stopped too, for their logs.
func (s *System) AllProcs() []*Proc { return s.all }

// StoreDir is where nats-server keeps JetStream's files.
func (s *System) StoreDir() string { return filepath.Join(s.cfg.Dir, "jetstream") }

// NATSAddr is nats-server's host:port.
func (s *System) NATSAddr() string { return s.natsAddr }

// Stop stops every process gracefully and closes the stand-in.
func (s *System) Stop() {
	for _, p := range []*Proc{s.Worker, s.Scheduler, s.NATS} {
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
