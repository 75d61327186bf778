package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/betterread/pipeline/internal/testenv"
	"github.com/betterread/pipeline/shared/tasks"
)

// What the chart's objects must be, checked on rendered objects: the
// checker knows nothing of values.yaml, so a value set or a template
// change that breaks the wiring is caught however it came about.

const irsaAnnotation = "eks.amazonaws.com/role-arn"

// secretEnv names variables whose value is a secret: they come only from
// a Secret (valueFrom.secretKeyRef), never as a literal value.
var secretEnv = regexp.MustCompile(`TOKEN|PASSWORD|SECRET|KEY`)

// The UID of distroless's nonroot user, which the image runs as.
const nonrootUID = 65532

// kedaKinds are the KEDA objects the chart renders, by kind, with the CRD
// file that defines each.
var kedaKinds = map[string]string{
	"ScaledObject":          "keda.sh_scaledobjects.yaml",
	"TriggerAuthentication": "keda.sh_triggerauthentications.yaml",
}

// loadKEDASchemas compiles the openAPIV3Schema of v1alpha1 of each KEDA CRD
// that test-deps.sh copied from the pinned KEDA module.
func loadKEDASchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	dir := filepath.Join(testenv.CacheDir(), "keda-crds")
	want := pinnedVersion(t, "KEDA_VERSION")
	if got, err := os.ReadFile(filepath.Join(dir, "version")); err != nil || strings.TrimSpace(string(got)) != want {
		t.Fatalf("KEDA %s CRDs are not in %s (found %q): run ./deploy/local/test-deps.sh, which copies them from the KEDA module", want, dir, strings.TrimSpace(string(got)))
	}
	schemas := map[string]*jsonschema.Schema{}
	for kind, file := range kedaKinds {
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatalf("%v: run ./deploy/local/test-deps.sh", err)
		}
		sch, err := compileCRDSchema(file, data, kind, "v1alpha1")
		if err != nil {
			t.Fatal(err)
		}
		schemas[kind] = sch
	}
	return schemas
}

