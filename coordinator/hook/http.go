package hook

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxBody bounds a hook request body. S3 and MinIO send one small
// record per request; SNS wraps one message; 1 MiB leaves ample room.
const DefaultMaxBody = 1 << 20

// Metrics count what the hook and the SQS poller saw.
type Metrics struct {
	Requests *prometheus.CounterVec // by HTTP status code
	Events   *prometheus.CounterVec // by result (accepted, ignored, rejected) and reason
}

// NewMetrics registers the hook's counters with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "betterread_hook_requests_total", Help: "S3 hook HTTP requests by status code.",
		}, []string{"code"}),
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "betterread_hook_events_total", Help: "S3 events by result (accepted, ignored, rejected) and reason, from the HTTP hook and SQS.",
		}, []string{"source", "result", "reason"}),
	}
	reg.MustRegister(m.Requests, m.Events)
	return m
}

// Handler is the HTTP hook for S3 object-created events (EventBridge
// API destinations, S3 → SNS → HTTPS, MinIO webhooks).
type Handler struct {
	Intake *Intake
	// Token is the bearer token a request must carry (MinIO's webhook
	// auth_token). AuthOff accepts requests without one, for local use.
	Token   string
	AuthOff bool
	MaxBody int64 // 0 means DefaultMaxBody
	Metrics *Metrics
	Logger  *slog.Logger
}

type hookReply struct {
	Accepted int    `json:"accepted"`
	Ignored  int    `json:"ignored"`
	Error    string `json:"error,omitempty"`
}

// ServeHTTP answers 200 with the events accepted and ignored; 400 for a
// body that is not an S3 event; 401 without a token, 403 with a wrong
// one; 405 for anything but POST; 413 for a body over MaxBody; 503 when
// an accepted event could not be recorded (the sender retries).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	code, reply := h.serve(r)
	h.Metrics.Requests.WithLabelValues(strconv.Itoa(code)).Inc()
	w.Header().Set("Content-Type", "application/json")
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="betterread"`)
	}
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(reply)
}

func (h *Handler) reject(r *http.Request, code int, reason, msg string) (int, hookReply) {
	h.Metrics.Events.WithLabelValues("http", "rejected", reason).Inc()
	h.Logger.Warn("hook_rejected", "code", code, "reason", reason, "detail", msg, "remote", r.RemoteAddr)
	return code, hookReply{Error: msg}
}

func (h *Handler) serve(r *http.Request) (int, hookReply) {
	if r.Method != http.MethodPost {
		return h.reject(r, http.StatusMethodNotAllowed, "method", "POST only")
	}
	if !h.AuthOff {
		auth := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(auth, "Bearer ")
		switch {
		case auth == "":
			return h.reject(r, http.StatusUnauthorized, "no_token", "missing Authorization: Bearer token")
		case !ok || subtle.ConstantTimeCompare([]byte(token), []byte(h.Token)) != 1:
			return h.reject(r, http.StatusForbidden, "bad_token", "wrong token")
		}
	}
	limit := h.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return h.reject(r, http.StatusRequestEntityTooLarge, "too_large", "body over "+strconv.FormatInt(limit, 10)+" bytes")
		}
		return h.reject(r, http.StatusBadRequest, "read", "read body: "+err.Error())
	}
	events, err := Decode(body)
	if err != nil {
		return h.reject(r, http.StatusBadRequest, reasonOf(err), err.Error())
	}
	var reply hookReply
	for _, ev := range events {
		out, err := h.Intake.Accept(r.Context(), ev)
		if err != nil {
			h.Metrics.Events.WithLabelValues("http", "rejected", "unavailable").Inc()
			h.Logger.Error("hook_unavailable", "err", err)
			return http.StatusServiceUnavailable, hookReply{Error: "cannot record the event now; send it again"}
		}
		if out.Accepted {
			reply.Accepted++
			h.Metrics.Events.WithLabelValues("http", "accepted", "").Inc()
			continue
		}
		reply.Ignored++
		h.Metrics.Events.WithLabelValues("http", "ignored", out.Reason).Inc()
		h.Logger.Info("hook_ignored", "reason", out.Reason, "bucket", ev.Bucket, "key", ev.Key, "event", ev.Name)
	}
	return http.StatusOK, reply
}

// reasonOf names a decode error for the metrics.
func reasonOf(err error) string {
	switch {
	case errors.Is(err, ErrNotJSON):
		return "not_json"
	case errors.Is(err, ErrUnknownShape):
		return "unknown_shape"
	default:
		return "bad_event"
	}
}
