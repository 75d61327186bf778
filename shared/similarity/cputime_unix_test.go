//go:build unix

package similarity

import "syscall"

// cpuSeconds is the CPU time the process has used (user + system), for
// benchmarks to report throughput per CPU-second on a machine whose cores
// are shared with other work.
func cpuSeconds() (float64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9, true
}
