package deploy

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// The compose file is checked against the binaries themselves: the test
// builds ./coordinator and ./worker, reads the flags and the environment
// variables each command accepts from its `-h` text, and checks every
// service that runs them. No Docker engine is needed.

// directEnv are the variables the binaries read directly rather than as a
// flag's default: the Redis password (shared/connect), the S3 endpoint
// (shared/store, in s3EndpointEnv's order) and the AWS SDK's own.
var directEnv = []string{
	"BETTERREAD_REDIS_PASSWORD", "BETTERREAD_HOOK_TOKEN", "BETTERREAD_API_TOKEN",
	"BETTERREAD_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL",
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE",
}

// s3EndpointEnv are the S3 endpoint variables in shared/store's order of
// precedence.
var s3EndpointEnv = []string{"BETTERREAD_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}

// helpCommands are the commands whose `-h` text the test reads.
var helpCommands = [][]string{
	{"coordinator", "serve"},
	{"coordinator", "run"},
	{"coordinator", "verify"},
	{"worker"},
	{"coordinator", "healthcheck"},
	{"worker", "healthcheck"},
}

func TestCompose(t *testing.T) {
	p := loadProject(t)
	cmds := helpSpecs(t, buildBinaries(t))

	t.Run("matches_binaries", func(t *testing.T) {
		for _, err := range checkProject(p, cmds) {
			t.Error(err)
		}
	})

	// Each mutation is a drift the check must catch.
	mutations := []struct {
		name   string
		change func(name string, s types.ServiceConfig) (types.ServiceConfig, error)
		want   string // in one of the errors
	}{
		{"renamed_worker_flag", onService("worker", func(s *types.ServiceConfig) error {
			s.Command = slices.Clone(s.Command)
			i := slices.Index(s.Command, "--concurrency")
			if i < 0 {
				return fmt.Errorf("worker command %q has no --concurrency to rename", s.Command)
			}
			s.Command[i] = "--no-such-flag"
			return nil
		}), "--no-such-flag"},
		{"unknown_worker_env", onService("worker", func(s *types.ServiceConfig) error {
			setEnv(s, "BETTERREAD_NO_SUCH_VAR", "1")
			return nil
		}), "BETTERREAD_NO_SUCH_VAR"},
		{"positional_argument", onService("coordinator", func(s *types.ServiceConfig) error {
			s.Command = append(slices.Clone(s.Command), "extra")
			return nil
		}), `"extra"`},
		{"redis_password_differs", onService("worker", func(s *types.ServiceConfig) error {
			setEnv(s, "BETTERREAD_REDIS_PASSWORD", "not-the-password")
			return nil
		}), "requirepass"},
		{"redis_wrong_port", onService("coordinator", func(s *types.ServiceConfig) error {
			setEnv(s, "BETTERREAD_REDIS", "redis:6380")
			return nil
		}), "6380"},
		{"store_bucket_not_created", onService("worker", func(s *types.ServiceConfig) error {
			setEnv(s, "BETTERREAD_STORE", "s3://no-such-bucket/betterread")
			return nil
		}), "no-such-bucket"},
		{"s3_endpoint_missing", onService("worker", func(s *types.ServiceConfig) error {
			delete(s.Environment, "BETTERREAD_S3_ENDPOINT")
			return nil
		}), "S3 endpoint"},
		{"worker_container_name", onService("worker", func(s *types.ServiceConfig) error {
			s.ContainerName = "worker"
			return nil
		}), "container_name"},
		{"coordinator_port", onService("coordinator", func(s *types.ServiceConfig) error {
			s.Ports = append(s.Ports, types.ServicePortConfig{Target: 9999, Published: "9999", Protocol: "tcp"})
			return nil
		}), "9999"},
		{"hook_token", onService("coordinator", func(s *types.ServiceConfig) error {
			setEnv(s, "BETTERREAD_HOOK_TOKEN", "another-token")
			return nil
		}), "BETTERREAD_HOOK_TOKEN"},
		{"worker_healthcheck_unknown_flag", onService("worker", func(s *types.ServiceConfig) error {
			s.HealthCheck = healthcheckWith(s.HealthCheck, "--url", "--uri")
			return nil
		}), "--uri"},
		{"worker_healthcheck_port", onService("worker", func(s *types.ServiceConfig) error {
			s.HealthCheck = healthcheckWith(s.HealthCheck, "http://127.0.0.1:9090/healthz", "http://127.0.0.1:9091/healthz")
			return nil
		}), "9091"},
		{"coordinator_healthcheck_path", onService("coordinator", func(s *types.ServiceConfig) error {
			s.HealthCheck = healthcheckWith(s.HealthCheck, "http://127.0.0.1:8080/healthz", "http://127.0.0.1:8080/runs")
			return nil
		}), "/runs"},
		{"healthcheck_curl", onService("coordinator", func(s *types.ServiceConfig) error {
			s.HealthCheck = healthcheckWith(s.HealthCheck, "coordinator", "curl")
			return nil
		}), "no curl"},
		{"healthcheck_missing", onService("worker", func(s *types.ServiceConfig) error {
			s.HealthCheck = nil
			return nil
		}), "has no healthcheck"},
		{"worker_listen_missing", onService("worker", func(s *types.ServiceConfig) error {
			i := slices.Index(s.Command, "--listen")
			if i < 0 {
				return fmt.Errorf("worker command %q has no --listen to remove", s.Command)
			}
			s.Command = slices.Delete(slices.Clone(s.Command), i, i+2)
			return nil
		}), "sets no --listen"},
		{"worker_listen_loopback", onService("worker", func(s *types.ServiceConfig) error {
			setEnv(s, "BETTERREAD_LISTEN", "127.0.0.1:9090")
			s.Command = slices.Clone(s.Command)
			if i := slices.Index(s.Command, "--listen"); i >= 0 {
				s.Command = slices.Delete(s.Command, i, i+2)
			}
			return nil
		}), "BETTERREAD_LISTEN \"127.0.0.1:9090\" is loopback"},
		{"loopback_listen", onService("coordinator", func(s *types.ServiceConfig) error {
			for i, a := range s.Command {
				if a == ":8080" {
					s.Command[i] = "127.0.0.1:8080"
				}
			}
			return nil
		}), "loopback"},
	}
	for _, m := range mutations {
		t.Run("catches_"+m.name, func(t *testing.T) {
			changed, err := p.WithServicesTransform(m.change)
			if err != nil {
				t.Fatal(err)
			}
			errs := checkProject(changed, cmds)
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), m.want) }) {
				t.Errorf("no error mentions %q; got %q", m.want, errs)
			}
		})
	}
	t.Run("original_unchanged", func(t *testing.T) {
		if errs := checkProject(p, cmds); len(errs) > 0 {
			t.Errorf("the mutations changed the loaded project: %q", errs)
		}
	})
}

