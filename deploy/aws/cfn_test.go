package awsdeploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A checker for CloudFormation templates, as far as this stack needs one:
// a YAML reader that keeps the short-form intrinsics, reference
// resolution, and the policy rules. What this stack must hold (the roles'
// allow-lists, the wiring, the tables) is in template_test.go.

// getAttAttrs lists the resource types the template may use and the
// Fn::GetAtt attributes each has (from the CloudFormation reference).
var getAttAttrs = map[string][]string{
	"AWS::S3::Bucket":         {"Arn", "DomainName", "DualStackDomainName", "RegionalDomainName", "WebsiteURL"},
	"AWS::S3::BucketPolicy":   nil,
	"AWS::SQS::Queue":         {"Arn", "QueueName", "QueueUrl"},
	"AWS::SQS::QueuePolicy":   {"Id"},
	"AWS::DynamoDB::Table":    {"Arn", "StreamArn"},
	"AWS::Events::Rule":       {"Arn"},
	"AWS::IAM::Role":          {"Arn", "RoleId"},
	"AWS::IAM::ManagedPolicy": {"PolicyArn", "PolicyId", "DefaultVersionId", "AttachmentCount", "IsAttachable"},
	"AWS::IAM::Policy":        {"Id"},

	"AWS::SecretsManager::Secret":                 {"Id"},
	"AWS::EC2::SecurityGroup":                     {"GroupId", "VpcId"},
	"AWS::ElastiCache::SubnetGroup":               nil,
	"AWS::ElastiCache::ParameterGroup":            nil,
	"AWS::ElastiCache::ReplicationGroup":          {"ConfigurationEndPoint.Address", "ConfigurationEndPoint.Port", "PrimaryEndPoint.Address", "PrimaryEndPoint.Port", "ReaderEndPoint.Address", "ReaderEndPoint.Port", "ReadEndPoint.Addresses", "ReadEndPoint.Ports", "ReplicationGroupId"},
	"AWS::ECR::Repository":                        {"Arn", "RepositoryUri"},
	"AWS::ECS::Cluster":                           {"Arn"},
	"AWS::ECS::TaskDefinition":                    {"TaskDefinitionArn"},
	"AWS::ECS::Service":                           {"Name", "ServiceArn"},
	"AWS::Logs::LogGroup":                         {"Arn"},
	"AWS::ApplicationAutoScaling::ScalableTarget": {"Id"},
	"AWS::ApplicationAutoScaling::ScalingPolicy":  {"Arn"},
	"AWS::CloudWatch::Alarm":                      {"Arn"},
}

// refIsArn are the resource types whose Ref is their ARN (a secret has no
// Arn attribute): a policy names them with Ref.
var refIsArn = []string{"AWS::SecretsManager::Secret"}

// pseudoParams are CloudFormation's pseudo parameters.
var pseudoParams = []string{
	"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
	"AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix",
}

// shortForms maps CloudFormation's YAML short-form tags to the long-form
// key each stands for.
var shortForms = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition",
	"!Base64": "Fn::Base64", "!Cidr": "Fn::Cidr", "!FindInMap": "Fn::FindInMap",
	"!GetAtt": "Fn::GetAtt", "!GetAZs": "Fn::GetAZs", "!ImportValue": "Fn::ImportValue",
	"!Join": "Fn::Join", "!Select": "Fn::Select", "!Split": "Fn::Split", "!Sub": "Fn::Sub",
	"!Transform": "Fn::Transform", "!Length": "Fn::Length", "!ToJsonString": "Fn::ToJsonString",
	"!And": "Fn::And", "!Equals": "Fn::Equals", "!If": "Fn::If", "!Not": "Fn::Not", "!Or": "Fn::Or",
}

// parseTemplate reads a YAML template into maps, slices and scalars, with
// short-form intrinsics in the long form ({"Ref": …}, {"Fn::GetAtt":
// [resource, attribute]}, {"Fn::Sub": …}). Duplicate keys, anchors,
// aliases and merge keys, which CloudFormation does not accept, are errors.
func parseTemplate(data []byte) (map[string]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, errors.New("parse template: more than one YAML document")
	}
	v, err := longForm(&doc)
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	tpl, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("parse template: top level is not a mapping")
	}
	return tpl, nil
}

