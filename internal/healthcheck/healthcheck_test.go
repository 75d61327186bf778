package healthcheck

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCommand(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			io.WriteString(w, "ok\n")
			return
		}
		http.Error(w, "redis: connection refused", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	tests := []struct {
		name      string
		args      []string
		unhealthy bool
	}{
		{"healthy", []string{"--url", srv.URL + "/healthz"}, false},
		{"default_url", nil, false},
		{"503", []string{"--url", srv.URL + "/readyz"}, true},
		{"nothing_listening", []string{"--url", "http://127.0.0.1:1/healthz"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Command(t.Context(), "test healthcheck", tt.args, srv.URL+"/healthz", io.Discard)
			if got := errors.Is(err, ErrUnhealthy); got != tt.unhealthy || (err != nil && !tt.unhealthy) {
				t.Errorf("Command(%q) = %v, want unhealthy %v", tt.args, err, tt.unhealthy)
			}
		})
	}
	err := Command(t.Context(), "test healthcheck", []string{"--url", srv.URL + "/readyz"}, "", io.Discard)
	if err == nil || !strings.Contains(err.Error(), "redis: connection refused") {
		t.Errorf("error %v does not carry the reason in the body", err)
	}
	if err := Command(t.Context(), "test healthcheck", []string{"extra"}, srv.URL, io.Discard); err == nil {
		t.Error("a positional argument was accepted")
	}
	if err := Command(t.Context(), "test healthcheck", nil, "", io.Discard); err == nil || errors.Is(err, ErrUnhealthy) {
		t.Errorf("no --url and no default: %v, want a usage error", err)
	}
}
