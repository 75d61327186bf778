package connect

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Flags defines flags whose defaults come from environment variables. A
// malformed environment value is kept in Errs for the caller's Validate,
// so every configuration problem is reported at once.
type Flags struct {
	FS   *flag.FlagSet
	Env  Env
	Errs []error
}

func (f *Flags) usage(usage, env string) string { return fmt.Sprintf("%s (env %s)", usage, env) }

func (f *Flags) parse(env string, set func(string) error) {
	if v := strings.TrimSpace(f.Env(env)); v != "" {
		if err := set(v); err != nil {
			f.Errs = append(f.Errs, fmt.Errorf("%s=%q: %v", env, v, err))
		}
	}
}

// parsed sets *p from the environment variable env through parse; a
// malformed value is recorded and leaves *p at its default, so it is
// reported once and not again as an out-of-range value.
func parsed[T any](f *Flags, p *T, env, what string, parse func(string) (T, error)) {
	f.parse(env, func(v string) error {
		x, err := parse(v)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return fmt.Errorf("%s out of range", what)
			}
			return fmt.Errorf("not %s", what)
		}
		*p = x
		return nil
	})
}

// String defines a string flag.
func (f *Flags) String(p *string, name, env, def, usage string) {
	*p = def
	f.parse(env, func(v string) error { *p = v; return nil })
	f.FS.StringVar(p, name, *p, f.usage(usage, env))
}

// Redacted defines a string flag that may carry a password (an address
// URL): usage output shows its default through Redact.
func (f *Flags) Redacted(p *string, name, env, def, usage string) {
	*p = def
	f.parse(env, func(v string) error { *p = v; return nil })
	f.FS.Var(redactedValue{p}, name, f.usage(usage, env))
}

// Int defines an int flag.
func (f *Flags) Int(p *int, name, env string, def int, usage string) {
	*p = def
	parsed(f, p, env, "an integer", strconv.Atoi)
	f.FS.IntVar(p, name, *p, f.usage(usage, env))
}

// Int64 defines an int64 flag.
func (f *Flags) Int64(p *int64, name, env string, def int64, usage string) {
	*p = def
	parsed(f, p, env, "an integer", func(v string) (int64, error) { return strconv.ParseInt(v, 10, 64) })
	f.FS.Int64Var(p, name, *p, f.usage(usage, env))
}

// Float defines a float64 flag.
func (f *Flags) Float(p *float64, name, env string, def float64, usage string) {
	*p = def
	parsed(f, p, env, "a number", func(v string) (float64, error) { return strconv.ParseFloat(v, 64) })
	f.FS.Float64Var(p, name, *p, f.usage(usage, env))
}

// Bool defines a bool flag.
func (f *Flags) Bool(p *bool, name, env string, def bool, usage string) {
	*p = def
	parsed(f, p, env, "true or false", strconv.ParseBool)
	f.FS.BoolVar(p, name, *p, f.usage(usage, env))
}

// Duration defines a time.Duration flag.
func (f *Flags) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	*p = def
	parsed(f, p, env, "a duration such as 30s or 2m", time.ParseDuration)
	f.FS.DurationVar(p, name, *p, f.usage(usage, env))
}