func longForm(n *yaml.Node) (any, error) {
	if n.Anchor != "" || n.Kind == yaml.AliasNode {
		return nil, fmt.Errorf("line %d: anchors and aliases are not supported by CloudFormation", n.Line)
	}
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("line %d: empty document", n.Line)
		}
		return longForm(n.Content[0])
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		lines := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
				return nil, fmt.Errorf("line %d: non-string key %q", k.Line, k.Value)
			}
			if prev, dup := lines[k.Value]; dup {
				return nil, fmt.Errorf("line %d: key %q already defined at line %d", k.Line, k.Value, prev)
			}
			lines[k.Value] = k.Line
			x, err := longForm(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = x
		}
		v = m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			x, err := longForm(c)
			if err != nil {
				return nil, err
			}
			s = append(s, x)
		}
		v = s
	case yaml.ScalarNode:
		if _, short := shortForms[n.Tag]; short {
			v = n.Value
		} else if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node kind %d", n.Line, n.Kind)
	}
	if n.Tag == "" || strings.HasPrefix(n.Tag, "!!") {
		return v, nil
	}
	key, ok := shortForms[n.Tag]
	if !ok {
		return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
	}
	if s, isStr := v.(string); isStr && key == "Fn::GetAtt" {
		res, attr, ok := strings.Cut(s, ".")
		if !ok {
			return nil, fmt.Errorf("line %d: !GetAtt %q: want Resource.Attribute", n.Line, s)
		}
		v = []any{res, attr}
	}
	return map[string]any{key: v}, nil
}

// checker collects every problem with one template.
type checker struct {
	params     map[string]any
	resources  map[string]map[string]any
	conditions map[string]any
	used       map[string]bool     // parameters referenced
	granted    map[string]grantSet // role → what its policies grant
	delivers   map[[2]string]bool  // (queue, rule) a queue policy lets the rule send to
	cmds       map[string]cmdSpec  // the binaries' -h, by command
	// taskSecrets are the secrets each task definition injects.
	taskSecrets map[string][]string
	errs        []error
}

// grantSet is action → resource → granted.
type grantSet map[string]map[string]bool

func (c *checker) errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

// checkTemplate returns every problem with tpl, in a stable order; cmds
// are the binaries' -h the task definitions are checked against.
func checkTemplate(tpl map[string]any, cmds map[string]cmdSpec) []error {
	c := &checker{
		cmds:        cmds,
		taskSecrets: map[string][]string{},
		params:      asMap(tpl["Parameters"]),
		resources:   map[string]map[string]any{},
		conditions:  asMap(tpl["Conditions"]),
		used:        map[string]bool{},
		granted:     map[string]grantSet{},
		delivers:    map[[2]string]bool{},
	}
	c.checkSections(tpl)
	c.checkRefs(tpl)
	c.checkPolicies()
	c.checkTrigger()
	c.checkBuckets()
	c.checkTables()
	c.checkTasks()
	c.checkRedis()
	c.checkScaling()
	c.checkOutputs(asMap(tpl["Outputs"]))
	return c.errs
}

func (c *checker) checkSections(tpl map[string]any) {
	known := []string{"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Mappings", "Conditions", "Transform", "Resources", "Outputs", "Rules"}
	for _, k := range sortedKeys(tpl) {
		if !slices.Contains(known, k) {
			c.errorf("unknown top-level section %s", k)
		}
	}
	if tpl["AWSTemplateFormatVersion"] != "2010-09-09" {
		c.errorf("AWSTemplateFormatVersion %v, want 2010-09-09", tpl["AWSTemplateFormatVersion"])
	}
	if d, _ := tpl["Description"].(string); d == "" {
		c.errorf("no Description")
	}
	for _, name := range sortedKeys(c.params) {
		if _, ok := asMap(c.params[name])["Type"].(string); !ok {
			c.errorf("parameter %s: no Type", name)
		}
	}
	resources := asMap(tpl["Resources"])
	if len(resources) == 0 {
		c.errorf("no Resources")
	}
	attrs := []string{"Type", "Properties", "DependsOn", "DeletionPolicy", "UpdateReplacePolicy", "Condition", "Metadata", "CreationPolicy", "UpdatePolicy"}
	for _, id := range sortedKeys(resources) {
		r, ok := resources[id].(map[string]any)
		if !ok {
			c.errorf("resource %s is not a mapping", id)
			continue
		}
		c.resources[id] = r
		typ, _ := r["Type"].(string)
		if _, known := getAttAttrs[typ]; !known {
			c.errorf("resource %s: type %s is not one this test knows; add it to getAttAttrs", id, typ)
		}
		for _, k := range sortedKeys(r) {
			if !slices.Contains(attrs, k) {
				c.errorf("resource %s: unknown attribute %s", id, k)
			}
		}
	}
	for _, id := range sortedKeys(c.resources) {
		for _, dep := range items(c.resources[id]["DependsOn"]) {
			if s, _ := dep.(string); c.resources[s] == nil {
				c.errorf("resource %s: DependsOn %v, which is not a resource", id, dep)
			}
		}
		if cond, ok := c.resources[id]["Condition"]; ok {
			if s, _ := cond.(string); c.conditions[s] == nil {
				c.errorf("resource %s: Condition %v is not defined", id, cond)
			}
		}
	}
}