// healthcheckWith is a copy of h whose test has the word old replaced by
// new.
func healthcheckWith(h *types.HealthCheckConfig, old, new string) *types.HealthCheckConfig {
	if h == nil {
		return nil
	}
	c := *h
	c.Test = slices.Clone(h.Test)
	if i := slices.Index(c.Test, old); i >= 0 {
		c.Test[i] = new
	}
	return &c
}

// onService is a WithServicesTransform function that changes one service
// (of a deep copy of the project).
func onService(name string, change func(*types.ServiceConfig) error) func(string, types.ServiceConfig) (types.ServiceConfig, error) {
	return func(n string, s types.ServiceConfig) (types.ServiceConfig, error) {
		if n != name {
			return s, nil
		}
		err := change(&s)
		return s, err
	}
}

func setEnv(s *types.ServiceConfig, name, value string) {
	if s.Environment == nil {
		s.Environment = types.MappingWithEquals{}
	}
	s.Environment[name] = &value
}

// loadProject loads docker-compose.yml as `docker compose` would, with no
// environment and no .env file, so every ${VAR:-default} takes its
// default.
func loadProject(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{"docker-compose.yml"}, cli.WithWorkingDirectory("."))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	return p
}

// buildBinaries builds ./coordinator and ./worker into a temporary folder.
func buildBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", dir, "../coordinator", "../worker")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./coordinator ./worker: %v\n%s", err, out)
	}
	return dir
}

