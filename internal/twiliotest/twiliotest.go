// Package twiliotest is a local stand-in for Twilio's Messages and Calls APIs, speaking
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
	"slices"
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

// Call is one voice call the stand-in accepted.
type Call struct {
	SID   string
	To    string
	From  string
	Twiml string
	At    time.Time
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
	// Clock, if set, stamps accepted messages (At, and date_created) in
	// place of the real time: for tests that run on a test clock.
	Clock    func() time.Time
	mu       sync.Mutex
	messages []Message
	calls    []Call
	script   []Reply
	fault    *Reply // answers every request while set (see Fail)
	requests int
	lists    int
	inFlight int
	deleted  []string        // SIDs of messages deleted
	sending  map[string]bool // SIDs whose delivery is not over: not deletable yet
	created  int             // messages ever accepted: SIDs stay unique after deletes
}

// NewServer starts a stand-in; Close it when done.
func NewServer() *Server {
	s := &Server{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", s.createMessage)
	mux.HandleFunc("GET /2010-04-01/Accounts/{sid}/Messages.json", s.listMessages)
	mux.HandleFunc("DELETE /2010-04-01/Accounts/{sid}/Messages/{file}", s.deleteMessage)
	mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Calls.json", s.createCall)
	s.Server = httptest.NewServer(mux)
	return s
}

func (s *Server) now() time.Time {
	if s.Clock != nil {
		return s.Clock()
	}
	return time.Now()
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

// authentic answers 401 unless the request carries the account's auth token
// or its API key.
func authentic(w http.ResponseWriter, r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	known := (user == AccountSID && pass == AuthToken) || (user == APIKeySID && pass == APIKeySecret)
	if !ok || !known || r.PathValue("sid") != AccountSID {
		writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return false
	}
	return true
}

// Lists counts list requests (FindSent's lookups).
func (s *Server) Lists() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lists
}

// listMessages answers a Messages list as Twilio does: newest first, one
// page of PageSize (50 by default), filtered by To and From. A Fail in force
// answers it too, as an outage would; a Script is for creates only.
func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) {
	if !authentic(w, r) {
		return
	}
	q := r.URL.Query()
	size, err := strconv.Atoi(q.Get("PageSize"))
	if q.Get("PageSize") == "" {
		size = 50
	} else if err != nil || size < 1 || size > 1000 {
		writeError(w, http.StatusBadRequest, 20001, "PageSize must be 1 to 1000")
		return
	}
	s.mu.Lock()
	s.lists++
	fault := s.fault
	var page []map[string]any
	for i := len(s.messages) - 1; i >= 0 && len(page) < size; i-- {
		m := s.messages[i]
		if (q.Get("To") == "" || q.Get("To") == m.To) && (q.Get("From") == "" || q.Get("From") == m.From) {
			page = append(page, resource(m))
		}
	}
	s.mu.Unlock()
	if fault != nil && answerFault(w, r, *fault) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"messages": page, "page": 0, "page_size": size, "start": 0, "end": max(len(page)-1, 0),
		"first_page_uri": r.URL.RequestURI(), "next_page_uri": nil, "previous_page_uri": nil, "uri": r.URL.RequestURI(),
	})
}

// answerFault plays a scripted reply that is not a plain acceptance; it
// reports whether it answered (or hung up).
func answerFault(w http.ResponseWriter, r *http.Request, reply Reply) bool {
	if reply.Hang {
		<-r.Context().Done()
		return true
	}
	time.Sleep(reply.Delay)
	if reply.Status == 0 {
		return false
	}
	if reply.RetryAfter != "" {
		w.Header().Set("Retry-After", reply.RetryAfter)
	}
	if reply.HTML {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(reply.Status)
		fmt.Fprint(w, "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>")
		return true
	}
	// Twilio's messages name the number, as its 21211 does: "The 'To'
	// number +447700900444 is not a valid phone number." So must ours, or
	// a log that prints them unmasked would pass every test.
	message := "scripted failure"
	if to := r.PostFormValue("To"); to != "" {
		message = fmt.Sprintf("The 'To' number %s could not be sent to (scripted failure).", to)
		if reply.Code == 21211 {
			message = fmt.Sprintf("The 'To' number %s is not a valid phone number.", to)
		}
	}
	writeError(w, reply.Status, reply.Code, message)
	return true
}

