package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestFrom(t *testing.T) {
	t.Parallel()
	stamped := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/betterread/pipeline", Version: "v0.0.0-20261202173322-c88f72b0a1b2+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "c88f72b0a1b2"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	tests := []struct {
		name            string
		bi              *debug.BuildInfo
		version, commit string // the linker's
		want            Info
	}{
		{"stamped", stamped, "", "", Info{Version: "v0.0.0-20261202173322-c88f72b0a1b2+dirty", Commit: "c88f72b0a1b2", Modified: true, GoVersion: "go1.26.8"}},
		{"ldflags_win", stamped, "v1.2.0", "abc", Info{Version: "v1.2.0", Commit: "abc", Modified: true, GoVersion: "go1.26.8"}},
		{"devel_no_vcs", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, "", "", Info{Version: "devel", Commit: "unknown", GoVersion: "go1.26.8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := from(tt.bi, tt.version, tt.commit); got != tt.want {
				t.Errorf("from = %+v, want %+v", got, tt.want)
			}
		})
	}
	if got := from(nil, "", ""); got.Version != "devel" || got.Commit != "unknown" || got.GoVersion == "" {
		t.Errorf("from(nil) = %+v, want devel, unknown and the runtime's Go version", got)
	}
}

func TestString(t *testing.T) {
	t.Parallel()
	i := Info{Version: "v1.2.0", Commit: "abc", Modified: true, GoVersion: "go1.26.8"}
	if got, want := i.String(), "betterread v1.2.0 commit abc (modified) go1.26.8"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

func TestCollector(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(Info{Version: "v1.2.0", Commit: "abc", GoVersion: "go1.26.8"}.Collector())
	want := `
# HELP betterread_build_info The build of this process: version, commit ("-modified" for a dirty worktree) and Go version; always 1.
# TYPE betterread_build_info gauge
betterread_build_info{commit="abc",goversion="go1.26.8",version="v1.2.0"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "betterread_build_info"); err != nil {
		t.Error(err)
	}
}
