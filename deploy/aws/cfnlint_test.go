package awsdeploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/betterread/pipeline/internal/testenv"
)

// cfnLintVersion is the cfn-lint deploy/local/test-deps.sh installs; its
// rules (and the resource specifications it ships) decide what "clean"
// means.
const cfnLintVersion = "1.51.0"

const cfnLintHowTo = "cfn-lint is needed: run ./deploy/local/test-deps.sh (pip-installs cfn-lint==" + cfnLintVersion +
	" into a venv at $BETTERREAD_CACHE/cfn-lint, default ~/.cache/betterread/cfn-lint), put cfn-lint on PATH, or set BETTERREAD_CFN_LINT to its path"

// cfnLintBin is $BETTERREAD_CFN_LINT, the one test-deps.sh installed, or
// cfn-lint on PATH.
func cfnLintBin() (string, error) {
	if b := os.Getenv("BETTERREAD_CFN_LINT"); b != "" {
		return b, nil
	}
	cached := filepath.Join(testenv.CacheDir(), "cfn-lint", "bin", "cfn-lint")
	if _, err := os.Stat(cached); err == nil {
		return cached, nil
	}
	return exec.LookPath("cfn-lint")
}

// TestCfnLint: CloudFormation's own linter (resource properties, allowed
// values, Fargate CPU/memory pairs …) reports nothing on the template.
func TestCfnLint(t *testing.T) {
	t.Parallel()
	bin, err := cfnLintBin()
	if err != nil {
		t.Fatalf("find cfn-lint: %v\n%s", err, cfnLintHowTo)
	}
	v, err := exec.CommandContext(t.Context(), bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s\n%s", bin, err, v, cfnLintHowTo)
	}
	if got := strings.TrimSpace(string(v)); got != "cfn-lint "+cfnLintVersion {
		t.Logf("%s is %q, not cfn-lint %s: its rules may differ", bin, got, cfnLintVersion)
	}
	out, err := exec.CommandContext(t.Context(), bin, "template.yaml").CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("%s template.yaml: %v\n%s", bin, err, out)
	}
}
