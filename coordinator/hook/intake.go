package hook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/betterread/pipeline/shared/tasks"
)

// Input file names a watched location holds.
const (
	BooksFile   = "Books.csv"
	RatingsFile = "Ratings.csv"
)

// Watch is the upload location whose Books.csv and Ratings.csv start runs:
// a bucket and a key prefix ("" or a path without surrounding slashes).
type Watch struct {
	Bucket string
	Prefix string
}

// ParseWatch reads "s3://bucket/prefix" (the prefix may be empty).
func ParseWatch(u string) (Watch, error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok {
		return Watch{}, fmt.Errorf("watch %q: want s3://bucket/prefix", u)
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	w := Watch{Bucket: bucket, Prefix: strings.Trim(prefix, "/")}
	if _, err := tasks.NewSettle(tasks.Settle{Bucket: w.Bucket, Prefix: w.Prefix}, 0); err != nil {
		return Watch{}, fmt.Errorf("watch %q: %w", u, err)
	}
	return w, nil
}

func (w Watch) String() string { return "s3://" + path.Join(w.Bucket, w.Prefix) }

// Key is the object key of one of the two files.
func (w Watch) Key(file string) string {
	if w.Prefix == "" {
		return file
	}
	return w.Prefix + "/" + file
}

// URL is the s3:// URL of one of the two files.
func (w Watch) URL(file string) string { return "s3://" + w.Bucket + "/" + w.Key(file) }

// File names which of the two files an event's object is, or "".
func (w Watch) File(bucket, key string) string {
	if bucket != w.Bucket {
		return ""
	}
	for _, f := range []string{BooksFile, RatingsFile} {
		if key == w.Key(f) {
			return f
		}
	}
	return ""
}

// Outcome of one event: "accepted", or "ignored" with a reason.
type Outcome struct {
	Accepted bool
	Reason   string // why it was ignored: not_created, wrong_bucket, unrelated_key
}

// Intake turns object events into scheduled looks at the watched location
// (pipeline:settle tasks, run after Debounce). It keeps no state of its
// own: Redis and the task ids do the deduplication.
type Intake struct {
	Watch     Watch
	Client    *asynq.Client
	Inspector *asynq.Inspector
	Debounce  time.Duration
	Logger    *slog.Logger
}

// Accept schedules a look at the watched location for an event of one of
// its two files, and ignores every other event. An error means the look
// could not be scheduled (Redis unreachable): the event is not recorded.
func (in *Intake) Accept(ctx context.Context, ev ObjectEvent) (Outcome, error) {
	switch {
	case !ev.Created():
		return Outcome{Reason: "not_created"}, nil
	case ev.Bucket != in.Watch.Bucket:
		return Outcome{Reason: "wrong_bucket"}, nil
	case in.Watch.File(ev.Bucket, ev.Key) == "":
		return Outcome{Reason: "unrelated_key"}, nil
	}
	settle := tasks.Settle{Bucket: in.Watch.Bucket, Prefix: in.Watch.Prefix}
	t, err := tasks.NewSettle(settle, in.Debounce)
	if err != nil {
		return Outcome{}, err
	}
	_, err = in.Client.EnqueueContext(ctx, t)
	if errors.Is(err, asynq.ErrTaskIDConflict) && in.Inspector != nil {
		info, ierr := in.Inspector.GetTaskInfo(tasks.QueueHooks, settle.ID())
		switch {
		case ierr != nil:
		case info.State == asynq.TaskStateActive:
			// A look that is already running may have read the objects
			// before this upload: schedule one more after it.
			again := asynq.NewTask(t.Type(), t.Payload(), asynq.TaskID(settle.ID()+":again"), asynq.Queue(tasks.QueueHooks),
				asynq.MaxRetry(10), asynq.Timeout(5*time.Minute), asynq.ProcessIn(in.Debounce))
			if _, err2 := in.Client.EnqueueContext(ctx, again); err2 != nil && !errors.Is(err2, asynq.ErrTaskIDConflict) {
				return Outcome{}, fmt.Errorf("schedule a look at %s: %w", in.Watch, err2)
			}
		case info.State == asynq.TaskStateArchived:
			// The last look failed for good (its error is in the asynq
			// UI); a new upload deserves a new one.
			in.Logger.Warn("look_failed_before", "watch", in.Watch.String(), "last_error", info.LastErr)
			if derr := in.Inspector.DeleteTask(tasks.QueueHooks, settle.ID()); derr != nil && !errors.Is(derr, asynq.ErrTaskNotFound) {
				return Outcome{}, fmt.Errorf("schedule a look at %s: %w", in.Watch, derr)
			}
			_, err = in.Client.EnqueueContext(ctx, t)
		}
	}
	switch {
	case err == nil:
		in.Logger.Info("upload_seen", "bucket", ev.Bucket, "key", ev.Key, "etag", ev.ETag, "version_id", ev.VersionID,
			"source", ev.Source, "look_in_s", in.Debounce.Seconds())
	case errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask):
		// A look is already scheduled; it will see this upload too.
		in.Logger.Debug("upload_seen", "bucket", ev.Bucket, "key", ev.Key, "look", "already scheduled")
	default:
		return Outcome{}, fmt.Errorf("schedule a look at %s: %w", in.Watch, err)
	}
	return Outcome{Accepted: true}, nil
}