// helpSpecs runs each of helpCommands with -h and parses what it prints.
func helpSpecs(t *testing.T, bin string) map[string]cmdSpec {
	t.Helper()
	specs := map[string]cmdSpec{}
	for _, c := range helpCommands {
		name := strings.Join(c, " ")
		cmd := exec.CommandContext(t.Context(), filepath.Join(bin, c[0]), append(slices.Clone(c[1:]), "-h")...)
		// Flags default from the environment; the shell's must not matter.
		cmd.Env = []string{}
		out, err := cmd.CombinedOutput()
		// -h ends in flag.ErrHelp, an exit status of 2 (coordinator) or 1
		// (worker): the text is what counts.
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("%s -h: %v", name, err)
		}
		spec, err := parseHelp(name, string(out))
		if err != nil {
			t.Fatal(err)
		}
		specs[name] = spec
	}
	return specs
}

// cmdSpec is what `-h` says about one command.
type cmdSpec struct {
	name  string              // "worker", "coordinator serve"
	flags map[string]flagSpec // by name, without dashes
}

type flagSpec struct {
	env    string // the variable its usage names: "(env BETTERREAD_X)"
	isBool bool   // takes no following value (-name or -name=value)
}

// knowsEnv reports whether a flag of c defaults from env.
func (c cmdSpec) knowsEnv(env string) bool {
	for _, f := range c.flags {
		if f.env == env {
			return true
		}
	}
	return false
}

var (
	// flag.PrintDefaults writes "  -name type", the type left out for
	// booleans; a one-letter flag's usage follows on the same line.
	flagLine = regexp.MustCompile(`^  -([^\s=]+)(?: (\S+))?(?:\t(.*))?$`)
	envNote  = regexp.MustCompile(`\(env ([A-Z][A-Z0-9_]*)\)`)
)

// parseHelp reads the flags and their variables from a -h text.
func parseHelp(name, text string) (cmdSpec, error) {
	if !strings.Contains(text, "Usage of "+name+":") {
		return cmdSpec{}, fmt.Errorf("%s -h printed no usage:\n%s", name, text)
	}
	spec := cmdSpec{name: name, flags: map[string]flagSpec{}}
	usage := map[string]string{}
	current := ""
	for line := range strings.SplitSeq(text, "\n") {
		if m := flagLine.FindStringSubmatch(line); m != nil {
			current = m[1]
			spec.flags[current] = flagSpec{isBool: m[2] == ""}
			usage[current] = m[3]
			continue
		}
		if current != "" && strings.HasPrefix(line, "    \t") {
			usage[current] += " " + strings.TrimSpace(line)
		}
	}
	for f, u := range usage {
		if m := envNote.FindAllStringSubmatch(u, -1); m != nil {
			s := spec.flags[f]
			s.env = m[len(m)-1][1]
			spec.flags[f] = s
		}
	}
	if len(spec.flags) == 0 {
		return cmdSpec{}, fmt.Errorf("%s -h: no flags found in:\n%s", name, text)
	}
	return spec, nil
}

// checker collects what is wrong with a project.
type checker struct {
	p    *types.Project
	cmds map[string]cmdSpec
	errs []error
}

func (c *checker) errorf(service, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("service %s: %s", service, fmt.Sprintf(format, args...)))
}

// pipelineService is a service that runs one of the binaries.
type pipelineService struct {
	types.ServiceConfig
	spec  cmdSpec
	flags map[string]string // flag values given on the command line
}

// setting is a flag's value from the command line, else from the
// variable it defaults from; where says which one set it.
func (s pipelineService) setting(flag string) (value, where string) {
	if v, ok := s.flags[flag]; ok {
		return v, "--" + flag
	}
	if env := s.spec.flags[flag].env; env != "" {
		if v := s.Environment[env]; v != nil {
			return *v, env
		}
	}
	return "", ""
}

func (s pipelineService) env(name string) string {
	if v := s.Environment[name]; v != nil {
		return *v
	}
	return ""
}

