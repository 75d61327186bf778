package store_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/betterread/pipeline/shared/store"
)

func TestValidateKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		key  string
		ok   bool
	}{
		{"simple", "a", true},
		{"nested", "runs/r1/factors/items/3", true},
		{"dots inside", "a/..b/c..d/.e", true},
		{"unicode", "bücher/été", true},
		{"spaces", "a b/c d", true},
		{"max length", strings.Repeat("a", store.MaxKeyLen), true},
		{"empty", "", false},
		{"absolute", "/a", false},
		{"trailing slash", "a/", false},
		{"double slash", "a//b", false},
		{"dot segment", "a/./b", false},
		{"dotdot segment", "a/../b", false},
		{"dotdot only", "..", false},
		{"leading dotdot", "../a", false},
		{"backslash", `a\b`, false},
		{"backslash dotdot", `..\a`, false},
		{"nul", "a\x00", false},
		{"newline", "a\nb", false},
		{"delete char", "a\x7f", false},
		{"invalid utf8", "a\xff", false},
		{"too long", strings.Repeat("a", store.MaxKeyLen+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := store.ValidateKey(tt.key)
			if tt.ok && err != nil {
				t.Errorf("ValidateKey(%q) = %v, want nil", tt.key, err)
			}
			if !tt.ok && !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("ValidateKey(%q) = %v, want ErrInvalidKey", tt.key, err)
			}
		})
	}
}

// FuzzValidateKey checks that a key ValidateKey accepts stays inside the
// directory it is joined to and names the same path back.
func FuzzValidateKey(f *testing.F) {
	for _, k := range []string{"a/b", "../a", "a/../../b", `a\..\b`, "/x", "a//b", "a/./b", "é/\x00"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if store.ValidateKey(key) != nil {
			return
		}
		root := "/root/store"
		p := filepath.Join(root, filepath.FromSlash(key))
		rel, err := filepath.Rel(root, p)
		if err != nil || filepath.ToSlash(rel) != key {
			t.Fatalf("valid key %q maps to %q (rel %q, %v)", key, p, rel, err)
		}
	})
}