// compileCRDSchema compiles the schema of one version of a CRD, closed:
// an object schema with properties and no x-kubernetes-preserve-unknown-
// fields gets additionalProperties false, so that an unknown field is an
// error, as with the API server's strict field validation (kubectl's
// default), rather than silently pruned.
func compileCRDSchema(file string, data []byte, kind, version string) (*jsonschema.Schema, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var crd struct {
		Spec struct {
			Names    struct{ Kind string }
			Versions []struct {
				Name   string
				Schema struct {
					OpenAPIV3Schema json.RawMessage
				}
			}
		}
	}
	if err := json.Unmarshal(js, &crd); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if crd.Spec.Names.Kind != kind {
		return nil, fmt.Errorf("%s defines %s, want %s", file, crd.Spec.Names.Kind, kind)
	}
	i := slices.IndexFunc(crd.Spec.Versions, func(v struct {
		Name   string
		Schema struct{ OpenAPIV3Schema json.RawMessage }
	}) bool {
		return v.Name == version
	})
	if i < 0 {
		return nil, fmt.Errorf("%s has no version %s", file, version)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(crd.Spec.Versions[i].Schema.OpenAPIV3Schema))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	closeSchema(doc)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	url := "file:///" + file
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

func closeSchema(v any) {
	switch s := v.(type) {
	case map[string]any:
		_, hasProps := s["properties"].(map[string]any)
		_, hasAdditional := s["additionalProperties"]
		if hasProps && !hasAdditional && s["x-kubernetes-preserve-unknown-fields"] != true {
			s["additionalProperties"] = false
		}
		for _, sub := range s {
			closeSchema(sub)
		}
	case []any:
		for _, sub := range s {
			closeSchema(sub)
		}
	}
}

// KEDA objects, decoded for the wiring checks once the CRD schema has
// passed them.
type scaledObject struct {
	Metadata struct{ Name string }
	Spec     struct {
		ScaleTargetRef  struct{ APIVersion, Kind, Name string }
		MinReplicaCount *int32
		MaxReplicaCount *int32
		CooldownPeriod  *int32
		PollingInterval *int32
		Triggers        []struct {
			Type              string
			Metadata          map[string]string
			AuthenticationRef *struct{ Name, Kind string }
		}
	}
}

type triggerAuthentication struct {
	Metadata struct{ Name string }
	Spec     struct {
		SecretTargetRef []struct{ Parameter, Name, Key string }
	}
}

// podCommand is a container that runs one of the binaries, with its
// command line parsed against that command's -h.
type podCommand struct {
	deployment *appsv1.Deployment
	container  corev1.Container
	spec       cmdSpec
	flags      map[string]string // flag values given on the command line
}

func (p *podCommand) String() string { return "Deployment " + p.deployment.Name }

func (p *podCommand) envVar(name string) *corev1.EnvVar {
	for i, e := range p.container.Env {
		if e.Name == name {
			return &p.container.Env[i]
		}
	}
	return nil
}

// setting is a flag's value from the command line, else from the variable
// it defaults from (a literal value only); where says which one set it.
func (p *podCommand) setting(flag string) (value, where string) {
	if v, ok := p.flags[flag]; ok {
		return v, "--" + flag
	}
	if env := p.spec.flags[flag].env; env != "" {
		if e := p.envVar(env); e != nil && e.ValueFrom == nil {
			return e.Value, env
		}
	}
	return "", ""
}

// renderedChart is what checkChart found, for the value sets' own checks.
type renderedChart struct {
	errs            []error
	coordinator     *podCommand
	worker          *podCommand
	deployments     []*appsv1.Deployment
	services        []*corev1.Service
	pdbs            []*policyv1.PodDisruptionBudget
	serviceAccounts map[string]*corev1.ServiceAccount
	scaledObject    *scaledObject
	triggerAuths    map[string]*triggerAuthentication
}

func (r *renderedChart) errorf(what fmt.Stringer, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s: %s", what, fmt.Sprintf(format, args...)))
}

func (r *renderedChart) expect(ok bool, what string) []error {
	if ok {
		return nil
	}
	return []error{fmt.Errorf("value set: want %s", what)}
}

type named string

func (n named) String() string { return string(n) }

// checkChart decodes objs and returns what it found with every way they
// disagree with the binaries in cmds, with KEDA's schemas or with each
// other.
func checkChart(objs []object, cmds map[string]cmdSpec, keda map[string]*jsonschema.Schema) *renderedChart {
	r := &renderedChart{serviceAccounts: map[string]*corev1.ServiceAccount{}, triggerAuths: map[string]*triggerAuthentication{}}
	for _, o := range objs {
		r.decode(o, keda)
	}
	for _, d := range r.deployments {
		r.checkDeployment(d, cmds)
	}
	if r.coordinator == nil {
		r.errorf(named("chart"), "no Deployment runs `coordinator serve`")
	}
	if r.worker == nil {
		r.errorf(named("chart"), "no Deployment runs `worker`")
	}
	if r.coordinator == nil || r.worker == nil {
		return r
	}
	r.checkShared()
	r.checkService()
	r.checkPDBs()
	r.checkScaledObject()
	return r
}

// decode checks one object against its type (strictly) or its CRD schema
// and files it.
func (r *renderedChart) decode(o object, keda map[string]*jsonschema.Schema) {
	strict := func(into any) bool {
		if err := decodeStrict(o.JSON, into); err != nil {
			r.errorf(o, "does not decode as %s: %v", o.APIVersion, err)
			return false
		}
		return true
	}
	switch o.APIVersion + " " + o.Kind {
	case "apps/v1 Deployment":
		var d appsv1.Deployment
		if strict(&d) {
			r.deployments = append(r.deployments, &d)
		}
	case "v1 Service":
		var s corev1.Service
		if strict(&s) {
			r.services = append(r.services, &s)
		}
	case "v1 ServiceAccount":
		var sa corev1.ServiceAccount
		if strict(&sa) {
			r.serviceAccounts[sa.Name] = &sa
		}
	case "policy/v1 PodDisruptionBudget":
		var p policyv1.PodDisruptionBudget
		if strict(&p) {
			r.pdbs = append(r.pdbs, &p)
		}
	case "keda.sh/v1alpha1 ScaledObject", "keda.sh/v1alpha1 TriggerAuthentication":
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(o.JSON))
		if err == nil {
			err = keda[o.Kind].Validate(doc)
		}
		if err != nil {
			r.errorf(o, "KEDA's CRD schema rejects it: %v", err)
			return
		}
		if o.Kind == "ScaledObject" {
			var so scaledObject
			if err := json.Unmarshal(o.JSON, &so); err != nil {
				r.errorf(o, "%v", err)
			} else if r.scaledObject != nil {
				r.errorf(o, "a second ScaledObject (also %s)", r.scaledObject.Metadata.Name)
			} else {
				r.scaledObject = &so
			}
			return
		}
		var ta triggerAuthentication
		if err := json.Unmarshal(o.JSON, &ta); err != nil {
			r.errorf(o, "%v", err)
		} else {
			r.triggerAuths[ta.Metadata.Name] = &ta
		}
	default:
		r.errorf(o, "apiVersion %s kind %s: the test knows no such object; add its type to checkChart", o.APIVersion, o.Kind)
	}
}

