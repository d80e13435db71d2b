// Package harness runs the real programs as separate processes — nats-server
// (built from the nats-server module), the scheduler and the worker — with a
// Twilio stand-in, for the load generator and the fault suite.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one running program.
type Proc struct {
	Name string
	Addr string // the HTTP address it listens on, for ours
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{} // closed when it has exited
}

func (p *Proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.logs.Len() < 64<<20 { // keep the logs, bounded, for errors and scans
		p.logs.Write(b)
	}
	return len(b), nil
}

// Logs returns what the program wrote to stderr (its first 64 MiB).
func (p *Proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// Tail is the end of its logs, for error messages.
func (p *Proc) Tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.logs.String()
	return s[max(0, len(s)-2000):]
}

var listening = regexp.MustCompile(`listening on http://(\S+)`)

// Start runs a program and, for ours, waits for its address.
func Start(name, bin string, args, env []string, waitHTTP bool) (*Proc, error) {
	p := &Proc{Name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = p
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		close(addr)
		_ = p.cmd.Wait()
		close(p.done)
	}()
	if !waitHTTP {
		return p, nil
	}
	select {
	case a, ok := <-addr:
		if !ok {
			return nil, fmt.Errorf("%s exited at start:\n%s", name, p.Tail())
		}
		p.Addr = a
		return p, nil
	case <-time.After(60 * time.Second):
		p.Kill()
		return nil, fmt.Errorf("%s did not start:\n%s", name, p.Tail())
	}
}

// Stop sends SIGTERM and waits for the program to exit (SIGKILL after 30 s).
func (p *Proc) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.Kill()
	}
}

// Kill sends SIGKILL (kill -9) and waits for the program to be gone.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Exited reports whether the program has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Usage is a process's peak resident memory and CPU time so far, from /proc.
type Usage struct {
	PeakRSS int64 // bytes
	CPU     time.Duration
}

// Usage reads it; call it before the program exits.
func (p *Proc) Usage() Usage {
	var u Usage
	pid := p.cmd.Process.Pid
	u.PeakRSS = p.status("VmHWM")
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Fields after the command name: utime and stime are the 12th and 13th.
		if i := bytes.LastIndexByte(stat, ')'); i > 0 {
			f := strings.Fields(string(stat[i+1:]))
			if len(f) > 12 {
				ut, _ := strconv.ParseInt(f[11], 10, 64)
				st, _ := strconv.ParseInt(f[12], 10, 64)
				u.CPU = time.Duration(ut+st) * time.Second / 100 // USER_HZ
			}
		}
	}
	return u
}

// Build compiles the scheduler, the worker and nats-server (from the
// nats-server module this repository already depends on) into dir. Run it
// from the repository root.
func Build(ctx context.Context, dir string, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator),
		"./cmd/scheduler", "./cmd/worker", "github.com/nats-io/nats-server/v2")
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build the programs (run loadgen from the repository root): %w", err)
	}
	return nil
}

// FreePort finds a loopback TCP port nothing listens on, below the
// kernel's range of ephemeral ports. A port the kernel handed out (":0")
// is one it may hand out again to an outgoing connection, and a nats-server
// restarted on its ports after a kill then finds one taken ("address
// already in use"): a fault run failed that way.
// No port is handed out twice by one process: a run takes its ports one
// after another, before anything listens on them.
func FreePort() (int, error) {
	low := ephemeralLow()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 200 {
		port := 10000 + rand.IntN(low-10000)
		if portsGiven[port] {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			ln.Close()
			portsGiven[port] = true
			return port, nil
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// ephemeralLow is the first port the kernel hands to outgoing connections
// (Linux's ip_local_port_range; 32768 where it cannot be read).
func ephemeralLow() int {
	low := 32768
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if fields := strings.Fields(string(data)); len(fields) == 2 {
			if n, err := strconv.Atoi(fields[0]); err == nil && n > 11000 {
				low = n
			}
		}
	}
	return low
}

// output runs a program to completion and returns what it printed.
func output(bin string, args ...string) ([]byte, error) {
	return exec.Command(bin, args...).Output()
}

// WaitTCP waits until something listens at addr.
func WaitTCP(addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens at %s: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RSS is the process's resident memory now.
func (p *Proc) RSS() int64 { return p.status("VmRSS") }

// status reads a memory field ("VmRSS", "VmHWM") of /proc/<pid>/status, in bytes.
func (p *Proc) status(field string) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// Workspace makes a temporary directory for a run and, unless bin names a
// directory of prebuilt programs, builds them into it. It returns the
// directory (remove it when done) and where the programs are.
func Workspace(ctx context.Context, name, bin string, stderr io.Writer) (dir, programs string, err error) {
	dir, err = os.MkdirTemp("", "aftercare-"+name)
	if err != nil {
		return "", "", err
	}
	if bin != "" {
		return dir, bin, nil
	}
	programs = filepath.Join(dir, "bin")
	fmt.Fprintf(stderr, "%s: building scheduler, worker and nats-server ...\n", name)
	if err := Build(ctx, programs, stderr); err != nil {
		os.RemoveAll(dir)
		return "", "", err
	}
	return dir, programs, nil
}
