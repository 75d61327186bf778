package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/betterread/pipeline/coordinator/pipeline"
	"github.com/betterread/pipeline/internal/testenv"
	"github.com/betterread/pipeline/shared/dynamo"
)

// TestRunDynamoDBLocal runs the whole embedded pipeline against a real
// DynamoDB Local: the first run loads and verifies; a second run on changed
// input (two books' ratings removed) replaces it, and the commit removes
// the first run's items it did not overwrite, so the tables then hold
// exactly the second run's output. The second run goes through an SDK
// middleware that throttles and returns unprocessed items for part of its
// batches: every item is still written once and the report counts the
// retries. `coordinator verify` then checks the run again on its own.
func TestRunDynamoDBLocal(t *testing.T) {
	ddb := testenv.StartDynamoDB(t)
	t.Setenv("AWS_ACCESS_KEY_ID", ddb.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", ddb.SecretAccessKey)
	t.Setenv("AWS_REGION", ddb.Region)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	client := dynamodb.NewFromConfig(aws.Config{Region: ddb.Region,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: ddb.AccessKeyID, SecretAccessKey: ddb.SecretAccessKey}, nil
		})}, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(ddb.Endpoint) })

	base := []string{"--dynamodb-endpoint", ddb.Endpoint, "--table-prefix", "test_",
		"--min-books", "10", "--min-similarities", "100", "--workers", "2", "--block-rows", "9"}

	// Run 1: the tiny fixture.
	out1 := t.TempDir()
	runOK(t, append([]string{"--books", "../testdata/tiny/Books.csv", "--ratings", "../testdata/tiny/Ratings.csv",
		"--out", out1, "--write-rate", "400", "--run-write-rate", "300"}, base...)...)
	rep1 := readReport(t, out1)
	books1, sims1 := scanTables(t, client, "test_")
	checkOnlyRun(t, rep1, books1, sims1)
	checkItems(t, books1, sims1, 20)
	if _, err := os.Stat(filepath.Join(out1, "Books.jsonl")); err == nil {
		t.Error("a DynamoDB run also wrote Books.jsonl")
	}

	// Run 2: the same data without two books' ratings, under faults.
	dropped := []string{}
	for _, b := range books1[:2] {
		dropped = append(dropped, b["isbn"]["S"])
	}
	ratings2 := filepath.Join(t.TempDir(), "Ratings.csv")
	writeWithout(t, "../testdata/tiny/Ratings.csv", ratings2, dropped)
	f := &faultInjector{rate: 0.3, rng: rand.New(rand.NewPCG(1, 2))}
	dynamoDBOptions = []func(*dynamodb.Options){func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, f.install)
	}}
	t.Cleanup(func() { dynamoDBOptions = nil })
	out2 := t.TempDir()
	runOK(t, append([]string{"--books", "../testdata/tiny/Books.csv", "--ratings", ratings2, "--out", out2}, base...)...)
	rep2 := readReport(t, out2)
	if rep2.RunID == rep1.RunID {
		t.Fatalf("changed input kept run id %s", rep1.RunID)
	}
	books2, sims2 := scanTables(t, client, "test_")
	checkOnlyRun(t, rep2, books2, sims2)
	checkItems(t, books2, sims2, 20)
	for _, b := range books2 {
		if slices.Contains(dropped, b["isbn"]["S"]) {
			t.Errorf("book %s, which lost its ratings, is still in Books", b["isbn"]["S"])
		}
	}
	if rep2.StaleDeleted["test_Books"] < int64(len(dropped)) {
		t.Errorf("report says %d stale books removed, want at least %d", rep2.StaleDeleted["test_Books"], len(dropped))
	}
	if f.throttles.Load() == 0 || f.held.Load() == 0 {
		t.Fatalf("fault injector did nothing: %d throttles, %d items held", f.throttles.Load(), f.held.Load())
	}
	if ws := rep2.WriteStats; ws == nil || ws.Unprocessed == 0 || ws.Throttles+ws.Errors == 0 {
		t.Errorf("report write stats %+v do not show the injected faults (%d throttles, %d items held)", rep2.WriteStats, f.throttles.Load(), f.held.Load())
	}

	// coordinator verify, on its own, with the faults still on.
	var stdout, stderr bytes.Buffer
	err := verifyCommand(t.Context(), []string{"--run", rep2.RunID, "--out", out2, "--dynamodb-endpoint", ddb.Endpoint}, env(nil), &stdout, &stderr)
	var sum dynamo.Summary
	if jerr := json.Unmarshal(stdout.Bytes(), &sum); err != nil || jerr != nil || !sum.Verified {
		t.Fatalf("coordinator verify: %v %v\n%s\n%s", err, jerr, stdout.String(), stderr.String())
	}
	if sum.TableCounts["test_BookSimilarities"] != int64(len(sims2)) {
		t.Errorf("verify counts %v, table has %d rows", sum.TableCounts, len(sims2))
	}
	// The first run's items are gone: verifying it now fails.
	stdout.Reset()
	if err := verifyCommand(t.Context(), []string{"--run", rep1.RunID, "--out", out1, "--dynamodb-endpoint", ddb.Endpoint}, env(nil), &stdout, &stderr); err == nil {
		t.Errorf("verify of the replaced run passed:\n%s", stdout.String())
	}

	// Run 3: DynamoDB throttles every write, so no load task can finish
	// within its deadline: the run fails, saying why, and the tables keep
	// run 2's output.
	f3 := &faultInjector{rate: 2, rng: rand.New(rand.NewPCG(3, 4))} // every call throttled
	dynamoDBOptions = []func(*dynamodb.Options){func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, f3.install)
	}}
	out3 := t.TempDir()
	var o3, e3 bytes.Buffer
	err = runCommand(t.Context(), append([]string{"--books", "../testdata/tiny/Books.csv", "--ratings", "../testdata/tiny/Ratings.csv",
		"--out", out3, "--write-deadline", "300ms", "--task-retries", "1", "--progress", "off", "--log-format", "json"}, base...), env(nil), &o3, &e3)
	if err == nil {
		t.Fatalf("run 3 succeeded with every write throttled:\n%s", o3.String())
	}
	rep3 := readReport(t, out3)
	if rep3.Status != "failed" || !strings.Contains(rep3.Error, "deadline") || rep3.Stages["load"].Status != "failed" {
		t.Errorf("run 3 report: status %q, load %+v, error %q; want a failed load naming the write deadline", rep3.Status, rep3.Stages["load"], rep3.Error)
	}
	dynamoDBOptions = nil
	books3, sims3 := scanTables(t, client, "test_")
	if len(books3) != len(books2) || len(sims3) != len(sims2) {
		t.Fatalf("after the failed run the tables hold %d books and %d rows, run 2 left %d and %d", len(books3), len(sims3), len(books2), len(sims2))
	}
	checkOnlyRun(t, rep2, books3, sims3)
}