// checkProject returns every way p disagrees with the commands in cmds
// (by name, as helpSpecs returns them) or with itself.
func checkProject(p *types.Project, cmds map[string]cmdSpec) []error {
	c := &checker{p: p, cmds: cmds}
	var pipeline []pipelineService
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		c.checkService(s)
		if ps, ok := c.pipelineService(s); ok {
			pipeline = append(pipeline, ps)
		}
	}
	want := map[string]string{"coordinator": "coordinator serve", "worker": "worker"}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		i := slices.IndexFunc(pipeline, func(ps pipelineService) bool { return ps.Name == name })
		if i < 0 {
			c.errorf(name, "missing: want a service running `%s`", want[name])
			continue
		}
		if got := pipeline[i].spec.name; got != want[name] {
			c.errorf(name, "runs `%s`, want `%s`", got, want[name])
		}
	}
	if w, ok := p.Services["worker"]; ok {
		if w.ContainerName != "" {
			c.errorf("worker", "container_name %q stops `--scale worker=N`", w.ContainerName)
		}
		for _, port := range w.Ports {
			if port.Published != "" {
				c.errorf("worker", "publishes host port %s, which stops `--scale worker=N`", port.Published)
			}
		}
	}
	buckets := c.checkBucketInit()
	for _, ps := range pipeline {
		c.checkPipeline(ps, buckets)
		c.checkHealthcheck(ps)
	}
	return c.errs
}

// checkService checks what every service needs: an image or a build, ports
// where its server listens, and healthchecks behind service_healthy.
func (c *checker) checkService(s types.ServiceConfig) {
	if s.Image == "" && s.Build == nil {
		c.errorf(s.Name, "has neither image nor build")
	}
	if s.Build != nil && s.Build.DockerfileInline == "" {
		dockerfile := s.Build.Dockerfile
		if !filepath.IsAbs(dockerfile) {
			dockerfile = filepath.Join(s.Build.Context, dockerfile)
		}
		if _, err := os.Stat(dockerfile); err != nil {
			c.errorf(s.Name, "build: %v", err)
		}
	}
	listening := listens(s)
	for _, port := range s.Ports {
		if !slices.Contains(listening, port.Target) {
			c.errorf(s.Name, "publishes container port %d, where nothing listens (listening: %v)", port.Target, listening)
		}
	}
	for _, dep := range slices.Sorted(maps.Keys(s.DependsOn)) {
		d, ok := c.p.Services[dep]
		if !ok {
			c.errorf(s.Name, "depends on %s, which is no service", dep)
			continue
		}
		if s.DependsOn[dep].Condition == types.ServiceConditionHealthy && !hasHealthcheck(d) {
			c.errorf(s.Name, "waits for %s to be healthy, which has no healthcheck", dep)
		}
	}
}

func hasHealthcheck(s types.ServiceConfig) bool {
	h := s.HealthCheck
	return h != nil && !h.Disable && len(h.Test) > 0 && h.Test[0] != "NONE"
}

// pipelineService parses the command of a service that runs a binary: the
// first word names it (the image has no entrypoint), then the subcommand
// for the coordinator, then only flags that command has.
func (c *checker) pipelineService(s types.ServiceConfig) (pipelineService, bool) {
	args := append(slices.Clone(s.Entrypoint), s.Command...)
	if len(args) == 0 || (args[0] != "coordinator" && args[0] != "worker") {
		if s.Build != nil {
			c.errorf(s.Name, "is built from this repository but its command %q starts with neither coordinator nor worker", args)
		}
		return pipelineService{}, false
	}
	name, args := args[0], args[1:]
	if name == "coordinator" {
		if len(args) == 0 {
			c.errorf(s.Name, "`coordinator` needs a command")
			return pipelineService{}, false
		}
		name, args = name+" "+args[0], args[1:]
	}
	spec, ok := c.cmds[name]
	if !ok {
		c.errorf(s.Name, "runs `%s`, which the test does not know (known: %v)", name, slices.Sorted(maps.Keys(c.cmds)))
		return pipelineService{}, false
	}
	ps := pipelineService{ServiceConfig: s, spec: spec, flags: c.parseFlags(s.Name, spec, args)}
	for _, env := range slices.Sorted(maps.Keys(s.Environment)) {
		if !spec.knowsEnv(env) && !slices.Contains(directEnv, env) {
			c.errorf(s.Name, "environment %s is neither the variable of a flag of `%s` nor one the code reads (%v)", env, name, directEnv)
		}
	}
	return ps, true
}

// parseFlags reads args as flag.Parse would for the command spec (in
// service's command or healthcheck): the values by flag name. Anything but
// a known flag is an error.
func (c *checker) parseFlags(service string, spec cmdSpec, args []string) map[string]string {
	return walkFlags(spec, args, func(format string, a ...any) { c.errorf(service, format, a...) })
}

