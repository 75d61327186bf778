package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/betterread/pipeline/coordinator/pipeline"
	"github.com/betterread/pipeline/shared/runstate"
	"github.com/betterread/pipeline/shared/runstore"
	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/tasks"
)

// api serves what the coordinator knows of runs: GET /runs and GET
// /runs/{id} (behind the API token), and GET /healthz (open, for load
// balancers and orchestrators).
type api struct {
	rc    redis.UniversalClient
	store store.Store
	log   *slog.Logger
}

// routes adds GET /runs and GET /runs/{id}; serve mounts healthz apart.
func (a *api) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /runs", a.listRuns)
	mux.HandleFunc("GET /runs/{id}", a.getRun)
}

// RunSummary is one line of GET /runs and `coordinator status`.
type RunSummary struct {
	RunID    string             `json:"run_id"`
	Started  time.Time          `json:"started"`
	Status   string             `json:"status"` // queued (no report yet), running, succeeded, failed
	Stage    string             `json:"stage,omitempty"`
	Progress *runstate.Progress `json:"progress,omitempty"`
	Verified *bool              `json:"verified,omitempty"`
	Error    string             `json:"error,omitempty"`
	// Attempts are every delivery of the run, oldest first.
	Attempts []runstate.Attempt `json:"attempts"`
}

// RunsList is GET /runs: recent runs, newest first, and the watched
// locations' states ("waiting for Ratings.csv").
type RunsList struct {
	Runs    []RunSummary          `json:"runs"`
	Watches []runstate.WatchState `json:"watches"`
}

// RunDetail is GET /runs/{id}: the run report and its live progress.
type RunDetail struct {
	Report   *pipeline.Report   `json:"report"`
	Progress *runstate.Progress `json:"progress,omitempty"`
	Attempts []runstate.Attempt `json:"attempts"`
}

func (a *api) listRuns(w http.ResponseWriter, r *http.Request) {
	list, err := listRuns(r.Context(), a.rc, a.store, 50)
	if err != nil {
		a.fail(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (a *api) getRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := tasks.CheckRun(id); err != nil {
		a.fail(w, http.StatusBadRequest, err)
		return
	}
	d, err := runDetail(r.Context(), a.rc, a.store, id)
	if errors.Is(err, store.ErrNotFound) {
		a.fail(w, http.StatusNotFound, errors.New("no run "+id))
		return
	}
	if err != nil {
		a.fail(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (a *api) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.rc.Ping(ctx).Err(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "redis": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "redis": "ok"})
}

func (a *api) fail(w http.ResponseWriter, code int, err error) {
	if code >= 500 {
		a.log.Warn("api_error", "code", code, "err", err)
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// listRuns reads the n most recent runs' reports and progress.
func listRuns(ctx context.Context, rc redis.UniversalClient, st store.Store, n int) (RunsList, error) {
	ids, at, err := runstate.RecentRuns(ctx, rc, n)
	if err != nil {
		return RunsList{}, err
	}
	list := RunsList{Runs: make([]RunSummary, 0, len(ids))}
	for i, id := range ids {
		s := RunSummary{RunID: id, Started: at[i], Status: "queued"}
		var rep pipeline.Report
		switch err := runstore.Open(st, id).GetJSON(ctx, runstore.ReportDoc, &rep); {
		case err == nil:
			s.Status, s.Error = rep.Status, rep.Error
			if rep.Verify != nil {
				s.Verified = &rep.Verify.Verified
			}
		case !errors.Is(err, store.ErrNotFound):
			s.Status, s.Error = "unknown", err.Error()
		}
		if p, ok := runstate.ReadProgress(ctx, rc, id); ok {
			s.Stage, s.Progress = p.Stage, &p
		}
		if s.Attempts, err = runstate.Attempts(ctx, rc, id); err != nil {
			return list, err
		}
		list.Runs = append(list.Runs, s)
	}
	list.Watches, err = runstate.Watches(ctx, rc)
	return list, err
}

// runDetail reads one run's report and progress; a run without a report
// is ErrNotFound.
func runDetail(ctx context.Context, rc redis.UniversalClient, st store.Store, id string) (RunDetail, error) {
	var rep pipeline.Report
	if err := runstore.Open(st, id).GetJSON(ctx, runstore.ReportDoc, &rep); err != nil {
		return RunDetail{}, err
	}
	attempts, err := runstate.Attempts(ctx, rc, id)
	if err != nil {
		return RunDetail{}, err
	}
	d := RunDetail{Report: &rep, Attempts: attempts}
	if p, ok := runstate.ReadProgress(ctx, rc, id); ok {
		d.Progress = &p
	}
	return d, nil
}
