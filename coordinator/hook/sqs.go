package hook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// SQSAPI is the part of *sqs.Client the poller uses.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

var _ SQSAPI = (*sqs.Client)(nil)

// ErrPermanent marks a message the handler can never process (it does not
// parse): the poller counts it and leaves it in the queue, so the queue's
// redrive policy moves it to the dead-letter queue after maxReceiveCount
// receives.
var ErrPermanent = errors.New("hook: message can never be processed")

// SQSStats are the poller's counters (read with Stats; safe for concurrent
// use).
type SQSStats struct {
	// Received counts messages received, redeliveries included.
	Received int64
	// Deleted counts messages handled and deleted.
	Deleted int64
	// Permanent counts Handle errors wrapping ErrPermanent.
	Permanent int64
	// Failed counts other Handle errors (the message is redelivered).
	Failed int64
	// ReceiveErrors counts failed ReceiveMessage calls.
	ReceiveErrors int64
	// DeleteErrors counts failed DeleteMessage calls after a successful
	// Handle (the message is redelivered and handled again).
	DeleteErrors int64
}

// Poller settings.
const (
	// defaultWaitSeconds is the longest long poll SQS allows.
	defaultWaitSeconds = 20
	// defaultMaxMessages is the most messages one ReceiveMessage returns.
	defaultMaxMessages = 10
	// Backoff after a failed receive: doubling from the first to the cap,
	// back to the first after a success.
	minReceiveBackoff = 100 * time.Millisecond
	maxReceiveBackoff = 30 * time.Second
	// deleteTimeout bounds a delete that runs after ctx ended: a run that
	// was recorded should not come back only because shutdown raced it.
	deleteTimeout = 5 * time.Second
	// logBodyBytes is how much of a body a debug log line shows.
	logBodyBytes = 200
)

// SQSPoller long-polls one queue and hands each message body to Handle.
// Use it through a pointer; it must not be copied after Run starts.
type SQSPoller struct {
	Client   SQSAPI
	QueueURL string
	// Handle processes one message body. nil: the message is done and is
	// deleted. An error wrapping ErrPermanent: counted as permanent, not
	// deleted. Any other error: counted as failed, not deleted (SQS
	// redelivers it after its visibility timeout).
	Handle func(ctx context.Context, body []byte) error
	// Logger may be nil to log nothing.
	Logger *slog.Logger
	// WaitSeconds is the long-poll wait in seconds, 0 means 20 (the
	// maximum).
	WaitSeconds int32
	// MaxMessages is the most messages per receive, 0 means 10 (the
	// maximum).
	MaxMessages int32

	received, deleted, permanent, failed, receiveErrors, deleteErrors atomic.Int64
}

// Stats returns the counters so far.
func (p *SQSPoller) Stats() SQSStats {
	return SQSStats{
		Received:      p.received.Load(),
		Deleted:       p.deleted.Load(),
		Permanent:     p.permanent.Load(),
		Failed:        p.failed.Load(),
		ReceiveErrors: p.receiveErrors.Load(),
		DeleteErrors:  p.deleteErrors.Load(),
	}
}

// Run polls until ctx ends; it returns nil then, and an error only when the
// poller is misconfigured. Receive errors are logged once per distinct
// error in a row, not once per attempt, and retried with exponential
// backoff (100 ms doubling to 30 s, reset on success). Messages of one
// receive are handled sequentially in order. Deletes use the message's
// ReceiptHandle; a failed delete is logged and counted, and the message
// comes back later, so Handle must be idempotent.
func (p *SQSPoller) Run(ctx context.Context) error {
	if err := p.validate(); err != nil {
		return err
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("queue_url", p.QueueURL)
	in := &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(p.QueueURL),
		WaitTimeSeconds:     orDefault(p.WaitSeconds, defaultWaitSeconds),
		MaxNumberOfMessages: orDefault(p.MaxMessages, defaultMaxMessages),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameApproximateReceiveCount,
		},
	}
	var (
		backoff  time.Duration
		lastErr  string // the error last logged; "" after a success
		failures int    // receive errors in a row
	)
	for ctx.Err() == nil {
		out, err := p.Client.ReceiveMessage(ctx, in)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			p.receiveErrors.Add(1)
			failures++
			backoff = min(max(2*backoff, minReceiveBackoff), maxReceiveBackoff)
			if key := errorKey(err); key != lastErr {
				lastErr = key
				log.Warn("sqs_receive_failed", "retry_in", backoff, "err", err)
			}
			if !sleep(ctx, backoff) {
				break
			}
			continue
		}
		if failures > 0 {
			log.Info("sqs_receive_recovered", "failures", failures)
		}
		backoff, lastErr, failures = 0, "", 0
		p.received.Add(int64(len(out.Messages)))
		for _, msg := range out.Messages {
			if ctx.Err() != nil {
				break // the rest come back after their visibility timeout
			}
			p.handle(ctx, log, msg)
		}
	}
	return nil
}