// walkFlags reads args as flag.Parse would for spec: the values by flag
// name (the last one wins); fail is told of anything but a known flag.
func walkFlags(spec cmdSpec, args []string, fail func(format string, a ...any)) map[string]string {
	flags := map[string]string{}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "-" || arg == "--" || !strings.HasPrefix(arg, "-") {
			fail("argument %q: `%s` takes flags only, and the flags after it would be ignored", arg, spec.name)
			break
		}
		flag, value, hasValue := strings.Cut(strings.TrimPrefix(arg[1:], "-"), "=")
		f, ok := spec.flags[flag]
		if !ok {
			fail("%s is not a flag of `%s` (its -h)", arg, spec.name)
			if !hasValue {
				break // like flag.Parse, stop: whether a value follows is unknown
			}
			continue
		}
		if !hasValue {
			switch {
			case f.isBool:
				value = "true"
			case i+1 < len(args):
				i++
				value = args[i]
			default:
				fail("flag %s needs a value", arg)
			}
		}
		flags[flag] = value
	}
	return flags
}

// checkHealthcheck checks the healthcheck of a service that runs a
// binary. The image is distroless, with no shell and no curl, so the test
// must be the binary's own `healthcheck` with its real flags, asking the
// /healthz this service serves, on loopback (the check runs inside the
// container) and on its --listen port. The worker's --listen must not be
// loopback: Prometheus scrapes /metrics from another container.
func (c *checker) checkHealthcheck(ps pipelineService) {
	bin, _, _ := strings.Cut(ps.spec.name, " ")
	want := fmt.Sprintf(`["CMD", "%s", "healthcheck", "--url", "http://127.0.0.1:PORT/healthz"]`, bin)
	listen, where := ps.setting("listen")
	_, port, err := net.SplitHostPort(listen)
	switch {
	case listen == "":
		c.errorf(ps.Name, "sets no --listen (or BETTERREAD_LISTEN): no /healthz for its healthcheck, no /metrics")
		return
	case err != nil:
		c.errorf(ps.Name, "%s %q: %v", where, listen, err)
		return
	case bin == "worker" && isLoopback(listen):
		c.errorf(ps.Name, "%s %q is loopback: Prometheus in another container cannot scrape its /metrics", where, listen)
	}
	if !hasHealthcheck(ps.ServiceConfig) {
		c.errorf(ps.Name, "has no healthcheck: want %s", want)
		return
	}
	test := ps.HealthCheck.Test
	if len(test) < 3 || test[0] != "CMD" || test[1] != bin || test[2] != "healthcheck" {
		c.errorf(ps.Name, "healthcheck %q: want %s (the image has no shell and no curl)", test, want)
		return
	}
	spec, ok := c.cmds[bin+" healthcheck"]
	if !ok {
		c.errorf(ps.Name, "healthcheck runs `%s healthcheck`, which the test does not know", bin)
		return
	}
	raw, ok := c.parseFlags(ps.Name, spec, test[3:])["url"]
	if !ok {
		c.errorf(ps.Name, "healthcheck %q names no --url: want %s", test, want)
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		c.errorf(ps.Name, "healthcheck --url %q: %v", raw, err)
	case !isLoopback(u.Host):
		c.errorf(ps.Name, "healthcheck --url %q: want 127.0.0.1, the container itself", raw)
	case u.Port() != port || u.Path != "/healthz":
		c.errorf(ps.Name, "healthcheck --url %q: want http://127.0.0.1:%s/healthz (%s %q)", raw, port, where, listen)
	}
}

// isLoopback reports whether a host:port address names this host only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return host == "127.0.0.1" || host == "localhost" || host == "::1"
}

