// Package storetest is the conformance suite every store.Store passes: the
// local directory and S3 (run against a real MinIO) are held to the same
// behaviour by the same tests.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/betterread/pipeline/shared/store"
)

// Run runs the suite as parallel subtests of t. open returns an empty store
// for one subtest; it is called once per subtest, so each must be isolated
// from the others (a fresh directory, a fresh bucket or prefix).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("RoundTrip", func(t *testing.T) { t.Parallel(); testRoundTrip(t, open(t)) })
	t.Run("Large", func(t *testing.T) { t.Parallel(); testLarge(t, open(t)) })
	t.Run("Overwrite", func(t *testing.T) { t.Parallel(); testOverwrite(t, open(t)) })
	t.Run("NotFound", func(t *testing.T) { t.Parallel(); testNotFound(t, open(t)) })
	t.Run("InvalidKey", func(t *testing.T) { t.Parallel(); testInvalidKey(t, open(t)) })
	t.Run("List", func(t *testing.T) { t.Parallel(); testList(t, open(t)) })
	t.Run("Delete", func(t *testing.T) { t.Parallel(); testDelete(t, open(t)) })
	t.Run("ConcurrentPut", func(t *testing.T) { t.Parallel(); testConcurrentPut(t, open(t)) })
	t.Run("Canceled", func(t *testing.T) { t.Parallel(); testCanceled(t, open(t)) })
	t.Run("CanceledMidPut", func(t *testing.T) { t.Parallel(); testCanceledMidPut(t, open(t)) })
}

func put(t *testing.T, s store.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, bytes.NewReader(data)); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t *testing.T, s store.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return b
}

func list(t *testing.T, s store.Store, prefix string) []string {
	t.Helper()
	keys, err := s.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return keys
}

func testRoundTrip(t *testing.T, s store.Store) {
	tests := []struct {
		name, key string
		data      []byte
	}{
		{"empty", "rt/empty", []byte{}},
		{"small", "rt/small.arrow", []byte("hello, blocks")},
		{"binary", "rt/deep/er/binary", []byte{0, 1, 2, 0xff, '\n', '\r', 0}},
		{"top level", "top", []byte("x")},
		{"odd characters", "rt/sp ace+plus=eq&amp;é%20", []byte("odd")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			put(t, s, tt.key, tt.data)
			if got := get(t, s, tt.key); !bytes.Equal(got, tt.data) {
				t.Errorf("Get(%q) = %q, want %q", tt.key, got, tt.data)
			}
			n, err := s.Stat(t.Context(), tt.key)
			if err != nil || n != int64(len(tt.data)) {
				t.Errorf("Stat(%q) = %d, %v; want %d, nil", tt.key, n, err, len(tt.data))
			}
		})
	}
}

// pattern is a reader of n deterministic bytes that is neither a Seeker nor
// sized, so a store must stream it rather than ask its length.
type pattern struct {
	n, off int64
}

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		x := uint64(p.off + int64(i))
		b[i] = byte((x * 0x9e3779b97f4a7c15) >> 56)
	}
	p.off += int64(len(b))
	return len(b), nil
}

func hashOf(t *testing.T, r io.Reader) ([32]byte, int64) {
	t.Helper()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatalf("hash: %v", err)
	}
	return [32]byte(h.Sum(nil)), n
}

// testLarge puts an object bigger than S3's 5 MiB minimum part, so S3
// uploads it in several parts.
func testLarge(t *testing.T, s store.Store) {
	const size = 5<<20 + 12345
	key := "large/object.bin"
	if err := s.Put(t.Context(), key, &pattern{n: size}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	want, _ := hashOf(t, &pattern{n: size})
	rc, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer rc.Close()
	got, n := hashOf(t, rc)
	if n != size || got != want {
		t.Errorf("Get returned %d bytes (sha256 %x), want %d (sha256 %x)", n, got, size, want)
	}
	if n, err := s.Stat(t.Context(), key); err != nil || n != size {
		t.Errorf("Stat = %d, %v; want %d, nil", n, err, size)
	}
}

func testOverwrite(t *testing.T, s store.Store) {
	key := "ow/k"
	put(t, s, key, []byte("first version, longer"))
	put(t, s, key, []byte("second"))
	if got := get(t, s, key); string(got) != "second" {
		t.Errorf("after overwrite Get = %q, want %q", got, "second")
	}
	put(t, s, key, nil)
	if got := get(t, s, key); len(got) != 0 {
		t.Errorf("after empty overwrite Get = %q, want empty", got)
	}
	if keys := list(t, s, ""); !slices.Equal(keys, []string{key}) {
		t.Errorf("List after overwrites = %q, want [%q]", keys, key)
	}
}

func testNotFound(t *testing.T, s store.Store) {
	put(t, s, "nf/a/b", []byte("x"))
	for _, key := range []string{"missing", "nf/a", "nf/a/b/c", "nf/a/bc", "nf/b"} {
		t.Run(key, func(t *testing.T) {
			rc, err := s.Get(t.Context(), key)
			if err == nil {
				rc.Close()
				t.Fatalf("Get(%q) succeeded, want ErrNotFound", key)
			}
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Get(%q) = %v, want an error wrapping ErrNotFound", key, err)
			}
			if _, err := s.Stat(t.Context(), key); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Stat(%q) = %v, want an error wrapping ErrNotFound", key, err)
			}
		})
	}
}

