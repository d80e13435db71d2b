package natsjs

import (
	"net/url"
	"strings"
)

// RedactURL hides the credentials in a NATS URL, or comma-separated list of
// them, before it is printed: nats://user:pass@host and nats://token@host
// become nats://redacted@host.
func RedactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, raw := range parts {
		u, err := url.Parse(strings.TrimSpace(raw))
		switch {
		case err == nil && u.User != nil:
			u.User = url.User("redacted")
			parts[i] = u.String()
		case err != nil && strings.Contains(raw, "@"):
			// Unparsable: drop everything up to the last @, where userinfo ends.
			scheme, _, _ := strings.Cut(raw, "://")
			parts[i] = scheme + "://redacted@" + raw[strings.LastIndex(raw, "@")+1:]
		}
	}
	return strings.Join(parts, ",")
}
