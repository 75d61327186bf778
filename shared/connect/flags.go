package connect

import (
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
	f.parse(env, func(v string) (err error) { *p, err = strconv.Atoi(v); return })
	f.FS.IntVar(p, name, *p, f.usage(usage, env))
}

// Int64 defines an int64 flag.
func (f *Flags) Int64(p *int64, name, env string, def int64, usage string) {
	*p = def
	f.parse(env, func(v string) (err error) { *p, err = strconv.ParseInt(v, 10, 64); return })
	f.FS.Int64Var(p, name, *p, f.usage(usage, env))
}

// Float defines a float64 flag.
func (f *Flags) Float(p *float64, name, env string, def float64, usage string) {
	*p = def
	f.parse(env, func(v string) (err error) { *p, err = strconv.ParseFloat(v, 64); return })
	f.FS.Float64Var(p, name, *p, f.usage(usage, env))
}

// Bool defines a bool flag.
func (f *Flags) Bool(p *bool, name, env string, def bool, usage string) {
	*p = def
	f.parse(env, func(v string) (err error) { *p, err = strconv.ParseBool(v); return })
	f.FS.BoolVar(p, name, *p, f.usage(usage, env))
}

// Duration defines a time.Duration flag.
func (f *Flags) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	*p = def
	f.parse(env, func(v string) (err error) { *p, err = time.ParseDuration(v); return })
	f.FS.DurationVar(p, name, *p, f.usage(usage, env))
}
