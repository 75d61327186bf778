package connect

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// redacted replaces a password wherever an address is shown.
const redacted = "xxxxx"

// Redact hides the password of a URL's user information:
// "redis://:secret@host:6379/0" becomes "redis://:xxxxx@host:6379/0" and
// "redis://user:secret@host" becomes "redis://user:xxxxx@host". A user
// name alone (no colon) is shown, as is anything that is not a URL
// (host:port). It does not parse the URL, so a malformed one (a password
// with an unescaped '/' or '@') is hidden too: everything from "://" to
// the last '@' after the first colon is the password.
func Redact(addr string) string {
	scheme, rest, ok := strings.Cut(addr, "://")
	if !ok {
		return addr
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return addr
	}
	user, _, ok := strings.Cut(rest[:at], ":")
	if !ok {
		return addr
	}
	return scheme + "://" + user + ":" + redacted + rest[at:]
}

// RedisDisplay is the Redis address to print: --redis with any password
// in it hidden.
func (c *Config) RedisDisplay() string { return Redact(c.Redis) }

// RedisOpt is asynq's connection option for the configured Redis. A
// malformed --redis (which Validate reports) yields an option whose
// address is the redacted one, so a dial error cannot print the password.
func (c *Config) RedisOpt() asynq.RedisClientOpt {
	opt, err := c.redisOpt()
	if err != nil {
		return asynq.RedisClientOpt{Addr: c.RedisDisplay()}
	}
	return opt
}

// RedisClient opens a go-redis client for run bookkeeping.
func (c *Config) RedisClient() redis.UniversalClient {
	return c.RedisOpt().MakeRedisClient().(redis.UniversalClient)
}

// redisOpt reads --redis: host:port with --redis-db, --redis-tls and
// BETTERREAD_REDIS_PASSWORD, or a redis:// or rediss:// URL whose user,
// password, database and scheme say the same (a setting given both ways
// and differently is an error). Its errors show the address redacted.
func (c *Config) redisOpt() (asynq.RedisClientOpt, error) {
	opt := asynq.RedisClientOpt{Addr: c.Redis, DB: c.RedisDB, Password: c.redisPassword}
	useTLS := c.RedisTLS
	if strings.Contains(c.Redis, "://") {
		u, err := url.Parse(c.Redis)
		if err != nil {
			// url.Error repeats the whole URL; its inner error can quote a
			// misparsed piece of the password.
			return opt, fmt.Errorf("--redis %s is not a valid URL (percent-encode '@', '/', ':' in the password)", c.RedisDisplay())
		}
		if err := fromRedisURL(&opt, &useTLS, u, c.RedisDB); err != nil {
			return opt, fmt.Errorf("--redis %s: %w", c.RedisDisplay(), err)
		}
	}
	if useTLS {
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return opt, nil
}

// fromRedisURL fills opt from u: redis://[user[:password]@]host[:port][/db].
func fromRedisURL(opt *asynq.RedisClientOpt, useTLS *bool, u *url.URL, flagDB int) error {
	switch u.Scheme {
	case "redis":
	case "rediss":
		*useTLS = true
	default:
		return fmt.Errorf("scheme %q is not redis or rediss", u.Scheme)
	}
	if u.Host == "" || u.Opaque != "" {
		return errors.New("no host")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("query parameters are not supported")
	}
	port := u.Port()
	if port == "" {
		port = "6379"
	}
	opt.Addr = net.JoinHostPort(u.Hostname(), port)
	if u.User != nil {
		opt.Username = u.User.Username()
		if p, ok := u.User.Password(); ok {
			if opt.Password != "" && opt.Password != p {
				return errors.New("a password in the URL and a different BETTERREAD_REDIS_PASSWORD")
			}
			opt.Password = p
		}
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return fmt.Errorf("database %q is not a number", db)
		}
		if flagDB != 0 && flagDB != n {
			return fmt.Errorf("database %d in the URL and --redis-db %d", n, flagDB)
		}
		opt.DB = n
	}
	return nil
}

// redactedValue is a string flag shown through Redact, so -h does not
// print a password taken from the environment as the default.
type redactedValue struct{ p *string }

func (v redactedValue) String() string {
	if v.p == nil {
		return ""
	}
	return Redact(*v.p)
}

func (v redactedValue) Set(s string) error { *v.p = s; return nil }
