// Command cluster is the cluster benchmark: it generates a Book-Crossing
// shape data set (and optionally multiples of it), starts the local
// cluster of ./deploy/local/cluster.sh (redis-server, MinIO as the block
// store, `coordinator serve`, N worker processes) once per worker count,
// runs the job through it with `coordinator run --workers 0`, and prints
// per-stage time, tasks, retries, bytes moved, queue wait and the
// coordination overhead from each run's report.
//
//	go run ./bench/cluster [-scales 1,10] [-workers 1,2] [-block-rows 4096]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/betterread/pipeline/coordinator/pipeline"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster bench:", err)
		os.Exit(1)
	}
}

func ints(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("bad list %q", s)
		}
		out = append(out, v)
	}
	return out, nil
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	scalesFlag := fs.String("scales", "1", "multiples of the Book-Crossing shape, comma-separated (e.g. 1,10)")
	workersFlag := fs.String("workers", "1,2", "worker process counts, comma-separated")
	blockRows := fs.Int("block-rows", 4096, "--block-rows for the runs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	scales, err := ints(*scalesFlag)
	if err != nil {
		return err
	}
	workerCounts, err := ints(*workersFlag)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "betterread-cluster-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	var rows []string
	for _, w := range workerCounts {
		dir := filepath.Join(tmp, fmt.Sprintf("cluster-%g", w))
		ports, err := freePorts(4)
		if err != nil {
			return err
		}
		portEnv := []string{"BETTERREAD_CLUSTER_REDIS_PORT=" + fmt.Sprint(ports[0]), "BETTERREAD_CLUSTER_MINIO_PORT=" + fmt.Sprint(ports[1]),
			"BETTERREAD_CLUSTER_HTTP_PORT=" + fmt.Sprint(ports[3])}
		if err := sh(ctx, portEnv, "./deploy/local/cluster.sh", "start", "-n", fmt.Sprint(w), "-d", dir); err != nil {
			return err
		}
		env, err := clusterEnv(ctx, dir, portEnv)
		if err == nil {
			for _, scale := range scales {
				var row string
				row, err = runOnce(ctx, tmp, dir, env, scale, int(w), *blockRows)
				if err != nil {
					break
				}
				rows = append(rows, row)
			}
		}
		if stopErr := sh(ctx, portEnv, "./deploy/local/cluster.sh", "stop", "-d", dir); stopErr != nil && err == nil {
			err = stopErr
		}
		if err != nil {
			return err
		}
	}
	fmt.Println()
	fmt.Println("| scale | workers | wall s | prepare | train | similarity | load | verify | tasks run (retried) | MB fetched | MB/worker/half max | queue wait s | barrier lag s | outside tasks | barrier share |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Println(r)
	}
	return nil
}

// freePorts finds n adjacent free loopback ports (MinIO's API and console
// must be adjacent).
func freePorts(n int) ([]int, error) {
	for base := 20000 + rand.IntN(20000); base < 60000; base += 7 {
		ok := true
		for p := base; p < base+n; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			ports := make([]int, n)
			for i := range ports {
				ports[i] = base + i
			}
			return ports, nil
		}
	}
	return nil, fmt.Errorf("no %d free adjacent ports", n)
}

func clusterEnv(ctx context.Context, dir string, portEnv []string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "./deploy/local/cluster.sh", "env", "-d", dir)
	cmd.Env = append(os.Environ(), portEnv...)
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("cluster env: %w", err)
	}
	var env []string
	for _, line := range strings.Split(string(out), "\n") {
		if kv, ok := strings.CutPrefix(line, "export "); ok {
			env = append(env, kv)
		}
	}
	return env, nil
}

func runOnce(ctx context.Context, tmp, dir string, env []string, scale float64, workers, blockRows int) (string, error) {
	in := filepath.Join(tmp, fmt.Sprintf("in-%g", scale))
	coord := filepath.Join(dir, "bin", "coordinator")
	if _, err := os.Stat(filepath.Join(in, "Ratings.csv")); err != nil {
		if err := sh(ctx, nil, coord, "generate", "--out", in, "--scale", fmt.Sprint(scale)); err != nil {
			return "", err
		}
	}
	out := filepath.Join(tmp, fmt.Sprintf("out-%g-%d", scale, workers))
	start := time.Now()
	err := sh(ctx, env, coord, "run", "--workers", "0", "--fresh", "--progress", "log", "--log-level", "warn",
		"--books", filepath.Join(in, "Books.csv"), "--ratings", filepath.Join(in, "Ratings.csv"),
		"--out", out, "--block-rows", fmt.Sprint(blockRows))
	wall := time.Since(start)
	data, rerr := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil || rerr != nil {
		return "", fmt.Errorf("run scale %g with %d workers: %v %v", scale, workers, err, rerr)
	}
	var rep pipeline.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return "", err
	}
	var run, retried int64
	for _, t := range rep.Tasks {
		run += t.Run
		retried += t.Retried
	}
	var most int64
	for _, byWorker := range rep.FetchedPerWorker {
		for _, b := range byWorker {
			most = max(most, b)
		}
	}
	c := rep.Coordination
	if c == nil {
		c = &pipeline.Coordination{}
	}
	st := func(s string) string { return fmt.Sprintf("%.2f", rep.Stages[s].Seconds) }
	return fmt.Sprintf("| %g | %d | %.1f | %s | %s | %s | %s | %s | %d (%d) | %.1f | %.2f | %.2f | %.2f | %.0f%% | %.1f%% |",
		scale, workers, wall.Seconds(), st("prepare"), st("train"), st("similarity"), st("load"), st("verify"),
		run, retried, float64(rep.Bytes["fetched_by_workers"])/1e6, float64(most)/1e6,
		c.QueueWaitSeconds, c.BarrierLagSeconds, 100*c.OutsideShare, 100*c.BarrierShare), nil
}

func sh(ctx context.Context, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", filepath.Base(name), args[0], err)
	}
	return nil
}