// checkDeployment checks the pod of one Deployment: one container running
// a binary with flags and variables that binary has, probes on its HTTP
// port, the security context and resources.
func (r *renderedChart) checkDeployment(d *appsv1.Deployment, cmds map[string]cmdSpec) {
	pod := d.Spec.Template.Spec
	if sel, err := metaSelector(d.Spec.Selector); err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		r.errorf(named("Deployment "+d.Name), "selector %v does not match its pod labels %v", d.Spec.Selector, d.Spec.Template.Labels)
	}
	if len(pod.Containers) != 1 {
		r.errorf(named("Deployment "+d.Name), "has %d containers, want 1", len(pod.Containers))
		return
	}
	p, ok := r.parseCommand(d, pod.Containers[0], cmds)
	if !ok {
		return
	}
	switch p.spec.name {
	case "coordinator serve":
		if r.coordinator != nil {
			r.errorf(p, "a second Deployment runs `coordinator serve` (also %s)", r.coordinator.deployment.Name)
		}
		r.coordinator = p
	case "worker":
		if r.worker != nil {
			r.errorf(p, "a second Deployment runs `worker` (also %s)", r.worker.deployment.Name)
		}
		r.worker = p
	default:
		r.errorf(p, "runs `%s`; want `coordinator serve` or `worker`", p.spec.name)
		return
	}
	r.checkEnv(p)
	r.checkProbes(p)
	r.checkSecurity(p)
	r.checkResources(p)
	if sa := pod.ServiceAccountName; sa == "" {
		r.errorf(p, "no serviceAccountName")
	} else if _, ok := r.serviceAccounts[sa]; !ok && len(r.serviceAccounts) > 0 {
		r.errorf(p, "serviceAccountName %s is not the chart's service account (%v)", sa, slices.Sorted(maps.Keys(r.serviceAccounts)))
	}
}

// parseCommand parses the container's command and args: the first word
// names the binary (the image has no entrypoint), then the subcommand for
// the coordinator, then only flags that command has.
func (r *renderedChart) parseCommand(d *appsv1.Deployment, c corev1.Container, cmds map[string]cmdSpec) (*podCommand, bool) {
	args := slices.Concat(c.Command, c.Args)
	where := named("Deployment " + d.Name)
	if len(args) == 0 || (args[0] != "coordinator" && args[0] != "worker") {
		r.errorf(where, "command %q starts with neither coordinator nor worker", args)
		return nil, false
	}
	name, args := args[0], args[1:]
	if name == "coordinator" {
		if len(args) == 0 {
			r.errorf(where, "`coordinator` needs a command")
			return nil, false
		}
		name, args = name+" "+args[0], args[1:]
	}
	spec, ok := cmds[name]
	if !ok {
		r.errorf(where, "runs `%s`, which the test does not know (known: %v)", name, slices.Sorted(maps.Keys(cmds)))
		return nil, false
	}
	p := &podCommand{deployment: d, container: c, spec: spec}
	p.flags = walkFlags(spec, args, func(format string, a ...any) { r.errorf(p, format, a...) })
	return p, true
}

