package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// fakeDB is an in-memory stand-in for DynamoDB with the table and batch
// write calls the writer and Ensure use. Scans, queries and batch gets are
// left to the tests against DynamoDB Local. Its hooks inject faults.
type fakeDB struct {
	mu     sync.Mutex
	tables map[string]*fakeTable

	// hold, when set, returns how many of a batch's n requests to hand
	// back as unprocessed without applying them.
	hold func(n int) int
	// fail, when set, returns an error to fail a BatchWriteItem call with
	// before anything is applied.
	fail  func() error
	calls int
}

type fakeTable struct {
	desc  types.TableDescription
	keys  []string
	items map[string]map[string]types.AttributeValue
}

var _ API = (*fakeDB)(nil)

func newFakeDB() *fakeDB { return &fakeDB{tables: map[string]*fakeTable{}} }

var errNotImplemented = errors.New("fake dynamodb: not implemented")

func (f *fakeDB) CreateTable(_ context.Context, in *dynamodb.CreateTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := aws.ToString(in.TableName)
	if _, ok := f.tables[name]; ok {
		return nil, &types.ResourceInUseException{Message: aws.String("table exists: " + name)}
	}
	t := &fakeTable{items: map[string]map[string]types.AttributeValue{}}
	t.desc = types.TableDescription{
		TableName:            aws.String(name),
		TableStatus:          types.TableStatusActive,
		KeySchema:            in.KeySchema,
		AttributeDefinitions: in.AttributeDefinitions,
	}
	for _, k := range in.KeySchema {
		t.keys = append(t.keys, aws.ToString(k.AttributeName))
	}
	f.tables[name] = t
	return &dynamodb.CreateTableOutput{TableDescription: &t.desc}, nil
}

func (f *fakeDB) DescribeTable(_ context.Context, in *dynamodb.DescribeTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tables[aws.ToString(in.TableName)]
	if !ok {
		return nil, &types.ResourceNotFoundException{Message: aws.String("no table " + aws.ToString(in.TableName))}
	}
	d := t.desc
	return &dynamodb.DescribeTableOutput{Table: &d}, nil
}

func (f *fakeDB) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		if err := f.fail(); err != nil {
			return nil, err
		}
	}
	out := &dynamodb.BatchWriteItemOutput{UnprocessedItems: map[string][]types.WriteRequest{}}
	n := 0
	for table, reqs := range in.RequestItems {
		t, ok := f.tables[table]
		if !ok {
			return nil, &types.ResourceNotFoundException{Message: aws.String("no table " + table)}
		}
		n += len(reqs)
		if n > MaxBatch {
			return nil, fmt.Errorf("fake dynamodb: %d requests in one batch", n)
		}
		held := 0
		if f.hold != nil {
			held = min(f.hold(len(reqs)), len(reqs))
		}
		seen := map[string]bool{}
		for _, r := range reqs[:len(reqs)-held] {
			var item map[string]types.AttributeValue
			switch {
			case r.PutRequest != nil:
				item = r.PutRequest.Item
			case r.DeleteRequest != nil:
				item = r.DeleteRequest.Key
			}
			k, err := t.key(item)
			if err != nil {
				return nil, err
			}
			if seen[k] {
				return nil, errors.New("fake dynamodb: provided list of item keys contains duplicates")
			}
			seen[k] = true
			if r.PutRequest != nil {
				t.items[k] = cloneItem(item)
			} else {
				delete(t.items, k)
			}
		}
		if held > 0 {
			out.UnprocessedItems[table] = reqs[len(reqs)-held:]
		}
	}
	return out, nil
}

func (t *fakeTable) key(item map[string]types.AttributeValue) (string, error) {
	parts := make([]string, len(t.keys))
	for i, name := range t.keys {
		switch v := item[name].(type) {
		case *types.AttributeValueMemberS:
			parts[i] = "S" + v.Value
		case *types.AttributeValueMemberN:
			parts[i] = "N" + v.Value
		default:
			return "", fmt.Errorf("fake dynamodb: key attribute %s missing", name)
		}
	}
	return strings.Join(parts, "\x00"), nil
}

func (f *fakeDB) count(table string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tables[table]
	if !ok {
		return -1
	}
	return int64(len(t.items))
}

func (f *fakeDB) BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return nil, errNotImplemented
}

func (f *fakeDB) Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return nil, errNotImplemented
}

func (f *fakeDB) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return nil, errNotImplemented
}

// cloneItem copies item as DynamoDB would store it: the writer refills its
// maps and attribute values for the next batch once a call returns.
func cloneItem(item map[string]types.AttributeValue) map[string]types.AttributeValue {
	c := make(map[string]types.AttributeValue, len(item))
	for name, av := range item {
		switch v := av.(type) {
		case *types.AttributeValueMemberS:
			c[name] = &types.AttributeValueMemberS{Value: v.Value}
		case *types.AttributeValueMemberN:
			c[name] = &types.AttributeValueMemberN{Value: v.Value}
		default:
			c[name] = av
		}
	}
	return c
}
