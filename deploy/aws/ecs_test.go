package awsdeploy

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/betterread/pipeline/coordinator/cloudwatch"
	"github.com/betterread/pipeline/shared/tasks"
)

// The ECS side of the stack: the task definitions are checked against the
// binaries (every flag of a Command and every Environment name is one
// `-h` lists, every secret one the code reads), secrets reach the
// containers only through Secrets, Redis is private with TLS and an auth
// token, and the scaling alarms watch the very metric the coordinator's
// publisher sends.

// ecsTask is what one ECS service of the template runs, and what it must.
type ecsTask struct {
	service, taskDef, container string
	command                     []string // the binary and subcommand whose -h is read
	taskRole, execRole          string
	logGroup                    string
	secrets                     map[string]string // variable → secret resource
	settings                    map[string]any    // flag → value, from Command or Environment
}

var (
	storeURL  = sub("s3://${BlocksBucket}/${BlocksPrefix}")
	redisAddr = sub("${Redis.PrimaryEndPoint.Address}:${Redis.PrimaryEndPoint.Port}")
	image     = sub("${Repository.RepositoryUri}:${ImageTag}")
)

var ecsTasks = []ecsTask{
	{
		service: "CoordinatorService", taskDef: "CoordinatorTaskDefinition", container: "coordinator",
		command:  []string{"coordinator", "serve"},
		taskRole: "CoordinatorRole", execRole: "CoordinatorExecutionRole", logGroup: "CoordinatorLogGroup",
		secrets: map[string]string{
			"BETTERREAD_REDIS_PASSWORD": "RedisAuthToken",
			"BETTERREAD_API_TOKEN":      "ApiToken",
			"BETTERREAD_HOOK_TOKEN":     "HookToken",
		},
		settings: map[string]any{
			"redis": redisAddr, "redis-tls": "true", "store": storeURL,
			// Runs start from uploads by way of SQS, and block work is the
			// workers' (so the worker service is what scales).
			"watch": sub(inputWatch.String()), "sqs-queue-url": ref("TriggerQueue"), "workers": "0",
			"target": "dynamodb", "table-prefix": ref("TablePrefix"),
			"cloudwatch-namespace": ref("MetricNamespace"),
		},
	},
	{
		service: "WorkerService", taskDef: "WorkerTaskDefinition", container: "worker",
		command:  []string{"worker"},
		taskRole: "WorkerRole", execRole: "WorkerExecutionRole", logGroup: "WorkerLogGroup",
		secrets:  map[string]string{"BETTERREAD_REDIS_PASSWORD": "RedisAuthToken"},
		settings: map[string]any{"redis": redisAddr, "redis-tls": "true", "store": storeURL},
	},
}

// secretEnv are the variables the binaries read secrets from, never as
// a flag: they may only come from Secrets.
var secretEnv = []string{"BETTERREAD_REDIS_PASSWORD", "BETTERREAD_API_TOKEN", "BETTERREAD_HOOK_TOKEN"}

// plainEnv are variables read directly (by the AWS SDK) that a task may
// set in Environment.
var plainEnv = []string{"AWS_REGION", "AWS_DEFAULT_REGION"}

// checkTasks checks each service, its task definition and container
// against the binaries' -h (cmds) and the roles' grants.
func (c *checker) checkTasks() {
	if c.cmds == nil {
		c.errorf("no -h of the binaries to check the task definitions against")
		return
	}
	for _, tk := range ecsTasks {
		c.checkService(tk)
		td := c.resource(tk.taskDef, "AWS::ECS::TaskDefinition")
		if td == nil {
			continue
		}
		want := map[string]any{
			"RequiresCompatibilities": []any{"FARGATE"}, "NetworkMode": "awsvpc",
			"TaskRoleArn": getAtt(tk.taskRole, "Arn"), "ExecutionRoleArn": getAtt(tk.execRole, "Arn"),
		}
		for _, k := range sortedKeys(want) {
			if !reflect.DeepEqual(td[k], want[k]) {
				c.errorf("%s: %s %v, want %v", tk.taskDef, k, td[k], want[k])
			}
		}
		containers := items(td["ContainerDefinitions"])
		if len(containers) != 1 || asMap(containers[0])["Name"] != tk.container {
			c.errorf("%s: ContainerDefinitions %v, want one container %s", tk.taskDef, td["ContainerDefinitions"], tk.container)
			continue
		}
		c.checkContainer(tk, asMap(containers[0]))
		c.checkExecutionGrants(tk)
	}
}