// checkRefs resolves every Ref, Fn::GetAtt and Fn::Sub variable in the
// resources, outputs and conditions, and reports parameters no one uses.
func (c *checker) checkRefs(tpl map[string]any) {
	for _, id := range sortedKeys(c.resources) {
		c.walk("Resources."+id, c.resources[id]["Properties"], nil)
	}
	c.walk("Outputs", tpl["Outputs"], nil)
	c.walk("Conditions", tpl["Conditions"], nil)
	for _, name := range sortedKeys(c.params) {
		if !c.used[name] {
			c.errorf("parameter %s is never referenced", name)
		}
	}
}

func (c *checker) walk(path string, v any, locals map[string]bool) {
	switch v := v.(type) {
	case []any:
		for i, x := range v {
			c.walk(fmt.Sprintf("%s[%d]", path, i), x, locals)
		}
	case map[string]any:
		if len(v) == 1 {
			for k, arg := range v {
				if c.intrinsic(path, k, arg, locals) {
					return
				}
			}
		}
		for _, k := range sortedKeys(v) {
			if k == "Ref" || strings.HasPrefix(k, "Fn::") {
				c.errorf("%s: %s must be the only key of its mapping", path, k)
			}
			c.walk(path+"."+k, v[k], locals)
		}
	}
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

// intrinsic checks {k: arg} if it is an intrinsic function and reports
// whether it was one.
func (c *checker) intrinsic(path, k string, arg any, locals map[string]bool) bool {
	switch k {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			c.errorf("%s: Ref of %v, want a name", path, arg)
			return true
		}
		c.ref(path, name, locals)
	case "Fn::GetAtt":
		a := items(arg)
		res, ok1 := at(a, 0).(string)
		attr, ok2 := at(a, 1).(string)
		if len(a) != 2 || !ok1 || !ok2 {
			c.errorf("%s: Fn::GetAtt of %v, want [resource, attribute]", path, arg)
			return true
		}
		c.getAtt(path, res, attr)
	case "Fn::Sub":
		s, isStr := arg.(string)
		if !isStr {
			a, _ := arg.([]any)
			vars, ok := at(a, 1).(map[string]any)
			if s, isStr = at(a, 0).(string); len(a) != 2 || !isStr || !ok {
				c.errorf("%s: Fn::Sub of %v, want a string or [string, variables]", path, arg)
				return true
			}
			c.walk(path+".Fn::Sub", vars, locals)
			locals = maps.Clone(locals)
			if locals == nil {
				locals = map[string]bool{}
			}
			for name := range vars {
				locals[name] = true
			}
		}
		for _, m := range subVar.FindAllStringSubmatch(s, -1) {
			name := strings.TrimSpace(m[1])
			if strings.HasPrefix(name, "!") { // ${!Literal}
				continue
			}
			if res, attr, dotted := strings.Cut(name, "."); dotted && !locals[name] {
				c.getAtt(path, res, attr)
			} else {
				c.ref(path, name, locals)
			}
		}
	case "Fn::If":
		a := items(arg)
		if cond, ok := at(a, 0).(string); len(a) != 3 || !ok || c.conditions[cond] == nil {
			c.errorf("%s: Fn::If of %v, want [defined condition, then, else]", path, arg)
		}
		if len(a) > 1 {
			c.walk(path+".Fn::If", a[1:], locals)
		}
	case "Condition":
		if s, ok := arg.(string); ok {
			if c.conditions[s] == nil {
				c.errorf("%s: Condition %s is not defined", path, s)
			}
			return true
		}
		return false
	default:
		if !strings.HasPrefix(k, "Fn::") {
			return false
		}
		if !slices.Contains(slices.Collect(maps.Values(shortForms)), k) {
			c.errorf("%s: unknown intrinsic function %s", path, k)
		}
		c.walk(path+"."+k, arg, locals)
	}
	return true
}

