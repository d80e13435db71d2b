// Package twiliotest is a local stand-in for Twilio's Messages API, speaking
// its wire format (form-encoded POST, basic auth, JSON message resources and
// Twilio error bodies), so tests drive the real twilio-go client against it.
package twiliotest

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Test credentials: twilio-go insists both are alphanumeric.
const (
	AccountSID = "AC00000000000000000000000000000001"
	AuthToken  = "testauthtoken0000000000000000001"
	// An API key of the account, which may send in place of the auth token.
	APIKeySID    = "SK00000000000000000000000000000001"
	APIKeySecret = "testapikeysecret0000000000000001"
)

// Message is one message the stand-in accepted.
type Message struct {
	SID                 string
	To                  string
	From                string
	MessagingServiceSID string
	Body                string
	StatusCallback      string
	Received            time.Time // when the request arrived
	At                  time.Time // when it was accepted (after any Delay)
}

// Reply scripts one answer: a status and body other than the normal 201.
type Reply struct {
	Status     int
	Code       int    // Twilio error code for a JSON error body
	RetryAfter string // Retry-After header, if any
	HTML       bool   // answer with an HTML page, as a proxy in front would
	// Delay holds the answer back; with Status 0 the message is accepted
	// after it, even if the client has given up (as Twilio would).
	Delay time.Duration
	// Hang never answers and accepts nothing: the request waits until the
	// client gives up, as when Twilio cannot be reached.
	Hang bool
}

// Server is the stand-in.
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	messages []Message
	script   []Reply
	fault    *Reply // answers every request while set (see Fail)
	requests int
	inFlight int
}

// NewServer starts a stand-in; Close it when done.
func NewServer() *Server {
	s := &Server{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", s.createMessage)
	s.Server = httptest.NewServer(mux)
	return s
}

// Script queues answers for the next requests, in order; after them the
// stand-in accepts messages again.
func (s *Server) Script(replies ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, replies...)
}

// Fail answers every request with r until Recover; a Script queued
// before it is used first.
func (s *Server) Fail(r Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = &r
}

// Recover ends a Fail: requests are accepted again.
func (s *Server) Recover() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = nil
}

// InFlight counts create requests being handled now.
func (s *Server) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight
}

// Messages returns the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Count is how many messages were accepted so far (Messages without the copy).
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.messages)
}

// Requests counts every create request, accepted or not.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *Server) createMessage(w http.ResponseWriter, r *http.Request) {
	received := time.Now()
	user, pass, ok := r.BasicAuth()
	authentic := (user == AccountSID && pass == AuthToken) || (user == APIKeySID && pass == APIKeySecret)
	if !ok || !authentic || r.PathValue("sid") != AccountSID {
		writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		writeError(w, http.StatusBadRequest, 20001, "Content-Type must be form-encoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, 20001, "bad form")
		return
	}
	s.mu.Lock()
	s.requests++
	s.inFlight++
	reply := s.fault
	if len(s.script) > 0 {
		reply = &s.script[0]
		s.script = s.script[1:]
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	if reply != nil {
		if reply.Hang {
			<-r.Context().Done()
			return
		}
		time.Sleep(reply.Delay)
		if reply.Status != 0 {
			if reply.RetryAfter != "" {
				w.Header().Set("Retry-After", reply.RetryAfter)
			}
			if reply.HTML {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(reply.Status)
				fmt.Fprint(w, "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>")
				return
			}
			writeError(w, reply.Status, reply.Code, "scripted failure")
			return
		}
	}
	to, from, service, body := r.PostForm.Get("To"), r.PostForm.Get("From"), r.PostForm.Get("MessagingServiceSid"), r.PostForm.Get("Body")
	switch {
	case to == "":
		writeError(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.")
		return
	case from == "" && service == "":
		writeError(w, http.StatusBadRequest, 21603, "A 'From' phone number is required.")
		return
	case body == "":
		writeError(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	}
	s.mu.Lock()
	m := Message{
		SID: fmt.Sprintf("SM%032d", len(s.messages)+1), To: to, From: from, MessagingServiceSID: service,
		Body: body, StatusCallback: r.PostForm.Get("StatusCallback"), Received: received, At: time.Now(),
	}
	s.messages = append(s.messages, m)
	s.mu.Unlock()

	status := "queued"
	if service != "" {
		status = "accepted"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"sid": m.SID, "account_sid": AccountSID, "to": to, "from": nullable(from),
		"messaging_service_sid": nullable(service), "body": body, "status": status,
		"num_segments": "1", "direction": "outbound-api", "api_version": "2010-04-01",
		"date_created": time.Now().UTC().Format(time.RFC1123Z), "error_code": nil, "error_message": nil,
		"uri": "/2010-04-01/Accounts/" + AccountSID + "/Messages/" + m.SID + ".json",
	})
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// writeError answers as Twilio does: a JSON body with code, message,
// more_info and status.
func writeError(w http.ResponseWriter, status, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"code": code, "message": message, "status": status,
		"more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(code),
	})
}

// Sign computes X-Twilio-Signature as Twilio documents it, independently of
// twilio-go: base64 of HMAC-SHA1, keyed with the auth token, over the full
// URL followed by each POST parameter's name and value, sorted by name.
func Sign(authToken, fullURL string, params url.Values) string {
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, name := range names {
		for _, v := range params[name] {
			b.WriteString(name + v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Webhook sends a form-encoded webhook to fullURL the way Twilio does,
// signed with authToken.
func Webhook(fullURL, authToken string, params url.Values) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, fullURL, strings.NewReader(params.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", Sign(authToken, fullURL, params))
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	return http.DefaultClient.Do(req)
}

// Inbound is the parameters of Twilio's incoming-message webhook.
func Inbound(sid, from, to, body string) url.Values {
	return url.Values{
		"MessageSid": {sid}, "SmsSid": {sid}, "SmsMessageSid": {sid}, "AccountSid": {"AC00000000000000000000000000000001"},
		"From": {from}, "To": {to}, "Body": {body}, "NumMedia": {"0"}, "NumSegments": {"1"},
		"SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"}, "FromCountry": {"GB"}, "ToCountry": {"GB"},
	}
}
