package connect

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Libraries that log on their own (asynq, go-redis) retry a lost Redis
// several times a second and say so each time. Their lines go through
// one slog logger, and a message that repeats within repeatEvery (ids and
// numbers aside) is logged once, then with the count of repeats skipped.

const repeatEvery = 10 * time.Second

// numbers matches what differs between repeats of one message: task ids,
// counts, addresses.
var numbers = regexp.MustCompile(`[0-9a-f]{6,}|[0-9]+`)

type quietLog struct {
	l       *slog.Logger
	mu      sync.Mutex
	last    string
	at      time.Time
	skipped int
}

func (q *quietLog) log(level slog.Level, msg string) {
	key := numbers.ReplaceAllString(msg, "#")
	q.mu.Lock()
	if key == q.last && time.Since(q.at) < repeatEvery {
		q.skipped++
		q.mu.Unlock()
		return
	}
	skipped := q.skipped
	q.last, q.at, q.skipped = key, time.Now(), 0
	q.mu.Unlock()
	if skipped > 0 {
		q.l.Log(context.Background(), level, msg, "repeats_skipped", skipped)
		return
	}
	q.l.Log(context.Background(), level, msg)
}

// AsynqLogger adapts a slog.Logger to asynq's printf-style Logger.
func AsynqLogger(l *slog.Logger) asynq.Logger {
	return asynqLogger{&quietLog{l: l.With("component", "asynq")}}
}

type asynqLogger struct{ q *quietLog }

func (a asynqLogger) Debug(args ...any) { a.q.log(slog.LevelDebug, fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.q.log(slog.LevelInfo, fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.q.log(slog.LevelWarn, fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.q.log(slog.LevelError, fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.q.log(slog.LevelError, fmt.Sprint(args...)) }

type redisLogger struct{ q *quietLog }

func (r redisLogger) Printf(_ context.Context, format string, v ...any) {
	r.q.log(slog.LevelWarn, fmt.Sprintf(format, v...))
}

// LogRedisTo sends go-redis's own log lines (dial failures) to l, quieted
// like asynq's. go-redis has one process-wide logger, so this is called
// once per process (the first logger wins).
func LogRedisTo(l *slog.Logger) {
	redisLogOnce.Do(func() { redis.SetLogger(redisLogger{&quietLog{l: l.With("component", "go-redis")}}) })
}

var redisLogOnce sync.Once