func (s *Server) createMessage(w http.ResponseWriter, r *http.Request) {
	received := time.Now()
	if !authentic(w, r) {
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
	if reply != nil && answerFault(w, r, *reply) {
		return
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
	s.created++
	m := Message{
		SID: fmt.Sprintf("SM%032d", s.created), To: to, From: from, MessagingServiceSID: service,
		Body: body, StatusCallback: r.PostForm.Get("StatusCallback"), Received: received, At: s.now(),
	}
	s.messages = append(s.messages, m)
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(resource(m))
}

// deleteMessage deletes a message as Twilio does: 204 with no body, or 404
// with Twilio's error 20404 for a SID it does not have (deleted already).
func (s *Server) deleteMessage(w http.ResponseWriter, r *http.Request) {
	if !authentic(w, r) {
		return
	}
	sid, ok := strings.CutSuffix(r.PathValue("file"), ".json")
	s.mu.Lock()
	i := slices.IndexFunc(s.messages, func(m Message) bool { return m.SID == sid })
	if ok && i >= 0 && s.sending[sid] {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, 20009, "Cannot delete message because delivery has not been completed.")
		return
	}
	if ok && i >= 0 {
		s.messages = slices.Delete(s.messages, i, i+1)
		s.deleted = append(s.deleted, sid)
	}
	s.mu.Unlock()
	if !ok || i < 0 {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Sending marks a message as still being delivered (or, with false, its
// delivery as over): until then Twilio refuses to delete it, with 20009.
func (s *Server) Sending(sid string, still bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sending == nil {
		s.sending = map[string]bool{}
	}
	s.sending[sid] = still
}

// Deleted returns the SIDs of the messages deleted so far, in order.
func (s *Server) Deleted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deleted)
}

// Calls returns the voice calls placed so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// createCall takes a Calls API request as Twilio does: To, From, and one
// of Url, Twiml or ApplicationSid; 201 with a call resource, status queued.
// A Fail in force answers it too; a Script is for messages only.
func (s *Server) createCall(w http.ResponseWriter, r *http.Request) {
	if !authentic(w, r) {
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, 20001, "bad form")
		return
	}
	s.mu.Lock()
	fault := s.fault
	s.mu.Unlock()
	if fault != nil && answerFault(w, r, *fault) {
		return
	}
	to, from, twiml := r.PostForm.Get("To"), r.PostForm.Get("From"), r.PostForm.Get("Twiml")
	switch {
	case to == "":
		writeError(w, http.StatusBadRequest, 21201, "No 'To' number is specified")
		return
	case from == "":
		writeError(w, http.StatusBadRequest, 21213, "No 'From' number is specified")
		return
	case twiml == "" && r.PostForm.Get("Url") == "" && r.PostForm.Get("ApplicationSid") == "":
		writeError(w, http.StatusBadRequest, 21205, "Url, Twiml or ApplicationSid is required")
		return
	case twiml != "" && !strings.HasPrefix(strings.TrimSpace(twiml), "<Response>"):
		writeError(w, http.StatusBadRequest, 13610, "Twiml must be a <Response> document")
		return
	}
	s.mu.Lock()
	c := Call{SID: fmt.Sprintf("CA%032d", len(s.calls)+1), To: to, From: from, Twiml: twiml, At: s.now()}
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"sid": c.SID, "account_sid": AccountSID, "to": c.To, "from": c.From, "status": "queued",
		"direction": "outbound-api", "api_version": "2010-04-01", "date_created": c.At.UTC().Format(time.RFC1123Z),
		"uri": "/2010-04-01/Accounts/" + AccountSID + "/Calls/" + c.SID + ".json",
	})
}

// resource is a message as Twilio's API shows it.
func resource(m Message) map[string]any {
	status := "queued"
	if m.MessagingServiceSID != "" {
		status = "accepted"
	}
	return map[string]any{
		"sid": m.SID, "account_sid": AccountSID, "to": m.To, "from": nullable(m.From),
		"messaging_service_sid": nullable(m.MessagingServiceSID), "body": m.Body, "status": status,
		"num_segments": "1", "direction": "outbound-api", "api_version": "2010-04-01",
		"date_created": m.At.UTC().Format(time.RFC1123Z), "error_code": nil, "error_message": nil,
		"uri": "/2010-04-01/Accounts/" + AccountSID + "/Messages/" + m.SID + ".json",
	}
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
