package dynamo

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"
)

// DynamoTarget writes the two tables to DynamoDB (or DynamoDB Local).
//
// DynamoDB has no atomic table swap: while a run loads, its puts replace
// the previous run's items with the same keys and the rest stay until
// Commit deletes them, so readers see a mix during the load, and a run
// that fails between its first write and Commit leaves that mix (every
// item whole, each tagged with its run_id). The next successful run's
// Commit cleans it up.
type DynamoTarget struct {
	client API
	tables Tables
	opts   WriterOptions
	writer *BatchWriter

	mu       sync.Mutex
	verified map[string]Counts // run → counts this target's Verify read back, equal to those expected
}

var _ Target = (*DynamoTarget)(nil)

// NewDynamoTarget returns a target writing tables through client with one
// BatchWriter configured by opts (its rate limit is shared by every
// WritePart of this target).
func NewDynamoTarget(client API, tables Tables, opts WriterOptions) *DynamoTarget {
	opts = opts.withDefaults()
	return &DynamoTarget{client: client, tables: tables, opts: opts, writer: NewBatchWriter(client, opts)}
}

// String describes the target for logs.
func (d *DynamoTarget) String() string {
	return fmt.Sprintf("dynamodb tables %s and %s", d.tables.Books, d.tables.Similarities)
}

// Ensure creates the tables if absent (on-demand billing; Books keyed by
// isbn S, BookSimilarities by isbn S and rank N) and waits until both are
// ACTIVE. A table with another key schema is an error wrapping
// ErrSchemaMismatch and is left as it is.
func (d *DynamoTarget) Ensure(ctx context.Context) error {
	if err := d.tables.Validate(); err != nil {
		return fmt.Errorf("ensure tables: %w", err)
	}
	for _, s := range d.tables.schemas() {
		if err := ensureTable(ctx, d.client, s); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("ensure tables: %w", err)
		}
	}
	return nil
}

// WritePart puts the part's books, then its similarity rows.
func (d *DynamoTarget) WritePart(ctx context.Context, runID string, part int, books []Book, sims []Similarity) (WriteStats, error) {
	var total WriteStats
	if err := validateRunID(runID); err != nil {
		return total, fmt.Errorf("write part %d: %w", part, err)
	}
	if err := validatePart(books, sims); err != nil {
		return total, fmt.Errorf("write part %d of run %s: %w", part, runID, err)
	}
	for _, put := range []func() (WriteStats, error){
		func() (WriteStats, error) { return putRows(ctx, d.writer, d.tables.Books, runID, books, newBookAttrs) },
		func() (WriteStats, error) {
			return putRows(ctx, d.writer, d.tables.Similarities, runID, sims, newSimAttrs)
		},
	} {
		st, err := put()
		total.Add(st)
		if err != nil {
			if ctx.Err() != nil {
				return total, ctx.Err()
			}
			return total, fmt.Errorf("write part %d of run %s: %w", part, runID, err)
		}
	}
	return total, nil
}

// Commit deletes every item whose run_id is not runID (or that has none),
// similarity rows first so that every row left always points at books
// that exist. It scans each table in parallel segments, filtering on
// run_id, and deletes what the scan returns with BatchWriteItem; the same
// scan counts the run's own items (ScannedCount − Count), and Commit fails
// if they differ from written. The counts are also confirmed before any
// delete (a COUNT scan of each table), so that a load that lost items
// never removes the previous output. deleted counts other runs' items whose keys this run did not
// overwrite.
func (d *DynamoTarget) Commit(ctx context.Context, runID string, written Counts) (Counts, error) {
	var deleted Counts
	if err := validateRunID(runID); err != nil {
		return deleted, fmt.Errorf("commit: %w", err)
	}
	// Confirm first that the run's items are all there, so that a run
	// whose load lost items leaves the other runs' items in place. A
	// Verify of this target that just read back the same counts has
	// confirmed it already (two full-table scans saved).
	d.mu.Lock()
	confirmed, ok := d.verified[runID]
	d.mu.Unlock()
	if ok && confirmed == written {
		return d.deleteAllStale(ctx, runID, written)
	}
	r := &dynamoReader{d: d, segments: d.opts.Segments}
	nBooks, _, err := r.scanBooks(ctx, runID, 0, 0)
	if err == nil && nBooks != written.Books {
		err = fmt.Errorf("table %s holds %d books of the run, %d written; stale items left in place", d.tables.Books, nBooks, written.Books)
	}
	if err == nil {
		var nSims int64
		nSims, err = r.countSimilarities(ctx, runID)
		if err == nil && nSims != written.Similarities {
			err = fmt.Errorf("table %s holds %d rows of the run, %d written; stale items left in place", d.tables.Similarities, nSims, written.Similarities)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return deleted, ctx.Err()
		}
		return deleted, fmt.Errorf("commit run %s: %w", runID, err)
	}
	return d.deleteAllStale(ctx, runID, written)
}

