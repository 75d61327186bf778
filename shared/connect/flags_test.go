package connect

import (
	"flag"
	"strings"
	"testing"
	"time"
)

// TestMalformedEnvironmentKeepsDefault: a malformed environment value is
// reported once, in words, and leaves the flag at its default, so that
// validation does not report a knock-on "0 is out of range" as well.
func TestMalformedEnvironmentKeepsDefault(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"X_INT": "abc", "X_INT64": "99999999999999999999", "X_FLOAT": "1,5", "X_BOOL": "yes please", "X_DUR": "10",
		"X_GOOD": "7",
	}
	f := &Flags{FS: flag.NewFlagSet("t", flag.ContinueOnError), Env: func(k string) string { return env[k] }}
	var i, good int
	var i64 int64
	var fl float64
	var b bool
	var d time.Duration
	f.Int(&i, "int", "X_INT", 10, "")
	f.Int64(&i64, "int64", "X_INT64", 11, "")
	f.Float(&fl, "float", "X_FLOAT", 0.5, "")
	f.Bool(&b, "bool", "X_BOOL", true, "")
	f.Duration(&d, "dur", "X_DUR", time.Minute, "")
	f.Int(&good, "good", "X_GOOD", 1, "")
	if i != 10 || i64 != 11 || fl != 0.5 || !b || d != time.Minute || good != 7 {
		t.Errorf("values %d %d %v %v %v %d: want the defaults for malformed values and 7", i, i64, fl, b, d, good)
	}
	var msgs []string
	for _, err := range f.Errs {
		msgs = append(msgs, err.Error())
	}
	want := []string{
		`X_INT="abc": not an integer`,
		`X_INT64="99999999999999999999": an integer out of range`,
		`X_FLOAT="1,5": not a number`,
		`X_BOOL="yes please": not true or false`,
		`X_DUR="10": not a duration such as 30s or 2m`,
	}
	if strings.Join(msgs, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
	}
}
