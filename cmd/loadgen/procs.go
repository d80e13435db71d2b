package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
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

// proc is one program the load generator runs.
type proc struct {
	name string
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	logs bytes.Buffer
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.logs.Len() < 1<<20 { // keep the start of the logs for errors
		p.logs.Write(b)
	}
	return len(b), nil
}

func (p *proc) tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.logs.String()
	return s[max(0, len(s)-2000):]
}

var listening = regexp.MustCompile(`listening on http://(\S+)`)

// start runs a program and, for ours, waits for its address.
func start(name, bin string, args, env []string, waitHTTP bool) (*proc, error) {
	p := &proc{name: name, cmd: exec.Command(bin, args...)}
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
	}()
	if !waitHTTP {
		return p, nil
	}
	select {
	case a, ok := <-addr:
		if !ok {
			return nil, fmt.Errorf("%s exited at start:\n%s", name, p.tail())
		}
		p.addr = a
		return p, nil
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("%s did not start:\n%s", name, p.tail())
	}
}

// stop sends SIGTERM and waits.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
	}
}

// usage is a process's peak resident memory and CPU time so far, from /proc.
type usage struct {
	peakRSS int64 // bytes
	cpu     time.Duration
}

func (p *proc) usage() usage {
	var u usage
	pid := p.cmd.Process.Pid
	u.peakRSS = p.status("VmHWM")
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Fields after the command name: utime and stime are the 12th and 13th.
		if i := bytes.LastIndexByte(stat, ')'); i > 0 {
			f := strings.Fields(string(stat[i+1:]))
			if len(f) > 12 {
				ut, _ := strconv.ParseInt(f[11], 10, 64)
				st, _ := strconv.ParseInt(f[12], 10, 64)
				u.cpu = time.Duration(ut+st) * time.Second / 100 // USER_HZ
			}
		}
	}
	return u
}

// build compiles the scheduler, the worker and nats-server (from the
// nats-server module this repository already depends on) into dir.
func build(ctx context.Context, dir string, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator),
		"./cmd/scheduler", "./cmd/worker", "github.com/nats-io/nats-server/v2")
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build the programs (run loadgen from the repository root): %w", err)
	}
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// output runs a program to completion and returns what it printed.
func output(bin string, args ...string) ([]byte, error) {
	return exec.Command(bin, args...).Output()
}

// waitTCP waits until something listens at addr.
func waitTCP(addr string) error {
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

// rss is the process's resident memory now.
func (p *proc) rss() int64 { return p.status("VmRSS") }

// status reads a memory field ("VmRSS", "VmHWM") of /proc/<pid>/status, in bytes.
func (p *proc) status(field string) int64 {
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