func (c *checker) checkService(tk ecsTask) {
	s := c.resource(tk.service, "AWS::ECS::Service")
	if s == nil {
		return
	}
	net := asMap(asMap(s["NetworkConfiguration"])["AwsvpcConfiguration"])
	for k, v := range map[string]any{"Cluster": s["Cluster"], "TaskDefinition": s["TaskDefinition"], "LaunchType": s["LaunchType"],
		"AssignPublicIp": net["AssignPublicIp"], "Subnets": net["Subnets"], "SecurityGroups": net["SecurityGroups"]} {
		want := map[string]any{"Cluster": ref("Cluster"), "TaskDefinition": ref(tk.taskDef), "LaunchType": "FARGATE",
			"AssignPublicIp": "DISABLED", "Subnets": ref("PrivateSubnetIds"),
			"SecurityGroups": []any{getAtt("TaskSecurityGroup", "GroupId")}}[k]
		if !reflect.DeepEqual(v, want) {
			c.errorf("%s: %s %v, want %v", tk.service, k, v, want)
		}
	}
}

// checkContainer reads the container's Command and Environment into the
// settings of the binary's flags, and checks them, its secrets, image and
// logs.
func (c *checker) checkContainer(tk ecsTask, ct map[string]any) {
	where := tk.taskDef + " container " + tk.container
	spec, ok := c.cmds[strings.Join(tk.command, " ")]
	if !ok {
		c.errorf("%s: no -h of %v", where, tk.command)
		return
	}
	if !reflect.DeepEqual(ct["Image"], image) {
		c.errorf("%s: Image %v, want %v", where, ct["Image"], image)
	}
	if _, ok := ct["EntryPoint"]; ok {
		c.errorf("%s: an EntryPoint replaces the binary the Command names", where)
	}
	got := map[string]any{}
	cmd := items(ct["Command"])
	if len(cmd) < len(tk.command) || !reflect.DeepEqual(cmd[:len(tk.command)], toAny(tk.command)) {
		c.errorf("%s: Command %v does not start with %v", where, ct["Command"], tk.command)
		return
	}
	args := cmd[len(tk.command):]
	for i := 0; i < len(args); i++ {
		s, _ := args[i].(string)
		name, value, hasValue := strings.Cut(strings.TrimLeft(s, "-"), "=")
		if !strings.HasPrefix(s, "-") {
			c.errorf("%s: Command argument %v is not a flag: %s takes no positional arguments", where, args[i], spec.name)
			continue
		}
		f, known := spec.flags[name]
		if !known {
			c.errorf("%s: Command flag %s is not one `%s -h` lists", where, s, spec.name)
			continue
		}
		var v any = value
		switch {
		case f.isBool && !hasValue:
			v = "true"
		case !hasValue && i+1 < len(args):
			i++
			v = args[i]
		case !hasValue:
			c.errorf("%s: Command flag %s has no value", where, s)
		}
		got[name] = v
	}
	for _, e := range items(ct["Environment"]) {
		e := asMap(e)
		name, _ := e["Name"].(string)
		if slices.Contains(secretEnv, name) {
			c.errorf("%s: secret %s in Environment: give it as Secrets (valueFrom) so it is not plain in the task definition", where, name)
			continue
		}
		if strings.Contains(fmt.Sprint(e["Value"]), "{{resolve:") {
			c.errorf("%s: Environment %s resolves a dynamic reference: its value would be plain in the task definition", where, name)
		}
		if slices.Contains(plainEnv, name) {
			continue
		}
		flag := ""
		for _, fn := range sortedKeys(spec.flags) {
			if spec.flags[fn].env == name {
				flag = fn
			}
		}
		if flag == "" {
			c.errorf("%s: Environment %s is read by no flag of `%s -h`", where, name, spec.name)
			continue
		}
		if _, dup := got[flag]; dup {
			c.errorf("%s: --%s set both in Command and as %s", where, flag, name)
		}
		got[flag] = e["Value"]
	}
	for _, flag := range sortedKeys(tk.settings) {
		if !reflect.DeepEqual(got[flag], tk.settings[flag]) {
			c.errorf("%s: --%s is %v, want %v", where, flag, got[flag], tk.settings[flag])
		}
	}
	c.checkSecrets(where, tk, spec)
	logs := asMap(ct["LogConfiguration"])
	opts := asMap(logs["Options"])
	if logs["LogDriver"] != "awslogs" || !reflect.DeepEqual(opts["awslogs-group"], ref(tk.logGroup)) || !reflect.DeepEqual(opts["awslogs-region"], ref("AWS::Region")) {
		c.errorf("%s: LogConfiguration %v, want awslogs to %s in the stack's region", where, ct["LogConfiguration"], tk.logGroup)
	}
	if lg := c.resource(tk.logGroup, "AWS::Logs::LogGroup"); lg != nil && !reflect.DeepEqual(lg["RetentionInDays"], ref("LogRetentionDays")) {
		c.errorf("%s: RetentionInDays %v, want Ref LogRetentionDays", tk.logGroup, lg["RetentionInDays"])
	}
	c.taskSecrets[tk.taskDef] = secretsOf(ct)
}

