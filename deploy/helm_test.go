package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/betterread/pipeline/internal/testenv"
)

// The Helm chart is checked with the real tools and the real binaries, as
// the compose file is: the test renders the chart with helm (built by
// ./deploy/local/test-deps.sh at the pinned version) for its defaults and
// the value sets in ci/, runs `helm lint --strict`, decodes every object
// strictly into the Kubernetes API types, validates the KEDA objects
// against KEDA's own CRD schemas, and checks every container's command,
// environment, probes and security context against the binaries' `-h`.
// No cluster is needed.

const chartDir = "helm/betterread"

// chartValueSets are the value files rendered besides the defaults, with
// what each must produce beyond passing the checker.
var chartValueSets = []struct {
	file string
	want func(*renderedChart) []error
}{
	{"", func(r *renderedChart) []error {
		return r.expect(r.scaledObject != nil && *r.scaledObject.Spec.MinReplicaCount == 1, "the defaults autoscale the workers from 1")
	}},
	{"ci/scale-to-zero-values.yaml", func(r *renderedChart) []error {
		return r.expect(r.scaledObject != nil && *r.scaledObject.Spec.MinReplicaCount == 0, "minReplicaCount 0")
	}},
	{"ci/irsa-values.yaml", func(r *renderedChart) []error {
		sa := r.serviceAccounts["betterread"]
		return slices.Concat(
			r.expect(sa != nil && sa.Annotations[irsaAnnotation] == "arn:aws:iam::123456789012:role/betterread-pipeline", "service account betterread with the IRSA role"),
			r.expect(r.coordinator != nil && r.coordinator.envVar("AWS_ACCESS_KEY_ID") == nil, "no AWS credentials from a Secret"),
			r.expect(r.coordinator != nil && r.coordinator.flags["sqs-queue-url"] != "", "the coordinator polls SQS"),
		)
	}},
	{"ci/metrics-auth-values.yaml", func(r *renderedChart) []error {
		c, w := r.coordinator, r.worker
		return slices.Concat(
			r.expect(c != nil && c.flags["metrics-auth"] == "true", "coordinator --metrics-auth=true"),
			r.expect(c != nil && c.container.Resources.Limits.Memory().String() == "4Gi", "coordinator memory limit 4Gi"),
			r.expect(w != nil && w.container.Resources.Requests.Cpu().String() == "2", "worker cpu request 2"),
			r.expect(r.scaledObject == nil && w != nil && w.deployment.Spec.Replicas != nil && *w.deployment.Spec.Replicas == 3, "3 workers, no ScaledObject"),
		)
	}},
}

