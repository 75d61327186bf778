package awsdeploy

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/betterread/pipeline/coordinator/hook"
	"github.com/betterread/pipeline/shared/dynamo"
	"github.com/betterread/pipeline/shared/runstore"
)

// The template is checked as CloudFormation would read it, with no AWS
// account: parsed with its short-form intrinsics turned into the long form,
// then every reference resolved, every policy held to an allow-list of what
// the binaries call, and the wiring (rule → queue → dead-letter queue,
// bucket notifications, table key schemas) compared with what the code
// expects. The mutation tests prove each check catches what it is for.

// inputWatch is the coordinator's --watch as the template names it: its
// Key gives the two objects under the input prefix whose uploads start a
// run.
var inputWatch = hook.Watch{Bucket: "${InputBucket}", Prefix: "${InputPrefix}"}

// objectPrefix is the prefix parameter under which each bucket's objects
// may be granted; no object outside it is.
var objectPrefix = map[string]string{"InputBucket": "InputPrefix", "BlocksBucket": "BlocksPrefix"}

// Resources as policies name them, normalised to Fn::Sub strings.
var (
	inputBooks   = "${InputBucket.Arn}/" + inputWatch.Key(hook.BooksFile)
	inputRatings = "${InputBucket.Arn}/" + inputWatch.Key(hook.RatingsFile)
	inputBucket  = "${InputBucket.Arn}"
	blockObjects = "${BlocksBucket.Arn}/${BlocksPrefix}/*"
	blocksBucket = "${BlocksBucket.Arn}"
	booksTable   = "${BooksTable.Arn}"
	simsTable    = "${SimilaritiesTable.Arn}"
	triggerQueue = "${TriggerQueue.Arn}"
	repository   = "${Repository.Arn}"
	redisToken   = "${RedisAuthToken}"
)

// executionGrants is what ECS needs to start a task: pull the image from
// the stack's repository, write to the task's own log group, read the
// task's own secrets.
func executionGrants(logGroup string, secrets ...string) map[string][]string {
	return map[string][]string{
		"ecr:GetAuthorizationToken":       {"*"},
		"ecr:BatchCheckLayerAvailability": {repository},
		"ecr:GetDownloadUrlForLayer":      {repository},
		"ecr:BatchGetImage":               {repository},
		"logs:CreateLogStream":            {"${" + logGroup + ".Arn}"},
		"logs:PutLogEvents":               {"${" + logGroup + ".Arn}"},
		"secretsmanager:GetSecretValue":   secrets,
	}
}

// starGrants are the only grants on Resource "*": actions IAM offers no
// resource-level permissions for, each with the Condition that narrows it
// as far as IAM can (nil: none exists). PutMetricData is held to the
// stack's namespace; GetAuthorizationToken only logs in to the registry
// (the pulls name the repository).
var starGrants = map[string]map[string]any{
	"CoordinatorRole": {"cloudwatch:PutMetricData": map[string]any{
		"StringEquals": map[string]any{"cloudwatch:namespace": ref("MetricNamespace")},
	}},
	"CoordinatorExecutionRole": {"ecr:GetAuthorizationToken": nil},
	"WorkerExecutionRole":      {"ecr:GetAuthorizationToken": nil},
}

// grants is, for each task role, every action its binary calls and the
// resources it calls it on: what the role's policies must grant, exactly.
// A new call in the code that needs a new action fails on AWS until it is
// added here and to the template; an action the template grants beyond
// this list fails the test.
var grants = map[string]map[string][]string{
	"CoordinatorRole": {
		// The settle step (store.HeadURL) HEADs the inputs; validate
		// (StatURL) and prepare (OpenURL) read the versions it saw, by
		// VersionId.
		"s3:GetObject":        {inputBooks, inputRatings, blockObjects},
		"s3:GetObjectVersion": {inputBooks, inputRatings},
		// Without ListBucket S3 answers 403 instead of 404 for a missing
		// key: the settle step must see a missing input as "waiting", and
		// the barriers Stat blocks not written yet. The barriers also List.
		"s3:ListBucket": {inputBucket, blocksBucket},
		// store.S3 Put (upload manager: PutObject covers the multipart
		// calls, a failed one is aborted), Delete (--fresh: DeleteObjects).
		"s3:PutObject":            {blockObjects},
		"s3:DeleteObject":         {blockObjects},
		"s3:AbortMultipartUpload": {blockObjects},
		// dynamo.DynamoTarget: Ensure and verify DescribeTable; verify and
		// Commit Scan both tables; Commit deletes with BatchWriteItem, as
		// load tasks run by `serve --workers N` put with it; verify Queries
		// BookSimilarities and BatchGets Books. The stack creates the
		// tables, so Ensure never needs CreateTable.
		"dynamodb:DescribeTable":  {booksTable, simsTable},
		"dynamodb:Scan":           {booksTable, simsTable},
		"dynamodb:BatchWriteItem": {booksTable, simsTable},
		"dynamodb:Query":          {simsTable},
		"dynamodb:BatchGetItem":   {booksTable},
		// The SQS poller of `coordinator serve --sqs-queue-url`
		// (hook.SQSAPI).
		"sqs:ReceiveMessage": {triggerQueue},
		"sqs:DeleteMessage":  {triggerQueue},
		// serve --cloudwatch-namespace (coordinator/cloudwatch): the
		// workers' scaling metric; see starGrants for the Condition.
		"cloudwatch:PutMetricData": {"*"},
	},
	"CoordinatorExecutionRole": executionGrants("CoordinatorLogGroup", redisToken, "${ApiToken}", "${HookToken}"),
	"WorkerExecutionRole":      executionGrants("WorkerLogGroup", redisToken),
	"WorkerRole": {
		// Handlers read blocks and write outputs under payload-named keys;
		// they never delete, never List, and never read the inputs.
		"s3:GetObject":            {blockObjects},
		"s3:PutObject":            {blockObjects},
		"s3:AbortMultipartUpload": {blockObjects},
		// 404 rather than 403 for a block not there yet, so the task's
		// error says it is missing (handlers.missingInput).
		"s3:ListBucket": {blocksBucket},
		// load:write: BatchWriter puts; workers never describe a table.
		"dynamodb:BatchWriteItem": {booksTable, simsTable},
	},
}