// checkSecrets: the container's Secrets are exactly tk's, each a variable
// the binary's -h names, each from the secret resource it should be.
func (c *checker) checkSecrets(where string, tk ecsTask, spec cmdSpec) {
	got := map[string]any{}
	for _, s := range items(c.containerOf(tk)["Secrets"]) {
		s := asMap(s)
		name, _ := s["Name"].(string)
		got[name] = s["ValueFrom"]
		if !strings.Contains(spec.text, name) {
			c.errorf("%s: secret %s is not a variable `%s -h` names", where, name, spec.name)
		}
	}
	want := map[string]any{}
	for name, res := range tk.secrets {
		want[name] = ref(res)
	}
	if !reflect.DeepEqual(got, want) {
		c.errorf("%s: Secrets %v, want %v", where, got, want)
	}
}

func (c *checker) containerOf(tk ecsTask) map[string]any {
	td := asMap(c.resources[tk.taskDef]["Properties"])
	return asMap(at(items(td["ContainerDefinitions"]), 0))
}

func secretsOf(ct map[string]any) []string {
	var out []string
	for _, s := range items(ct["Secrets"]) {
		if name, ok := asMap(asMap(s)["ValueFrom"])["Ref"].(string); ok {
			out = append(out, "${"+name+"}")
		}
	}
	slices.Sort(out)
	return out
}

// checkExecutionGrants: an execution role reads exactly the secrets its
// task definition injects and writes exactly its log group.
func (c *checker) checkExecutionGrants(tk ecsTask) {
	got := sortedKeys(c.granted[tk.execRole]["secretsmanager:GetSecretValue"])
	if want := c.taskSecrets[tk.taskDef]; !slices.Equal(got, want) {
		c.errorf("%s: GetSecretValue on %v, but %s injects %v", tk.execRole, got, tk.taskDef, want)
	}
	for _, a := range []string{"logs:CreateLogStream", "logs:PutLogEvents"} {
		got := sortedKeys(c.granted[tk.execRole][a])
		if want := []string{"${" + tk.logGroup + ".Arn}"}; !slices.Equal(got, want) {
			c.errorf("%s: %s on %v, want only %v", tk.execRole, a, got, want)
		}
	}
}

// checkRedis: private, TLS, auth token from the stack's secret, encrypted
// at rest, reachable on its port only from the tasks, no eviction.
func (c *checker) checkRedis() {
	rg := c.resource("Redis", "AWS::ElastiCache::ReplicationGroup")
	sg := c.resource("RedisSecurityGroup", "AWS::EC2::SecurityGroup")
	if rg == nil || sg == nil {
		return
	}
	want := map[string]any{
		"TransitEncryptionEnabled": true, "AtRestEncryptionEnabled": true,
		"AuthToken":            sub("{{resolve:secretsmanager:${RedisAuthToken}}}"),
		"SecurityGroupIds":     []any{getAtt("RedisSecurityGroup", "GroupId")},
		"CacheSubnetGroupName": ref("RedisSubnetGroup"), "Port": 6379,
		"Engine": "redis", "CacheParameterGroupName": ref("RedisParameterGroup"),
	}
	for _, k := range sortedKeys(want) {
		if !reflect.DeepEqual(rg[k], want[k]) {
			c.errorf("Redis: %s %v, want %v", k, rg[k], want[k])
		}
	}
	if _, ok := rg["TransitEncryptionMode"]; ok {
		c.errorf("Redis: TransitEncryptionMode set; the default (required) refuses plain connections")
	}
	if sn := c.resource("RedisSubnetGroup", "AWS::ElastiCache::SubnetGroup"); sn != nil && !reflect.DeepEqual(sn["SubnetIds"], ref("PrivateSubnetIds")) {
		c.errorf("RedisSubnetGroup: SubnetIds %v, want Ref PrivateSubnetIds", sn["SubnetIds"])
	}
	if pg := c.resource("RedisParameterGroup", "AWS::ElastiCache::ParameterGroup"); pg != nil && asMap(pg["Properties"])["maxmemory-policy"] != "noeviction" {
		c.errorf("RedisParameterGroup: maxmemory-policy %v, want noeviction (asynq must not lose tasks)", asMap(pg["Properties"])["maxmemory-policy"])
	}
	ingress := map[string]any{
		"IpProtocol": "tcp", "FromPort": rg["Port"], "ToPort": rg["Port"],
		"SourceSecurityGroupId": getAtt("TaskSecurityGroup", "GroupId"),
	}
	rules := items(sg["SecurityGroupIngress"])
	if len(rules) != 1 {
		c.errorf("RedisSecurityGroup: SecurityGroupIngress %v, want one rule: %v", sg["SecurityGroupIngress"], ingress)
		return
	}
	got := maps.Clone(asMap(rules[0]))
	delete(got, "Description")
	if !reflect.DeepEqual(got, ingress) {
		c.errorf("RedisSecurityGroup: SecurityGroupIngress %v, want only %v", rules[0], ingress)
	}
	if ts := c.resource("TaskSecurityGroup", "AWS::EC2::SecurityGroup"); ts != nil && ts["SecurityGroupIngress"] != nil {
		c.errorf("TaskSecurityGroup: SecurityGroupIngress %v: nothing needs to reach the tasks", ts["SecurityGroupIngress"])
	}
}

