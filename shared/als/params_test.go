package als

import (
	"math"
	"strings"
	"testing"
)

func TestParamsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    Params
		want []string // substrings of the error; none means valid
	}{
		{name: "spark defaults of the seed job", p: Params{Rank: 10, Iterations: 10, Reg: 0.1, Nonnegative: true, Seed: 42}},
		{name: "zero reg", p: Params{Rank: 1, Iterations: 1}},
		{name: "max rank", p: Params{Rank: MaxRank, Iterations: 1}},
		{name: "zero value reports everything", p: Params{}, want: []string{"rank 0", "iterations 0"}},
		{name: "rank too large", p: Params{Rank: MaxRank + 1, Iterations: 1}, want: []string{"rank 1025"}},
		{name: "negative reg", p: Params{Rank: 1, Iterations: 1, Reg: -0.1}, want: []string{"reg -0.1"}},
		{name: "NaN reg", p: Params{Rank: 1, Iterations: 1, Reg: math.NaN()}, want: []string{"reg NaN"}},
		{name: "infinite reg", p: Params{Rank: 1, Iterations: 1, Reg: math.Inf(1)}, want: []string{"reg +Inf"}},
		{name: "all at once", p: Params{Rank: -1, Iterations: -2, Reg: -3}, want: []string{"rank -1", "iterations -2", "reg -3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.p.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors mentioning %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, does not mention %q", err, w)
				}
			}
		})
	}
}

func TestSideString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		side Side
		want string
	}{
		{Users, "users"},
		{Items, "items"},
		{7, "side(7)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			if got := tt.side.String(); got != tt.want {
				t.Errorf("Side(%d).String() = %q, want %q", uint8(tt.side), got, tt.want)
			}
		})
	}
}
