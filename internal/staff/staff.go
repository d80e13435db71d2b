// Package staff holds the clinic's named people: their accounts and roles,
// passwords (argon2id), signed-in sessions with their CSRF tokens, API
// tokens for the JSON API, rate limits on logging in, and the audit trail
// of what each of them did.
package staff

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs"
)

// Role is what a person may do at their clinic.
type Role string

const (
	Clinician   Role = "clinician"    // reads and answers clients, acknowledges escalations
	FrontDesk   Role = "front_desk"   // the same in the inbox; the role is shown to colleagues
	ClinicAdmin Role = "clinic_admin" // also creates accounts and API tokens
)

// Roles lists the roles, for forms and validation.
func Roles() []Role { return []Role{Clinician, FrontDesk, ClinicAdmin} }

// Account is one named person at one clinic.
type Account struct {
	ID           string `json:"id"`
	ClinicID     string `json:"clinic_id"`
	Email        string `json:"email"`
	Name         string `json:"name"`
	Role         Role   `json:"role"`
	PasswordHash string `json:"password_hash"`
	Disabled     bool   `json:"disabled,omitempty"`
	// Credentials counts changes that end every session and API token of
	// the account: disabling, enabling, a new password. Each session and
	// token carries the count it was made under and works only while it
	// is current.
	Credentials int       `json:"credentials,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	CreatedBy   string    `json:"created_by"`
}

// Author is the account as the records name it.
func (a Account) Author() aftercare.Author {
	return aftercare.Author{Kind: aftercare.AuthorStaff, ID: a.ID, Name: a.Name}
}

// Session is one signed-in browser.
type Session struct {
	ClinicID string `json:"clinic_id"`
	StaffID  string `json:"staff_id"`
	// Credentials is the account's count when the session began.
	Credentials int       `json:"credentials,omitempty"`
	CSRF        string    `json:"csrf"` // put in every form, checked on every POST
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	Addr        string    `json:"addr,omitempty"`
}

// CheckCSRF reports whether a form's token is the session's, in constant time.
func (s Session) CheckCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.CSRF)) == 1
}

// Errors a caller maps to what the person sees.
var (
	// ErrLogin is any failed login: which part was wrong is not said.
	ErrLogin = errors.New("wrong email or password")
	// ErrTooManyAttempts is a login refused by the rate limit.
	ErrTooManyAttempts = errors.New("too many login attempts; try again in an hour")
	// ErrBusy is a login that found every password check in use for
	// longer than hashWait: try again in a moment.
	ErrBusy = errors.New("sign-in is busy; try again in a moment")
	// ErrNoSession is a missing, expired or unknown session or token.
	ErrNoSession   = errors.New("not signed in")
	ErrEmailTaken  = errors.New("an account with this email already exists")
	ErrNotAllowed  = errors.New("your role does not allow this")
	ErrNoSuchStaff = errors.New("no such colleague at this clinic")
)

// InvalidError is an account that cannot be made as asked; it says why.
type InvalidError struct{ Reason string }

func (e *InvalidError) Error() string { return e.Reason }

// Limits bound login attempts per hour: failures per account (against
// guessing one password) and per client address (against trying many).
type Limits struct {
	PerAccount int
	PerAddress int
}

// Service keeps accounts in the staff bucket and sessions in theirs.
type Service struct {
	Store  *natsjs.Store
	Limits Limits
	Now    func() time.Time
	Log    *slog.Logger

	accounts, sessions jetstream.KeyValue
	// hashing bounds the argon2id hashes at once: each takes 19 MiB, and a
	// burst of logins must not take the pod past its memory limit.
	hashing chan struct{}
}

// maxHashing is how many passwords are hashed at once.
const maxHashing = 4

// New returns the service over the store's staff buckets.
func New(store *natsjs.Store, limits Limits, now func() time.Time, log *slog.Logger) *Service {
	s := &Service{Store: store, Limits: limits, Now: now, Log: log, hashing: make(chan struct{}, maxHashing)}
	s.accounts, s.sessions = store.StaffBuckets()
	return s
}

// Keys in the staff bucket. Accounts are under their clinic, so listing a
// clinic's staff never meets another's; the email and token indexes name
// the clinic in their value and are read only by hash.
func accountKey(clinic, id string) string { return "acct." + clinic + "." + natsjs.Token(id) }
func emailKey(email string) string        { return "email." + digest(normalizeEmail(email)) }
func tokenKey(token string) string        { return "tok." + digest(token) }
func sessionKey(token string) string      { return "sess." + digest(token) }

// digest keys a secret (a token) or a personal detail (an email) by its
// hash: the stored keys reveal neither.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func normalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// indexEntry points from an email or API token to its account.
type indexEntry struct {
	ClinicID string `json:"clinic_id"`
	StaffID  string `json:"staff_id"`
	// Credentials, on an API token: the account's count when it was made.
	Credentials int `json:"credentials,omitempty"`
}

// NewAccount is what an admin (or the command) gives to create one.
type NewAccount struct {
	ClinicID, Email, Name string
	Role                  Role
	Password              string
}

// Create makes an account. The email is unique across clinics, since one
// login form serves them all; by is who created it, for the audit.
func (s *Service) Create(ctx context.Context, n NewAccount, by aftercare.Author) (Account, error) {
	email := normalizeEmail(n.Email)
	addr, err := mail.ParseAddress(email)
	switch {
	case n.ClinicID == "":
		return Account{}, &InvalidError{"a clinic is required"}
	case err != nil || addr.Address != email || len(email) > 200:
		return Account{}, &InvalidError{"email must be a plain address such as dana@clinic.example"}
	case strings.TrimSpace(n.Name) == "" || len(n.Name) > 100:
		return Account{}, &InvalidError{"name must be 1-100 characters"}
	case !slices.Contains(Roles(), n.Role):
		return Account{}, &InvalidError{"role must be clinician, front_desk or clinic_admin"}
	case len(n.Password) < MinPasswordLength || len(n.Password) > 200:
		return Account{}, &InvalidError{fmt.Sprintf("password must be %d-200 characters", MinPasswordLength)}
	}
	hash, err := HashPassword(n.Password)
	if err != nil {
		return Account{}, err
	}
	a := Account{ID: "stf_" + randomToken(9), ClinicID: n.ClinicID, Email: email, Name: strings.TrimSpace(n.Name), Role: n.Role,
		PasswordHash: hash, CreatedAt: s.Now(), CreatedBy: by.Name}
	// The email index first: its create is the uniqueness check.
	if _, err := natsjs.SaveRecord(ctx, s.accounts, emailKey(email), indexEntry{ClinicID: a.ClinicID, StaffID: a.ID}, 0); err != nil {
		if errors.Is(err, natsjs.ErrConflict) {
			return Account{}, ErrEmailTaken
		}
		return Account{}, err
	}
	if _, err := natsjs.SaveRecord(ctx, s.accounts, accountKey(a.ClinicID, a.ID), a, 0); err != nil {
		return Account{}, err
	}
	return a, nil
}

// SetDisabled disables or re-enables one of a clinic's accounts: a
// disabled account cannot sign in, and its sessions and API tokens stop
// working at once (they are checked against the account on every use).
// Someone who leaves the clinic is disabled, not deleted, so the records
// they authored still name them.
func (s *Service) SetDisabled(ctx context.Context, clinic, id string, disabled bool) (Account, error) {
	a, err := natsjs.UpdateRecord(ctx, s.Store, s.accounts, accountKey(clinic, id), false, func(a *Account) (bool, error) {
		if a.Disabled == disabled {
			return false, nil
		}
		a.Disabled = disabled
		a.Credentials++ // enabling again does not bring old sessions back
		return true, nil
	})
	if errors.Is(err, aftercare.ErrNotFound) {
		return a, ErrNoSuchStaff
	}
	return a, err
}

// ChangePassword sets a new password for the account after checking the
// current one.
func (s *Service) ChangePassword(ctx context.Context, a Account, current, next string) error {
	if len(next) < MinPasswordLength || len(next) > 200 {
		return &InvalidError{fmt.Sprintf("the new password must be %d-200 characters", MinPasswordLength)}
	}
	select {
	case s.hashing <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.hashing }()
	if ok, err := CheckPassword(a.PasswordHash, current); err != nil || !ok {
		return ErrLogin
	}
	hash, err := HashPassword(next)
	if err != nil {
		return err
	}
	_, err = natsjs.UpdateRecord(ctx, s.Store, s.accounts, accountKey(a.ClinicID, a.ID), false, func(cur *Account) (bool, error) {
		cur.PasswordHash = hash
		cur.Credentials++ // every other session and token ends
		return true, nil
	})
	return err
}

// Account returns one of a clinic's staff, or ErrNoSuchStaff.
func (s *Service) Account(ctx context.Context, clinic, id string) (Account, error) {
	a, _, err := natsjs.GetRecord[Account](ctx, s.Store, s.accounts, accountKey(clinic, id))
	if errors.Is(err, aftercare.ErrNotFound) {
		return a, ErrNoSuchStaff
	}
	return a, err
}

// List returns a clinic's staff, by name.
func (s *Service) List(ctx context.Context, clinic string) ([]Account, error) {
	lister, err := s.accounts.ListKeysFiltered(ctx, "acct."+clinic+".*")
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list staff: %w", err)
	}
	defer lister.Stop()
	var out []Account
	for key := range lister.Keys() {
		a, _, err := natsjs.GetRecord[Account](ctx, s.Store, s.accounts, key)
		if errors.Is(err, aftercare.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Account) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Login checks an email and password from addr and starts a session,
// returning its secret (the cookie's value). Failed attempts are counted
// per account and per address, in the sessions bucket, so every replica
// shares the count; past a limit the password is not even checked.
func (s *Service) Login(ctx context.Context, email, password, addr string) (string, Session, Account, error) {
	email = normalizeEmail(email)
	now := s.Now()
	hour := now.UTC().Format("20060102T15") // not a 10-digit run, which reads as a phone number in logs
	acctCounter, addrCounter := "fail.acct."+digest(email)+"."+hour, "fail.addr."+digest(addr)+"."+hour
	// Each attempt takes its place in both counts before any password is
	// checked (a compare-and-set, so guesses sent at the same instant are
	// each counted): past a limit the password is not even checked. A
	// login that succeeds gives its places back: the limits count failures.
	for _, c := range []struct {
		key   string
		limit int
	}{{acctCounter, s.Limits.PerAccount}, {addrCounter, s.Limits.PerAddress}} {
		if _, err := natsjs.UpdateRecord(ctx, s.Store, s.sessions, c.key, true, func(n *int) (bool, error) {
			if *n >= c.limit {
				return false, ErrTooManyAttempts
			}
			*n++
			return true, nil
		}); err != nil {
			return "", Session{}, Account{}, err
		}
	}
	// Hashing is bounded for the whole scheduler; a burst of logins (one
	// clinic's, or a guesser's) waits at most hashWait, then is told to try
	// again, so nobody else's sign-in queues behind it.
	select {
	case s.hashing <- struct{}{}:
	case <-time.After(hashWait):
		return "", Session{}, Account{}, ErrBusy
	case <-ctx.Done():
		return "", Session{}, Account{}, ctx.Err()
	}
	a, err := s.checkPassword(ctx, email, password)
	<-s.hashing
	if errors.Is(err, ErrLogin) {
		s.Log.Info("login failed", "addr", addr)
	}
	if err != nil {
		return "", Session{}, Account{}, err
	}
	for _, key := range []string{acctCounter, addrCounter} {
		_, _ = natsjs.UpdateRecord(ctx, s.Store, s.sessions, key, false, func(n *int) (bool, error) {
			*n = max(*n-1, 0)
			return true, nil
		})
	}
	token := randomToken(32)
	sess := Session{ClinicID: a.ClinicID, StaffID: a.ID, Credentials: a.Credentials, CSRF: randomToken(32), CreatedAt: now,
		ExpiresAt: now.Add(natsjs.StaffSessionTTL), Addr: addr}
	if _, err := natsjs.SaveRecord(ctx, s.sessions, sessionKey(token), sess, 0); err != nil {
		return "", Session{}, Account{}, err
	}
	s.Log.Info("signed in", "clinic", a.ClinicID, "staff", a.ID)
	return token, sess, a, nil
}

// checkPassword returns the account whose email and password these are.
// An unknown email costs a hash all the same, so timing does not tell
// which emails have accounts.
func (s *Service) checkPassword(ctx context.Context, email, password string) (Account, error) {
	idx, _, err := natsjs.GetRecord[indexEntry](ctx, s.Store, s.accounts, emailKey(email))
	if errors.Is(err, aftercare.ErrNotFound) {
		_, _ = CheckPassword(dummyHash, password)
		return Account{}, ErrLogin
	}
	if err != nil {
		return Account{}, err
	}
	a, err := s.Account(ctx, idx.ClinicID, idx.StaffID)
	if errors.Is(err, ErrNoSuchStaff) {
		return Account{}, ErrLogin
	}
	if err != nil {
		return Account{}, err
	}
	ok, err := CheckPassword(a.PasswordHash, password)
	if err != nil {
		return Account{}, fmt.Errorf("account %s: %w", a.ID, err)
	}
	if !ok || a.Disabled {
		return Account{}, ErrLogin
	}
	return a, nil
}

// hashWait bounds the wait for a password check's slot.
const hashWait = time.Second

// dummyHash is checked against when the email is unknown.
var dummyHash, _ = HashPassword("not a real password, only for timing")

// Session returns the signed-in session whose secret token is, with its
// account, or ErrNoSession (none, expired, or the account disabled).
func (s *Service) Session(ctx context.Context, token string) (Session, Account, error) {
	if token == "" {
		return Session{}, Account{}, ErrNoSession
	}
	sess, _, err := natsjs.GetRecord[Session](ctx, s.Store, s.sessions, sessionKey(token))
	if errors.Is(err, aftercare.ErrNotFound) || (err == nil && !s.Now().Before(sess.ExpiresAt)) {
		return Session{}, Account{}, ErrNoSession
	}
	if err != nil {
		return Session{}, Account{}, err
	}
	a, err := s.Account(ctx, sess.ClinicID, sess.StaffID)
	if errors.Is(err, ErrNoSuchStaff) || (err == nil && (a.Disabled || a.Credentials != sess.Credentials)) {
		return Session{}, Account{}, ErrNoSession
	}
	return sess, a, err
}

// Logout ends a session.
func (s *Service) Logout(ctx context.Context, token string) error {
	return s.sessions.Delete(ctx, sessionKey(token))
}

// APITokenPrefix starts every staff API token, so the API tells them from
// a clinic's shared intake token at a glance.
const APITokenPrefix = "aft_staff_"

// NewAPIToken makes an API token acting as the account, returned once;
// only its hash is stored.
func (s *Service) NewAPIToken(ctx context.Context, a Account) (string, error) {
	token := APITokenPrefix + randomToken(32)
	if _, err := natsjs.SaveRecord(ctx, s.accounts, tokenKey(token), indexEntry{ClinicID: a.ClinicID, StaffID: a.ID, Credentials: a.Credentials}, 0); err != nil {
		return "", err
	}
	return token, nil
}

// ByAPIToken returns the account an API token acts as, or ErrNoSession.
func (s *Service) ByAPIToken(ctx context.Context, token string) (Account, error) {
	if !strings.HasPrefix(token, APITokenPrefix) {
		return Account{}, ErrNoSession
	}
	idx, _, err := natsjs.GetRecord[indexEntry](ctx, s.Store, s.accounts, tokenKey(token))
	if errors.Is(err, aftercare.ErrNotFound) {
		return Account{}, ErrNoSession
	}
	if err != nil {
		return Account{}, err
	}
	a, err := s.Account(ctx, idx.ClinicID, idx.StaffID)
	if errors.Is(err, ErrNoSuchStaff) || (err == nil && (a.Disabled || a.Credentials != idx.Credentials)) {
		return Account{}, ErrNoSession
	}
	return a, err
}