// deleteAllStale is Commit after the counts are confirmed.
func (d *DynamoTarget) deleteAllStale(ctx context.Context, runID string, written Counts) (Counts, error) {
	var deleted Counts
	schemas := d.tables.schemas()
	for _, c := range []struct {
		schema  tableSchema
		want    int64
		deleted *int64
	}{
		{schemas[1], written.Similarities, &deleted.Similarities},
		{schemas[0], written.Books, &deleted.Books},
	} {
		n, kept, err := d.deleteStale(ctx, c.schema, runID)
		*c.deleted = n
		if err != nil {
			if ctx.Err() != nil {
				return deleted, ctx.Err()
			}
			return deleted, fmt.Errorf("commit run %s: %w", runID, err)
		}
		if kept != c.want {
			return deleted, fmt.Errorf("commit run %s: table %s holds %d items of the run, %d written", runID, c.schema.name, kept, c.want)
		}
	}
	return deleted, nil
}

// deleteStale deletes the items of table s not written by runID and counts
// those that were.
func (d *DynamoTarget) deleteStale(ctx context.Context, s tableSchema, runID string) (deleted, kept int64, err error) {
	names := map[string]string{"#run": AttrRunID}
	proj := ""
	for i, k := range s.keyNames() {
		p := fmt.Sprintf("#k%d", i)
		names[p] = k
		if i > 0 {
			proj += ", "
		}
		proj += p
	}
	in := dynamodb.ScanInput{
		TableName:                 aws.String(s.name),
		ConsistentRead:            aws.Bool(true),
		FilterExpression:          aws.String("attribute_not_exists(#run) OR #run <> :run"),
		ProjectionExpression:      aws.String(proj),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: map[string]types.AttributeValue{":run": str(runID)},
	}
	var nKept, nDeleted atomic.Int64
	err = scanSegments(ctx, d.client, in, d.opts.Segments, func(ctx context.Context, _ int, out *dynamodb.ScanOutput) error {
		nKept.Add(int64(out.ScannedCount - out.Count))
		if len(out.Items) == 0 {
			return nil
		}
		st, err := d.writer.Delete(ctx, s.name, out.Items)
		nDeleted.Add(st.Items)
		if err != nil {
			return fmt.Errorf("delete stale items: %w", err)
		}
		return nil
	})
	return nDeleted.Load(), nKept.Load(), err
}

// Verify checks the run's items in DynamoDB: both tables ACTIVE with the
// right key schema; the run's items counted by a parallel-segment Scan
// (Select COUNT, filter run_id = runID, strongly consistent) equal
// expected; the minimums; and a seeded sample of the run's books queried
// back from BookSimilarities has ranks 1..n, finite non-increasing scores,
// no self match, and neighbors that are Books items of the run
// (BatchGetItem). DescribeTable's ItemCount is not used: it lags by hours.
func (d *DynamoTarget) Verify(ctx context.Context, runID string, expected Counts, opts VerifyOptions) (Summary, error) {
	segments := d.opts.Segments
	if opts.Segments > 0 {
		segments = min(opts.Segments, maxSegments)
	}
	s, err := verify(ctx, &dynamoReader{d: d, segments: segments}, d.tables, runID, expected, opts)
	if err != nil && ctx.Err() != nil {
		return s, ctx.Err()
	}
	if err == nil && s.TableCounts[d.tables.Books] == expected.Books && s.TableCounts[d.tables.Similarities] == expected.Similarities {
		d.mu.Lock()
		if d.verified == nil {
			d.verified = map[string]Counts{}
		}
		d.verified[runID] = expected
		d.mu.Unlock()
	}
	return s, err
}