func (c *checker) ref(path, name string, locals map[string]bool) {
	switch {
	case locals[name], slices.Contains(pseudoParams, name), c.resources[name] != nil:
	case c.params[name] != nil:
		c.used[name] = true
	default:
		c.errorf("%s: Ref to %s, which is neither a parameter nor a resource", path, name)
	}
}

func (c *checker) getAtt(path, res, attr string) {
	r := c.resources[res]
	if r == nil {
		c.errorf("%s: Fn::GetAtt of %s.%s: %s is not a resource", path, res, attr, res)
		return
	}
	typ, _ := r["Type"].(string)
	if !slices.Contains(getAttAttrs[typ], attr) {
		c.errorf("%s: Fn::GetAtt of %s.%s: %s has no attribute %s", path, res, attr, typ, attr)
	}
}

// policyKind tells how a policy document is held to account.
type policyKind int

const (
	identityPolicy policyKind = iota // a role's: checked against grants
	trustPolicy                      // who may assume a role
	bucketPolicy                     // on buckets: deny only
	queuePolicy                      // on queues: service senders only
)

// policy is one policy document and what it is attached to.
type policy struct {
	where  string
	kind   policyKind
	owners []string // roles, buckets or queues
	doc    any
}

func (c *checker) policies() []policy {
	var ps []policy
	refs := func(id, prop string, v any) []string {
		var out []string
		for _, x := range items(v) {
			name, _ := asMap(x)["Ref"].(string)
			if c.resources[name] == nil {
				c.errorf("%s: %s %v is not a Ref to a resource of the template", id, prop, x)
				continue
			}
			out = append(out, name)
		}
		return out
	}
	for _, id := range sortedKeys(c.resources) {
		r := c.resources[id]
		props := asMap(r["Properties"])
		switch r["Type"] {
		case "AWS::IAM::Role":
			if _, ok := props["ManagedPolicyArns"]; ok {
				c.errorf("%s: ManagedPolicyArns attach policies this test cannot see; grant through Policies", id)
			}
			ps = append(ps, policy{id + " trust policy", trustPolicy, []string{id}, props["AssumeRolePolicyDocument"]})
			for _, p := range items(props["Policies"]) {
				ps = append(ps, policy{fmt.Sprintf("%s policy %v", id, asMap(p)["PolicyName"]), identityPolicy, []string{id}, asMap(p)["PolicyDocument"]})
			}
		case "AWS::IAM::ManagedPolicy", "AWS::IAM::Policy":
			for _, k := range []string{"Users", "Groups"} {
				if _, ok := props[k]; ok {
					c.errorf("%s: attached to %s; only the task roles may hold grants", id, k)
				}
			}
			ps = append(ps, policy{id, identityPolicy, refs(id, "Roles", props["Roles"]), props["PolicyDocument"]})
		case "AWS::S3::BucketPolicy":
			ps = append(ps, policy{id, bucketPolicy, refs(id, "Bucket", props["Bucket"]), props["PolicyDocument"]})
		case "AWS::SQS::QueuePolicy":
			ps = append(ps, policy{id, queuePolicy, refs(id, "Queues", props["Queues"]), props["PolicyDocument"]})
		}
	}
	return ps
}

var (
	actionName      = regexp.MustCompile(`^[a-z0-9-]+:[A-Za-z0-9]+$`)
	serviceWildcard = regexp.MustCompile(`^[a-z0-9-]+:\*$`)
	arnOf           = regexp.MustCompile(`^\$\{([A-Za-z0-9]+)\.Arn\}(.*)$`)
	refName         = regexp.MustCompile(`^\$\{([A-Za-z0-9]+)\}$`)
)

