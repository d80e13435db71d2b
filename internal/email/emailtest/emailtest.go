// Package emailtest is a minimal SMTP server for tests: it accepts every
// message on loopback, without TLS or authentication, and keeps it.
package emailtest

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Mail is one message the server took.
type Mail struct {
	From string
	To   []string
	Data string // headers and body as sent
	At   time.Time
}

// Server is a running SMTP server.
type Server struct {
	ln   net.Listener
	Host string
	Port int
	mu   sync.Mutex
	mail []Mail
	wg   sync.WaitGroup
}

// NewServer listens on a loopback port; Close it when done.
func NewServer() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	s := &Server{ln: ln, Host: host, Port: p}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Close stops listening and waits for open sessions to end.
func (s *Server) Close() {
	_ = s.ln.Close()
	s.wg.Wait()
}

// Mails returns the messages taken so far.
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mail...)
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.session(conn)
		}()
	}
}

// session speaks just enough of RFC 5321 for a client that sends one
// message at a time.
func (s *Server) session(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	r, w := bufio.NewReader(conn), bufio.NewWriter(conn)
	reply := func(line string) {
		w.WriteString(line + "\r\n")
		w.Flush()
	}
	reply("220 emailtest ready")
	var cur Mail
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			w.WriteString("250-emailtest\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
			w.Flush()
		case strings.HasPrefix(cmd, "HELO"):
			reply("250 emailtest")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			cur = Mail{From: strings.TrimSpace(line[len("MAIL FROM:"):])}
			reply("250 OK")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			cur.To = append(cur.To, strings.Trim(strings.TrimSpace(line[len("RCPT TO:"):]), "<>"))
			reply("250 OK")
		case cmd == "DATA":
			reply("354 end with <CRLF>.<CRLF>")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" || l == ".\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			cur.Data, cur.At = data.String(), time.Now()
			s.mu.Lock()
			s.mail = append(s.mail, cur)
			s.mu.Unlock()
			reply("250 OK queued")
		case cmd == "QUIT":
			reply("221 bye")
			return
		default: // RSET, NOOP
			reply("250 OK")
		}
	}
}