// scanSegments scans in.TableName in segments parallel segments, calling
// page for every page of results (concurrently across segments).
func scanSegments(ctx context.Context, client API, in dynamodb.ScanInput, segments int,
	page func(ctx context.Context, segment int, out *dynamodb.ScanOutput) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	for seg := range segments {
		g.Go(func() error {
			req := in
			req.Segment = aws.Int32(int32(seg))
			req.TotalSegments = aws.Int32(int32(segments))
			for {
				out, err := client.Scan(gctx, &req)
				if err != nil {
					return fmt.Errorf("scan table %s segment %d of %d: %w", aws.ToString(in.TableName), seg, segments, err)
				}
				if err := page(gctx, seg, out); err != nil {
					return err
				}
				if len(out.LastEvaluatedKey) == 0 {
					return nil
				}
				req.ExclusiveStartKey = out.LastEvaluatedKey
			}
		})
	}
	return g.Wait()
}

// dynamoReader reads a run's items back for Verify.
type dynamoReader struct {
	d        *DynamoTarget
	segments int
}

func (r *dynamoReader) tableStatus(ctx context.Context, table string) (bool, string, error) {
	out, err := r.d.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &table})
	if isNotFound(err) {
		return false, fmt.Sprintf("table %s does not exist", table), nil
	}
	if err != nil {
		return false, "", fmt.Errorf("describe table %s: %w", table, err)
	}
	for _, s := range r.d.tables.schemas() {
		if s.name == table {
			if err := s.check(out.Table); err != nil {
				return false, err.Error(), nil
			}
		}
	}
	if st := out.Table.TableStatus; st != types.TableStatusActive {
		return false, fmt.Sprintf("table %s is %s, not ACTIVE", table, st), nil
	}
	return true, fmt.Sprintf("table %s is ACTIVE", table), nil
}

func runFilter(names map[string]string, runID string) (*string, map[string]string, map[string]types.AttributeValue) {
	if names == nil {
		names = map[string]string{}
	}
	names["#run"] = AttrRunID
	return aws.String("#run = :run"), names, map[string]types.AttributeValue{":run": str(runID)}
}