// queueSenders are the service principals a queue policy may allow, and
// the actions each may be allowed.
var queueSenders = map[string][]string{"events.amazonaws.com": {"sqs:SendMessage"}}

// trustService is the only principal the task roles trust.
const trustService = "ecs-tasks.amazonaws.com"

func TestTemplate(t *testing.T) {
	t.Parallel()
	for _, err := range checkTemplate(loadTemplate(t), binaryHelp(t)) {
		t.Error(err)
	}
}

// TestTemplatePlainYAML reads the file as plain YAML, which rejects
// duplicate keys in any mapping, and expects the same top-level sections.
func TestTemplatePlainYAML(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var plain map[string]any
	if err := yaml.Unmarshal(data, &plain); err != nil {
		t.Fatalf("template.yaml as plain YAML: %v", err)
	}
	got, want := slices.Sorted(maps.Keys(plain)), slices.Sorted(maps.Keys(loadTemplate(t)))
	if !slices.Equal(got, want) {
		t.Errorf("plain YAML sections %v, parsed %v", got, want)
	}
}

// TestStarGrantsListed: every "*" of the allow-lists is one of starGrants.
func TestStarGrantsListed(t *testing.T) {
	t.Parallel()
	for _, role := range sortedKeys(grants) {
		for _, action := range sortedKeys(grants[role]) {
			_, listed := starGrants[role][action]
			if slices.Contains(grants[role][action], "*") != listed {
				t.Errorf("%s: %s on \"*\" in grants %v, in starGrants %v", role, action, slices.Contains(grants[role][action], "*"), listed)
			}
		}
	}
}

// TestGrantsCoordinatorCoversWorker: `coordinator serve --workers N` runs
// block tasks in the coordinator, so its role needs every worker grant.
func TestGrantsCoordinatorCoversWorker(t *testing.T) {
	t.Parallel()
	for _, action := range sortedKeys(grants["WorkerRole"]) {
		for _, res := range grants["WorkerRole"][action] {
			if !slices.Contains(grants["CoordinatorRole"][action], res) {
				t.Errorf("WorkerRole has %s on %s, CoordinatorRole has not", action, res)
			}
		}
	}
}

