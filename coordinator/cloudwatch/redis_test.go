package cloudwatch

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/betterread/pipeline/internal/testenv"
)

// TestQueueDepthRealRedis reads the depth with asynq's own Inspector from
// a real redis-server: 0 before the queue exists (asynq's not-found error
// is not asynq.ErrQueueNotFound, so this is the case Queues decides), then
// pending tasks counted and scheduled ones not.
func TestQueueDepthRealRedis(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	opt := asynq.RedisClientOpt{Addr: r.Addr}
	in := asynq.NewInspector(opt)
	defer in.Close()
	client := asynq.NewClient(opt)
	defer client.Close()

	if d, err := QueueDepth(in, "blocks"); err != nil || d != 0 {
		t.Fatalf("depth of a queue never used = %d, %v; want 0", d, err)
	}
	for range 3 {
		if _, err := client.EnqueueContext(t.Context(), asynq.NewTask("als:solve", nil), asynq.Queue("blocks")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.EnqueueContext(t.Context(), asynq.NewTask("als:solve", nil), asynq.Queue("blocks"), asynq.ProcessIn(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if d, err := QueueDepth(in, "blocks"); err != nil || d != 3 {
		t.Errorf("depth = %d, %v; want 3 pending (the scheduled task needs no worker yet)", d, err)
	}
}