func (r *dynamoReader) scanBooks(ctx context.Context, runID string, n int, seed int64) (int64, []string, error) {
	filter, names, values := runFilter(map[string]string{"#isbn": AttrISBN}, runID)
	in := dynamodb.ScanInput{
		TableName:                 aws.String(r.d.tables.Books),
		ConsistentRead:            aws.Bool(true),
		FilterExpression:          filter,
		ProjectionExpression:      aws.String("#isbn"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
	samplers := make([]*sampler, r.segments)
	for i := range samplers {
		samplers[i] = newSampler(n, seed)
	}
	var count atomic.Int64
	err := scanSegments(ctx, r.d.client, in, r.segments, func(_ context.Context, seg int, out *dynamodb.ScanOutput) error {
		count.Add(int64(out.Count))
		for _, it := range out.Items {
			samplers[seg].add(itemString(it, AttrISBN))
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	for _, s := range samplers[1:] {
		samplers[0].merge(s)
	}
	return count.Load(), samplers[0].result(), nil
}

func (r *dynamoReader) countSimilarities(ctx context.Context, runID string) (int64, error) {
	filter, names, values := runFilter(nil, runID)
	in := dynamodb.ScanInput{
		TableName:                 aws.String(r.d.tables.Similarities),
		ConsistentRead:            aws.Bool(true),
		Select:                    types.SelectCount,
		FilterExpression:          filter,
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
	var count atomic.Int64
	err := scanSegments(ctx, r.d.client, in, r.segments, func(_ context.Context, _ int, out *dynamodb.ScanOutput) error {
		count.Add(int64(out.Count))
		return nil
	})
	return count.Load(), err
}

// scanSimilarities counts the run's rows with a COUNT scan while it
// queries the sample's rows.
func (r *dynamoReader) scanSimilarities(ctx context.Context, runID string, sample []string) (int64, map[string][]simRow, error) {
	var (
		count int64
		rows  = map[string][]simRow{}
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		count, err = r.countSimilarities(gctx, runID)
		return err
	})
	if len(sample) > 0 {
		g.Go(func() (err error) {
			rows, err = r.similarities(gctx, runID, sample)
			return err
		})
	}
	err := g.Wait()
	return count, rows, err
}

func (r *dynamoReader) similarities(ctx context.Context, runID string, isbns []string) (map[string][]simRow, error) {
	var mu sync.Mutex
	rows := make(map[string][]simRow, len(isbns))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, isbn := range isbns {
		g.Go(func() error {
			filter, names, values := runFilter(map[string]string{
				"#isbn": AttrISBN, "#rank": AttrRank, "#sim": AttrSimilarISBN, "#score": AttrScore,
			}, runID)
			values[":isbn"] = str(isbn)
			in := &dynamodb.QueryInput{
				TableName:                 aws.String(r.d.tables.Similarities),
				ConsistentRead:            aws.Bool(true),
				KeyConditionExpression:    aws.String("#isbn = :isbn"),
				FilterExpression:          filter,
				ProjectionExpression:      aws.String("#isbn, #rank, #sim, #score"),
				ExpressionAttributeNames:  names,
				ExpressionAttributeValues: values,
			}
			var rs []simRow
			for {
				out, err := r.d.client.Query(gctx, in)
				if err != nil {
					return fmt.Errorf("query %s for isbn %q: %w", r.d.tables.Similarities, isbn, err)
				}
				for _, it := range out.Items {
					row, err := parseSimRow(it)
					if err != nil {
						return fmt.Errorf("read %s: %w", r.d.tables.Similarities, err)
					}
					rs = append(rs, row)
				}
				if len(out.LastEvaluatedKey) == 0 {
					break
				}
				in.ExclusiveStartKey = out.LastEvaluatedKey
			}
			slices.SortStableFunc(rs, func(a, b simRow) int { return a.rank - b.rank })
			mu.Lock()
			rows[isbn] = rs
			mu.Unlock()
			return nil
		})
	}
	return rows, g.Wait()
}

// maxBatchGet is the most keys one BatchGetItem call may ask for.
const maxBatchGet = 100

func (r *dynamoReader) missingBooks(ctx context.Context, runID string, isbns []string) ([]string, error) {
	table := r.d.tables.Books
	present := make(map[string]bool, len(isbns))
	for start := 0; start < len(isbns); start += maxBatchGet {
		keys := make([]map[string]types.AttributeValue, 0, maxBatchGet)
		for _, isbn := range isbns[start:min(start+maxBatchGet, len(isbns))] {
			keys = append(keys, map[string]types.AttributeValue{AttrISBN: str(isbn)})
		}
		req := map[string]types.KeysAndAttributes{table: {
			Keys:                     keys,
			ConsistentRead:           aws.Bool(true),
			ProjectionExpression:     aws.String("#isbn, #run"),
			ExpressionAttributeNames: map[string]string{"#isbn": AttrISBN, "#run": AttrRunID},
		}}
		begin := time.Now()
		for retry := 0; len(req) > 0; retry++ {
			out, err := r.d.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil && !isThrottle(err) && !isRetryable(err) {
				return nil, fmt.Errorf("batch get from %s: %w", table, err)
			}
			if err == nil {
				for _, it := range out.Responses[table] {
					if itemString(it, AttrRunID) == runID {
						present[itemString(it, AttrISBN)] = true
					}
				}
				req = out.UnprocessedKeys
				if len(req) == 0 {
					break
				}
			}
			wait := backoff(r.d.opts.BaseBackoff, r.d.opts.MaxBackoff, retry)
			if time.Since(begin)+wait > r.d.opts.Deadline {
				return nil, fmt.Errorf("batch get from %s: keys left after %s: %w", table, time.Since(begin).Round(time.Millisecond), ErrDeadline)
			}
			if err := sleep(ctx, wait); err != nil {
				return nil, err
			}
		}
	}
	var missing []string
	for _, isbn := range isbns {
		if !present[isbn] {
			missing = append(missing, isbn)
		}
	}
	return missing, nil
}