func testInvalidKey(t *testing.T, s store.Store) {
	for _, key := range []string{"", "/abs", "a/../b", "..", "a//b", "a/", "./a", `a\b`, "a\x00b"} {
		t.Run(fmt.Sprintf("%q", key), func(t *testing.T) {
			if err := s.Put(t.Context(), key, bytes.NewReader([]byte("x"))); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
			}
			if _, err := s.Get(t.Context(), key); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Get(%q) = %v, want ErrInvalidKey", key, err)
			}
			if _, err := s.Stat(t.Context(), key); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Stat(%q) = %v, want ErrInvalidKey", key, err)
			}
		})
	}
	for _, prefix := range []string{"/abs", "../", "a/../", "a//", `a\`} {
		if _, err := s.List(t.Context(), prefix); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("List(%q) = %v, want ErrInvalidKey", prefix, err)
		}
		if err := s.Delete(t.Context(), prefix); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", prefix, err)
		}
	}
}

// keys has siblings that share a string prefix but not a path prefix, and
// names that sort differently as strings than a directory walk visits them
// ('-' < '/' < 'c').
var keys = []string{"a/b/1", "a/b/2", "a/b/x/y", "a/b-c", "a/bc", "a/c/1", "ab", "b"}

func fill(t *testing.T, s store.Store) {
	t.Helper()
	for _, k := range keys {
		put(t, s, k, []byte(k))
	}
}

func testList(t *testing.T, s store.Store) {
	if got := list(t, s, ""); len(got) != 0 {
		t.Fatalf("List on an empty store = %q, want none", got)
	}
	fill(t, s)
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a/b-c", "a/b/1", "a/b/2", "a/b/x/y", "a/bc", "a/c/1", "ab", "b"}},
		{"a", []string{"a/b-c", "a/b/1", "a/b/2", "a/b/x/y", "a/bc", "a/c/1", "ab"}},
		{"a/", []string{"a/b-c", "a/b/1", "a/b/2", "a/b/x/y", "a/bc", "a/c/1"}},
		{"a/b", []string{"a/b-c", "a/b/1", "a/b/2", "a/b/x/y", "a/bc"}},
		{"a/b/", []string{"a/b/1", "a/b/2", "a/b/x/y"}},
		{"a/bc", []string{"a/bc"}},
		{"a/b/1", []string{"a/b/1"}},
		{"a/b/x", []string{"a/b/x/y"}},
		{"a/c/", []string{"a/c/1"}},
		{"b", []string{"b"}},
		{"c", nil},
		{"a/d/", nil},
		{"a/b/1/", nil},
		{"nothing/here/", nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.prefix), func(t *testing.T) {
			got := list(t, s, tt.prefix)
			if !slices.Equal(got, tt.want) {
				t.Errorf("List(%q) = %q, want %q", tt.prefix, got, tt.want)
			}
		})
	}
}

func testDelete(t *testing.T, s store.Store) {
	tests := []struct {
		prefix string
		left   []string
	}{
		{"a/b/", []string{"a/b-c", "a/bc", "a/c/1", "ab", "b"}},
		{"a/b", []string{"a/c/1", "ab", "b"}},
		{"a/", []string{"ab", "b"}},
		{"a", []string{"b"}},
		{"a/b/1", []string{"a/b-c", "a/b/2", "a/b/x/y", "a/bc", "a/c/1", "ab", "b"}},
		{"zzz", []string{"a/b-c", "a/b/1", "a/b/2", "a/b/x/y", "a/bc", "a/c/1", "ab", "b"}},
		{"", nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.prefix), func(t *testing.T) {
			fill(t, s)
			if err := s.Delete(t.Context(), tt.prefix); err != nil {
				t.Fatalf("Delete(%q): %v", tt.prefix, err)
			}
			if got := list(t, s, ""); !slices.Equal(got, tt.left) {
				t.Errorf("after Delete(%q) List = %q, want %q", tt.prefix, got, tt.left)
			}
			if err := s.Delete(t.Context(), ""); err != nil {
				t.Fatalf("Delete everything: %v", err)
			}
		})
	}
	// A deleted directory can be written again.
	fill(t, s)
	if err := s.Delete(t.Context(), "a/b/"); err != nil {
		t.Fatal(err)
	}
	put(t, s, "a/b/again", []byte("again"))
	if got := get(t, s, "a/b/again"); string(got) != "again" {
		t.Errorf("Get after re-put = %q", got)
	}
}

// testConcurrentPut races writers of one key, each writing a different
// whole object, against readers: every read and the final object must be
// exactly one writer's bytes.
func testConcurrentPut(t *testing.T, s store.Store) {
	const (
		writers = 6
		size    = 256 << 10
		reads   = 20
	)
	key := "race/key"
	obj := func(w int) []byte { return bytes.Repeat([]byte{byte('A' + w)}, size) }
	whole := func(b []byte) bool {
		return len(b) == size && b[0] >= 'A' && b[0] < 'A'+writers && bytes.Count(b, b[:1]) == size
	}
	put(t, s, key, obj(0))

	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	for w := range writers {
		wg.Go(func() {
			if err := s.Put(t.Context(), key, bytes.NewReader(obj(w))); err != nil {
				errs <- fmt.Errorf("writer %d: %w", w, err)
			}
		})
	}
	wg.Go(func() {
		for i := range reads {
			rc, err := s.Get(t.Context(), key)
			if err != nil {
				errs <- fmt.Errorf("read %d: %w", i, err)
				return
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				errs <- fmt.Errorf("read %d: %w", i, err)
				return
			}
			if !whole(b) {
				errs <- fmt.Errorf("read %d saw a partial or mixed object (%d bytes)", i, len(b))
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if b := get(t, s, key); !whole(b) {
		t.Errorf("final object is partial or mixed (%d bytes)", len(b))
	}
	if keys := list(t, s, ""); !slices.Equal(keys, []string{key}) {
		t.Errorf("List after concurrent puts = %q, want only %q (no temporary objects)", keys, key)
	}
}

func testCanceled(t *testing.T, s store.Store) {
	put(t, s, "c/k", []byte("x"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context = %v, want an error wrapping context.Canceled", op, err)
		}
	}
	check("Put", s.Put(ctx, "c/new", bytes.NewReader([]byte("y"))))
	rc, err := s.Get(ctx, "c/k")
	if err == nil {
		// A lazily streaming store may only fail on read.
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	check("Get", err)
	_, err = s.Stat(ctx, "c/k")
	check("Stat", err)
	_, err = s.List(ctx, "")
	check("List", err)
	check("Delete", s.Delete(ctx, ""))
	if got := list(t, s, ""); !slices.Equal(got, []string{"c/k"}) {
		t.Errorf("after canceled calls List = %q, want [c/k]", got)
	}
}

// cancelAfter yields n bytes of data, cancels, then keeps yielding.
type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}

// testCanceledMidPut cancels while the body streams: Put fails and the
// previous object stays.
func testCanceledMidPut(t *testing.T, s store.Store) {
	tests := []struct {
		name string
		size int64
	}{
		{"small", 64 << 10},
		{"multipart", 12 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "mid/" + tt.name
			put(t, s, key, []byte("old"))
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			err := s.Put(ctx, key, &cancelAfter{r: &pattern{n: tt.size}, n: tt.size / 2, cancel: cancel})
			if err == nil {
				t.Fatalf("Put canceled half way succeeded")
			}
			if got := get(t, s, key); string(got) != "old" {
				t.Errorf("after a canceled Put Get = %d bytes, want the old object", len(got))
			}
			if got := list(t, s, key); !slices.Equal(got, []string{key}) {
				t.Errorf("after a canceled Put List = %q, want [%q]", got, key)
			}
		})
	}
}
