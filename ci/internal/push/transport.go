package push

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Bounds on talking to a registry. A registry that accepts a connection and
// never answers would otherwise hold the job until the CI system kills it.
const (
	// ResponseTimeout bounds the wait for a response's headers; bodies
	// (layer uploads and downloads) may take longer.
	ResponseTimeout = 60 * time.Second
	// MaxRetryAfter is the longest Retry-After honoured on 429 and 503;
	// a longer one is left to the retry backoff.
	MaxRetryAfter = 30 * time.Second
	// retryAfterTries bounds how often one request waits out a Retry-After.
	retryAfterTries = 3
)

// Transport bounds each request and honours a registry's Retry-After.
type Transport struct {
	Next          http.RoundTripper
	MaxRetryAfter time.Duration
	// Sleep waits d or until ctx ends (tests inject a clock).
	Sleep func(ctx context.Context, d time.Duration) error
}

// NewTransport is the transport Gantry talks to registries with:
// http.DefaultTransport's settings, with a bounded wait for responses.
func NewTransport(responseTimeout time.Duration) *Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = responseTimeout
	tr.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return &Transport{Next: tr, MaxRetryAfter: MaxRetryAfter, Sleep: sleep}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RoundTrip sends req; on 429 or 503 with a Retry-After within bounds, and a
// body it can send again, it waits that long and sends it again.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	for try := 0; ; try++ {
		resp, err := t.Next.RoundTrip(req)
		if err != nil || try == retryAfterTries {
			return resp, err
		}
		wait, ok := retryAfter(resp, t.MaxRetryAfter)
		if !ok || (req.Body != nil && req.GetBody == nil) {
			return resp, nil
		}
		resp.Body.Close()
		if err := t.Sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
}

// retryAfter reads a 429 or 503's Retry-After in seconds (the form
// registries send), if it is within max.
func retryAfter(resp *http.Response, max time.Duration) (time.Duration, bool) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0, false
	}
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 0 {
		return 0, false
	}
	d := time.Duration(secs) * time.Second
	return d, d <= max
}