func TestHelmChart(t *testing.T) {
	helm := newHelm(t)
	keda := loadKEDASchemas(t)
	cmds := helpSpecs(t, buildBinaries(t))

	t.Run("lint", func(t *testing.T) {
		for _, vs := range chartValueSets {
			args := []string{"lint", "--strict", chartDir}
			if vs.file != "" {
				args = append(args, "--values", filepath.Join(chartDir, vs.file))
			}
			if out, err := helm.run(args...); err != nil {
				t.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	})

	for _, vs := range chartValueSets {
		name := strings.TrimSuffix(filepath.Base(vs.file), "-values.yaml")
		if vs.file == "" {
			name = "defaults"
		}
		t.Run(name, func(t *testing.T) {
			var args []string
			if vs.file != "" {
				args = []string{"--values", filepath.Join(chartDir, vs.file)}
			}
			objs := helm.template(t, args...)
			r := checkChart(objs, cmds, keda)
			for _, err := range slices.Concat(r.errs, vs.want(r)) {
				t.Error(err)
			}
		})
	}

	defaults := helm.template(t)
	// Each mutation is a drift the check must catch: by a value (--set) or
	// by a change to the rendered objects (patch).
	mutations := []struct {
		name  string
		set   []string // helm template arguments: --set, --set-string
		patch func(*testing.T, []object) []object
		want  string // in one of the errors
	}{
		{name: "unknown_worker_flag", set: []string{"--set", "worker.extraArgs[0]=--no-such-flag=1"}, want: "--no-such-flag"},
		{name: "unknown_coordinator_env", set: []string{"--set", "coordinator.extraEnv[0].name=BETTERREAD_NO_SUCH_VAR", "--set-string", "coordinator.extraEnv[0].value=1"}, want: "BETTERREAD_NO_SUCH_VAR"},
		{name: "literal_redis_password", set: []string{"--set", "worker.extraEnv[0].name=BETTERREAD_REDIS_PASSWORD,worker.extraEnv[0].value=hunter2"}, want: "BETTERREAD_REDIS_PASSWORD has a literal value"},
		{name: "literal_aws_secret", patch: patchObject("Deployment", "betterread-coordinator", func(m map[string]any) {
			c := dig(m, "spec", "template", "spec", "containers", 0).(map[string]any)
			for _, e := range c["env"].([]any) {
				if e := e.(map[string]any); e["name"] == "AWS_SECRET_ACCESS_KEY" {
					delete(e, "valueFrom")
					e["value"] = "wJalrXUtnFEMI"
				}
			}
		}), want: "AWS_SECRET_ACCESS_KEY has a literal value"},
		{name: "probe_wrong_port", patch: patchObject("Deployment", "betterread-worker", func(m map[string]any) {
			dig(m, "spec", "template", "spec", "containers", 0, "readinessProbe", "httpGet").(map[string]any)["port"] = 9091
		}), want: "port 9091"},
		{name: "probe_wrong_path", patch: patchObject("Deployment", "betterread-worker", func(m map[string]any) {
			dig(m, "spec", "template", "spec", "containers", 0, "readinessProbe", "httpGet").(map[string]any)["path"] = "/healthz"
		}), want: "readinessProbe path /healthz"},
		{name: "coordinator_listen_loopback", set: []string{"--set", "coordinator.extraArgs[0]=--listen=127.0.0.1:8080"}, want: "loopback"},
		{name: "trigger_wrong_queue", patch: patchObject("ScaledObject", "betterread-worker", func(m map[string]any) {
			dig(m, "spec", "triggers", 0, "metadata").(map[string]any)["listName"] = "asynq:{default}:pending"
		}), want: "asynq:{default}:pending"},
		{name: "trigger_other_redis", patch: patchObject("ScaledObject", "betterread-worker", func(m map[string]any) {
			dig(m, "spec", "triggers", 1, "metadata").(map[string]any)["address"] = "other-redis:6379"
		}), want: "other-redis:6379"},
		{name: "trigger_auth_other_secret", patch: patchObject("TriggerAuthentication", "betterread-redis", func(m map[string]any) {
			dig(m, "spec", "secretTargetRef", 0).(map[string]any)["key"] = "password"
		}), want: "not the workers' BETTERREAD_REDIS_PASSWORD"},
		{name: "scale_target_wrong", patch: patchObject("ScaledObject", "betterread-worker", func(m map[string]any) {
			dig(m, "spec", "scaleTargetRef").(map[string]any)["name"] = "betterread-workers"
		}), want: "scaleTargetRef"},
		{name: "keda_wrong_type", patch: patchObject("ScaledObject", "betterread-worker", func(m map[string]any) {
			m["spec"].(map[string]any)["maxReplicaCount"] = "ten"
		}), want: "maxReplicaCount"},
		{name: "keda_unknown_field", patch: patchObject("ScaledObject", "betterread-worker", func(m map[string]any) {
			m["spec"].(map[string]any)["minReplicas"] = 0
		}), want: "minReplicas"},
		{name: "read_write_root_filesystem", set: []string{"--set", "securityContext.readOnlyRootFilesystem=false"}, want: "readOnlyRootFilesystem"},
		{name: "run_as_root", set: []string{"--set", "podSecurityContext.runAsUser=0"}, want: "runAsUser"},
		{name: "capabilities_kept", set: []string{"--set", "securityContext.capabilities.drop=null"}, want: "drop ALL"},
		{name: "unknown_deployment_field", patch: patchObject("Deployment", "betterread-worker", func(m map[string]any) {
			dig(m, "spec", "template", "spec", "containers", 0).(map[string]any)["livenessprobe"] = map[string]any{}
		}), want: `unknown field "spec.template.spec.containers[0].livenessprobe"`},
		{name: "unknown_pdb_field", patch: patchObject("PodDisruptionBudget", "betterread-worker", func(m map[string]any) {
			m["spec"].(map[string]any)["maxUnavailible"] = 1
		}), want: `unknown field "spec.maxUnavailible"`},
		{name: "service_selects_workers", patch: patchObject("Service", "betterread-coordinator", func(m map[string]any) {
			dig(m, "spec", "selector").(map[string]any)["app.kubernetes.io/component"] = "worker"
		}), want: "selector"},
		{name: "replicas_under_keda", set: []string{"--set", "worker.autoscaling.enabled=false"}, patch: func(t *testing.T, objs []object) []object {
			so := helm.template(t) // the defaults' ScaledObject over a fixed-size Deployment
			return append(objs, so[slices.IndexFunc(so, func(o object) bool { return o.Kind == "ScaledObject" })])
		}, want: "spec.replicas"},
		{name: "no_worker_pdb", set: []string{"--set", "worker.pdb.enabled=false"}, want: "PodDisruptionBudget"},
		{name: "irsa_with_static_keys", set: []string{"--set", "serviceAccount.irsaRoleArn=arn:aws:iam::123456789012:role/x"}, want: "IRSA"},
	}
	for _, m := range mutations {
		t.Run("catches_"+m.name, func(t *testing.T) {
			objs := defaults
			if len(m.set) > 0 {
				objs = helm.template(t, m.set...)
			}
			if m.patch != nil {
				objs = m.patch(t, slices.Clone(objs))
			}
			errs := checkChart(objs, cmds, keda).errs
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), m.want) }) {
				t.Errorf("no error mentions %q; got %q", m.want, errs)
			}
		})
	}
	t.Run("defaults_unchanged", func(t *testing.T) {
		if errs := checkChart(defaults, cmds, keda).errs; len(errs) > 0 {
			t.Errorf("the mutations changed the rendered defaults: %q", errs)
		}
	})

	// values.schema.json: helm refuses these values before rendering.
	schemaCases := []struct{ name, set, want string }{
		{"unknown_top_level_key", "replicaCount=3", "replicaCount"},
		{"unknown_nested_key", "worker.autoscaling.maxReplicas=3", "maxReplicas"},
		{"wrong_type", "worker.concurrency=many", "concurrency"},
		{"password_in_redis_address", "redis.address=redis://:hunter2@redis:6379", "address"},
		{"store_not_s3", "store=/var/blocks", "store"},
		{"negative_min_replicas", "worker.autoscaling.minReplicaCount=-1", "minReplicaCount"},
	}
	for _, c := range schemaCases {
		t.Run("schema_rejects_"+c.name, func(t *testing.T) {
			out, err := helm.run("template", "betterread", chartDir, "--set", c.set)
			if err == nil {
				t.Fatalf("helm template --set %s rendered; want values.schema.json to reject it", c.set)
			}
			if !strings.Contains(out, "schema") || !strings.Contains(out, c.want) {
				t.Errorf("helm template --set %s: error does not name the schema and %q:\n%s", c.set, c.want, out)
			}
		})
	}
}