// checkPipeline checks that a binary's service reaches Redis, the block
// store and DynamoDB where this project runs them.
func (c *checker) checkPipeline(ps pipelineService, buckets map[string]bool) {
	for _, flag := range []string{"redis", "store", "dynamodb-endpoint"} {
		if _, ok := ps.spec.flags[flag]; !ok {
			c.errorf(ps.Name, "`%s` has no --%s flag any more; update the compose file and this test", ps.spec.name, flag)
		}
	}

	addr, where := ps.setting("redis")
	if addr == "" {
		c.errorf(ps.Name, "sets no Redis address (--redis or its variable)")
	} else if redis, ok := c.endpoint(ps.Name, where, "tcp://"+addr, "redis"); ok {
		pass := requirePass(redis)
		if pass == "" {
			c.errorf(redis.Name, "has no --requirepass")
		}
		if got := ps.env("BETTERREAD_REDIS_PASSWORD"); got != pass {
			c.errorf(ps.Name, "BETTERREAD_REDIS_PASSWORD %q differs from the requirepass of %s", got, redis.Name)
		}
		c.dependsOn(ps.ServiceConfig, redis.Name, "")
	}

	store, where := ps.setting("store")
	bucket, ok := strings.CutPrefix(store, "s3://")
	bucket, _, _ = strings.Cut(bucket, "/")
	if !ok || bucket == "" {
		c.errorf(ps.Name, "%s %q: want s3://bucket/prefix on MinIO", where, store)
	} else if !buckets[bucket] {
		c.errorf(ps.Name, "%s %q: no service creates bucket %s", where, store, bucket)
	}
	endpoint, where := "", ""
	for _, env := range s3EndpointEnv {
		if endpoint = ps.env(env); endpoint != "" {
			where = env
			break
		}
	}
	if endpoint == "" {
		c.errorf(ps.Name, "sets no S3 endpoint (%v)", s3EndpointEnv)
	} else if minio, ok := c.endpoint(ps.Name, where, endpoint, "minio/minio"); ok {
		if ps.env("AWS_ACCESS_KEY_ID") != envOf(minio, "MINIO_ROOT_USER") ||
			ps.env("AWS_SECRET_ACCESS_KEY") != envOf(minio, "MINIO_ROOT_PASSWORD") {
			c.errorf(ps.Name, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY differ from MINIO_ROOT_USER and MINIO_ROOT_PASSWORD of %s", minio.Name)
		}
	}

	if dynamo, where := ps.setting("dynamodb-endpoint"); dynamo != "" {
		c.endpoint(ps.Name, where, dynamo, "amazon/dynamodb-local")
	}
}

// endpoint checks that rawURL (set by where in service from) names a
// service of image repo and the port its server listens on, and returns
// that service.
func (c *checker) endpoint(from, where, rawURL, repo string) (types.ServiceConfig, bool) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" || u.Port() == "" {
		c.errorf(from, "%s %q: want a service name and a port", where, rawURL)
		return types.ServiceConfig{}, false
	}
	s, ok := c.p.Services[u.Hostname()]
	if !ok || imageRepo(s.Image) != repo {
		c.errorf(from, "%s %q: %s is not a service running %s", where, rawURL, u.Hostname(), repo)
		return types.ServiceConfig{}, false
	}
	port, _ := strconv.ParseUint(u.Port(), 10, 32)
	if l := listens(s); len(l) == 0 || l[0] != uint32(port) {
		c.errorf(from, "%s %q: %s listens on %v, not %s", where, rawURL, s.Name, l, u.Port())
		return types.ServiceConfig{}, false
	}
	return s, true
}

// dependsOn checks that s waits for service dep (with condition, if set).
func (c *checker) dependsOn(s types.ServiceConfig, dep, condition string) {
	d, ok := s.DependsOn[dep]
	switch {
	case !ok:
		c.errorf(s.Name, "does not depend on %s", dep)
	case condition != "" && d.Condition != condition:
		c.errorf(s.Name, "depends on %s with condition %s, want %s", dep, d.Condition, condition)
	}
}