func (p *SQSPoller) validate() error {
	var errs []error
	if p.Client == nil {
		errs = append(errs, errors.New("sqs poller: no client"))
	}
	if p.QueueURL == "" {
		errs = append(errs, errors.New("sqs poller: no queue url"))
	}
	if p.Handle == nil {
		errs = append(errs, errors.New("sqs poller: no handle func"))
	}
	if p.WaitSeconds < 0 || p.WaitSeconds > defaultWaitSeconds {
		errs = append(errs, fmt.Errorf("sqs poller: wait seconds %d not in 0..%d", p.WaitSeconds, defaultWaitSeconds))
	}
	if p.MaxMessages < 0 || p.MaxMessages > defaultMaxMessages {
		errs = append(errs, fmt.Errorf("sqs poller: max messages %d not in 0..%d", p.MaxMessages, defaultMaxMessages))
	}
	return errors.Join(errs...)
}

// handle runs Handle on one message and deletes it when Handle succeeds.
func (p *SQSPoller) handle(ctx context.Context, log *slog.Logger, msg types.Message) {
	log = log.With("message_id", aws.ToString(msg.MessageId),
		"receive_count", msg.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	body := aws.ToString(msg.Body)
	if log.Enabled(ctx, slog.LevelDebug) {
		log.Debug("sqs_message_received", "body_bytes", len(body), "body_prefix", bodyPrefix(body))
	}
	err := p.Handle(ctx, []byte(body))
	switch {
	case err == nil:
	case errors.Is(err, ErrPermanent):
		p.permanent.Add(1)
		log.Warn("sqs_message_permanent", "err", err)
		return
	case ctx.Err() != nil:
		return // shutting down: not the message's fault, it comes back
	default:
		p.failed.Add(1)
		log.Warn("sqs_message_failed", "err", err)
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteTimeout)
	defer cancel()
	_, err = p.Client.DeleteMessage(dctx, &sqs.DeleteMessageInput{
		QueueUrl:      aws.String(p.QueueURL),
		ReceiptHandle: msg.ReceiptHandle,
	})
	if err != nil {
		p.deleteErrors.Add(1)
		log.Warn("sqs_delete_failed", "err", err)
		return
	}
	p.deleted.Add(1)
}

// errorKey is what makes two receive errors the same for logging: the API
// error's code and message, without the request id that differs on every
// attempt; the full text for other errors.
func errorKey(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode() + ": " + apiErr.ErrorMessage()
	}
	return err.Error()
}

// bodyPrefix is the start of a body for a debug log line.
func bodyPrefix(body string) string {
	if len(body) > logBodyBytes {
		body = body[:logBodyBytes]
	}
	return strings.ToValidUTF8(body, "")
}

// sleep waits d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func orDefault(v, def int32) int32 {
	if v == 0 {
		return def
	}
	return v
}

// sqsEndpointEnv are the environment variables that override the SQS
// endpoint, in order of precedence.
var sqsEndpointEnv = []string{"BETTERREAD_SQS_ENDPOINT", "AWS_ENDPOINT_URL_SQS"}

// sqsHTTPTimeout bounds one HTTP attempt: the 20 s long poll plus slack
// for a slow response.
const sqsHTTPTimeout = 45 * time.Second

// NewSQSClient returns an SQS client for the region (empty: from the AWS
// chain), credentials from the AWS chain, endpoint override from
// BETTERREAD_SQS_ENDPOINT or AWS_ENDPOINT_URL_SQS when set (for tests and
// local emulators). The SDK's standard retryer runs without its client-side
// retry quota, since the poller backs off on its own; the MD5 check of
// received bodies stays on.
func NewSQSClient(ctx context.Context, region string) (*sqs.Client, error) {
	return newSQSClient(ctx, region, os.Getenv)
}

func newSQSClient(ctx context.Context, region string, getenv func(string) string) (*sqs.Client, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(sqsHTTPTimeout)),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config for sqs: %w", err)
	}
	endpoint := sqsEndpoint(getenv)
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

// sqsEndpoint is the first endpoint override set in the environment, or "".
func sqsEndpoint(getenv func(string) string) string {
	for _, name := range sqsEndpointEnv {
		if v := getenv(name); v != "" {
			return v
		}
	}
	return ""
}
