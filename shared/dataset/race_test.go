//go:build race

package dataset

// raceEnabled scales the default-shape test down: the race detector makes
// it ten times slower and adds nothing to a single-goroutine generator.
const raceEnabled = true
