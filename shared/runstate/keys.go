package runstate

// Every Redis key the project writes, in one place (asynq keeps its own
// in its internal/base; the project's live under "betterread:").
//
//	betterread:runs                       sorted set: run id, scored by first start (Unix ms)
//	betterread:watches                    hash: watch → WatchState JSON
//	betterread:run:<run>:counters         hash: counter → int (tasks run, bytes fetched …)
//	betterread:run:<run>:phase-first      sorted set: phase → first task start (Unix ms)
//	betterread:run:<run>:phase-last       sorted set: phase → last task end (Unix ms)
//	betterread:run:<run>:progress         string: Progress JSON
//	betterread:run:<run>:write-window:<s> string: items written in Unix second s
//	betterread:run:<run>:lease            string: "<token>|<holder>", expiring
//	betterread:run:<run>:fence            string: last fencing token handed out
//	betterread:run:<run>:attempts         list: Attempt JSON, oldest first
const prefix = "betterread:"

const (
	runsKey    = prefix + "runs"
	watchesKey = prefix + "watches"
)

func runKey(run, what string) string { return prefix + "run:" + run + ":" + what }

func countersKey(run string) string    { return runKey(run, "counters") }
func phaseFirstKey(run string) string  { return runKey(run, "phase-first") }
func phaseLastKey(run string) string   { return runKey(run, "phase-last") }
func progressKey(run string) string    { return runKey(run, "progress") }
func writeWindowKey(run string) string { return runKey(run, "write-window") }
func leaseKey(run string) string       { return runKey(run, "lease") }
func fenceKey(run string) string       { return runKey(run, "fence") }
func attemptsKey(run string) string    { return runKey(run, "attempts") }

// generationKeys are the keys that describe one generation of a run's
// work and start from nothing when the run is written anew.
func generationKeys(run string) []string {
	return []string{countersKey(run), phaseFirstKey(run), phaseLastKey(run), progressKey(run)}
}
