package store_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/store/storetest"
)

func TestDirConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		d, err := store.NewDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

func TestDirLayout(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	d, err := store.NewDir(filepath.Join(root, "new", "store"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Put(t.Context(), "runs/r1/factors/items/0", bytes.NewReader([]byte("abc"))); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "new", "store", "runs", "r1", "factors", "items", "0"))
	if err != nil || string(b) != "abc" {
		t.Fatalf("object file = %q, %v; want abc", b, err)
	}
	fi, err := os.Stat(filepath.Join(d.Root(), "runs", "r1", "factors", "items", "0"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("object mode = %v, want 0644", fi.Mode().Perm())
	}
	// Delete removes the directories it emptied, and only those.
	if err := d.Put(t.Context(), "runs/r2/x", bytes.NewReader(nil)); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(t.Context(), "runs/r1/"); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(d.Root(), "runs"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"r2"}) {
		t.Errorf("runs/ holds %q after Delete(runs/r1/), want [r2]", names)
	}
}

func TestDirIgnoresAndReservesTemporaryFiles(t *testing.T) {
	t.Parallel()
	d, err := store.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// What a crash in the middle of Put leaves behind.
	if err := os.WriteFile(filepath.Join(d.Root(), ".betterread-tmp-123"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := d.List(t.Context(), "")
	if err != nil || len(keys) != 0 {
		t.Errorf("List = %q, %v; want no keys", keys, err)
	}
	err = d.Put(t.Context(), "a/.betterread-tmp-x", bytes.NewReader(nil))
	if !errors.Is(err, store.ErrInvalidKey) {
		t.Errorf("Put of a reserved name = %v, want ErrInvalidKey", err)
	}
}

func TestDirFileAndDirectoryConflict(t *testing.T) {
	t.Parallel()
	d, err := store.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Put(t.Context(), "a/b", bytes.NewReader([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(t.Context(), "a/b/c", bytes.NewReader([]byte("y"))); err == nil {
		t.Error(`Put("a/b/c") over the object "a/b" succeeded, want an error`)
	}
	if err := d.Put(t.Context(), "a", bytes.NewReader([]byte("y"))); err == nil {
		t.Error(`Put("a") over the directory holding "a/b" succeeded, want an error`)
	}
	if keys, _ := d.List(t.Context(), ""); !slices.Equal(keys, []string{"a/b"}) {
		t.Errorf("List = %q, want [a/b]", keys)
	}
}

func TestNewDirErrors(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{"", file, filepath.Join(file, "sub")} {
		if _, err := store.NewDir(root); err == nil {
			t.Errorf("NewDir(%q) succeeded, want an error", root)
		}
	}
}

// TestDirPutDuringDelete races Put into a directory against a Delete that
// prunes it: Put must not fail because its directory vanished.
func TestDirPutDuringDelete(t *testing.T) {
	t.Parallel()
	d, err := store.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		done := make(chan error, 1)
		go func() { done <- d.Delete(t.Context(), "x/") }()
		if err := d.Put(t.Context(), "x/y/z", bytes.NewReader([]byte("v"))); err != nil {
			t.Fatalf("round %d: Put: %v", i, err)
		}
		if err := <-done; err != nil {
			t.Fatalf("round %d: Delete: %v", i, err)
		}
	}
}
