// Package connect opens the services both binaries talk to — Redis (for
// asynq and run bookkeeping), the block store, and the output target — from
// one configuration struct that registers its own flags with environment
// defaults. Secrets (the Redis password, AWS credentials) come only from
// the environment and are never printed.
package connect

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"golang.org/x/time/rate"

	"github.com/redis/go-redis/v9"

	"github.com/betterread/pipeline/shared/dynamo"
	"github.com/betterread/pipeline/shared/runstate"
	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/tasks"
)

// Config is how to reach Redis, the block store and DynamoDB.
type Config struct {
	Redis         string // host:port, or a redis:// or rediss:// URL; empty in `coordinator run` means the embedded in-process Redis
	RedisDB       int
	RedisTLS      bool
	redisPassword string // from BETTERREAD_REDIS_PASSWORD only
	Store         string // directory or s3://bucket/prefix
	DynamoDB      string // DynamoDB endpoint URL; empty means AWS's regional endpoint
	Region        string
	CacheBytes    int64 // worker cache bound
	// DynamoDBOptions adjust every DynamoDB client made from this config
	// (not a flag: for programs that embed the pipeline, and for tests
	// that add SDK middleware).
	DynamoDBOptions []func(*dynamodb.Options)
}

// Env reads environment variables; os.Getenv in main, a map in tests.
type Env func(string) string

// RegisterFlags adds the connection flags, defaulting from env.
func (c *Config) RegisterFlags(f *Flags) {
	f.Redacted(&c.Redis, "redis", "BETTERREAD_REDIS", "", "Redis address host:port (password from BETTERREAD_REDIS_PASSWORD), or redis://[user:password@]host:port[/db] (rediss:// for TLS)")
	f.Int(&c.RedisDB, "redis-db", "BETTERREAD_REDIS_DB", 0, "Redis database number")
	f.Bool(&c.RedisTLS, "redis-tls", "BETTERREAD_REDIS_TLS", false, "connect to Redis over TLS")
	f.String(&c.Store, "store", "BETTERREAD_STORE", "", "block store: a directory or s3://bucket/prefix")
	f.String(&c.DynamoDB, "dynamodb-endpoint", "BETTERREAD_DYNAMODB_ENDPOINT", "", "DynamoDB endpoint URL, e.g. DynamoDB Local; empty means AWS's regional endpoint (and, in coordinator run, JSONL files unless --target dynamodb)")
	f.String(&c.Region, "region", "AWS_REGION", firstNonEmpty(f.Env("AWS_DEFAULT_REGION"), "us-east-1"), "AWS region")
	f.Int64(&c.CacheBytes, "cache-bytes", "BETTERREAD_CACHE_BYTES", 1<<30, "bound on a worker's cache of factor and rating blocks, bytes")
	c.redisPassword = f.Env("BETTERREAD_REDIS_PASSWORD")
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.CacheBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("cache bytes %d under 1 MiB", c.CacheBytes))
	}
	if c.RedisDB < 0 {
		errs = append(errs, fmt.Errorf("redis db %d is negative", c.RedisDB))
	}
	if _, err := c.redisOpt(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// OpenStore opens the block store.
func (c *Config) OpenStore(ctx context.Context) (store.Store, error) {
	if c.Store == "" {
		return nil, errors.New("no block store configured (--store or BETTERREAD_STORE)")
	}
	return store.Open(ctx, c.Store)
}

// Targets returns the opener of output targets. DynamoDB clients are made
// once per endpoint and region, and a plan's per-worker write rate is one
// limiter shared by all the process's load tasks; a run-wide write rate is
// counted in Redis through redis (nil: no run-wide limit is possible, and
// a plan that asks for one fails to open).
func (c *Config) Targets(redis redis.UniversalClient) dynamo.Opener {
	o := &targetOpener{conn: c, redis: redis, clients: map[[2]string]*dynamodb.Client{}, limiters: map[string]*rate.Limiter{}}
	return o.open
}

type targetOpener struct {
	conn     *Config
	redis    redis.UniversalClient
	mu       sync.Mutex
	clients  map[[2]string]*dynamodb.Client // endpoint, region
	limiters map[string]*rate.Limiter       // endpoint, region, tables, rate
}

func (o *targetOpener) open(ctx context.Context, run string, spec tasks.TargetSpec) (dynamo.Target, error) {
	tables := dynamo.Tables{Books: spec.BooksTable, Similarities: spec.SimilaritiesTable}
	switch spec.Kind {
	case "files":
		return dynamo.NewFileTarget(spec.Dir, tables), nil
	case "dynamodb":
	default:
		return nil, fmt.Errorf("unknown target kind %q", spec.Kind)
	}
	endpoint := firstNonEmpty(o.conn.DynamoDB, spec.Endpoint)
	region := firstNonEmpty(spec.Region, o.conn.Region)
	opts := dynamo.WriterOptions{Deadline: spec.Deadline()}
	o.mu.Lock()
	defer o.mu.Unlock()
	client := o.clients[[2]string{endpoint, region}]
	if client == nil {
		var err error
		if client, err = dynamo.NewClient(ctx, endpoint, region, o.conn.DynamoDBOptions...); err != nil {
			return nil, err
		}
		o.clients[[2]string{endpoint, region}] = client
	}
	if spec.WriteRate > 0 {
		key := fmt.Sprintf("%s|%s|%s|%s|%g", endpoint, region, tables.Books, tables.Similarities, spec.WriteRate)
		l := o.limiters[key]
		if l == nil {
			// A burst of one batch spaces the calls evenly.
			l = rate.NewLimiter(rate.Limit(spec.WriteRate), dynamo.MaxBatch)
			o.limiters[key] = l
		}
		opts.Limiters = append(opts.Limiters, l)
	}
	if spec.RunWriteRate > 0 {
		if o.redis == nil {
			return nil, fmt.Errorf("run %s asks for a run-wide write rate, which needs Redis", run)
		}
		opts.Limiters = append(opts.Limiters, runstate.NewRunRateLimiter(o.redis, run, spec.RunWriteRate))
	}
	return dynamo.NewDynamoTarget(client, tables, opts), nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
