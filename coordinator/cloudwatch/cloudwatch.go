// Package cloudwatch publishes the depth of the asynq queue of block tasks
// as a CloudWatch metric, so that Application Auto Scaling can size the
// worker service on it (deploy/aws/template.yaml scales the workers out
// when the metric is above zero and back to zero when it stays at zero).
//
// The metric is MetricName in the namespace given to `coordinator serve
// --cloudwatch-namespace`, with one dimension, DimensionQueue = the queue's
// name. Its value is the queue's pending + active + retry tasks: work
// that is waiting for, or held by, a worker. Scheduled and archived tasks
// need no worker now, so they do not count.
package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/hibiken/asynq"
)

// What the publisher sends; the scaling alarms of deploy/aws/template.yaml
// name the same.
const (
	MetricName     = "QueueDepth"
	DimensionQueue = "Queue"
	// Unit is the unit the datum is sent with; an alarm that names a
	// unit only sees data of that unit.
	Unit = types.StandardUnitCount
	// DefaultInterval is how often the depth is sent: twice per minute,
	// the period of the scaling alarms.
	DefaultInterval = 30 * time.Second
)

// API is the part of the CloudWatch client the publisher calls.
type API interface {
	PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error)
}

// Inspector is the part of *asynq.Inspector the depth is read with.
type Inspector interface {
	Queues() ([]string, error)
	GetQueueInfo(queue string) (*asynq.QueueInfo, error)
}

// QueueDepth is queue's pending + active + retry tasks. A queue asynq has
// never seen (no task enqueued yet) has depth 0.
func QueueDepth(in Inspector, queue string) (int, error) {
	info, err := in.GetQueueInfo(queue)
	if err == nil {
		return info.Pending + info.Active + info.Retry, nil
	}
	// GetQueueInfo does not wrap asynq.ErrQueueNotFound; a queue missing
	// from the list of queues is the case it reports.
	queues, qerr := in.Queues()
	if qerr == nil && !slices.Contains(queues, queue) {
		return 0, nil
	}
	return 0, fmt.Errorf("queue info of %s: %w", queue, errors.Join(err, qerr))
}

// Publisher sends the depth of Queue every Interval.
type Publisher struct {
	Client    API
	Inspector Inspector
	Namespace string
	Queue     string
	Interval  time.Duration // DefaultInterval when 0
	Logger    *slog.Logger
	// Now stamps the datum; time.Now when nil.
	Now func() time.Time
}

// Run publishes once at once, then every Interval until ctx ends, when it
// returns nil. A failed publish is logged and the next tick tries again:
// a CloudWatch outage must not stop the coordinator (the alarms treat
// missing data as no change).
func (p *Publisher) Run(ctx context.Context) error {
	interval := p.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if depth, err := p.Publish(ctx); err != nil && ctx.Err() == nil {
			p.Logger.Warn("queue_depth_not_published", "namespace", p.Namespace, "queue", p.Queue, "err", err)
		} else if err == nil {
			p.Logger.Debug("queue_depth_published", "namespace", p.Namespace, "queue", p.Queue, "depth", depth)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Publish reads the depth and sends it once; it returns the depth sent.
func (p *Publisher) Publish(ctx context.Context) (int, error) {
	depth, err := QueueDepth(p.Inspector, p.Queue)
	if err != nil {
		return 0, err
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	_, err = p.Client.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{
		Namespace: aws.String(p.Namespace),
		MetricData: []types.MetricDatum{{
			MetricName: aws.String(MetricName),
			Dimensions: []types.Dimension{{Name: aws.String(DimensionQueue), Value: aws.String(p.Queue)}},
			Value:      aws.Float64(float64(depth)),
			Unit:       Unit,
			Timestamp:  aws.Time(now()),
		}},
	})
	if err != nil {
		return 0, fmt.Errorf("put metric %s/%s of queue %s: %w", p.Namespace, MetricName, p.Queue, err)
	}
	return depth, nil
}

// NewClient returns a CloudWatch client for region (empty: from the AWS
// chain), credentials from the AWS chain; the SDK's own
// AWS_ENDPOINT_URL_CLOUDWATCH overrides the endpoint.
func NewClient(ctx context.Context, region string) (*cloudwatch.Client, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config for cloudwatch: %w", err)
	}
	return cloudwatch.NewFromConfig(cfg), nil
}
