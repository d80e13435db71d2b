package inbox

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/staff"
)

//go:embed templates/*.html templates/*.css
var files embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"when":  func(t time.Time, loc *time.Location) string { return t.In(loc).Format("Mon 2 Jan 15:04") },
	"mask":  aftercare.MaskPhone,
	"chart": PainChart,
	"roles": staff.Roles,
	"nonce": NewNonce, // each reply form its own: sending it twice queues one reply
}).ParseFS(files, "templates/*.html"))

// Web serves the inbox's pages. Every page but the login needs a signed-in
// session; every POST needs the session's CSRF token in its form, and
// cross-origin POSTs are refused outright (http.CrossOriginProtection).
type Web struct {
	Staff       *staff.Service
	Audit       *staff.Audit
	Store       *Store
	Escalations Escalations
	// SecureCookie marks the session cookie Secure (served over TLS).
	SecureCookie bool
	// TrustForwardedFor takes the client's address from the last
	// X-Forwarded-For entry (the Ingress's), for login limits.
	TrustForwardedFor bool
	Now               func() time.Time
	Log               *slog.Logger
}

// Viewer is the signed-in person a page is for.
type Viewer struct {
	Account staff.Account
	Session staff.Session
	Loc     *time.Location // the clinic's
}

func (wb *Web) cookieName() string {
	if wb.SecureCookie {
		return "__Host-aftercare_session" // browsers keep it to this host, Secure, path /
	}
	return "aftercare_session"
}

// Protect wraps the inbox's handlers: the cross-origin check and the
// headers every page carries (no caching of health data, no framing).
func (wb *Web) Protect(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	return cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Cache-Control", "no-store")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.ServeHTTP(w, r)
	}))
}

// Signed wraps a page that needs a session: without one, GETs go to the
// login page and anything else is 401; a POST without the session's CSRF
// token is 403 and changes nothing.
func (wb *Web) Signed(h func(http.ResponseWriter, *http.Request, *Viewer)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Cookie(wb.cookieName())
		token := ""
		if c != nil {
			token = c.Value
		}
		sess, acct, err := wb.Staff.Session(r.Context(), token)
		if errors.Is(err, staff.ErrNoSession) {
			if r.Method == http.MethodGet {
				// An alert's link to a conversation leads there after login.
				to := "/inbox/login"
				if next := r.URL.Path; conversationPath.MatchString(next) {
					to += "?next=" + url.QueryEscape(next)
				}
				http.Redirect(w, r, to, http.StatusSeeOther)
				return
			}
			wb.fail(w, r, nil, http.StatusUnauthorized, "you are not signed in (or your session ended): sign in again")
			return
		}
		if err != nil {
			wb.fail(w, r, nil, http.StatusServiceUnavailable, "temporarily unavailable; try again")
			wb.Log.Error("inbox session", "err", err)
			return
		}
		v := &Viewer{Account: acct, Session: sess, Loc: time.UTC}
		if c, ok := wb.Store.Clinics.Lookup(acct.ClinicID); ok {
			v.Loc = c.Location
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
			if err := r.ParseForm(); err != nil {
				wb.fail(w, r, v, http.StatusBadRequest, "the form could not be read (too long?)")
				return
			}
			if !sess.CheckCSRF(r.PostForm.Get("csrf")) {
				wb.fail(w, r, v, http.StatusForbidden, "this form has expired or did not come from the inbox: reload the page and try again")
				return
			}
		}
		r = r.WithContext(aftercare.WithAuthor(r.Context(), acct.Author()))
		h(w, r, v)
	}
}

type pageData struct {
	Title   string
	Viewer  *Viewer
	Error   string
	Notice  string
	Email   string
	List    []Summary
	Conv    *Conversation
	History []staff.Entry
	Staff   []staff.Account
	Token   string
	Now     time.Time
	Next    string // where the login page leads: a conversation's path
}

// conversationPath is the only place a login leads other than the list: a
// conversation an on-call alert linked to. Anything else in "next" is
// ignored, so the login page cannot be used to send someone elsewhere.
var conversationPath = regexp.MustCompile(`^/inbox/c/c[0-9a-f]{24}$`)

