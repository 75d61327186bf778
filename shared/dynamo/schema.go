package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ErrSchemaMismatch is wrapped when a table exists with a key schema other
// than the one this package writes. Such a table is never modified.
var ErrSchemaMismatch = errors.New("dynamo: table exists with a different key schema")

// tableWait bounds how long Ensure waits for a new table to become ACTIVE
// (seconds on AWS, immediate on DynamoDB Local).
const tableWait = 5 * time.Minute

type keyAttr struct {
	name string
	typ  types.ScalarAttributeType
	kind types.KeyType
}

func (k keyAttr) String() string { return fmt.Sprintf("%s %s %s", k.name, k.kind, k.typ) }

type tableSchema struct {
	name string
	keys []keyAttr // HASH first
}

func (t Tables) schemas() []tableSchema {
	return []tableSchema{
		{t.Books, []keyAttr{{AttrISBN, types.ScalarAttributeTypeS, types.KeyTypeHash}}},
		{t.Similarities, []keyAttr{
			{AttrISBN, types.ScalarAttributeTypeS, types.KeyTypeHash},
			{AttrRank, types.ScalarAttributeTypeN, types.KeyTypeRange},
		}},
	}
}

func (s tableSchema) keyNames() []string {
	names := make([]string, len(s.keys))
	for i, k := range s.keys {
		names[i] = k.name
	}
	return names
}

func (s tableSchema) createInput() *dynamodb.CreateTableInput {
	in := &dynamodb.CreateTableInput{
		TableName:   &s.name,
		BillingMode: types.BillingModePayPerRequest,
	}
	for _, k := range s.keys {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: &k.name, AttributeType: k.typ})
		in.KeySchema = append(in.KeySchema, types.KeySchemaElement{AttributeName: &k.name, KeyType: k.kind})
	}
	return in
}

// check compares an existing table's key schema with s.
func (s tableSchema) check(td *types.TableDescription) error {
	if td == nil {
		return fmt.Errorf("describe table %s: no description returned", s.name)
	}
	attrTypes := map[string]types.ScalarAttributeType{}
	for _, d := range td.AttributeDefinitions {
		if d.AttributeName != nil {
			attrTypes[*d.AttributeName] = d.AttributeType
		}
	}
	var got []keyAttr
	for _, e := range td.KeySchema {
		if e.AttributeName != nil {
			got = append(got, keyAttr{*e.AttributeName, attrTypes[*e.AttributeName], e.KeyType})
		}
	}
	slices.SortStableFunc(got, func(a, b keyAttr) int { return strings.Compare(string(a.kind), string(b.kind)) }) // HASH < RANGE
	if !slices.Equal(got, s.keys) {
		return fmt.Errorf("table %s has key schema [%s], want [%s]: %w", s.name, joinKeys(got), joinKeys(s.keys), ErrSchemaMismatch)
	}
	return nil
}

func joinKeys(keys []keyAttr) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.String()
	}
	return strings.Join(parts, ", ")
}

// ensureTable creates the table if it does not exist and waits until it is
// ACTIVE. An existing table with another key schema is an error and is
// left alone.
func ensureTable(ctx context.Context, client API, s tableSchema) error {
	out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.name})
	switch {
	case err == nil:
		if err := s.check(out.Table); err != nil {
			return err
		}
		if out.Table.TableStatus == types.TableStatusActive {
			return nil
		}
	case isNotFound(err):
		if _, err := client.CreateTable(ctx, s.createInput()); err != nil && !isInUse(err) {
			return fmt.Errorf("create table %s: %w", s.name, err)
		}
	default:
		return fmt.Errorf("describe table %s: %w", s.name, err)
	}
	return waitActive(ctx, client, s)
}

// waitActive polls DescribeTable until the table is ACTIVE, with delays
// growing from 50 ms to 5 s, for at most tableWait.
func waitActive(ctx context.Context, client API, s tableSchema) error {
	ctx, cancel := context.WithTimeout(ctx, tableWait)
	defer cancel()
	delay := 50 * time.Millisecond
	status := "absent"
	for {
		out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.name})
		switch {
		case err == nil:
			if err := s.check(out.Table); err != nil {
				return err
			}
			if out.Table.TableStatus == types.TableStatusActive {
				return nil
			}
			status = string(out.Table.TableStatus)
		case isNotFound(err): // created a moment ago; not visible yet
		default:
			return fmt.Errorf("wait for table %s: %w", s.name, err)
		}
		if err := sleep(ctx, delay); err != nil {
			return fmt.Errorf("wait for table %s to become ACTIVE (now %s): %w", s.name, status, err)
		}
		delay = min(2*delay, 5*time.Second)
	}
}

func isNotFound(err error) bool {
	var nf *types.ResourceNotFoundException
	return errors.As(err, &nf)
}

func isInUse(err error) bool {
	var iu *types.ResourceInUseException
	return errors.As(err, &iu)
}