// checkBucketInit checks the minio/mc services' `mc` commands: the alias
// points at MinIO with its root user, and each event notification goes to
// a bucket that is created and to a webhook MinIO has, aimed at the
// coordinator. It returns the buckets created.
func (c *checker) checkBucketInit() map[string]bool {
	created := map[string]bool{}
	var inits []string
	for _, name := range slices.Sorted(maps.Keys(c.p.Services)) {
		s := c.p.Services[name]
		if imageRepo(s.Image) != "minio/mc" {
			continue
		}
		inits = append(inits, name)
		aliases := map[string]types.ServiceConfig{} // alias → MinIO service
		for _, words := range mcCommands(append(slices.Clone(s.Entrypoint), s.Command...)) {
			op := strings.Join(words[:min(2, len(words))], " ")
			args := positional(words[min(2, len(words)):])
			switch {
			case op == "alias set" && len(args) >= 4:
				minio, ok := c.endpoint(name, "mc alias set", args[1], "minio/minio")
				if ok {
					aliases[args[0]] = minio
					if shellValue(s, args[2]) != envOf(minio, "MINIO_ROOT_USER") || shellValue(s, args[3]) != envOf(minio, "MINIO_ROOT_PASSWORD") {
						c.errorf(name, "mc alias set %s: user and password differ from %s's root user", args[0], minio.Name)
					}
				}
			case strings.HasPrefix(op, "mb"):
				for _, target := range positional(words[1:]) {
					if alias, bucket, ok := strings.Cut(target, "/"); ok && aliases[alias].Name != "" {
						created[bucket] = true
					} else {
						c.errorf(name, "mc mb %s: want ALIAS/bucket with an alias set before", target)
					}
				}
			case op == "event add" && len(args) >= 2:
				alias, bucket, _ := strings.Cut(args[0], "/")
				minio := aliases[alias]
				if minio.Name == "" || !created[bucket] {
					c.errorf(name, "mc event add %s: the bucket is not created on an aliased MinIO before", args[0])
				}
				c.checkWebhook(name, minio, args[1])
			}
		}
	}
	if len(inits) == 0 {
		c.errorf("minio-init", "missing: want a minio/mc service that creates the buckets")
	}
	for _, name := range slices.Sorted(maps.Keys(c.p.Services)) {
		s := c.p.Services[name]
		if args := append(slices.Clone(s.Entrypoint), s.Command...); len(args) == 0 || (args[0] != "coordinator" && args[0] != "worker") {
			continue
		}
		for _, init := range inits {
			c.dependsOn(s, init, types.ServiceConditionCompletedSuccessfully)
		}
	}
	return created
}

// checkWebhook checks that arn is a webhook target of minio aimed at the
// service running `coordinator serve`.
func (c *checker) checkWebhook(from string, minio types.ServiceConfig, arn string) {
	id, ok := strings.CutPrefix(arn, "arn:minio:sqs::")
	id, ok2 := strings.CutSuffix(id, ":webhook")
	if !ok || !ok2 || minio.Name == "" {
		c.errorf(from, "mc event add: %q is not a webhook ARN of an aliased MinIO", arn)
		return
	}
	if on := envOf(minio, "MINIO_NOTIFY_WEBHOOK_ENABLE_"+id); on != "on" {
		c.errorf(minio.Name, "MINIO_NOTIFY_WEBHOOK_ENABLE_%s is %q, want on (mc event add uses %s)", id, on, arn)
	}
	endpoint := envOf(minio, "MINIO_NOTIFY_WEBHOOK_ENDPOINT_"+id)
	u, err := url.Parse(endpoint)
	if err != nil || u.Hostname() == "" {
		c.errorf(minio.Name, "MINIO_NOTIFY_WEBHOOK_ENDPOINT_%s %q: want the coordinator's URL", id, endpoint)
		return
	}
	coord := c.p.Services[u.Hostname()]
	if args := coord.Command; len(args) < 2 || args[0] != "coordinator" || args[1] != "serve" {
		c.errorf(minio.Name, "MINIO_NOTIFY_WEBHOOK_ENDPOINT_%s %q: %s is not the service running `coordinator serve`", id, endpoint, u.Hostname())
		return
	}
	// The coordinator must serve the hook there, for other containers,
	// with the token MinIO sends.
	listen := flagValue(coord, "--listen", "BETTERREAD_LISTEN", "127.0.0.1:8080")
	host, port, err := net.SplitHostPort(listen)
	switch {
	case err != nil:
		c.errorf(coord.Name, "--listen %q: %v", listen, err)
	case isLoopback(host):
		c.errorf(coord.Name, "--listen %q is loopback: MinIO's webhook from another container cannot reach it", listen)
	case port != u.Port() || u.Path != "/hooks/s3":
		c.errorf(minio.Name, "MINIO_NOTIFY_WEBHOOK_ENDPOINT_%s %q: want http://%s:%s/hooks/s3", id, endpoint, coord.Name, port)
	}
	if flagValue(coord, "--watch", "BETTERREAD_WATCH", "") == "" {
		c.errorf(coord.Name, "no --watch: the webhook's events would start nothing")
	}
	if token := envOf(minio, "MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_"+id); token == "" || token != envOf(coord, "BETTERREAD_HOOK_TOKEN") {
		c.errorf(minio.Name, "MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_%s differs from the coordinator's BETTERREAD_HOOK_TOKEN", id)
	}
}

