package tasks

import (
	"errors"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	t.Run("pipeline:run", func(t *testing.T) {
		task, err := NewPipelineRun("r-abc", TriggerCLI)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParsePipelineRun(task.Payload())
		if err != nil || got.Run != "r-abc" || task.Type() != TypePipelineRun {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("als:solve", func(t *testing.T) {
		p := ALSSolve{Run: "r-1", Iteration: 3, Side: "users", Block: 7}
		task, err := NewALSSolve(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseALSSolve(task.Payload())
		if err != nil || got != p {
			t.Fatalf("got %+v, %v", got, err)
		}
		if p.ID() != "r-1:als:003:users:00007" {
			t.Fatalf("id %q", p.ID())
		}
	})
	t.Run("sim:pair", func(t *testing.T) {
		p := SimPair{Run: "r-1", I: 2, J: 5}
		task, err := NewSimPair(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseSimPair(task.Payload())
		if err != nil || got != p {
			t.Fatalf("got %+v, %v", got, err)
		}
		if p.ID() != "r-1:pair:0002-0005" {
			t.Fatalf("id %q", p.ID())
		}
	})
	t.Run("sim:merge", func(t *testing.T) {
		p := SimMerge{Run: "r-1", Block: 2}
		task, err := NewSimMerge(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseSimMerge(task.Payload())
		if err != nil || got != p {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("load:write", func(t *testing.T) {
		p := LoadWrite{Run: "r-1", Block: 0}
		task, err := NewLoadWrite(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseLoadWrite(task.Payload())
		if err != nil || got != p {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
}

func TestBadPayloadsSkipRetry(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		payload string
		parse   func([]byte) error
		want    string
	}{
		{"not json", `{`, func(b []byte) error { _, err := ParseALSSolve(b); return err }, "decode als:solve"},
		{"bad side", `{"run":"r","iteration":1,"side":"books","block":0}`, func(b []byte) error { _, err := ParseALSSolve(b); return err }, "neither users nor items"},
		{"iteration 0", `{"run":"r","iteration":0,"side":"users","block":0}`, func(b []byte) error { _, err := ParseALSSolve(b); return err }, "iteration 0"},
		{"negative block", `{"run":"r","block":-1}`, func(b []byte) error { _, err := ParseSimMerge(b); return err }, "negative block"},
		{"pair below diagonal", `{"run":"r","i":3,"j":1}`, func(b []byte) error { _, err := ParseSimPair(b); return err }, "want 0 ≤ i ≤ j"},
		{"run with slash", `{"run":"../x","block":1}`, func(b []byte) error { _, err := ParseLoadWrite(b); return err }, "outside"},
		{"empty run", `{}`, func(b []byte) error { _, err := ParsePipelineRun(b); return err }, "empty run id"},
		{"oversized", `{"run":"` + strings.Repeat("a", MaxPayloadBytes) + `"}`, func(b []byte) error { _, err := ParsePipelineRun(b); return err }, "exceeds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := c.parse([]byte(c.payload))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if !errors.Is(err, asynq.SkipRetry) {
				t.Fatalf("error %v does not wrap asynq.SkipRetry", err)
			}
		})
	}
}

func FuzzParseALSSolve(f *testing.F) {
	f.Add([]byte(`{"run":"r-1","iteration":1,"side":"items","block":0}`))
	f.Add([]byte(`{"run":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseALSSolve(data)
		if err != nil {
			return
		}
		if _, err := NewALSSolve(p); err != nil {
			t.Fatalf("parsed payload %+v does not rebuild: %v", p, err)
		}
	})
}

// TestCatalogLayoutGroups: groups of about √blocks consecutive blocks cover
// every catalogue block and row exactly once, in order.
func TestCatalogLayoutGroups(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ n, blockRows, groupBlocks, groups int }{
		{0, 4, 1, 0}, {1, 4, 1, 1}, {4, 4, 1, 1}, {5, 4, 2, 1}, {16, 4, 2, 2}, {17, 4, 3, 2}, {37, 4, 4, 3}, {331_000, 4096, 9, 9},
	} {
		l := CatalogLayout(c.n, c.blockRows)
		if l.GroupBlocks != c.groupBlocks || l.Groups() != c.groups {
			t.Errorf("n=%d: %d groups of %d blocks, want %d of %d", c.n, l.Groups(), l.GroupBlocks, c.groups, c.groupBlocks)
			continue
		}
		nextBlock, nextRow := 0, 0
		for g := range l.Groups() {
			first, end := l.GroupBlockRange(g)
			start, stop := l.GroupRows(g)
			if first != nextBlock || end <= first || start != nextRow || stop <= start {
				t.Errorf("n=%d group %d: blocks [%d,%d) rows [%d,%d), want them to start at block %d row %d", c.n, g, first, end, start, stop, nextBlock, nextRow)
			}
			for b := first; b < end; b++ {
				if l.GroupOf(b) != g {
					t.Errorf("n=%d: GroupOf(%d) = %d, want %d", c.n, b, l.GroupOf(b), g)
				}
			}
			nextBlock, nextRow = end, stop
		}
		if nextBlock != l.Blocks(c.n) || nextRow != c.n {
			t.Errorf("n=%d: groups end at block %d row %d, want %d and %d", c.n, nextBlock, nextRow, l.Blocks(c.n), c.n)
		}
	}
}
