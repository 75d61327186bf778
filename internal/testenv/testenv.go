// Package testenv starts the real servers integration tests need (Redis,
// MinIO, DynamoDB Local) as child processes bound to 127.0.0.1 on free ports,
// and stops them by PID when the test ends. A server that cannot start fails
// the test with a message saying how to install or start it; nothing is
// skipped.
package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// CacheDir is where the project's test setup keeps binaries it built or
// downloaded (MinIO, DynamoDB Local). BETTERREAD_CACHE overrides it.
func CacheDir() string {
	if d := os.Getenv("BETTERREAD_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "betterread-cache")
	}
	return filepath.Join(home, ".cache", "betterread")
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Process is a server started by a test. Its output is kept so a failure
// can show it.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 { // keep the head; enough to diagnose a start failure
		return len(p), nil
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Output is what the process has printed so far.
func (p *Process) Output() string { return p.out.String() }

// Start runs name with args in its own process group and registers a
// cleanup that kills that group by PID. howTo is printed if it fails to
// start.
func Start(t testing.TB, name, howTo string, env []string, bin string, args ...string) *Process {
	t.Helper()
	return StartIn(t, "", name, howTo, env, bin, args...)
}

// StartIn is Start with dir as the process's working directory.
func StartIn(t testing.TB, dir, name, howTo string, env []string, bin string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	p := &Process{Name: name, Cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout = p.out
	cmd.Stderr = p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s (%s): %v\n%s", name, bin, err, howTo)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.Stop() })
	return p
}

// Stop kills the process group by PID and waits for it.
func (p *Process) Stop() {
	if p.Cmd.Process == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// Kill sends SIGKILL to the process group, as a crash would.
func (p *Process) Kill() {
	if p.Cmd.Process != nil {
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitCode is the process's exit code once it has ended (-1 before).
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.Cmd.ProcessState.ExitCode()
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitTCP polls until addr accepts connections, the process exits, or the
// deadline passes; the latter two fail the test with the process output
// and howTo.
func WaitTCP(t testing.TB, p *Process, addr string, deadline time.Duration, howTo string) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if p.Exited() {
			t.Fatalf("%s exited before listening on %s:\n%s\n%s", p.Name, addr, p.Output(), howTo)
		}
		if time.Now().After(end) {
			t.Fatalf("%s not listening on %s after %s:\n%s\n%s", p.Name, addr, deadline, p.Output(), howTo)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Addr formats 127.0.0.1:port.
func Addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// Redis is a redis-server started for one test.
type Redis struct {
	*Process
	Addr string
	Dir  string
}

const redisHowTo = "redis-server is needed: install it with `apt-get install -y redis-server` (./deploy/local/test-deps.sh does this), or set BETTERREAD_REDIS_SERVER to its path"

// StartRedis starts a redis-server on a free loopback port with no
// persistence (unless the caller passes extra args) and returns its address.
func StartRedis(t testing.TB, extra ...string) *Redis {
	t.Helper()
	return StartRedisPort(t, FreePort(t), extra...)
}

// StartRedisPort is StartRedis on a given port, for a test that restarts
// Redis where its clients expect it.
func StartRedisPort(t testing.TB, port int, extra ...string) *Redis {
	t.Helper()
	bin := os.Getenv("BETTERREAD_REDIS_SERVER")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("redis-server"); err != nil {
			t.Fatalf("find redis-server: %v\n%s", err, redisHowTo)
		}
	}
	dir := t.TempDir()
	args := append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no", "--dir", dir}, extra...)
	p := Start(t, "redis-server", redisHowTo, nil, bin, args...)
	addr := Addr(port)
	WaitTCP(t, p, addr, 10*time.Second, redisHowTo)
	return &Redis{Process: p, Addr: addr, Dir: dir}
}

// String describes the server for messages.
func (r *Redis) String() string { return fmt.Sprintf("redis at %s", r.Addr) }
