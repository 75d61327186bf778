// Package dynamo is the output side of a run: the two tables the web front
// end reads, Books and BookSimilarities, their item layout, and the targets
// a load writes them to, verifies and commits.
//
//	Books              key isbn (S)            title author year publisher image_url_small image_url_medium run_id
//	BookSimilarities   key isbn (S), rank (N)  title author similar_isbn similar_title similar_author similarity_score run_id
//
// A load goes through a Target:
//
//	Ensure ──▶ WritePart × parts ──▶ Verify ──▶ Commit
//	(tables     (any worker, any      (read back   (remove rows of
//	 or dir)     order, repeatable)    and check)   other runs)
//
// DynamoTarget writes with a BatchWriter: BatchWriteItem in 25-item
// batches, a few in flight, UnprocessedItems and throttling retried with
// exponential backoff and full jitter until a per-batch deadline, and an
// optional items-per-second limit. FileTarget writes the same items as
// DynamoDB JSON lines into <table>.jsonl files, for runs with no DynamoDB.
// Rows become items with no map per row and no reflection: lines are
// appended straight from the rows (appendBookJSON), and DynamoDB items
// are attribute values refilled in place for each batch (bookAttrs); the
// tests hold both to the bytes and values of the map-and-encoding/json
// path they replaced.
//
// Every item carries the id of the run that wrote it (run_id). That is what
// makes a load repeatable and checkable without DescribeTable's lagging
// ItemCount: Verify counts the run's own items with a filtered Scan, and
// Commit deletes every item of any other run, so after a committed run the
// tables hold exactly its output.
//
// Empty strings in non-key attributes are stored as empty S values (not
// omitted), so every item has the same attributes apart from year, which
// is left out when unknown. Strings are forced to valid UTF-8.
package dynamo