// checkPolicies holds every statement of every policy to its kind's rules,
// then checks each role was granted everything its binary needs.
func (c *checker) checkPolicies() {
	for _, p := range c.policies() {
		doc := asMap(p.doc)
		if doc["Version"] != "2012-10-17" {
			c.errorf("%s: Version %v, want 2012-10-17", p.where, doc["Version"])
		}
		stmts := items(doc["Statement"])
		if len(stmts) == 0 {
			c.errorf("%s: no statements", p.where)
		}
		for i, s := range stmts {
			c.checkStatement(p, fmt.Sprintf("%s statement %d", p.where, i), asMap(s))
		}
	}
	for _, role := range sortedKeys(grants) {
		if r := c.resources[role]; r == nil || r["Type"] != "AWS::IAM::Role" {
			c.errorf("role %s of the allow-list is not an AWS::IAM::Role of the template", role)
			continue
		}
		for _, action := range sortedKeys(grants[role]) {
			for _, res := range grants[role][action] {
				if !c.granted[role][action][res] {
					c.errorf("%s lacks %s on %s, which the code needs", role, action, res)
				}
			}
		}
	}
	for _, id := range sortedKeys(c.resources) {
		if c.resources[id]["Type"] == "AWS::IAM::Role" && grants[id] == nil {
			c.errorf("role %s has no allow-list in this test", id)
		}
	}
}

func (c *checker) checkStatement(p policy, where string, st map[string]any) {
	if sid, ok := st["Sid"].(string); ok {
		where += " (" + sid + ")"
	}
	for _, k := range []string{"NotAction", "NotResource", "NotPrincipal"} {
		if _, ok := st[k]; ok {
			c.errorf("%s: %s grants by exclusion; name what is granted", where, k)
		}
	}
	effect, _ := st["Effect"].(string)
	if effect != "Allow" && effect != "Deny" {
		c.errorf("%s: Effect %v, want Allow or Deny", where, st["Effect"])
		return
	}
	var actions []string
	for _, a := range items(st["Action"]) {
		s, _ := a.(string)
		switch {
		case actionName.MatchString(s):
		case effect == "Deny" && serviceWildcard.MatchString(s):
			// Denying a whole service takes nothing away that is needed.
		default:
			c.errorf("%s: action %q is a wildcard or not an action name", where, a)
			continue
		}
		actions = append(actions, s)
	}
	if len(actions) == 0 {
		c.errorf("%s: no actions", where)
	}
	if p.kind == trustPolicy {
		c.checkTrust(where, st, actions)
		return
	}
	var resources []string
	for _, r := range items(st["Resource"]) {
		if r == "*" && effect == "Allow" && p.kind == identityPolicy {
			c.checkStar(where, p.owners, st, actions)
			resources = append(resources, "*")
			continue
		}
		s, err := c.resourceName(r)
		if err != nil {
			c.errorf("%s: %v", where, err)
			continue
		}
		if effect == "Allow" {
			c.checkGranted(where, s)
		}
		resources = append(resources, s)
	}
	if len(resources) == 0 {
		c.errorf("%s: no resources", where)
	}
	switch p.kind {
	case identityPolicy:
		if _, ok := st["Principal"]; ok {
			c.errorf("%s: a role's policy names no Principal", where)
		}
		if effect == "Allow" {
			c.checkAllowed(where, p.owners, actions, resources)
			c.checkListCondition(where, st, actions, resources)
		}
	case bucketPolicy:
		if effect == "Allow" {
			c.errorf("%s: bucket policies only deny here; grants belong in the task roles", where)
		}
		c.checkOwnResources(where, p.owners, resources, "Arn", "/*")
		if len(asMap(st["Condition"])) == 0 {
			c.errorf("%s: a Deny with no Condition locks everyone out", where)
		}
	case queuePolicy:
		c.checkOwnResources(where, p.owners, resources, "Arn")
		if effect == "Deny" {
			if len(asMap(st["Condition"])) == 0 {
				c.errorf("%s: a Deny with no Condition locks everyone out", where)
			}
			return
		}
		c.checkQueueAllow(where, st, actions, resources)
	}
}

// resourceName normalises a policy Resource to a Fn::Sub string:
// {"Ref": X} is "${X}", {"Fn::GetAtt": [X, A]} is "${X.A}". A literal
// string is an error: it names nothing the template made.
func (c *checker) resourceName(r any) (string, error) {
	switch r := r.(type) {
	case string:
		return "", fmt.Errorf("literal resource %q: name a resource of the template with Ref, Fn::GetAtt or Fn::Sub", r)
	case map[string]any:
		if name, ok := r["Ref"].(string); ok && len(r) == 1 {
			return "${" + name + "}", nil
		}
		if a := items(r["Fn::GetAtt"]); len(a) == 2 && len(r) == 1 {
			return fmt.Sprintf("${%v.%v}", a[0], a[1]), nil
		}
		if s, ok := r["Fn::Sub"].(string); ok && len(r) == 1 {
			return s, nil
		}
	}
	return "", fmt.Errorf("resource %v: want Ref, Fn::GetAtt or a Fn::Sub string", r)
}

