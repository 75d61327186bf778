package hook

import (
	"context"
	"fmt"
	"log/slog"
)

// MessageHandler returns the SQS poller's Handle: it decodes a message
// body as an S3 event in any shape and accepts its events. A body that
// does not decode can never be processed (ErrPermanent: it is left for
// the queue's dead-letter redrive); an event that cannot be recorded yet
// is a transient error (the message comes back).
func MessageHandler(in *Intake, m *Metrics, log *slog.Logger) func(ctx context.Context, body []byte) error {
	return func(ctx context.Context, body []byte) error {
		events, err := Decode(body)
		if err != nil {
			m.Events.WithLabelValues("sqs", "rejected", reasonOf(err)).Inc()
			log.Warn("sqs_message_rejected", "reason", reasonOf(err), "detail", err.Error())
			return fmt.Errorf("%w: %w", ErrPermanent, err)
		}
		for _, ev := range events {
			out, err := in.Accept(ctx, ev)
			if err != nil {
				m.Events.WithLabelValues("sqs", "rejected", "unavailable").Inc()
				return err
			}
			if out.Accepted {
				m.Events.WithLabelValues("sqs", "accepted", "").Inc()
			} else {
				m.Events.WithLabelValues("sqs", "ignored", out.Reason).Inc()
				log.Info("sqs_event_ignored", "reason", out.Reason, "bucket", ev.Bucket, "key", ev.Key, "event", ev.Name)
			}
		}
		return nil
	}
}
