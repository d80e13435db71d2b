package aftercare

import "context"

// AuthorKind says what kind of actor did something to a record.
type AuthorKind string

const (
	AuthorStaff  AuthorKind = "staff"  // a named person signed in to the inbox or holding a staff token
	AuthorPhone  AuthorKind = "phone"  // an on-call contact replying to an alert text
	AuthorAPI    AuthorKind = "api"    // the clinic's shared integration token (name as the caller gave it)
	AuthorSystem AuthorKind = "system" // the service itself, such as a chain step firing
)

// Author is who did something: every acknowledgement, note, assignment,
// reply and resolution carries one, so the record says who and not only when.
type Author struct {
	Kind AuthorKind `json:"kind"`
	ID   string     `json:"id,omitempty"` // staff id, or the masked phone
	Name string     `json:"name"`
}

type authorKey struct{}

// WithAuthor returns ctx carrying who is acting, as set by authentication.
func WithAuthor(ctx context.Context, a Author) context.Context {
	return context.WithValue(ctx, authorKey{}, a)
}

// AuthorFrom returns who is acting, if authentication named a person.
func AuthorFrom(ctx context.Context) (Author, bool) {
	a, ok := ctx.Value(authorKey{}).(Author)
	return a, ok
}