// checkStar allows Resource "*" only for the actions of starGrants that
// a role's allow-list names, each with exactly the Condition given there.
func (c *checker) checkStar(where string, roles []string, st map[string]any, actions []string) {
	if len(items(st["Resource"])) != 1 {
		c.errorf(`%s: literal resource "*" beside other resources: give "*" a statement of its own`, where)
	}
	for _, role := range roles {
		for _, a := range actions {
			want, ok := starGrants[role][a]
			if !ok {
				c.errorf(`%s: literal resource "*" for %s, which %s may only be granted on resources of the template`, where, a, role)
				continue
			}
			if !reflect.DeepEqual(st["Condition"], want) {
				c.errorf(`%s: %s on "*" needs exactly the Condition %v, has %v`, where, a, want, st["Condition"])
			}
		}
	}
}

// checkGranted holds an allowed resource to the template: it starts with a
// resource's ARN, and an object under a bucket lies under the bucket's
// declared prefix, with "*" only as the last segment below it.
func (c *checker) checkGranted(where, s string) {
	if m := refName.FindStringSubmatch(s); m != nil && c.resources[m[1]] != nil {
		if typ, _ := c.resources[m[1]]["Type"].(string); slices.Contains(refIsArn, typ) {
			return
		}
	}
	m := arnOf.FindStringSubmatch(s)
	if m == nil || c.resources[m[1]] == nil {
		c.errorf("%s: resource %s does not start with the ARN of a resource of the template", where, s)
		return
	}
	id, rest := m[1], m[2]
	if rest == "" {
		return
	}
	prefix, ok := objectPrefix[id]
	if !ok || c.resources[id]["Type"] != "AWS::S3::Bucket" {
		c.errorf("%s: resource %s: only bucket ARNs take a path", where, s)
		return
	}
	below, ok := strings.CutPrefix(rest, "/${"+prefix+"}/")
	if !ok || below == "" {
		c.errorf("%s: resource %s is outside the declared prefix ${%s}/ of %s", where, s, prefix, id)
		return
	}
	if strings.Contains(below, "*") && below != "*" {
		c.errorf("%s: resource %s: a wildcard may only stand for everything under the prefix", where, s)
	}
}

// checkAllowed records what a role's statement grants and reports what
// the role's allow-list does not hold.
func (c *checker) checkAllowed(where string, roles, actions, resources []string) {
	for _, role := range roles {
		if c.granted[role] == nil {
			c.granted[role] = grantSet{}
		}
		for _, a := range actions {
			for _, r := range resources {
				if !slices.Contains(grants[role][a], r) {
					c.errorf("%s: grants %s on %s, which %s does not need", where, a, r, role)
					continue
				}
				if c.granted[role][a] == nil {
					c.granted[role][a] = map[string]bool{}
				}
				c.granted[role][a][r] = true
			}
		}
	}
}

// checkListCondition requires s3:ListBucket to carry an s3:prefix
// condition whose every value lies under the bucket's declared prefix.
func (c *checker) checkListCondition(where string, st map[string]any, actions, resources []string) {
	if !slices.Contains(actions, "s3:ListBucket") {
		return
	}
	var values []any
	found := false
	for op, cond := range asMap(st["Condition"]) {
		switch op {
		case "StringEquals", "StringLike", "StringEqualsIfExists", "StringLikeIfExists":
			if v, ok := asMap(cond)["s3:prefix"]; ok {
				found = true
				values = append(values, items(v)...)
			}
		}
	}
	if !found {
		c.errorf("%s: s3:ListBucket without an s3:prefix condition", where)
		return
	}
	for _, r := range resources {
		id := strings.TrimSuffix(strings.TrimPrefix(r, "${"), ".Arn}")
		prefix, ok := objectPrefix[id]
		if !ok {
			c.errorf("%s: s3:ListBucket on %s, a bucket with no declared prefix", where, r)
			continue
		}
		for _, v := range values {
			s, isStr := v.(string)
			if !isStr {
				s, _ = c.resourceName(v)
			}
			if !strings.HasPrefix(s, "${"+prefix+"}/") {
				c.errorf("%s: s3:prefix %q outside the declared prefix ${%s}/", where, s, prefix)
			}
		}
	}
}