func TestTemplateMutations(t *testing.T) {
	t.Parallel()
	base := loadTemplate(t)
	cmds := binaryHelp(t)
	container := func(tpl map[string]any, taskDef string) map[string]any {
		return node(t, tpl, "Resources", taskDef, "Properties", "ContainerDefinitions", 0)
	}
	addEnv := func(tpl map[string]any, taskDef, name string, value any) {
		ct := container(tpl, taskDef)
		ct["Environment"] = append(items(ct["Environment"]), map[string]any{"Name": name, "Value": value})
	}
	dropArg := func(tpl map[string]any, taskDef, arg string) {
		ct := container(tpl, taskDef)
		ct["Command"] = slices.DeleteFunc(items(ct["Command"]), func(a any) bool { return a == arg })
	}
	mutations := []struct {
		name   string
		mutate func(tpl map[string]any)
		want   string // in one of the errors reported
	}{
		{"worker_s3_star", func(tpl map[string]any) {
			s := statement(t, tpl, "WorkerRole", "BlockObjects")
			s["Action"] = append(s["Action"].([]any), "s3:*")
		}, `action "s3:*" is a wildcard`},
		{"worker_partial_wildcard", func(tpl map[string]any) {
			statement(t, tpl, "WorkerRole", "LoadTables")["Action"] = "dynamodb:Batch*"
		}, `action "dynamodb:Batch*" is a wildcard`},
		{"resource_star", func(tpl map[string]any) {
			statement(t, tpl, "CoordinatorRole", "Tables")["Resource"] = "*"
		}, `literal resource "*"`},
		{"resource_literal_arn", func(tpl map[string]any) {
			statement(t, tpl, "WorkerRole", "BlockObjects")["Resource"] = "arn:aws:s3:::*"
		}, `literal resource "arn:aws:s3:::*"`},
		{"ref_missing_resource", func(tpl map[string]any) {
			node(t, tpl, "Outputs", "QueueURL")["Value"] = map[string]any{"Ref": "NoSuchQueue"}
		}, "Ref to NoSuchQueue"},
		{"getatt_missing_resource", func(tpl map[string]any) {
			node(t, tpl, "Outputs", "WorkerRoleArn")["Value"] = map[string]any{"Fn::GetAtt": []any{"NoSuchRole", "Arn"}}
		}, "Fn::GetAtt of NoSuchRole"},
		{"getatt_unknown_attribute", func(tpl map[string]any) {
			node(t, tpl, "Outputs", "QueueArn")["Value"] = map[string]any{"Fn::GetAtt": []any{"TriggerQueue", "Url"}}
		}, "has no attribute Url"},
		{"sub_unknown_name", func(tpl map[string]any) {
			node(t, tpl, "Resources", "BlocksBucket", "Properties", "LifecycleConfiguration", "Rules", 0)["Prefix"] = sub("${BlocksPrefx}/runs/")
		}, "Ref to BlocksPrefx"},
		{"unused_parameter", func(tpl map[string]any) {
			node(t, tpl, "Parameters")["Unused"] = map[string]any{"Type": "String"}
		}, "parameter Unused is never referenced"},
		{"unknown_type", func(tpl map[string]any) {
			node(t, tpl, "Resources")["Topic"] = map[string]any{"Type": "AWS::SNS::Topic"}
		}, "type AWS::SNS::Topic"},
		{"similarities_rank_string", func(tpl map[string]any) {
			node(t, tpl, "Resources", "SimilaritiesTable", "Properties", "AttributeDefinitions", 1)["AttributeType"] = "S"
		}, "SimilaritiesTable: AttributeDefinitions"},
		{"books_key_renamed", func(tpl map[string]any) {
			node(t, tpl, "Resources", "BooksTable", "Properties", "KeySchema", 0)["AttributeName"] = "ISBN"
		}, "BooksTable: KeySchema"},
		{"table_name", func(tpl map[string]any) {
			node(t, tpl, "Resources", "BooksTable", "Properties")["TableName"] = sub("${TablePrefix}Book")
		}, "BooksTable: TableName"},
		{"worker_deletes_blocks", func(tpl map[string]any) {
			s := statement(t, tpl, "WorkerRole", "BlockObjects")
			s["Action"] = append(s["Action"].([]any), "s3:DeleteObject")
		}, "grants s3:DeleteObject on ${BlocksBucket.Arn}/${BlocksPrefix}/*, which WorkerRole does not need"},
		{"worker_reads_inputs", func(tpl map[string]any) {
			s := statement(t, tpl, "WorkerRole", "BlockObjects")
			s["Resource"] = []any{s["Resource"], sub(inputBooks)}
		}, "grants s3:GetObject on " + inputBooks + ", which WorkerRole does not need"},
		{"objects_outside_prefix", func(tpl map[string]any) {
			statement(t, tpl, "CoordinatorRole", "BlockObjects")["Resource"] = sub("${BlocksBucket.Arn}/*")
		}, "outside the declared prefix"},
		{"list_without_prefix_condition", func(tpl map[string]any) {
			delete(statement(t, tpl, "CoordinatorRole", "ListBlocks"), "Condition")
		}, "s3:ListBucket without an s3:prefix condition"},
		{"list_prefix_too_wide", func(tpl map[string]any) {
			statement(t, tpl, "WorkerRole", "ListBlocks")["Condition"] = map[string]any{"StringLike": map[string]any{"s3:prefix": "*"}}
		}, "s3:prefix \"*\" outside"},
		{"coordinator_lacks_delete_message", func(tpl map[string]any) {
			s := statement(t, tpl, "CoordinatorRole", "TriggerQueue")
			s["Action"] = slices.DeleteFunc(s["Action"].([]any), func(a any) bool { return a == "sqs:DeleteMessage" })
		}, "CoordinatorRole lacks sqs:DeleteMessage"},
		{"not_action", func(tpl map[string]any) {
			s := statement(t, tpl, "WorkerRole", "LoadTables")
			s["NotAction"] = s["Action"]
			delete(s, "Action")
		}, "NotAction"},
		{"managed_policy_arn", func(tpl map[string]any) {
			node(t, tpl, "Resources", "WorkerRole", "Properties")["ManagedPolicyArns"] = []any{"arn:aws:iam::aws:policy/AdministratorAccess"}
		}, "ManagedPolicyArns"},
		{"trust_anyone", func(tpl map[string]any) {
			node(t, tpl, "Resources", "CoordinatorRole", "Properties", "AssumeRolePolicyDocument", "Statement", 0)["Principal"] = "*"
		}, "CoordinatorRole trust policy statement 0: Principal *"},
		{"bucket_policy_allows", func(tpl map[string]any) {
			node(t, tpl, "Resources", "InputBucketPolicy", "Properties", "PolicyDocument", "Statement", 0)["Effect"] = "Allow"
		}, "bucket policies only deny"},
		{"queue_policy_any_source", func(tpl map[string]any) {
			delete(node(t, tpl, "Resources", "TriggerQueuePolicy", "Properties", "PolicyDocument", "Statement", 0), "Condition")
		}, "aws:SourceArn"},
		{"queue_policy_other_queue", func(tpl map[string]any) {
			node(t, tpl, "Resources", "TriggerQueuePolicy", "Properties")["Queues"] = []any{ref("TriggerDeadLetterQueue")}
		}, "is not a queue or bucket the policy is attached to"},
		{"rule_extra_key", func(tpl map[string]any) {
			p := node(t, tpl, "Resources", "ObjectCreatedRule", "Properties", "EventPattern", "detail", "object")
			p["key"] = append(p["key"].([]any), sub("${InputPrefix}/Other.csv"))
		}, "ObjectCreatedRule: EventPattern"},
		{"rule_prefix_match", func(tpl map[string]any) {
			node(t, tpl, "Resources", "ObjectCreatedRule", "Properties", "EventPattern", "detail", "object")["key"] = []any{map[string]any{"prefix": sub("${InputPrefix}/")}}
		}, "ObjectCreatedRule: EventPattern"},
		{"rule_other_bucket", func(tpl map[string]any) {
			node(t, tpl, "Resources", "ObjectCreatedRule", "Properties", "EventPattern", "detail", "bucket")["name"] = []any{ref("BlocksBucket")}
		}, "ObjectCreatedRule: EventPattern"},
		{"rule_targets_dlq", func(tpl map[string]any) {
			node(t, tpl, "Resources", "ObjectCreatedRule", "Properties", "Targets", 0)["Arn"] = getAtt("TriggerDeadLetterQueue", "Arn")
		}, "ObjectCreatedRule: target"},
		{"no_redrive", func(tpl map[string]any) {
			delete(node(t, tpl, "Resources", "TriggerQueue", "Properties"), "RedrivePolicy")
		}, "TriggerQueue: RedrivePolicy"},
		{"events_off", func(tpl map[string]any) {
			node(t, tpl, "Resources", "InputBucket", "Properties", "NotificationConfiguration", "EventBridgeConfiguration")["EventBridgeEnabled"] = false
		}, "EventBridgeEnabled"},
		{"public_blocks", func(tpl map[string]any) {
			node(t, tpl, "Resources", "BlocksBucket", "Properties", "PublicAccessBlockConfiguration")["RestrictPublicBuckets"] = false
		}, "BlocksBucket: PublicAccessBlockConfiguration.RestrictPublicBuckets"},
		{"output_missing", func(tpl map[string]any) {
			delete(node(t, tpl, "Outputs"), "QueueURL")
		}, "output QueueURL"},

		// ECS, Redis, scaling.
		{"secret_in_environment", func(tpl map[string]any) {
			addEnv(tpl, "CoordinatorTaskDefinition", "BETTERREAD_API_TOKEN", "plain")
		}, "secret BETTERREAD_API_TOKEN in Environment"},
		{"secret_resolved_in_environment", func(tpl map[string]any) {
			addEnv(tpl, "WorkerTaskDefinition", "BETTERREAD_REDIS", sub("rediss://:{{resolve:secretsmanager:${RedisAuthToken}}}@${Redis.PrimaryEndPoint.Address}:6379"))
		}, "resolves a dynamic reference"},
		{"secret_missing", func(tpl map[string]any) {
			delete(container(tpl, "WorkerTaskDefinition"), "Secrets")
		}, "WorkerTaskDefinition container worker: Secrets"},
		{"secret_from_other_secret", func(tpl map[string]any) {
			node(t, tpl, "Resources", "WorkerTaskDefinition", "Properties", "ContainerDefinitions", 0, "Secrets", 0)["ValueFrom"] = ref("ApiToken")
		}, "WorkerTaskDefinition container worker: Secrets"},
		{"secret_the_code_never_reads", func(tpl map[string]any) {
			ct := container(tpl, "WorkerTaskDefinition")
			ct["Secrets"] = append(items(ct["Secrets"]), map[string]any{"Name": "BETTERREAD_API_TOKEN", "ValueFrom": ref("ApiToken")})
		}, "secret BETTERREAD_API_TOKEN is not a variable `worker -h` names"},
		{"unknown_flag", func(tpl map[string]any) {
			ct := container(tpl, "CoordinatorTaskDefinition")
			ct["Command"] = append(items(ct["Command"]), "--no-such-flag", "x")
		}, "Command flag --no-such-flag"},
		{"serve_flag_on_worker", func(tpl map[string]any) {
			ct := container(tpl, "WorkerTaskDefinition")
			ct["Command"] = append(items(ct["Command"]), "--cloudwatch-namespace", "x")
		}, "Command flag --cloudwatch-namespace is not one `worker -h` lists"},
		{"positional_argument", func(tpl map[string]any) {
			ct := container(tpl, "WorkerTaskDefinition")
			ct["Command"] = append(items(ct["Command"]), "extra")
		}, `Command argument extra is not a flag`},
		{"unknown_env", func(tpl map[string]any) {
			addEnv(tpl, "WorkerTaskDefinition", "BETTERREAD_NO_SUCH_VAR", "1")
		}, "Environment BETTERREAD_NO_SUCH_VAR is read by no flag"},
		{"worker_without_redis_tls", func(tpl map[string]any) {
			dropArg(tpl, "WorkerTaskDefinition", "--redis-tls")
		}, "--redis-tls is <nil>, want true"},
		{"coordinator_not_publishing", func(tpl map[string]any) {
			dropArg(tpl, "CoordinatorTaskDefinition", "--cloudwatch-namespace")
		}, "--cloudwatch-namespace"},
		{"wrong_subcommand", func(tpl map[string]any) {
			container(tpl, "CoordinatorTaskDefinition")["Command"].([]any)[1] = "run"
		}, "does not start with [coordinator serve]"},
		{"task_role_swapped", func(tpl map[string]any) {
			node(t, tpl, "Resources", "WorkerTaskDefinition", "Properties")["TaskRoleArn"] = getAtt("CoordinatorRole", "Arn")
		}, "WorkerTaskDefinition: TaskRoleArn"},
		{"public_ip", func(tpl map[string]any) {
			node(t, tpl, "Resources", "WorkerService", "Properties", "NetworkConfiguration", "AwsvpcConfiguration")["AssignPublicIp"] = "ENABLED"
		}, "WorkerService: AssignPublicIp ENABLED"},
		{"logs_elsewhere", func(tpl map[string]any) {
			node(t, tpl, "Resources", "WorkerTaskDefinition", "Properties", "ContainerDefinitions", 0, "LogConfiguration", "Options")["awslogs-group"] = ref("CoordinatorLogGroup")
		}, "WorkerTaskDefinition container worker: LogConfiguration"},
		{"execution_role_other_secret", func(tpl map[string]any) {
			statement(t, tpl, "WorkerExecutionRole", "ReadSecrets")["Resource"] = []any{ref("RedisAuthToken"), ref("ApiToken")}
		}, "grants secretsmanager:GetSecretValue on ${ApiToken}, which WorkerExecutionRole does not need"},
		{"execution_role_all_logs", func(tpl map[string]any) {
			statement(t, tpl, "CoordinatorExecutionRole", "WriteLogs")["Resource"] = "*"
		}, `literal resource "*" for logs:CreateLogStream`},
		{"execution_role_other_log_group", func(tpl map[string]any) {
			statement(t, tpl, "WorkerExecutionRole", "WriteLogs")["Resource"] = getAtt("CoordinatorLogGroup", "Arn")
		}, "grants logs:PutLogEvents on ${CoordinatorLogGroup.Arn}, which WorkerExecutionRole does not need"},
		{"put_metric_any_namespace", func(tpl map[string]any) {
			s := statement(t, tpl, "CoordinatorRole", "QueueDepthMetric")
			delete(s, "Condition")
		}, `cloudwatch:PutMetricData on "*" needs exactly the Condition`},
		{"put_metric_namespace_like", func(tpl map[string]any) {
			statement(t, tpl, "CoordinatorRole", "QueueDepthMetric")["Condition"] = map[string]any{"StringLike": map[string]any{"cloudwatch:namespace": "*"}}
		}, `cloudwatch:PutMetricData on "*" needs exactly the Condition`},
		{"worker_puts_metrics", func(tpl map[string]any) {
			s := statement(t, tpl, "WorkerRole", "LoadTables")
			s["Action"] = []any{"cloudwatch:PutMetricData"}
			s["Resource"] = "*"
		}, `literal resource "*" for cloudwatch:PutMetricData, which WorkerRole may only be granted`},
		{"star_beside_resources", func(tpl map[string]any) {
			statement(t, tpl, "CoordinatorRole", "QueueDepthMetric")["Resource"] = []any{"*", getAtt("TriggerQueue", "Arn")}
		}, `literal resource "*" beside other resources`},
		{"redis_plaintext", func(tpl map[string]any) {
			node(t, tpl, "Resources", "Redis", "Properties")["TransitEncryptionEnabled"] = false
		}, "Redis: TransitEncryptionEnabled false"},
		{"redis_no_auth", func(tpl map[string]any) {
			delete(node(t, tpl, "Resources", "Redis", "Properties"), "AuthToken")
		}, "Redis: AuthToken <nil>"},
		{"redis_not_encrypted_at_rest", func(tpl map[string]any) {
			delete(node(t, tpl, "Resources", "Redis", "Properties"), "AtRestEncryptionEnabled")
		}, "Redis: AtRestEncryptionEnabled"},
		{"redis_open_to_vpc", func(tpl map[string]any) {
			r := node(t, tpl, "Resources", "RedisSecurityGroup", "Properties", "SecurityGroupIngress", 0)
			delete(r, "SourceSecurityGroupId")
			r["CidrIp"] = "10.0.0.0/8"
		}, "RedisSecurityGroup: SecurityGroupIngress"},
		{"redis_all_ports", func(tpl map[string]any) {
			node(t, tpl, "Resources", "RedisSecurityGroup", "Properties", "SecurityGroupIngress", 0)["ToPort"] = 65535
		}, "RedisSecurityGroup: SecurityGroupIngress"},
		{"redis_evicts", func(tpl map[string]any) {
			node(t, tpl, "Resources", "RedisParameterGroup", "Properties", "Properties")["maxmemory-policy"] = "volatile-lru"
		}, "maxmemory-policy volatile-lru"},
		{"alarm_metric_name", func(tpl map[string]any) {
			node(t, tpl, "Resources", "QueueBusyAlarm", "Properties")["MetricName"] = "QueueLength"
		}, "QueueBusyAlarm: MetricName QueueLength"},
		{"alarm_dimension", func(tpl map[string]any) {
			node(t, tpl, "Resources", "QueueIdleAlarm", "Properties", "Dimensions", 0)["Value"] = "pipeline"
		}, "QueueIdleAlarm: Dimensions"},
		{"alarm_namespace", func(tpl map[string]any) {
			node(t, tpl, "Resources", "QueueBusyAlarm", "Properties")["Namespace"] = "BetterRead"
		}, "QueueBusyAlarm: Namespace"},
		{"alarm_period_one_publish", func(tpl map[string]any) {
			node(t, tpl, "Resources", "QueueIdleAlarm", "Properties")["Period"] = 30
		}, "QueueIdleAlarm: Period 30"},
		{"never_scales_to_zero", func(tpl map[string]any) {
			node(t, tpl, "Resources", "WorkerScalableTarget", "Properties")["MinCapacity"] = 1
		}, "WorkerScalableTarget: MinCapacity 1"},
		{"scale_in_keeps_one", func(tpl map[string]any) {
			node(t, tpl, "Resources", "WorkerScaleInPolicy", "Properties", "StepScalingPolicyConfiguration", "StepAdjustments", 0)["ScalingAdjustment"] = 1
		}, "WorkerScaleInPolicy: StepAdjustments"},
		{"idle_alarm_scales_out", func(tpl map[string]any) {
			node(t, tpl, "Resources", "QueueIdleAlarm", "Properties")["AlarmActions"] = []any{ref("WorkerScaleOutPolicy")}
		}, "QueueIdleAlarm: AlarmActions"},
		{"two_coordinators", func(tpl map[string]any) {
			node(t, tpl, "Parameters", "CoordinatorCount")["AllowedValues"] = []any{0, 1, 2}
		}, "CoordinatorService: DesiredCount"},
	}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			tpl := clone(base).(map[string]any)
			m.mutate(tpl)
			errs := checkTemplate(tpl, cmds)
			for _, err := range errs {
				if strings.Contains(err.Error(), m.want) {
					t.Log(err)
					return
				}
			}
			t.Errorf("no error mentions %q; got %d:\n%v", m.want, len(errs), errors.Join(errs...))
		})
	}
}

