package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// tmpPrefix starts the names of Dir's in-flight writes. List skips such
// files and keys may not use it, so a half-written object is never seen.
const tmpPrefix = ".betterread-tmp-"

// Dir is a Store in a local directory: key "a/b/c" is the file root/a/b/c.
// Put writes a temporary file beside the target and renames it into place,
// so readers see the old object or the whole new one, never a part, and
// concurrent Puts of one key leave one of them whole. Unlike S3, a
// directory cannot hold both "a/b" and "a/b/c": the second Put fails.
type Dir struct {
	root string
}

var _ Store = (*Dir)(nil)

// NewDir returns a Dir rooted at root, creating the directory if needed.
func NewDir(root string) (*Dir, error) {
	if root == "" {
		return nil, errors.New("open dir store: empty root")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open dir store %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("open dir store %s: %w", root, err)
	}
	return &Dir{root: abs}, nil
}

// Root is the absolute directory the store writes under.
func (d *Dir) Root() string { return d.root }

// String describes the store for messages.
func (d *Dir) String() string { return d.root }

func (d *Dir) path(key string) string {
	return filepath.Join(d.root, filepath.FromSlash(key))
}

func (d *Dir) checkKey(key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	for seg := range strings.SplitSeq(key, "/") {
		if strings.HasPrefix(seg, tmpPrefix) {
			return fmt.Errorf("%w %q: segments starting %q are reserved for temporary files", ErrInvalidKey, key, tmpPrefix)
		}
	}
	return nil
}

// Put writes r to a temporary file in the key's directory, syncs it and
// renames it over the key.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader) error {
	if err := d.checkKey(key); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := d.put(ctx, d.path(key), r); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

func (d *Dir) put(ctx context.Context, dst string, r io.Reader) error {
	dir := filepath.Dir(dst)
	var f *os.File
	// A concurrent Delete may prune the directories on the way, even between
	// MkdirAll's steps or between MkdirAll and CreateTemp; make them again.
	// Once the temporary file exists its directory is not empty, so it
	// stays until the rename.
	for attempt := 1; ; attempt++ {
		err := os.MkdirAll(dir, 0o755)
		if err == nil {
			f, err = os.CreateTemp(dir, tmpPrefix+"*")
		}
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt == 10 {
			return err
		}
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := io.Copy(f, ctxReader{ctx, r}); err != nil {
		return err
	}
	// Sync before rename so a crash cannot leave a renamed but empty file.
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	ok = true
	return nil
}

// ctxReader stops a copy once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// notFound reports whether err from opening a key's path means there is no
// object: the file is missing, or a parent is a file rather than a directory.
func notFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// Get opens the key's file.
func (d *Dir) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := d.checkKey(key); err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	f, err := os.Open(d.path(key))
	if notFound(err) {
		return nil, fmt.Errorf("get %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() { // "a" when only "a/b" exists
		f.Close()
		return nil, fmt.Errorf("get %s: %w", key, ErrNotFound)
	}
	return f, nil
}

// Stat returns the size of the key's file.
func (d *Dir) Stat(ctx context.Context, key string) (int64, error) {
	if err := d.checkKey(key); err != nil {
		return 0, fmt.Errorf("stat: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("stat %s: %w", key, err)
	}
	fi, err := os.Stat(d.path(key))
	if notFound(err) || (err == nil && !fi.Mode().IsRegular()) {
		return 0, fmt.Errorf("stat %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", key, err)
	}
	return fi.Size(), nil
}

// List walks only the directories that can hold keys with the prefix.
func (d *Dir) List(ctx context.Context, prefix string) ([]string, error) {
	keys, _, err := d.walk(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", prefix, err)
	}
	slices.Sort(keys)
	return keys, nil
}

// Delete removes the files with the prefix, then the directories it
// emptied.
func (d *Dir) Delete(ctx context.Context, prefix string) error {
	keys, dirs, err := d.walk(ctx, prefix)
	if err != nil {
		return fmt.Errorf("delete %q: %w", prefix, err)
	}
	for i, k := range keys {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("delete %q: %w", prefix, err)
			}
		}
		if err := os.Remove(d.path(k)); err != nil && !notFound(err) {
			return fmt.Errorf("delete %q: %w", prefix, err)
		}
	}
	// Deepest first; a directory still holding something (another key, a
	// concurrent Put's temporary file) stays.
	slices.SortFunc(dirs, func(a, b string) int { return len(b) - len(a) })
	for _, dir := range dirs {
		_ = os.Remove(d.path(dir))
	}
	return nil
}

// walk returns the keys with the prefix, and the directories (as keys)
// whose whole contents have the prefix.
func (d *Dir) walk(ctx context.Context, prefix string) (keys, dirs []string, err error) {
	if err := validatePrefix(prefix); err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	start := d.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = d.path(prefix[:i])
	}
	n := 0
	err = filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if notFound(err) { // the start is absent, or vanished under a concurrent Delete
				return nil
			}
			return err
		}
		if n++; n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if e.IsDir() {
			if key == "." {
				return nil
			}
			switch {
			case strings.HasPrefix(key+"/", prefix):
				dirs = append(dirs, key)
			case !strings.HasPrefix(prefix, key+"/"):
				return filepath.SkipDir
			}
			return nil
		}
		if e.Type().IsRegular() && strings.HasPrefix(key, prefix) && !strings.HasPrefix(e.Name(), tmpPrefix) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return keys, dirs, nil
}
