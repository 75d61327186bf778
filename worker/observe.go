package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/betterread/pipeline/shared/buildinfo"
	"github.com/betterread/pipeline/shared/handlers"
	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/tasks"
)

// taskMetrics are the worker's Prometheus metrics of the block tasks it
// runs, collected by the observe middleware, so the handlers know nothing
// of them.
type taskMetrics struct {
	processed *prometheus.CounterVec
	failed    *prometheus.CounterVec
	retried   *prometheus.CounterVec
	seconds   *prometheus.HistogramVec
}

// newRegistry is the worker's /metrics: task metrics, the bytes fetched
// from the store, the cache's figures, the Go runtime and process
// collectors and the build. It returns the task metrics for the
// middleware.
func newRegistry(cache *handlers.Cache, fetched *atomic.Int64) (*prometheus.Registry, *taskMetrics) {
	m := &taskMetrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "betterread_tasks_processed_total", Help: "Block tasks this worker finished (succeeded or failed), by task type.",
		}, []string{"type"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "betterread_tasks_failed_total", Help: "Block tasks that returned an error, by task type (asynq retries them unless out of retries).",
		}, []string{"type"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "betterread_tasks_retried_total", Help: "Deliveries of block tasks that were retries of a failed try, by task type.",
		}, []string{"type"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "betterread_task_duration_seconds", Help: "Block task execution time, by task type.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 10), // 5 ms … 22 min
		}, []string{"type"}),
	}
	// Known types start at 0, so a rate() sees the first task.
	for _, typ := range []string{tasks.TypeALSSolve, tasks.TypeSimPair, tasks.TypeSimMerge, tasks.TypeLoadWrite} {
		m.processed.WithLabelValues(typ)
		m.failed.WithLabelValues(typ)
		m.retried.WithLabelValues(typ)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.processed, m.failed, m.retried, m.seconds,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "betterread_store_fetched_bytes_total", Help: "Bytes this worker read from the block store.",
		}, func() float64 { return float64(fetched.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "betterread_cache_hits_total", Help: "Block cache lookups answered from memory.",
		}, func() float64 { hits, _, _ := cache.Stats(); return float64(hits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "betterread_cache_misses_total", Help: "Block cache lookups that loaded from the store.",
		}, func() float64 { _, misses, _ := cache.Stats(); return float64(misses) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "betterread_cache_bytes", Help: "Bytes of decoded blocks the cache holds (bounded by --cache-bytes).",
		}, func() float64 { _, _, held := cache.Stats(); return float64(held) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildinfo.Read().Collector(),
	)
	return reg, m
}

// observe is asynq middleware counting and timing every task by type.
func (m *taskMetrics) observe(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		if n, ok := asynq.GetRetryCount(ctx); ok && n > 0 {
			m.retried.WithLabelValues(t.Type()).Inc()
		}
		start := time.Now()
		err := next.ProcessTask(ctx, t)
		m.seconds.WithLabelValues(t.Type()).Observe(time.Since(start).Seconds())
		m.processed.WithLabelValues(t.Type()).Inc()
		if err != nil {
			m.failed.WithLabelValues(t.Type()).Inc()
		}
		return err
	})
}

// health answers the readiness probe: this worker can take tasks when
// Redis answers PING and the block store answers a lookup.
type health struct {
	redis redis.UniversalClient
	store store.Store
}

// readyTimeout bounds each of the readiness checks.
const readyTimeout = 2 * time.Second

// readyKey is looked up in the store; that it does not exist is an answer.
const readyKey = "readyz"

// ready returns why this worker cannot take tasks, nil when it can.
func (h health) ready(ctx context.Context) error {
	var errs []error
	rctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := h.redis.Ping(rctx).Err(); err != nil {
		errs = append(errs, fmt.Errorf("redis: %w", err))
	}
	sctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if _, err := h.store.Stat(sctx, readyKey); err != nil && !errors.Is(err, store.ErrNotFound) {
		errs = append(errs, fmt.Errorf("block store: %w", err))
	}
	return errors.Join(errs...)
}

// httpHandler routes --listen: GET /healthz (liveness: 200 while the
// process serves), GET /readyz or /healthz?ready=1 (readiness: 200, or 503
// with the reasons), /metrics.
func httpHandler(reg prometheus.Gatherer, h health) http.Handler {
	mux := http.NewServeMux()
	readyz := func(w http.ResponseWriter, r *http.Request) {
		if err := h.ready(r.Context()); err != nil {
			http.Error(w, "not ready:\n"+err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("ready") {
			readyz(w, r)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}