func readReport(t *testing.T, dir string) pipeline.Report {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep pipeline.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// checkOnlyRun asserts that every item is the run's and that the tables
// hold what the report says was written.
func checkOnlyRun(t *testing.T, rep pipeline.Report, books, sims []item) {
	t.Helper()
	if rep.Status != "succeeded" || rep.Verify == nil || !rep.Verify.Verified {
		t.Fatalf("run %s: status %s, verify %+v", rep.RunID, rep.Status, rep.Verify)
	}
	for _, it := range slices.Concat(books, sims) {
		if it["run_id"]["S"] != rep.RunID {
			t.Fatalf("item %v is not of run %s", it, rep.RunID)
		}
	}
	if int64(len(books)) != rep.Tables["test_Books"] || int64(len(sims)) != rep.Tables["test_BookSimilarities"] {
		t.Fatalf("tables hold %d books and %d rows, report says %v", len(books), len(sims), rep.Tables)
	}
}

// scanTables reads both tables whole, similarity rows in (isbn, rank)
// order, as string maps like the JSONL items.
func scanTables(t *testing.T, client *dynamodb.Client, prefix string) (books, sims []item) {
	t.Helper()
	for _, tb := range []struct {
		name string
		dst  *[]item
	}{{prefix + "Books", &books}, {prefix + "BookSimilarities", &sims}} {
		p := dynamodb.NewScanPaginator(client, &dynamodb.ScanInput{TableName: aws.String(tb.name), ConsistentRead: aws.Bool(true)})
		for p.HasMorePages() {
			page, err := p.NextPage(t.Context())
			if err != nil {
				t.Fatalf("scan %s: %v", tb.name, err)
			}
			for _, av := range page.Items {
				it := item{}
				for k, v := range av {
					switch v := v.(type) {
					case *types.AttributeValueMemberS:
						it[k] = map[string]string{"S": v.Value}
					case *types.AttributeValueMemberN:
						it[k] = map[string]string{"N": v.Value}
					default:
						t.Fatalf("%s: attribute %s of type %T", tb.name, k, v)
					}
				}
				*tb.dst = append(*tb.dst, it)
			}
		}
	}
	slices.SortFunc(sims, func(a, b item) int {
		if c := strings.Compare(a["isbn"]["S"], b["isbn"]["S"]); c != 0 {
			return c
		}
		ra, _ := strconv.Atoi(a["rank"]["N"])
		rb, _ := strconv.Atoi(b["rank"]["N"])
		return ra - rb
	})
	return books, sims
}

// writeWithout copies a ratings CSV without the rows of the given ISBNs.
func writeWithout(t *testing.T, src, dst string, isbns []string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var out bytes.Buffer
	sc := bufio.NewScanner(in)
	removed := 0
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Split(line, ",")
		if len(fields) == 3 && slices.Contains(isbns, strings.Trim(fields[1], `"`)) {
			removed++
			continue
		}
		out.WriteString(line + "\n")
	}
	if removed == 0 {
		t.Fatalf("no rows of %v in %s", isbns, src)
	}
	if err := os.WriteFile(dst, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// faultInjector is SDK middleware that, for a share of BatchWriteItem
// calls, fails with ProvisionedThroughputExceededException before the
// request is sent, or sends only part of the batch and returns the rest as
// UnprocessedItems.
type faultInjector struct {
	rate      float64
	mu        sync.Mutex
	rng       *rand.Rand
	throttles atomic.Int64
	held      atomic.Int64
}

func (f *faultInjector) install(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("InjectFaults", f.handle), middleware.After)
}

func (f *faultInjector) roll() float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.Float64()
}

