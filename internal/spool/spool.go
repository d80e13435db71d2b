// Package spool keeps messages on local disk while JetStream cannot take
// them, and hands them over once it can. The worker spools a client's text
// when a stream is electing a leader (writes fail for 0.4-25 s on a 3-node
// cluster), because Twilio does not retry an inbound webhook that failed
// and its connection-override retries stop after 15 s in all.
package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Spool is a directory of messages, one file each, written with fsync
// before Put returns.
type Spool struct {
	dir string
	seq atomic.Uint64
	mu  sync.Mutex // one Drain at a time
}

// Open makes the directory if needed and checks it can be written.
func Open(dir string) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	probe, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return nil, fmt.Errorf("spool %s is not writable: %w", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return &Spool{dir: dir}, nil
}

// Put stores data durably under a name made from id (ids are opaque; two
// Puts of one id keep both). It returns once the file and its directory
// entry are on disk.
func (s *Spool) Put(id string, data []byte) error {
	name := fmt.Sprintf("%020d-%06d-%s.msg", time.Now().UnixNano(), s.seq.Add(1)%1e6, safe(id))
	tmp, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(s.dir, name))
	}
	if err == nil {
		err = syncDir(s.dir)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// Len is how many messages wait in the spool.
func (s *Spool) Len() int {
	names, _ := s.names()
	return len(names)
}

// Drain hands each waiting message, oldest first, to deliver, and removes
// it once deliver returns nil. It stops at the first failure (JetStream is
// still away) and returns how many it delivered.
func (s *Spool) Drain(deliver func(data []byte) error) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names, err := s.names()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range names {
		path := filepath.Join(s.dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			return n, fmt.Errorf("spool: %w", err)
		}
		if err := deliver(data); err != nil {
			return n, err
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, fmt.Errorf("spool: %w", err)
		}
		n++
	}
	return n, nil
}

// names lists the waiting messages, oldest first (names start with the time).
func (s *Spool) names() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".msg") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// safe keeps an id's letters and digits for a readable file name.
func safe(id string) string {
	b := []byte(id)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b[:min(len(b), 64)])
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