// checkOwnResources requires a resource policy to name only the resources
// it is attached to (their ARN, or with one of suffixes).
func (c *checker) checkOwnResources(where string, owners, resources []string, attr string, suffixes ...string) {
	for _, r := range resources {
		ok := false
		for _, o := range owners {
			arn := "${" + o + "." + attr + "}"
			ok = ok || r == arn
			for _, s := range suffixes {
				ok = ok || r == arn+s
			}
		}
		if !ok {
			c.errorf("%s: resource %s is not a queue or bucket the policy is attached to (%s)", where, r, strings.Join(owners, ", "))
		}
	}
}

// checkQueueAllow lets a service principal send only from a named rule of
// the template.
func (c *checker) checkQueueAllow(where string, st map[string]any, actions, resources []string) {
	svc, _ := asMap(st["Principal"])["Service"].(string)
	allowed, ok := queueSenders[svc]
	if !ok || len(asMap(st["Principal"])) != 1 {
		c.errorf("%s: Principal %v is not one of the service principals %v", where, st["Principal"], sortedKeys(queueSenders))
		return
	}
	for _, a := range actions {
		if !slices.Contains(allowed, a) {
			c.errorf("%s: grants %s to %s, which only needs %v", where, a, svc, allowed)
		}
	}
	var source string
	for op, cond := range asMap(st["Condition"]) {
		if op == "ArnEquals" || op == "ArnLike" {
			if v, ok := asMap(cond)["aws:SourceArn"]; ok {
				source, _ = c.resourceName(v)
			}
		}
	}
	rule := strings.TrimSuffix(strings.TrimPrefix(source, "${"), ".Arn}")
	if r := c.resources[rule]; r == nil || r["Type"] != "AWS::Events::Rule" || source != "${"+rule+".Arn}" {
		c.errorf("%s: lets %s send from anywhere; want an ArnEquals aws:SourceArn condition naming a rule of the template", where, svc)
		return
	}
	for _, r := range resources {
		c.delivers[[2]string{r, source}] = true
	}
}

func (c *checker) checkTrust(where string, st map[string]any, actions []string) {
	if st["Effect"] != "Allow" {
		c.errorf("%s: Effect %v, want Allow", where, st["Effect"])
	}
	if !reflect.DeepEqual(st["Principal"], map[string]any{"Service": trustService}) {
		c.errorf("%s: Principal %v, want {Service: %s}", where, st["Principal"], trustService)
	}
	if !slices.Equal(actions, []string{"sts:AssumeRole"}) {
		c.errorf("%s: actions %v, want [sts:AssumeRole]", where, actions)
	}
	want := map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": ref("AWS::AccountId")}}
	if !reflect.DeepEqual(st["Condition"], want) {
		c.errorf("%s: Condition %v, want %v (only tasks of this account)", where, st["Condition"], want)
	}
	if _, ok := st["Resource"]; ok {
		c.errorf("%s: a trust policy names no Resource", where)
	}
}

// resource returns the Properties of resource id, reporting it missing or
// of another type.
func (c *checker) resource(id, typ string) map[string]any {
	r := c.resources[id]
	if r == nil || r["Type"] != typ {
		c.errorf("no %s resource %s", typ, id)
		return nil
	}
	return asMap(r["Properties"])
}

func ref(name string) any                       { return map[string]any{"Ref": name} }
func getAtt(res, attr string) any               { return map[string]any{"Fn::GetAtt": []any{res, attr}} }
func sub(s string) map[string]any               { return map[string]any{"Fn::Sub": s} }
func asMap(v any) map[string]any                { m, _ := v.(map[string]any); return m }
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// items is v as a list: IAM and CloudFormation accept one value where a
// list is expected.
func items(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	default:
		return []any{v}
	}
}

func at(a []any, i int) any {
	if i < len(a) {
		return a[i]
	}
	return nil
}

func asInt(v any) int {
	n, _ := v.(int)
	return n
}

// clone deep-copies a parsed template.
func clone(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = clone(x)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, x := range v {
			s[i] = clone(x)
		}
		return s
	default:
		return v
	}
}
