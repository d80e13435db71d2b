package booking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// getJSON reads one resource from a booking system's API. A 404 is the
// booking system saying the thing is gone: unmappable, not retried.
func getJSON(ctx context.Context, client *http.Client, url string, auth func(*http.Request), v any) error {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return &UpstreamError{Err: err}
	}
	req.Header.Set("Accept", "application/json")
	auth(req)
	res, err := client.Do(req)
	if err != nil {
		return &UpstreamError{Err: err}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return &UpstreamError{Err: err}
	}
	switch {
	case res.StatusCode == http.StatusNotFound:
		return unmappable("%s: not found", redactURL(url))
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		return &UpstreamError{Err: fmt.Errorf("GET %s: %s: check the clinic's API credential", redactURL(url), res.Status)}
	case res.StatusCode != http.StatusOK:
		return &UpstreamError{Err: fmt.Errorf("GET %s: %s", redactURL(url), res.Status)}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &UpstreamError{Err: errors.New("GET " + redactURL(url) + ": answer is not the expected JSON")}
	}
	return nil
}

// redactURL keeps the path for messages and drops any query.
func redactURL(u string) string {
	base, _, _ := strings.Cut(u, "?")
	return base
}
