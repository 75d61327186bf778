package store

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrInvalidKey is returned (wrapped) for a key or prefix that no Store
// accepts. Retrying cannot fix it.
var ErrInvalidKey = errors.New("store: invalid key")

// MaxKeyLen is the longest key in bytes, S3's limit.
const MaxKeyLen = 1024

// ValidateKey reports whether key is usable with every Store: non-empty
// UTF-8 of at most MaxKeyLen bytes, slash-separated segments that are
// neither empty, "." nor "..", no leading slash, no backslash and no control
// characters. The rules make a key a safe relative path under Dir's root and
// the same object name in S3. Errors wrap ErrInvalidKey.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if err := checkChars(key); err != nil {
		return err
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("%w %q: absolute (leading slash)", ErrInvalidKey, key)
	}
	return checkSegments(key, key)
}

// validatePrefix accepts the empty prefix, and otherwise requires what
// ValidateKey requires of every segment but the last, which is a plain string
// filter and may be empty (a trailing slash) or partial.
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := checkChars(prefix); err != nil {
		return err
	}
	if strings.HasPrefix(prefix, "/") {
		return fmt.Errorf("%w: prefix %q is absolute (leading slash)", ErrInvalidKey, prefix)
	}
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		return checkSegments(prefix[:i], prefix)
	}
	return nil
}

func checkChars(s string) error {
	if len(s) > MaxKeyLen {
		return fmt.Errorf("%w: %d bytes, longer than %d", ErrInvalidKey, len(s), MaxKeyLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w %q: not valid UTF-8", ErrInvalidKey, s)
	}
	for i, r := range s {
		switch {
		case r == '\\':
			return fmt.Errorf("%w %q: backslash at byte %d", ErrInvalidKey, s, i)
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("%w %q: control character at byte %d", ErrInvalidKey, s, i)
		}
	}
	return nil
}

// checkSegments checks the slash-separated segments of path; whole is the
// key or prefix named in the error.
func checkSegments(path, whole string) error {
	for seg := range strings.SplitSeq(path, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w %q: empty segment", ErrInvalidKey, whole)
		case ".", "..":
			return fmt.Errorf("%w %q: %q segment", ErrInvalidKey, whole, seg)
		}
	}
	return nil
}