// checkEnv checks that every variable is one the binary reads, and that
// secrets come from Secrets only.
func (r *renderedChart) checkEnv(p *podCommand) {
	seen := map[string]bool{}
	for _, e := range p.container.Env {
		if seen[e.Name] {
			r.errorf(p, "environment %s is set twice", e.Name)
		}
		seen[e.Name] = true
		if !p.spec.knowsEnv(e.Name) && !slices.Contains(directEnv, e.Name) {
			r.errorf(p, "environment %s is neither the variable of a flag of `%s` nor one the code reads (%v)", e.Name, p.spec.name, directEnv)
		}
		if !secretEnv.MatchString(e.Name) {
			continue
		}
		switch {
		case e.Value != "":
			r.errorf(p, "environment %s has a literal value; a secret comes from a Secret (valueFrom.secretKeyRef)", e.Name)
		case e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil:
			r.errorf(p, "environment %s is not from a Secret (valueFrom.secretKeyRef)", e.Name)
		case e.ValueFrom.SecretKeyRef.Name == "" || e.ValueFrom.SecretKeyRef.Key == "":
			r.errorf(p, "environment %s: secretKeyRef needs a name and a key", e.Name)
		}
	}
	if len(p.container.EnvFrom) > 0 {
		r.errorf(p, "envFrom hides which variables are set; list them under env")
	}
	id, secret := p.envVar("AWS_ACCESS_KEY_ID") != nil, p.envVar("AWS_SECRET_ACCESS_KEY") != nil
	if id != secret {
		r.errorf(p, "sets only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	if sa := r.serviceAccounts[p.deployment.Spec.Template.Spec.ServiceAccountName]; sa != nil && sa.Annotations[irsaAnnotation] != "" && (id || secret) {
		r.errorf(p, "service account %s has an IRSA role, but static AWS keys from a Secret come first in the AWS chain and would override it", sa.Name)
	}
	if p.spec.name == "coordinator serve" {
		for _, v := range []string{"BETTERREAD_API_TOKEN", "BETTERREAD_HOOK_TOKEN"} {
			if p.envVar(v) == nil {
				r.errorf(p, "no %s: serve refuses to listen without the API token, and the hook would accept no upload events", v)
			}
		}
		if p.flags["api-auth"] == "false" || p.flags["hook-auth"] == "false" {
			r.errorf(p, "--api-auth=false or --hook-auth=false is for local use only")
		}
		if target, _ := p.setting("target"); target != "dynamodb" {
			r.errorf(p, "--target %q: want dynamodb (auto without an endpoint writes files into the pod)", target)
		}
	}
}

// listenPort is the port of --listen; it must not be loopback, which the
// kubelet's probes and the Service cannot reach.
func (r *renderedChart) listenPort(p *podCommand) (int32, bool) {
	if _, ok := p.spec.flags["listen"]; !ok {
		r.errorf(p, "`%s -h` has no --listen: the binary serves no /healthz, /readyz, /metrics for the probes (the worker's --listen must land first)", p.spec.name)
		return 0, false
	}
	listen, where := p.setting("listen")
	host, port, err := net.SplitHostPort(listen)
	n, perr := strconv.ParseUint(port, 10, 16)
	switch {
	case listen == "":
		r.errorf(p, "no --listen: the probes need its HTTP server")
	case err != nil || perr != nil:
		r.errorf(p, "%s %q: want [host]:port", where, listen)
	case host == "127.0.0.1" || host == "localhost" || host == "::1":
		r.errorf(p, "%s %q is loopback: the kubelet's probes and the Service cannot reach it", where, listen)
	default:
		return int32(n), true
	}
	return 0, false
}

// checkProbes checks liveness and readiness: HTTP GETs of the binary's
// paths on the --listen port, which is also a container port.
func (r *renderedChart) checkProbes(p *podCommand) {
	port, ok := r.listenPort(p)
	if !ok {
		return
	}
	c := p.container
	if !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.ContainerPort == port }) {
		r.errorf(p, "no container port %d (--listen)", port)
	}
	live, ready := "/healthz", "/healthz"
	if p.spec.name == "worker" {
		ready = "/readyz"
	}
	for _, pr := range []struct {
		name, path string
		probe      *corev1.Probe
	}{{"livenessProbe", live, c.LivenessProbe}, {"readinessProbe", ready, c.ReadinessProbe}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			r.errorf(p, "no %s with httpGet", pr.name)
			continue
		}
		if got := pr.probe.HTTPGet.Path; got != pr.path {
			r.errorf(p, "%s path %s, want %s", pr.name, got, pr.path)
		}
		if got, ok := resolvePort(c, pr.probe.HTTPGet.Port); !ok || got != port {
			r.errorf(p, "%s on port %s, want %d (--listen)", pr.name, pr.probe.HTTPGet.Port.String(), port)
		}
	}
}