// helmCmd runs the cached helm with its state in a temporary directory.
type helmCmd struct {
	bin string
	env []string
}

func newHelm(t *testing.T) *helmCmd {
	t.Helper()
	bin := filepath.Join(testenv.CacheDir(), "bin", "helm")
	want := pinnedVersion(t, "HELM_VERSION")
	got, err := os.ReadFile(bin + ".version")
	if _, statErr := os.Stat(bin); statErr != nil || err != nil || strings.TrimSpace(string(got)) != want {
		t.Fatalf("helm %s is not in %s (found %q): run ./deploy/local/test-deps.sh, which builds it once with go install", want, bin, strings.TrimSpace(string(got)))
	}
	home := t.TempDir()
	return &helmCmd{bin: bin, env: []string{
		"HOME=" + home,
		"HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data"),
		"PATH=" + os.Getenv("PATH"),
	}}
}

func (h *helmCmd) run(args ...string) (string, error) {
	cmd := exec.Command(h.bin, args...)
	cmd.Env = h.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// template renders the chart as release betterread in namespace
// betterread and splits the output into objects.
func (h *helmCmd) template(t *testing.T, args ...string) []object {
	t.Helper()
	cmd := exec.Command(h.bin, append([]string{"template", "betterread", chartDir, "--namespace", "betterread"}, args...)...)
	cmd.Env = h.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	objs, err := splitObjects(out)
	if err != nil {
		t.Fatalf("helm template %s: %v", strings.Join(args, " "), err)
	}
	return objs
}

// pinnedVersion reads NAME="v..." from test-deps.sh, so the test and the
// script cannot disagree about the version in the cache.
func pinnedVersion(t *testing.T, name string) string {
	t.Helper()
	script, err := os.ReadFile("local/test-deps.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + name + `="(v[^"]+)"$`).FindSubmatch(script)
	if m == nil {
		t.Fatalf("local/test-deps.sh sets no %s", name)
	}
	return string(m[1])
}

// object is one rendered Kubernetes object, as JSON.
type object struct {
	APIVersion, Kind, Name string
	JSON                   []byte
}

func (o object) String() string { return o.Kind + " " + o.Name }

// splitObjects splits helm's multi-document YAML and converts each object
// to JSON; duplicate keys are errors.
func splitObjects(data []byte) ([]object, error) {
	var objs []object
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("%w in:\n%s", err, doc)
		}
		if string(js) == "null" {
			continue // a document of comments only
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(js, &head); err != nil {
			return nil, fmt.Errorf("%w in:\n%s", err, doc)
		}
		objs = append(objs, object{APIVersion: head.APIVersion, Kind: head.Kind, Name: head.Metadata.Name, JSON: js})
	}
}

// patchObject returns a patch that changes the object of kind and name.
func patchObject(kind, name string, change func(map[string]any)) func(*testing.T, []object) []object {
	return func(t *testing.T, objs []object) []object {
		t.Helper()
		i := slices.IndexFunc(objs, func(o object) bool { return o.Kind == kind && o.Name == name })
		if i < 0 {
			t.Fatalf("no %s %s to patch in %v", kind, name, objs)
		}
		var m map[string]any
		if err := json.Unmarshal(objs[i].JSON, &m); err != nil {
			t.Fatal(err)
		}
		change(m)
		js, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		objs[i].JSON = js
		return objs
	}
}

// dig walks maps (by string) and lists (by int) of decoded JSON.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v
}

// decodeStrict decodes JSON into a Kubernetes API type as the API server
// does with strict field validation (kubectl's default): field names are
// case-sensitive (encoding/json alone would take "livenessprobe" for
// livenessProbe), and an unknown or duplicate field is an error.
func decodeStrict(data []byte, into any) error {
	strict, err := sigsjson.UnmarshalStrict(data, into)
	return errors.Join(append(strict, err)...)
}