// checkScaling: the worker service scales between 0 and
// WorkerMaxCapacity, out while QueueDepth is above zero and to zero
// when it stays at zero, on the metric the publisher sends.
func (c *checker) checkScaling() {
	st := c.resource("WorkerScalableTarget", "AWS::ApplicationAutoScaling::ScalableTarget")
	if st != nil {
		want := map[string]any{
			"ServiceNamespace": "ecs", "ScalableDimension": "ecs:service:DesiredCount",
			"ResourceId":  sub("service/${Cluster}/${WorkerService.Name}"),
			"MinCapacity": 0, "MaxCapacity": ref("WorkerMaxCapacity"),
		}
		for _, k := range sortedKeys(want) {
			if !reflect.DeepEqual(st[k], want[k]) {
				c.errorf("WorkerScalableTarget: %s %v, want %v", k, st[k], want[k])
			}
		}
	}
	if ws := c.resource("WorkerService", "AWS::ECS::Service"); ws != nil && ws["DesiredCount"] != 0 {
		c.errorf("WorkerService: DesiredCount %v, want 0 (the scaling sets it)", ws["DesiredCount"])
	}
	if cs := c.resource("CoordinatorService", "AWS::ECS::Service"); cs != nil {
		allowed := items(asMap(c.params["CoordinatorCount"])["AllowedValues"])
		if !reflect.DeepEqual(cs["DesiredCount"], ref("CoordinatorCount")) || !reflect.DeepEqual(allowed, []any{0, 1}) {
			c.errorf("CoordinatorService: DesiredCount %v (allowed %v), want Ref CoordinatorCount, 0 or 1", cs["DesiredCount"], allowed)
		}
		if p := asInt(asMap(cs["DeploymentConfiguration"])["MaximumPercent"]); p != 100 {
			c.errorf("CoordinatorService: DeploymentConfiguration.MaximumPercent %v, want 100 (one coordinator, even during a deployment)", p)
		}
	}
	c.checkStepPolicy("WorkerScaleOutPolicy", map[string]any{"MetricIntervalLowerBound": 0, "ScalingAdjustment": ref("WorkerMaxCapacity")})
	c.checkStepPolicy("WorkerScaleInPolicy", map[string]any{"MetricIntervalUpperBound": 0, "ScalingAdjustment": 0})
	c.checkAlarm("QueueBusyAlarm", "GreaterThanThreshold", "notBreaching", "WorkerScaleOutPolicy")
	c.checkAlarm("QueueIdleAlarm", "LessThanThreshold", "breaching", "WorkerScaleInPolicy")
}