// nextPage is where a login leads: the conversation asked for, else the list.
func nextPage(next string) string {
	if conversationPath.MatchString(next) {
		return next
	}
	return "/inbox"
}

func (wb *Web) render(w http.ResponseWriter, status int, name string, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if d.Now.IsZero() {
		d.Now = wb.Now()
	}
	if err := pages.ExecuteTemplate(w, name, d); err != nil {
		wb.Log.Error("inbox page", "page", name, "err", err)
	}
}

func (wb *Web) fail(w http.ResponseWriter, _ *http.Request, v *Viewer, status int, msg string) {
	wb.render(w, status, "error.html", pageData{Title: http.StatusText(status), Viewer: v, Error: msg})
}

// Stylesheet serves the inbox's one stylesheet.
func (wb *Web) Stylesheet(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "max-age=3600")
	http.ServeFileFS(w, r, files, "templates/inbox.css")
}

// LoginPage: GET /inbox/login.
func (wb *Web) LoginPage(w http.ResponseWriter, r *http.Request) {
	wb.render(w, http.StatusOK, "login.html", pageData{Title: "Sign in", Next: nextPage(r.URL.Query().Get("next"))})
}

// addr is the client's address, for login limits.
func (wb *Web) addr(r *http.Request) string {
	if wb.TrustForwardedFor {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if a := strings.TrimSpace(parts[len(parts)-1]); a != "" {
				return a
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Login: POST /inbox/login.
func (wb *Web) Login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		wb.render(w, http.StatusBadRequest, "login.html", pageData{Title: "Sign in", Error: "the form could not be read"})
		return
	}
	email := r.PostForm.Get("email")
	next := nextPage(r.PostForm.Get("next"))
	token, sess, acct, err := wb.Staff.Login(r.Context(), email, r.PostForm.Get("password"), wb.addr(r))
	switch {
	case errors.Is(err, staff.ErrLogin):
		wb.render(w, http.StatusUnauthorized, "login.html", pageData{Title: "Sign in", Error: err.Error(), Email: email, Next: next})
		return
	case errors.Is(err, staff.ErrTooManyAttempts):
		wb.render(w, http.StatusTooManyRequests, "login.html", pageData{Title: "Sign in", Error: err.Error(), Email: email, Next: next})
		return
	case errors.Is(err, staff.ErrBusy):
		w.Header().Set("Retry-After", "2")
		wb.render(w, http.StatusServiceUnavailable, "login.html", pageData{Title: "Sign in", Error: err.Error(), Email: email})
		return
	case err != nil:
		wb.Log.Error("login", "err", err)
		wb.render(w, http.StatusServiceUnavailable, "login.html", pageData{Title: "Sign in", Error: "temporarily unavailable; try again", Next: next})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: wb.cookieName(), Value: token, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, Secure: wb.SecureCookie, SameSite: http.SameSiteLaxMode})
	wb.record(r.Context(), staff.Entry{ClinicID: acct.ClinicID, Author: acct.Author(), Action: "sign_in", Kind: "account", Target: acct.ID})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// Logout: POST /inbox/logout.
func (wb *Web) Logout(w http.ResponseWriter, r *http.Request, v *Viewer) {
	if c, err := r.Cookie(wb.cookieName()); err == nil {
		if err := wb.Staff.Logout(r.Context(), c.Value); err != nil {
			wb.Log.Warn("logout", "err", err)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: wb.cookieName(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: wb.SecureCookie, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/inbox/login", http.StatusSeeOther)
}

// record appends an audit entry; the action is done, so a failure to
// record it is logged rather than shown.
func (wb *Web) record(ctx context.Context, e staff.Entry) {
	if err := wb.Audit.Record(ctx, e); err != nil {
		wb.Log.Error("audit entry not recorded", "action", e.Action, "kind", e.Kind, "err", err)
	}
}

// List: GET /inbox.
func (wb *Web) List(w http.ResponseWriter, r *http.Request, v *Viewer) {
	list, err := wb.Store.List(r.Context(), v.Account.ClinicID)
	if err != nil {
		wb.Log.Error("inbox list", "err", err)
		wb.fail(w, r, v, http.StatusServiceUnavailable, "temporarily unavailable; try again")
		return
	}
	wb.render(w, http.StatusOK, "list.html", pageData{Title: "Inbox", Viewer: v, List: list, Notice: r.URL.Query().Get("notice")})
}

// conversation reads the conversation named in the path, among the
// viewer's clinic's only; another clinic's id is 404.
func (wb *Web) conversation(w http.ResponseWriter, r *http.Request, v *Viewer) (Conversation, bool) {
	conv, err := wb.Store.Conversation(r.Context(), v.Account.ClinicID, r.PathValue("id"))
	switch {
	case errors.Is(err, ErrNoConversation):
		wb.fail(w, r, v, http.StatusNotFound, "no such conversation at your clinic")
		return conv, false
	case err != nil:
		wb.Log.Error("inbox conversation", "err", err)
		wb.fail(w, r, v, http.StatusServiceUnavailable, "temporarily unavailable; try again")
		return conv, false
	}
	return conv, true
}

// Conversation: GET /inbox/c/{id}. Opening it marks it read.
func (wb *Web) Conversation(w http.ResponseWriter, r *http.Request, v *Viewer) {
	conv, ok := wb.conversation(w, r, v)
	if !ok {
		return
	}
	history, err := wb.Audit.History(r.Context(), v.Account.ClinicID, "conversation", conv.ID)
	if err != nil {
		wb.Log.Warn("conversation history", "err", err)
	}
	history = withEscalationActions(history, conv.Escalations)
	colleagues, err := wb.Staff.List(r.Context(), v.Account.ClinicID)
	if err != nil {
		wb.Log.Warn("colleagues", "err", err)
	}
	if _, err := wb.Store.UpdateState(r.Context(), conv.ClinicID, conv.ID, func(s *State) bool {
		if !s.ReadAt.Before(conv.LatestAt) {
			return false
		}
		// Read up to the newest text this page shows, not up to now: one
		// that arrives as the page is built stays unread.
		s.ReadAt = conv.LatestAt
		return true
	}); err != nil {
		wb.Log.Warn("mark read", "err", err)
	}
	wb.render(w, http.StatusOK, "conversation.html", pageData{Title: conv.display(), Viewer: v, Conv: &conv, History: history,
		Staff: colleagues, Notice: r.URL.Query().Get("notice")})
}

// escalationActions names, as the history shows them, what people did to
// an escalation.
var escalationActions = map[aftercare.EntryKind]string{
	aftercare.EntryAcknowledged: "acknowledge", aftercare.EntryResolved: "resolve",
	aftercare.EntryNote: "note", aftercare.EntryAssigned: "assign",
}

// withEscalationActions adds to a conversation's history what people did
// to its escalations, from the escalations' own histories: the audit
// trail records those under the escalation only (see escalation).
func withEscalationActions(history []staff.Entry, escs []aftercare.Escalation) []staff.Entry {
	for _, e := range escs {
		for _, h := range e.History {
			action, ok := escalationActions[h.Kind]
			if !ok {
				continue
			}
			history = append(history, staff.Entry{At: h.At, Author: h.By, Action: action, Note: "on an escalation"})
		}
	}
	slices.SortStableFunc(history, func(a, b staff.Entry) int { return a.At.Compare(b.At) })
	return history
}

func (c Conversation) display() string {
	if c.ClientName != "" {
		return c.ClientName
	}
	return aftercare.MaskPhone(c.Phone)
}

func back(w http.ResponseWriter, r *http.Request, conv Conversation, notice string) {
	http.Redirect(w, r, "/inbox/c/"+conv.ID+"?notice="+template.URLQueryEscaper(notice), http.StatusSeeOther)
}

// Reply: POST /inbox/c/{id}/reply. The text is queued for the worker,
// which sends it from the clinic's number unless the client opted out,
// and within the clinic's send window.
func (wb *Web) Reply(w http.ResponseWriter, r *http.Request, v *Viewer) {
	conv, ok := wb.conversation(w, r, v)
	if !ok {
		return
	}
	body := r.PostForm.Get("body")
	o, err := wb.Store.Reply(r.Context(), conv, body, v.Account.Author(), wb.Now(), r.PostForm.Get("nonce"))
	var bad *ReplyError
	switch {
	case errors.As(err, &bad):
		wb.fail(w, r, v, http.StatusBadRequest, bad.Reason)
		return
	case err != nil:
		wb.Log.Error("staff reply", "err", err)
		wb.fail(w, r, v, http.StatusServiceUnavailable, "the reply could not be queued; try again")
		return
	}
	wb.record(r.Context(), staff.Entry{ClinicID: conv.ClinicID, Author: v.Account.Author(), Action: "reply", Kind: "conversation", Target: conv.ID, Note: o.ID}) // the text stays in the reply's record, which erasure removes
	back(w, r, conv, "Reply queued: it is sent from the clinic's number.")
}

// Assign: POST /inbox/c/{id}/assign, to a colleague of the same clinic.
func (wb *Web) Assign(w http.ResponseWriter, r *http.Request, v *Viewer) {
	conv, ok := wb.conversation(w, r, v)
	if !ok {
		return
	}
	to, err := wb.Staff.Account(r.Context(), v.Account.ClinicID, r.PostForm.Get("staff"))
	if errors.Is(err, staff.ErrNoSuchStaff) || (err == nil && to.Disabled) {
		wb.fail(w, r, v, http.StatusBadRequest, "choose a colleague at your clinic to assign it to")
		return
	}
	if err != nil {
		wb.fail(w, r, v, http.StatusServiceUnavailable, "temporarily unavailable; try again")
		return
	}
	if _, err := wb.Store.UpdateState(r.Context(), conv.ClinicID, conv.ID, func(s *State) bool {
		s.AssignedTo, s.AssignedName = to.ID, to.Name
		return true
	}); err != nil {
		wb.fail(w, r, v, http.StatusServiceUnavailable, "temporarily unavailable; try again")
		return
	}
	wb.record(r.Context(), staff.Entry{ClinicID: conv.ClinicID, Author: v.Account.Author(), Action: "assign", Kind: "conversation", Target: conv.ID, Note: "to " + to.Name})
	back(w, r, conv, "Assigned to "+to.Name+".")
}

// Done: POST /inbox/c/{id}/done. Replies up to now are dealt with; a new
// one opens the conversation again.
func (wb *Web) Done(w http.ResponseWriter, r *http.Request, v *Viewer) {
	conv, ok := wb.conversation(w, r, v)
	if !ok {
		return
	}
	// Done up to the newest text the page showed (the form says which):
	// a reply that came in after it is not swept away unseen.
	seen, err := time.Parse(time.RFC3339Nano, r.PostForm.Get("seen"))
	if err != nil {
		wb.fail(w, r, v, http.StatusBadRequest, "the form is out of date; open the conversation again")
		return
	}
	if now := wb.Now(); seen.After(now) {
		seen = now
	}
	if _, err := wb.Store.UpdateState(r.Context(), conv.ClinicID, conv.ID, func(s *State) bool {
		if !s.DoneAt.Before(seen) {
			return false
		}
		s.DoneAt = seen
		return true
	}); err != nil {
		wb.fail(w, r, v, http.StatusServiceUnavailable, "temporarily unavailable; try again")
		return
	}
	wb.record(r.Context(), staff.Entry{ClinicID: conv.ClinicID, Author: v.Account.Author(), Action: "done", Kind: "conversation", Target: conv.ID, Note: r.PostForm.Get("note")})
	http.Redirect(w, r, "/inbox?notice="+template.URLQueryEscaper("Marked done."), http.StatusSeeOther)
}

// Acknowledge and Resolve: POST /inbox/c/{id}/escalations/{eid}/acknowledge
// and .../resolve, with a note. The escalation must be this conversation's.
func (wb *Web) Acknowledge(w http.ResponseWriter, r *http.Request, v *Viewer) {
	wb.escalation(w, r, v, "acknowledge", wb.Escalations.Acknowledge)
}

func (wb *Web) Resolve(w http.ResponseWriter, r *http.Request, v *Viewer) {
	wb.escalation(w, r, v, "resolve", wb.Escalations.Resolve)
}

func (wb *Web) escalation(w http.ResponseWriter, r *http.Request, v *Viewer, action string,
	change func(ctx context.Context, clinic, id string, by aftercare.Author, note string) (aftercare.Escalation, error)) {
	conv, ok := wb.conversation(w, r, v)
	if !ok {
		return
	}
	id := r.PathValue("eid")
	if !slices.ContainsFunc(conv.Escalations, func(e aftercare.Escalation) bool { return e.ID == id }) {
		wb.fail(w, r, v, http.StatusNotFound, "no such escalation in this conversation")
		return
	}
	note := strings.TrimSpace(r.PostForm.Get("note"))
	if len(note) > 2000 {
		wb.fail(w, r, v, http.StatusBadRequest, "a note is limited to 2000 characters")
		return
	}
	_, err := change(r.Context(), conv.ClinicID, id, v.Account.Author(), note)
	var refused *aftercare.TransitionError
	switch {
	case errors.As(err, &refused):
		wb.fail(w, r, v, http.StatusConflict, refused.Error())
		return
	case err != nil:
		wb.Log.Error("escalation "+action, "escalation", id, "err", err)
		wb.fail(w, r, v, http.StatusServiceUnavailable, "temporarily unavailable; try again")
		return
	}
	// Under the escalation only: an entry under the conversation too, at the
	// same instant by the same person, would link the conversation's
	// entries back to the client through the escalation, which outlives an
	// erasure and names them. The escalation's card shows its history.
	wb.record(r.Context(), staff.Entry{ClinicID: conv.ClinicID, Author: v.Account.Author(), Action: action, Kind: "escalation", Target: id, Note: note})
	back(w, r, conv, "Escalation "+action+"d.")
}

// StaffPage: GET /inbox/staff, the clinic's accounts (admins create more).
func (wb *Web) StaffPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	list, err := wb.Staff.List(r.Context(), v.Account.ClinicID)
	if err != nil {
		wb.fail(w, r, v, http.StatusServiceUnavailable, "temporarily unavailable; try again")
		return
	}
	wb.render(w, http.StatusOK, "staff.html", pageData{Title: "Staff", Viewer: v, Staff: list, Notice: r.URL.Query().Get("notice")})
}

// CreateStaff: POST /inbox/staff, clinic admins only; the new colleague's
// one-time password is shown once.
func (wb *Web) CreateStaff(w http.ResponseWriter, r *http.Request, v *Viewer) {
	if v.Account.Role != staff.ClinicAdmin {
		wb.fail(w, r, v, http.StatusForbidden, staff.ErrNotAllowed.Error()+": only a clinic admin creates accounts")
		return
	}
	password := staff.NewPassword()
	a, err := wb.Staff.Create(r.Context(), staff.NewAccount{ClinicID: v.Account.ClinicID, Email: r.PostForm.Get("email"),
		Name: r.PostForm.Get("name"), Role: staff.Role(r.PostForm.Get("role")), Password: password}, v.Account.Author())
	var bad *staff.InvalidError
	switch {
	case errors.As(err, &bad):
		wb.fail(w, r, v, http.StatusBadRequest, bad.Reason)
		return
	case errors.Is(err, staff.ErrEmailTaken):
		wb.fail(w, r, v, http.StatusConflict, err.Error())
		return
	case err != nil:
		wb.Log.Error("create staff", "err", err)
		wb.fail(w, r, v, http.StatusServiceUnavailable, "temporarily unavailable; try again")
		return
	}
	wb.record(r.Context(), staff.Entry{ClinicID: a.ClinicID, Author: v.Account.Author(), Action: "create_account", Kind: "account", Target: a.ID, Note: string(a.Role) + " " + a.Name})
	list, _ := wb.Staff.List(r.Context(), v.Account.ClinicID)
	wb.render(w, http.StatusCreated, "staff.html", pageData{Title: "Staff", Viewer: v, Staff: list,
		Notice: "Created " + a.Email + ". One-time password (shown once, hand it over privately):", Token: password})
}

// DisableStaff and EnableStaff: POST /inbox/staff/{sid}/disable|enable,
// clinic admins only, never on themselves (a clinic is not left with no
// admin by accident). A disabled person's sessions and API tokens stop at
// once; the records they authored keep their name.
func (wb *Web) DisableStaff(w http.ResponseWriter, r *http.Request, v *Viewer) {
	wb.setDisabled(w, r, v, true)
}

func (wb *Web) EnableStaff(w http.ResponseWriter, r *http.Request, v *Viewer) {
	wb.setDisabled(w, r, v, false)
}

func (wb *Web) setDisabled(w http.ResponseWriter, r *http.Request, v *Viewer, disabled bool) {
	if v.Account.Role != staff.ClinicAdmin {
		wb.fail(w, r, v, http.StatusForbidden, staff.ErrNotAllowed.Error()+": only a clinic admin disables or enables accounts")
		return
	}
	id := r.PathValue("sid")
	if id == v.Account.ID {
		wb.fail(w, r, v, http.StatusBadRequest, "you cannot disable your own account; ask another admin")
		return
	}
	// The clinic is the viewer's: another clinic's staff id is not found.
	a, err := wb.Staff.SetDisabled(r.Context(), v.Account.ClinicID, id, disabled)
	switch {
	case errors.Is(err, staff.ErrNoSuchStaff):
		wb.fail(w, r, v, http.StatusNotFound, "no such colleague")
		return
	case err != nil:
		wb.Log.Error("disable staff", "err", err)
		wb.fail(w, r, v, http.StatusServiceUnavailable, "temporarily unavailable; try again")
		return
	}
	action, notice := "enable_account", "Enabled "+a.Name+"."
	if disabled {
		action, notice = "disable_account", "Disabled "+a.Name+": their sessions and API tokens no longer work."
	}
	wb.record(r.Context(), staff.Entry{ClinicID: a.ClinicID, Author: v.Account.Author(), Action: action, Kind: "account", Target: a.ID, Note: a.Name})
	list, _ := wb.Staff.List(r.Context(), v.Account.ClinicID)
	wb.render(w, http.StatusOK, "staff.html", pageData{Title: "Staff", Viewer: v, Staff: list, Notice: notice})
}

// ChangePassword: POST /inbox/password, the viewer's own, after the
// current one.
func (wb *Web) ChangePassword(w http.ResponseWriter, r *http.Request, v *Viewer) {
	err := wb.Staff.ChangePassword(r.Context(), v.Account, r.PostForm.Get("current"), r.PostForm.Get("new"))
	var bad *staff.InvalidError
	switch {
	case errors.As(err, &bad):
		wb.fail(w, r, v, http.StatusBadRequest, bad.Reason)
		return
	case errors.Is(err, staff.ErrLogin):
		wb.fail(w, r, v, http.StatusForbidden, "the current password is not right")
		return
	case err != nil:
		wb.Log.Error("change password", "err", err)
		wb.fail(w, r, v, http.StatusServiceUnavailable, "temporarily unavailable; try again")
		return
	}
	wb.record(r.Context(), staff.Entry{ClinicID: v.Account.ClinicID, Author: v.Account.Author(), Action: "change_password", Kind: "account", Target: v.Account.ID})
	list, _ := wb.Staff.List(r.Context(), v.Account.ClinicID)
	wb.render(w, http.StatusOK, "staff.html", pageData{Title: "Staff", Viewer: v, Staff: list, Notice: "Your password is changed."})
}

// CreateToken: POST /inbox/token, an API token acting as the viewer, for
// the JSON API (/v1/escalations); shown once.
func (wb *Web) CreateToken(w http.ResponseWriter, r *http.Request, v *Viewer) {
	token, err := wb.Staff.NewAPIToken(r.Context(), v.Account)
	if err != nil {
		wb.fail(w, r, v, http.StatusServiceUnavailable, "temporarily unavailable; try again")
		return
	}
	wb.record(r.Context(), staff.Entry{ClinicID: v.Account.ClinicID, Author: v.Account.Author(), Action: "create_api_token", Kind: "account", Target: v.Account.ID})
	list, _ := wb.Staff.List(r.Context(), v.Account.ClinicID)
	wb.render(w, http.StatusCreated, "staff.html", pageData{Title: "Staff", Viewer: v, Staff: list,
		Notice: "Your API token (shown once; use it as Authorization: Bearer ...):", Token: token})
}
