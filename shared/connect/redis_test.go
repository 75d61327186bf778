package connect

import (
	"bytes"
	"flag"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"host and port", "127.0.0.1:6379", "127.0.0.1:6379"},
		{"empty", "", ""},
		{"url without user", "redis://host:6379/0", "redis://host:6379/0"},
		{"password only", "redis://:secret@host:6379/0", "redis://:xxxxx@host:6379/0"},
		{"user and password", "redis://user:secret@host", "redis://user:xxxxx@host"},
		{"tls", "rediss://default:s3cr3t@cache.example.com:6380", "rediss://default:xxxxx@cache.example.com:6380"},
		{"user name alone", "redis://user@host:6379", "redis://user@host:6379"},
		{"escaped password", "redis://:p%40ss%2Fw@host", "redis://:xxxxx@host"},
		{"unescaped @ and /", "redis://:p@ss/w:rd@host:6379/2", "redis://:xxxxx@host:6379/2"},
		{"empty password", "redis://:@host", "redis://:xxxxx@host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Redact(tc.in); got != tc.want {
				t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestRedisURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, redis, password string
		db                    int
		tls                   bool
		wantAddr, wantUser    string
		wantPassword          string
		wantDB                int
		wantTLS               bool
	}{
		{name: "host and port", redis: "h:6379", password: "pw", db: 3, wantAddr: "h:6379", wantPassword: "pw", wantDB: 3},
		{name: "url", redis: "redis://u:secret@h:6390/2", wantAddr: "h:6390", wantUser: "u", wantPassword: "secret", wantDB: 2},
		{name: "default port", redis: "redis://:secret@h", wantAddr: "h:6379", wantPassword: "secret"},
		{name: "rediss", redis: "rediss://h:6380", wantAddr: "h:6380", wantTLS: true},
		{name: "env password", redis: "redis://h", password: "pw", wantAddr: "h:6379", wantPassword: "pw"},
		{name: "same password twice", redis: "redis://:pw@h", password: "pw", wantAddr: "h:6379", wantPassword: "pw"},
		{name: "escaped password", redis: "redis://:p%40ss@h", wantAddr: "h:6379", wantPassword: "p@ss"},
		{name: "flag db", redis: "redis://h", db: 4, wantAddr: "h:6379", wantDB: 4},
		{name: "flag tls", redis: "redis://h", tls: true, wantAddr: "h:6379", wantTLS: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Config{Redis: tc.redis, redisPassword: tc.password, RedisDB: tc.db, RedisTLS: tc.tls, CacheBytes: 1 << 30}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			o := c.RedisOpt()
			if o.Addr != tc.wantAddr || o.Username != tc.wantUser || o.Password != tc.wantPassword || o.DB != tc.wantDB || (o.TLSConfig != nil) != tc.wantTLS {
				t.Errorf("RedisOpt() = addr %q user %q password %q db %d tls %v; want %q %q %q %d %v",
					o.Addr, o.Username, o.Password, o.DB, o.TLSConfig != nil, tc.wantAddr, tc.wantUser, tc.wantPassword, tc.wantDB, tc.wantTLS)
			}
		})
	}
}

// TestRedisURLErrors checks that a bad --redis URL is reported without
// its password.
func TestRedisURLErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, redis, password, want string }{
		{"bad port", "redis://:secret@h:port", "", "not a valid URL"},
		{"slash in password", "redis://:se/cret@h:6379", "", "not a valid URL"},
		{"scheme", "http://:secret@h", "", "not redis or rediss"},
		{"query", "redis://:secret@h?dial_timeout=3s", "", "query"},
		{"database", "redis://:secret@h/zero", "", "database"},
		{"two passwords", "redis://:secret@h", "other", "different BETTERREAD_REDIS_PASSWORD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Config{Redis: tc.redis, redisPassword: tc.password, CacheBytes: 1 << 30}
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "cret") {
				t.Errorf("the error shows the password: %v", err)
			}
			if o := c.RedisOpt(); strings.Contains(o.Addr, "secret") {
				t.Errorf("RedisOpt of a bad URL keeps the password in its address %q", o.Addr)
			}
		})
	}
}

// TestRedisFlagUsage checks that -h does not print a password taken
// from BETTERREAD_REDIS as the default.
func TestRedisFlagUsage(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	var c Config
	c.RegisterFlags(&Flags{FS: fs, Env: func(k string) string {
		if k == "BETTERREAD_REDIS" {
			return "redis://:secret@h:6379/0"
		}
		return ""
	}})
	if err := fs.Parse([]string{"-h"}); err != flag.ErrHelp {
		t.Fatalf("parse -h: %v", err)
	}
	if strings.Contains(out.String(), "secret") || !strings.Contains(out.String(), "redis://:xxxxx@h:6379/0") {
		t.Errorf("usage:\n%s", out.String())
	}
	if c.Redis != "redis://:secret@h:6379/0" {
		t.Errorf("--redis from the environment is %q", c.Redis)
	}
}