func (c *checker) checkStepPolicy(id string, step map[string]any) {
	p := c.resource(id, "AWS::ApplicationAutoScaling::ScalingPolicy")
	if p == nil {
		return
	}
	cfg := asMap(p["StepScalingPolicyConfiguration"])
	if p["PolicyType"] != "StepScaling" || !reflect.DeepEqual(p["ScalingTargetId"], ref("WorkerScalableTarget")) || cfg["AdjustmentType"] != "ExactCapacity" {
		c.errorf("%s: want a StepScaling policy of WorkerScalableTarget with AdjustmentType ExactCapacity", id)
	}
	if steps := items(cfg["StepAdjustments"]); len(steps) != 1 || !reflect.DeepEqual(steps[0], any(step)) {
		c.errorf("%s: StepAdjustments %v, want [%v] (scale to zero when idle, to WorkerMaxCapacity when busy)", id, cfg["StepAdjustments"], step)
	}
}

// checkAlarm holds a scaling alarm to the publisher's metric: namespace
// as serve's --cloudwatch-namespace, name, dimension and unit as
// coordinator/cloudwatch sends them, a period of at least two publishes.
func (c *checker) checkAlarm(id, op, missing, policy string) {
	a := c.resource(id, "AWS::CloudWatch::Alarm")
	if a == nil {
		return
	}
	want := map[string]any{
		"Namespace":  ref("MetricNamespace"),
		"MetricName": cloudwatch.MetricName,
		"Dimensions": []any{map[string]any{"Name": cloudwatch.DimensionQueue, "Value": tasks.QueueBlocks}},
		"Unit":       string(cloudwatch.Unit), "Statistic": "Maximum",
		"ComparisonOperator": op, "TreatMissingData": missing,
		"AlarmActions": []any{ref(policy)},
	}
	for _, k := range sortedKeys(want) {
		if !reflect.DeepEqual(a[k], want[k]) {
			c.errorf("%s: %s %v, want %v", id, k, a[k], want[k])
		}
	}
	if th, ok := a["Threshold"].(float64); !ok || th <= 0 || th >= 1 {
		c.errorf("%s: Threshold %v, want between 0 and 1 (the depth is a whole number)", id, a["Threshold"])
	}
	if p := asInt(a["Period"]); p < 2*int(cloudwatch.DefaultInterval.Seconds()) || p%60 != 0 {
		c.errorf("%s: Period %v, want a multiple of 60 s holding at least two publishes (every %v)", id, a["Period"], cloudwatch.DefaultInterval)
	}
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

// The binaries' -h, read once per test binary.
var (
	helpOnce  sync.Once
	helpCmds  map[string]cmdSpec
	helpError error
)

// binaryHelp builds ./coordinator and ./worker and parses the -h of the
// commands the task definitions run (as deploy/compose_test.go does).
func binaryHelp(t *testing.T) map[string]cmdSpec {
	t.Helper()
	helpOnce.Do(func() { helpCmds, helpError = readHelp() })
	if helpError != nil {
		t.Fatal(helpError)
	}
	return helpCmds
}

func readHelp() (map[string]cmdSpec, error) {
	dir, err := os.MkdirTemp("", "betterread-aws-test-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if out, err := exec.Command("go", "build", "-o", dir, "../../coordinator", "../../worker").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./coordinator ./worker: %v\n%s", err, out)
	}
	specs := map[string]cmdSpec{}
	for _, tk := range ecsTasks {
		name := strings.Join(tk.command, " ")
		cmd := exec.Command(filepath.Join(dir, tk.command[0]), append(slices.Clone(tk.command[1:]), "-h")...)
		cmd.Env = []string{} // flags default from the environment; the shell's must not matter
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			return nil, fmt.Errorf("%s -h: %v", name, err)
		}
		spec, err := parseHelp(name, string(out))
		if err != nil {
			return nil, err
		}
		specs[name] = spec
	}
	return specs, nil
}

// cmdSpec is what `-h` says about one command.
type cmdSpec struct {
	name  string
	text  string              // all of it: secrets are named in usages
	flags map[string]flagSpec // by name, without dashes
}

type flagSpec struct {
	env    string // "(env BETTERREAD_X)"
	isBool bool
}

var (
	flagLine = regexp.MustCompile(`^  -([^\s=]+)(?: (\S+))?(?:\t(.*))?$`)
	envNote  = regexp.MustCompile(`\(env ([A-Z][A-Z0-9_]*)\)`)
)

// parseHelp reads the flags and their variables from flag.PrintDefaults.
func parseHelp(name, text string) (cmdSpec, error) {
	if !strings.Contains(text, "Usage of "+name+":") {
		return cmdSpec{}, fmt.Errorf("%s -h printed no usage:\n%s", name, text)
	}
	spec := cmdSpec{name: name, text: text, flags: map[string]flagSpec{}}
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