// resolvePort is the number of a port given as a number or a container
// port's name.
func resolvePort(c corev1.Container, port intstr.IntOrString) (int32, bool) {
	if port.Type == intstr.Int {
		return port.IntVal, true
	}
	for _, cp := range c.Ports {
		if cp.Name == port.StrVal {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// checkSecurity checks the effective security context: non-root as
// distroless's nonroot user, a read-only root with /tmp writable, no
// privilege escalation, every capability dropped.
func (r *renderedChart) checkSecurity(p *podCommand) {
	pod := p.deployment.Spec.Template.Spec
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	sc := p.container.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	nonRoot, uid := psc.RunAsNonRoot, psc.RunAsUser
	if sc.RunAsNonRoot != nil {
		nonRoot = sc.RunAsNonRoot
	}
	if sc.RunAsUser != nil {
		uid = sc.RunAsUser
	}
	if nonRoot == nil || !*nonRoot {
		r.errorf(p, "runAsNonRoot is not true")
	}
	if uid == nil || *uid != nonrootUID {
		r.errorf(p, "runAsUser is %v, want %d (the image's nonroot user)", ptrString(uid), nonrootUID)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		r.errorf(p, "readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		r.errorf(p, "allowPrivilegeEscalation is not false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		r.errorf(p, "privileged")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		r.errorf(p, "capabilities: want drop ALL and add none, got %+v", sc.Capabilities)
	}
	// The binaries and the AWS SDK may write temporary files.
	i := slices.IndexFunc(p.container.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/tmp" })
	if i < 0 || p.container.VolumeMounts[i].ReadOnly {
		r.errorf(p, "no writable volume at /tmp under the read-only root")
	} else if !slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool {
		return v.Name == p.container.VolumeMounts[i].Name && v.EmptyDir != nil
	}) {
		r.errorf(p, "/tmp is not an emptyDir volume of the pod")
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		r.errorf(p, "mounts a Kubernetes API token, which neither binary uses")
	}
}

func ptrString[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

func (r *renderedChart) checkResources(p *podCommand) {
	res := p.container.Resources
	if res.Requests.Cpu().IsZero() || res.Requests.Memory().IsZero() {
		r.errorf(p, "resources: want cpu and memory requests, got %v", res.Requests)
	}
	if res.Limits.Memory().IsZero() {
		r.errorf(p, "resources: want a memory limit")
	} else if res.Limits.Memory().Cmp(*res.Requests.Memory()) < 0 {
		r.errorf(p, "resources: memory limit below the request")
	}
	if p.spec.name == "worker" {
		if cache, err := strconv.ParseInt(p.flags["cache-bytes"], 10, 64); err == nil && cache >= res.Limits.Memory().Value() {
			r.errorf(p, "--cache-bytes %d is not below the memory limit %s", cache, res.Limits.Memory())
		}
	}
}

// checkShared checks what the coordinator and the workers must agree on:
// the image, Redis and the block store.
func (r *renderedChart) checkShared() {
	c, w := r.coordinator, r.worker
	if c.container.Image != w.container.Image {
		r.errorf(w, "image %s differs from the coordinator's %s", w.container.Image, c.container.Image)
	}
	if img := c.container.Image; strings.HasSuffix(img, ":latest") || !strings.Contains(img[strings.LastIndex(img, "/")+1:], ":") {
		r.errorf(c, "image %s: want a pinned tag", img)
	}
	for _, flag := range []string{"redis", "redis-tls", "redis-db", "store", "dynamodb-endpoint", "region"} {
		cv, cw := c.setting(flag)
		wv, ww := w.setting(flag)
		if cv != wv {
			r.errorf(w, "%s %q differs from the coordinator's %s %q", ww, wv, cw, cv)
		}
	}
	for _, p := range []*podCommand{c, w} {
		if v, where := p.setting("redis"); v == "" {
			r.errorf(p, "sets no Redis address (--redis or its variable)")
		} else if strings.Contains(v, "@") {
			r.errorf(p, "%s carries a password; use BETTERREAD_REDIS_PASSWORD from a Secret", where)
		}
		if v, where := p.setting("store"); !strings.HasPrefix(v, "s3://") {
			r.errorf(p, "%s %q: want s3://bucket/prefix (pods share no directory)", where, v)
		}
	}
	if !sameSecretRef(c.envVar("BETTERREAD_REDIS_PASSWORD"), w.envVar("BETTERREAD_REDIS_PASSWORD")) {
		r.errorf(w, "BETTERREAD_REDIS_PASSWORD comes from another Secret than the coordinator's")
	}
}

func sameSecretRef(a, b *corev1.EnvVar) bool {
	ref := func(e *corev1.EnvVar) string {
		if e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			return ""
		}
		return e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
	}
	return (a == nil) == (b == nil) && ref(a) == ref(b)
}

// checkService checks that a Service reaches the coordinator's --listen
// port, and only the coordinator.
func (r *renderedChart) checkService() {
	c, w := r.coordinator, r.worker
	found := false
	for _, s := range r.services {
		where := named("Service " + s.Name)
		sel := labels.SelectorFromSet(s.Spec.Selector)
		if len(s.Spec.Selector) == 0 || sel.Matches(labels.Set(w.deployment.Spec.Template.Labels)) {
			r.errorf(where, "selector %v selects the workers' pods too (or everything)", s.Spec.Selector)
			continue
		}
		if !sel.Matches(labels.Set(c.deployment.Spec.Template.Labels)) {
			r.errorf(where, "selector %v does not select the coordinator's pods %v", s.Spec.Selector, c.deployment.Spec.Template.Labels)
			continue
		}
		found = true
		port, ok := r.listenPort(c)
		for _, sp := range s.Spec.Ports {
			if got, resolved := resolvePort(c.container, sp.TargetPort); ok && (!resolved || got != port) {
				r.errorf(where, "port %s targets %s, not the coordinator's --listen port %d", sp.Name, sp.TargetPort.String(), port)
			}
		}
	}
	if !found {
		r.errorf(named("chart"), "no Service selects the coordinator (for its API, /hooks/s3 and /metrics)")
	}
}

// checkPDBs checks that each PodDisruptionBudget selects the pods of one
// Deployment, and that the workers have one.
func (r *renderedChart) checkPDBs() {
	covered := map[string]bool{}
	for _, pdb := range r.pdbs {
		where := named("PodDisruptionBudget " + pdb.Name)
		sel, err := metaSelector(pdb.Spec.Selector)
		if err != nil {
			r.errorf(where, "selector: %v", err)
			continue
		}
		var matches []string
		for _, d := range r.deployments {
			if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				matches = append(matches, d.Name)
			}
		}
		if len(matches) != 1 {
			r.errorf(where, "selects the pods of %v, want exactly one Deployment", matches)
			continue
		}
		covered[matches[0]] = true
		if pdb.Spec.MinAvailable != nil && r.scaledObject != nil && matches[0] == r.worker.deployment.Name {
			r.errorf(where, "minAvailable on workers that scale (to zero) blocks drains; use maxUnavailable")
		}
	}
	if !covered[r.worker.deployment.Name] {
		r.errorf(r.worker, "no PodDisruptionBudget selects the workers")
	}
}

func metaSelector(s *metav1.LabelSelector) (labels.Selector, error) {
	if s == nil {
		return nil, fmt.Errorf("no selector")
	}
	return metav1.LabelSelectorAsSelector(s)
}

// checkScaledObject checks the KEDA wiring: the ScaledObject scales the
// worker Deployment on the lists of the queue the workers serve, in the
// Redis they use, with the password from the Secret they use.
func (r *renderedChart) checkScaledObject() {
	so, w := r.scaledObject, r.worker
	if so == nil {
		if w.deployment.Spec.Replicas == nil || *w.deployment.Spec.Replicas < 1 {
			r.errorf(w, "no ScaledObject and no replicas: nothing runs the block tasks")
		}
		return
	}
	where := named("ScaledObject " + so.Metadata.Name)
	ref := so.Spec.ScaleTargetRef
	if (ref.Kind != "" && ref.Kind != "Deployment") || (ref.APIVersion != "" && ref.APIVersion != "apps/v1") || ref.Name != w.deployment.Name {
		r.errorf(where, "scaleTargetRef %+v, want the worker Deployment %s", ref, w.deployment.Name)
	}
	if w.deployment.Spec.Replicas != nil {
		r.errorf(w, "sets spec.replicas under a ScaledObject: every helm upgrade would reset the count KEDA chose")
	}
	if so.Spec.MinReplicaCount == nil || so.Spec.MaxReplicaCount == nil || *so.Spec.MaxReplicaCount < *so.Spec.MinReplicaCount || *so.Spec.MaxReplicaCount < 1 {
		r.errorf(where, "want minReplicaCount and maxReplicaCount with 1 <= max and min <= max")
	}
	if so.Spec.CooldownPeriod == nil || so.Spec.PollingInterval == nil {
		r.errorf(where, "want cooldownPeriod and pollingInterval set")
	}
	pending := "asynq:{" + tasks.QueueBlocks + "}:pending" // asynq's base.PendingKey
	prefix := "asynq:{" + tasks.QueueBlocks + "}:"
	redis, _ := w.setting("redis")
	tls, _ := w.setting("redis-tls")
	db, _ := w.setting("redis-db")
	hasPending := false
	for i, tr := range so.Spec.Triggers {
		md := tr.Metadata
		if tr.Type != "redis" {
			r.errorf(where, "trigger %d has type %q, want redis (asynq's lists)", i, tr.Type)
			continue
		}
		list := md["listName"]
		hasPending = hasPending || list == pending
		if !strings.HasPrefix(list, prefix) || !slices.Contains([]string{"pending", "active"}, strings.TrimPrefix(list, prefix)) {
			r.errorf(where, "trigger %d listName %q is not a list of the queue the workers serve (%spending or %sactive)", i, list, prefix, prefix)
		}
		if md["address"] != redis {
			r.errorf(where, "trigger %d address %q differs from the workers' --redis %q", i, md["address"], redis)
		}
		if parseBool(md["enableTLS"]) != parseBool(tls) {
			r.errorf(where, "trigger %d enableTLS %q differs from the workers' --redis-tls %q", i, md["enableTLS"], tls)
		}
		if atoi(md["databaseIndex"]) != atoi(db) {
			r.errorf(where, "trigger %d databaseIndex %q differs from the workers' --redis-db %q", i, md["databaseIndex"], db)
		}
		if n, err := strconv.Atoi(md["listLength"]); err != nil || n < 1 {
			r.errorf(where, "trigger %d listLength %q: want a positive number", i, md["listLength"])
		}
		for _, k := range []string{"password", "passwordFromEnv", "host", "port"} {
			if _, ok := md[k]; ok {
				r.errorf(where, "trigger %d metadata %s: the address and a TriggerAuthentication only", i, k)
			}
		}
		r.checkTriggerAuth(where, i, tr.AuthenticationRef)
	}
	if !hasPending {
		r.errorf(where, "no trigger on %s, the depth of the queue the workers serve", pending)
	}
}

// checkTriggerAuth checks that a trigger authenticates to Redis with the
// password the workers use.
func (r *renderedChart) checkTriggerAuth(where named, i int, ref *struct{ Name, Kind string }) {
	pass := r.worker.envVar("BETTERREAD_REDIS_PASSWORD")
	if ref == nil {
		if pass != nil {
			r.errorf(where, "trigger %d has no authenticationRef, but the workers use a Redis password", i)
		}
		return
	}
	if ref.Kind != "" && ref.Kind != "TriggerAuthentication" {
		r.errorf(where, "trigger %d authenticationRef kind %s, want TriggerAuthentication", i, ref.Kind)
		return
	}
	ta := r.triggerAuths[ref.Name]
	if ta == nil {
		r.errorf(where, "trigger %d authenticationRef %s: no such TriggerAuthentication", i, ref.Name)
		return
	}
	j := slices.IndexFunc(ta.Spec.SecretTargetRef, func(s struct{ Parameter, Name, Key string }) bool { return s.Parameter == "password" })
	if j < 0 {
		r.errorf(named("TriggerAuthentication "+ta.Metadata.Name), "no secretTargetRef for parameter password")
		return
	}
	s := ta.Spec.SecretTargetRef[j]
	if pass == nil || pass.ValueFrom == nil || pass.ValueFrom.SecretKeyRef == nil ||
		pass.ValueFrom.SecretKeyRef.Name != s.Name || pass.ValueFrom.SecretKeyRef.Key != s.Key {
		r.errorf(named("TriggerAuthentication "+ta.Metadata.Name), "password from Secret %s key %s is not the workers' BETTERREAD_REDIS_PASSWORD", s.Name, s.Key)
	}
}

func parseBool(s string) bool { b, _ := strconv.ParseBool(s); return b }
func atoi(s string) int       { n, _ := strconv.Atoi(s); return n }