func TestParseShortForms(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, yaml string
		want       any
	}{
		{"ref", "v: !Ref Bucket", ref("Bucket")},
		{"getatt_dotted", "v: !GetAtt Queue.Arn", getAtt("Queue", "Arn")},
		{"getatt_list", "v: !GetAtt [Queue, Arn]", getAtt("Queue", "Arn")},
		{"sub", `v: !Sub "${A}/x"`, sub("${A}/x")},
		{"sub_vars", "v: !Sub\n  - ${x}\n  - x: !Ref A", map[string]any{"Fn::Sub": []any{"${x}", map[string]any{"x": ref("A")}}}},
		{"join", "v: !Join [',', [a, !Ref B]]", map[string]any{"Fn::Join": []any{",", []any{"a", ref("B")}}}},
		{"if_not_equals", "v: !If [C, !Not [!Equals [!Ref P, '']], 3]", map[string]any{"Fn::If": []any{"C", map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{ref("P"), ""}}}}, 3}}},
		{"select_getazs", "v: !Select [0, !GetAZs '']", map[string]any{"Fn::Select": []any{0, map[string]any{"Fn::GetAZs": ""}}}},
		{"plain", "v: {a: [1, true, '2012-10-17', null]}", map[string]any{"a": []any{1, true, "2012-10-17", nil}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseTemplate([]byte(c.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got["v"], c.want) {
				t.Errorf("got %#v, want %#v", got["v"], c.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, yaml, want string }{
		{"duplicate_key", "a:\n  b: 1\n  b: 2\n", `key "b" already defined at line 2`},
		{"alias", "a: &x 1\nb: *x\n", "anchors and aliases"},
		{"merge", "a: {b: 1}\nc:\n  <<: {b: 1}\n", "non-string key"},
		{"unknown_tag", "a: !Reff X\n", "unknown tag !Reff"},
		{"getatt_without_attribute", "a: !GetAtt Queue\n", "!GetAtt"},
		{"two_documents", "a: 1\n---\nb: 2\n", "more than one YAML document"},
		{"not_a_mapping", "- a\n", "not a mapping"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseTemplate([]byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

// checkTrigger checks S3 → rule → queue → dead-letter queue.
func (c *checker) checkTrigger() {
	rule := c.resource("ObjectCreatedRule", "AWS::Events::Rule")
	queue := c.resource("TriggerQueue", "AWS::SQS::Queue")
	dlq := c.resource("TriggerDeadLetterQueue", "AWS::SQS::Queue")
	if rule == nil || queue == nil || dlq == nil {
		return
	}
	var keys []any
	for _, f := range []string{hook.BooksFile, hook.RatingsFile} {
		keys = append(keys, sub(inputWatch.Key(f)))
	}
	want := map[string]any{
		"source":      []any{"aws.s3"},
		"detail-type": []any{"Object Created"},
		"detail": map[string]any{
			"bucket": map[string]any{"name": []any{ref("InputBucket")}},
			"object": map[string]any{"key": keys},
		},
	}
	got := clone(rule["EventPattern"])
	if k, ok := asMap(asMap(asMap(got)["detail"])["object"])["key"].([]any); ok {
		slices.SortFunc(k, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	}
	if !reflect.DeepEqual(got, want) {
		c.errorf("ObjectCreatedRule: EventPattern %v, want exactly %v", rule["EventPattern"], want)
	}
	if rule["State"] != "ENABLED" {
		c.errorf("ObjectCreatedRule: State %v, want ENABLED", rule["State"])
	}
	queueArn, dlqArn := getAtt("TriggerQueue", "Arn"), getAtt("TriggerDeadLetterQueue", "Arn")
	targets := items(rule["Targets"])
	if len(targets) != 1 || !reflect.DeepEqual(asMap(targets[0])["Arn"], queueArn) {
		c.errorf("ObjectCreatedRule: targets %v, want one target, TriggerQueue", rule["Targets"])
	} else if d, ok := asMap(targets[0])["DeadLetterConfig"]; ok && !reflect.DeepEqual(asMap(d)["Arn"], dlqArn) {
		c.errorf("ObjectCreatedRule: target dead-letter queue %v, want TriggerDeadLetterQueue", d)
	}
	for _, q := range []string{triggerQueue, "${TriggerDeadLetterQueue.Arn}"} {
		if !c.delivers[[2]string{q, "${ObjectCreatedRule.Arn}"}] {
			c.errorf("no queue policy lets ObjectCreatedRule send to %s", q)
		}
	}
	redrive := asMap(queue["RedrivePolicy"])
	if !reflect.DeepEqual(redrive["deadLetterTargetArn"], dlqArn) || redrive["maxReceiveCount"] != 5 {
		c.errorf("TriggerQueue: RedrivePolicy %v, want deadLetterTargetArn TriggerDeadLetterQueue and maxReceiveCount 5", queue["RedrivePolicy"])
	}
	for id, q := range map[string]map[string]any{"TriggerQueue": queue, "TriggerDeadLetterQueue": dlq} {
		if q["SqsManagedSseEnabled"] != true {
			c.errorf("%s: SqsManagedSseEnabled %v, want true", id, q["SqsManagedSseEnabled"])
		}
	}
	if qr, dr := asInt(queue["MessageRetentionPeriod"]), asInt(dlq["MessageRetentionPeriod"]); qr <= 0 || dr <= qr {
		c.errorf("TriggerDeadLetterQueue: MessageRetentionPeriod %v must exceed TriggerQueue's %v, or messages expire on arrival", dr, qr)
	}
}

// checkBuckets: private, encrypted, events on for the input, versioned
// inputs, expiring runs in the block store.
func (c *checker) checkBuckets() {
	for id, param := range map[string]string{"InputBucket": "InputBucketName", "BlocksBucket": "BlocksBucketName"} {
		b := c.resource(id, "AWS::S3::Bucket")
		if b == nil {
			continue
		}
		if !reflect.DeepEqual(b["BucketName"], ref(param)) {
			c.errorf("%s: BucketName %v, want Ref %s", id, b["BucketName"], param)
		}
		pab := asMap(b["PublicAccessBlockConfiguration"])
		for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
			if pab[k] != true {
				c.errorf("%s: PublicAccessBlockConfiguration.%s %v, want true", id, k, pab[k])
			}
		}
		if len(items(asMap(b["BucketEncryption"])["ServerSideEncryptionConfiguration"])) == 0 {
			c.errorf("%s: no BucketEncryption", id)
		}
	}
	if in := c.resource("InputBucket", "AWS::S3::Bucket"); in != nil {
		if v := asMap(asMap(in["NotificationConfiguration"])["EventBridgeConfiguration"])["EventBridgeEnabled"]; v != true {
			c.errorf("InputBucket: NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled %v, want true", v)
		}
		if v := asMap(in["VersioningConfiguration"])["Status"]; v != "Enabled" {
			c.errorf("InputBucket: VersioningConfiguration.Status %v, want Enabled (runs name input versions)", v)
		}
	}
	if bl := c.resource("BlocksBucket", "AWS::S3::Bucket"); bl != nil {
		runs := runstore.RunsPrefix
		want := sub("${BlocksPrefix}/" + runs)
		found := false
		for _, r := range items(asMap(bl["LifecycleConfiguration"])["Rules"]) {
			r := asMap(r)
			found = found || reflect.DeepEqual(r["Prefix"], want) && r["Status"] == "Enabled" && r["ExpirationInDays"] != nil
		}
		if !found {
			c.errorf("BlocksBucket: no enabled lifecycle rule expiring %v", want)
		}
	}
}

// checkTables compares the tables with the schemas shared/dynamo writes
// and verifies.
func (c *checker) checkTables() {
	names := dynamo.TablesWithPrefix("${TablePrefix}")
	key := func(name, kind string) any { return map[string]any{"AttributeName": name, "KeyType": kind} }
	attr := func(name, typ string) any { return map[string]any{"AttributeName": name, "AttributeType": typ} }
	for _, tb := range []struct {
		id, name    string
		keys, attrs []any
	}{
		{"BooksTable", names.Books, []any{key(dynamo.AttrISBN, "HASH")}, []any{attr(dynamo.AttrISBN, "S")}},
		{"SimilaritiesTable", names.Similarities,
			[]any{key(dynamo.AttrISBN, "HASH"), key(dynamo.AttrRank, "RANGE")},
			[]any{attr(dynamo.AttrISBN, "S"), attr(dynamo.AttrRank, "N")}},
	} {
		p := c.resource(tb.id, "AWS::DynamoDB::Table")
		if p == nil {
			continue
		}
		if !reflect.DeepEqual(p["TableName"], sub(tb.name)) {
			c.errorf("%s: TableName %v, want %v (the name --table-prefix gives)", tb.id, p["TableName"], sub(tb.name))
		}
		if !reflect.DeepEqual(p["KeySchema"], tb.keys) {
			c.errorf("%s: KeySchema %v, want %v", tb.id, p["KeySchema"], tb.keys)
		}
		if !reflect.DeepEqual(p["AttributeDefinitions"], tb.attrs) {
			c.errorf("%s: AttributeDefinitions %v, want %v", tb.id, p["AttributeDefinitions"], tb.attrs)
		}
		if p["BillingMode"] != "PAY_PER_REQUEST" {
			c.errorf("%s: BillingMode %v, want PAY_PER_REQUEST", tb.id, p["BillingMode"])
		}
		if _, ok := p["GlobalSecondaryIndexes"]; ok {
			c.errorf("%s: indexes are neither used nor granted", tb.id)
		}
	}
}

// checkOutputs requires the outputs an operator wires the binaries with.
func (c *checker) checkOutputs(outputs map[string]any) {
	want := map[string]any{
		"WatchURL":              sub(inputWatch.String()),
		"InputBooksURL":         sub(inputWatch.URL(hook.BooksFile)),
		"InputRatingsURL":       sub(inputWatch.URL(hook.RatingsFile)),
		"QueueURL":              ref("TriggerQueue"),
		"StoreURL":              sub("s3://${BlocksBucket}/${BlocksPrefix}"),
		"InputBucketName":       ref("InputBucket"),
		"BlocksBucketName":      ref("BlocksBucket"),
		"BooksTableName":        ref("BooksTable"),
		"SimilaritiesTableName": ref("SimilaritiesTable"),
		"CoordinatorRoleArn":    getAtt("CoordinatorRole", "Arn"),
		"WorkerRoleArn":         getAtt("WorkerRole", "Arn"),
		"RepositoryUri":         getAtt("Repository", "RepositoryUri"),
		"ClusterName":           ref("Cluster"),
		"RedisAddress":          redisAddr,
		"ApiTokenArn":           ref("ApiToken"),
	}
	for _, name := range sortedKeys(want) {
		if got := asMap(outputs[name])["Value"]; !reflect.DeepEqual(got, want[name]) {
			c.errorf("output %s: Value %v, want %v", name, got, want[name])
		}
	}
	for _, name := range sortedKeys(outputs) {
		if _, ok := asMap(outputs[name])["Value"]; !ok {
			c.errorf("output %s: no Value", name)
		}
	}
}

// loadTemplate parses template.yaml.
func loadTemplate(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := parseTemplate(data)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// node walks tpl by map keys and list indexes to a mapping.
func node(t *testing.T, tpl map[string]any, path ...any) map[string]any {
	t.Helper()
	var v any = tpl
	for _, p := range path {
		switch p := p.(type) {
		case string:
			v = asMap(v)[p]
		case int:
			v = at(items(v), p)
		}
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("template has no mapping at %v", path)
	}
	return m
}

// statement is the statement with sid in role's inline policies.
func statement(t *testing.T, tpl map[string]any, role, sid string) map[string]any {
	t.Helper()
	for _, p := range items(node(t, tpl, "Resources", role, "Properties")["Policies"]) {
		for _, s := range items(asMap(asMap(p)["PolicyDocument"])["Statement"]) {
			if asMap(s)["Sid"] == sid {
				return asMap(s)
			}
		}
	}
	t.Fatalf("%s has no statement %s", role, sid)
	return nil
}