func (f *faultInjector) handle(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	req, ok := in.Parameters.(*dynamodb.BatchWriteItemInput)
	if !ok {
		return next.HandleInitialize(ctx, in)
	}
	switch r := f.roll(); {
	case r < f.rate/2:
		f.throttles.Add(1)
		return middleware.InitializeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{
			Code: "ProvisionedThroughputExceededException", Message: "injected throttle", Fault: smithy.FaultClient}
	case r < f.rate:
		held := map[string][]types.WriteRequest{}
		sent := map[string][]types.WriteRequest{}
		for table, reqs := range req.RequestItems {
			k := max(1, len(reqs)/2)
			held[table], sent[table] = reqs[:k], reqs[k:]
			f.held.Add(int64(k))
			if len(sent[table]) == 0 {
				delete(sent, table)
			}
		}
		if len(sent) > 0 {
			cp := *req
			cp.RequestItems = sent
			in.Parameters = &cp
			out, md, err := next.HandleInitialize(ctx, in)
			if err != nil {
				return out, md, err
			}
			res := out.Result.(*dynamodb.BatchWriteItemOutput)
			for table, reqs := range res.UnprocessedItems {
				held[table] = append(held[table], reqs...)
			}
			res.UnprocessedItems = held
			return out, md, nil
		}
		return middleware.InitializeOutput{Result: &dynamodb.BatchWriteItemOutput{UnprocessedItems: held}}, middleware.Metadata{}, nil
	}
	return next.HandleInitialize(ctx, in)
}
