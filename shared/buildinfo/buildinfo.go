// Package buildinfo says which build a binary is: the version and commit
// that `--version` prints and the betterread_build_info metric exports, the
// same for the coordinator and the worker of one build.
//
// Both come from the build information the go command stamps into every
// binary (the module version; vcs.revision and vcs.modified when built in a
// git checkout). A build without it (an image built with -buildvcs=false)
// sets them with the linker:
//
//	go build -ldflags "-X github.com/betterread/pipeline/shared/buildinfo.version=v1.2.0 \
//	    -X github.com/betterread/pipeline/shared/buildinfo.commit=$(git rev-parse HEAD)" ./coordinator
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// version and commit, when set with -ldflags -X, override what the build
// information says.
var (
	version string
	commit  string
)

// Info is one build's identity.
type Info struct {
	Version   string // module version, "devel" for an untagged local build
	Commit    string // VCS revision, "unknown" when not recorded
	Modified  bool   // built from a worktree with uncommitted changes
	GoVersion string // the toolchain: "go1.26.8"
}

// Read returns this binary's build identity.
func Read() Info {
	bi, _ := debug.ReadBuildInfo() // nil outside a module build; from handles it
	return from(bi, version, commit)
}

// from reads bi, letting the linker-set values win.
func from(bi *debug.BuildInfo, version, commit string) Info {
	i := Info{Version: "devel", Commit: "unknown", GoVersion: runtime.Version()}
	if bi != nil {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			i.Version = v
		}
		if bi.GoVersion != "" {
			i.GoVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				i.Commit = s.Value
			case "vcs.modified":
				i.Modified = s.Value == "true"
			}
		}
	}
	if version != "" {
		i.Version = version
	}
	if commit != "" {
		i.Commit = commit
	}
	return i
}

// String is the line `--version` prints:
// "betterread v1.2.0 commit 0123abcd… (modified) go1.26.8".
func (i Info) String() string {
	modified := ""
	if i.Modified {
		modified = " (modified)"
	}
	return fmt.Sprintf("betterread %s commit %s%s %s", i.Version, i.Commit, modified, i.GoVersion)
}

// Collector is the gauge betterread_build_info{version,commit,goversion},
// always 1, as Prometheus' own build_info metrics are: a query joins on its
// labels to tell which build a series came from.
func (i Info) Collector() prometheus.Collector {
	commit := i.Commit
	if i.Modified {
		commit += "-modified"
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "betterread_build_info",
		Help:        "The build of this process: version, commit (\"-modified\" for a dirty worktree) and Go version; always 1.",
		ConstLabels: prometheus.Labels{"version": i.Version, "commit": commit, "goversion": i.GoVersion},
	})
	g.Set(1)
	return g
}
