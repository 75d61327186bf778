package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/betterread/pipeline/coordinator/hook"
	"github.com/betterread/pipeline/coordinator/pipeline"
	"github.com/betterread/pipeline/shared/runstate"
	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/tasks"
)

// settler carries out pipeline:settle: a look at a watched location once
// its uploads have settled. Both files present and valid start the run
// their versions define, at most once; one file alone is recorded as
// waiting for the other, not as a failed run.
type settler struct {
	job   *jobConfig
	store store.Store
	svc   *services
	log   *slog.Logger
	runs  func(source string) // counts runs started (metrics); may be nil
}

// ProcessTask implements asynq.Handler.
func (s *settler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.ParseSettle(t.Payload())
	if err != nil {
		return err
	}
	w := hook.Watch{Bucket: p.Bucket, Prefix: p.Prefix}
	state := runstate.WatchState{Watch: w.String(), Updated: time.Now().UTC()}
	booksURL, ratingsURL := w.URL(hook.BooksFile), w.URL(hook.RatingsFile)
	books, berr := store.HeadURL(ctx, booksURL)
	ratings, rerr := store.HeadURL(ctx, ratingsURL)
	var missing []string
	for _, c := range []struct {
		file string
		err  error
	}{{hook.BooksFile, berr}, {hook.RatingsFile, rerr}} {
		switch {
		case errors.Is(c.err, store.ErrNotFound):
			missing = append(missing, c.file)
		case c.err != nil:
			return fmt.Errorf("look at %s: %w", w, c.err) // retried
		}
	}
	if len(missing) > 0 {
		state.State = "waiting"
		state.Message = "waiting for " + joinAnd(missing)
		s.log.Info("watch_waiting", "watch", state.Watch, "missing", missing)
		return runstate.SetWatch(ctx, s.svc.rc, state)
	}
	state.Books, state.Ratings = version(books), version(ratings)

	// The run reads exactly the versions it is keyed by, even if newer
	// ones are uploaded while it runs.
	plan := s.job.plan(pinned(booksURL, books), pinned(ratingsURL, ratings))
	h := sha256.New()
	for _, part := range []string{w.Bucket, w.Prefix, state.Books, state.Ratings} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	h.Write(modelParams(plan))
	plan.Run = "r-" + hex.EncodeToString(h.Sum(nil))[:16]
	state.Run = plan.Run
	log := s.log.With("run_id", plan.Run, "watch", state.Watch)

	started, err := runstate.RunRegistered(ctx, s.svc.rc, plan.Run)
	if err != nil {
		return err
	}
	if started {
		// Duplicate deliveries, re-sent events, and old events arriving
		// late all come here: the objects' versions are those of a run
		// that exists.
		log.Info("watch_seen", "reason", "the run of these versions was started already")
		state.State, state.Message = "seen", "run "+plan.Run+" of these versions was started already"
		return runstate.SetWatch(ctx, s.svc.rc, state)
	}
	if v := pipeline.Validate(ctx, plan.Books, plan.Ratings); !v.Valid {
		log.Warn("watch_invalid", "message", v.Message)
		state.State, state.Message = "invalid", v.Message
		return runstate.SetWatch(ctx, s.svc.rc, state)
	}
	if err := plan.Validate(); err != nil {
		return fmt.Errorf("plan of run %s: %w: %w", plan.Run, err, asynq.SkipRetry)
	}
	if err := s.svc.startRun(ctx, s.store, plan, false, tasks.TriggerUpload, log); err != nil {
		return err
	}
	if s.runs != nil {
		s.runs("hook")
	}
	log.Info("upload_run_started", "books_version", state.Books, "ratings_version", state.Ratings)
	state.State, state.Message = "started", "run "+plan.Run+" started"
	return runstate.SetWatch(ctx, s.svc.rc, state)
}

// pinned is url naming the object's version when it has one.
func pinned(url string, o store.ObjectInfo) string {
	if o.VersionID == "" || o.VersionID == "null" {
		return url
	}
	return url + "?versionId=" + o.VersionID
}

// version is what identifies an object's content: its version id in a
// versioned bucket, else its ETag.
func version(o store.ObjectInfo) string {
	if o.VersionID != "" && o.VersionID != "null" {
		return "v:" + o.VersionID
	}
	return "etag:" + o.ETag
}

func joinAnd(s []string) string {
	if len(s) == 2 {
		return s[0] + " and " + s[1]
	}
	return s[0]
}