// flagValue is the value of a service's flag, else of its environment
// variable, else def.
func flagValue(s types.ServiceConfig, flag, env, def string) string {
	args := append(slices.Clone(s.Entrypoint), s.Command...)
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	if v := envOf(s, env); v != "" {
		return v
	}
	return def
}

// mcCommands splits a shell script (the words of entrypoint and command)
// into the `mc` commands it runs, without the leading mc.
func mcCommands(words []string) [][]string {
	var cmds [][]string
	script := strings.Join(words, "\n")
	for _, line := range strings.FieldsFunc(script, func(r rune) bool { return r == '\n' || r == ';' }) {
		for part := range strings.SplitSeq(line, "&&") {
			fields := strings.Fields(part)
			if len(fields) > 1 && filepath.Base(fields[0]) == "mc" {
				for i, f := range fields {
					fields[i] = strings.Trim(f, `"'`)
				}
				cmds = append(cmds, fields[1:])
			}
		}
	}
	return cmds
}

// positional drops mc's flags (and the values of those that take one).
func positional(words []string) []string {
	var args []string
	for i := 0; i < len(words); i++ {
		switch w := words[i]; {
		case w == "--event" || w == "--prefix" || w == "--suffix" || w == "--region":
			i++
		case !strings.HasPrefix(w, "-"):
			args = append(args, w)
		}
	}
	return args
}

// shellValue resolves "$NAME" or "${NAME}" from the service's environment.
func shellValue(s types.ServiceConfig, word string) string {
	name, ok := strings.CutPrefix(word, "$")
	if !ok {
		return word
	}
	return envOf(s, strings.Trim(name, "{}"))
}

func envOf(s types.ServiceConfig, name string) string {
	if v := s.Environment[name]; v != nil {
		return *v
	}
	return ""
}

// imageRepo is an image reference without registry, tag and digest:
// "quay.io/minio/minio:RELEASE.x" is "minio/minio", "redis:7" is "redis".
func imageRepo(image string) string {
	image, _, _ = strings.Cut(image, "@")
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	if first, rest, ok := strings.Cut(image, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		image = rest
	}
	return strings.TrimPrefix(image, "library/")
}

// listens returns the container ports a service's server listens on, its
// API first, or nil for services that run no server this test knows.
func listens(s types.ServiceConfig) []uint32 {
	args := append(slices.Clone(s.Entrypoint), s.Command...)
	var ports []uint32
	add := func(flag string, def uint32) {
		if p := portArg(args, flag, def); p != 0 {
			ports = append(ports, p)
		}
	}
	switch imageRepo(s.Image) {
	case "redis":
		add("--port", 6379)
	case "minio/minio":
		add("--address", 9000)
		add("--console-address", 0) // a random port when not set
	case "amazon/dynamodb-local":
		add("-port", 8000)
	}
	listen := ""
	switch {
	case len(args) > 1 && args[0] == "coordinator" && args[1] == "serve":
		listen = flagValue(s, "--listen", "BETTERREAD_LISTEN", "127.0.0.1:8080")
	case len(args) > 0 && args[0] == "worker":
		listen = flagValue(s, "--listen", "BETTERREAD_LISTEN", "")
	}
	if listen != "" {
		if _, port, err := net.SplitHostPort(listen); err == nil {
			if p, err := strconv.ParseUint(port, 10, 16); err == nil {
				ports = append(ports, uint32(p))
			}
		}
	}
	return ports
}

// portArg is the port in the value of flag ("9001", ":9001",
// "host:9001"), or def.
func portArg(args []string, flag string, def uint32) uint32 {
	value := ""
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			value = args[i+1]
		} else if v, ok := strings.CutPrefix(a, flag+"="); ok {
			value = v
		}
	}
	if value == "" {
		return def
	}
	if _, port, err := net.SplitHostPort(value); err == nil {
		value = port
	}
	p, err := strconv.ParseUint(value, 10, 32)
	if err != nil {
		return def
	}
	return uint32(p)
}

// requirePass is redis-server's --requirepass argument.
func requirePass(s types.ServiceConfig) string {
	args := append(slices.Clone(s.Entrypoint), s.Command...)
	if i := slices.Index(args, "--requirepass"); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}
