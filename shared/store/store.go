// Package store is where blocks live between tasks: a small key/value
// interface with a local-directory implementation for one machine and an S3
// implementation for a cluster. Keys are slash-separated, deterministic from
// (run, stage, side, iteration, block), so a task that runs twice overwrites
// the same object with the same bytes.
//
// Dir and S3 implement Store and pass the same conformance suite
// (storetest.Run). Open picks one from a location ("s3://bucket/prefix" or a
// directory); OpenURL and StatURL read the input CSVs from either.
package store

import (
	"context"
	"errors"
	"io"
)

// ErrNotFound is returned (wrapped) when a key does not exist.
var ErrNotFound = errors.New("store: key not found")

// Store holds immutable-by-convention objects under string keys.
//
// Keys follow ValidateKey; any other key (or a prefix whose directory part
// breaks the same rules) fails with an error wrapping ErrInvalidKey.
// Prefixes are plain string prefixes: "a/b" matches "a/b/c" and "a/bc". A
// call whose ctx is done fails with an error wrapping ctx.Err(). All methods
// are safe for concurrent use.
type Store interface {
	// Put writes the whole of r under key, replacing any object there.
	// Readers never see a partial object.
	Put(ctx context.Context, key string, r io.Reader) error
	// Get opens the object at key; the caller closes it. A missing key
	// returns an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat reports the size in bytes of the object at key, or ErrNotFound.
	Stat(ctx context.Context, key string) (int64, error)
	// List returns the keys that start with prefix, sorted ascending.
	List(ctx context.Context, prefix string) ([]string, error)
	// Delete removes every object whose key starts with prefix.
	Delete(ctx context.Context, prefix string) error
}
