package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// debTool is a command the harness runs and the Debian packages providing
// it, tried in order.
type debTool struct {
	bin  string
	pkgs []string
}

// neededTools lists the external commands and their packages.
func neededTools() []debTool {
	return []debTool{
		{bin: "wrk", pkgs: []string{"wrk"}},
		{bin: "nginx", pkgs: []string{"nginx-light", "nginx"}},
		{bin: "haproxy", pkgs: []string{"haproxy"}},
		{bin: "h2load", pkgs: []string{"nghttp2-client"}},
		{bin: "slowhttptest", pkgs: []string{"slowhttptest"}},
		{bin: "openssl", pkgs: []string{"openssl"}},
	}
}

// ensureTools installs missing tools with apt-get (when allowed) and
// returns a note for each tool that is still missing.
func ensureTools(ctx context.Context, install bool, logf func(string, ...any)) []string {
	var notes []string
	for _, t := range neededTools() {
		if _, err := exec.LookPath(t.bin); err == nil {
			continue
		}
		if install {
			aptInstall(ctx, t, logf)
		}
		if _, err := exec.LookPath(t.bin); err != nil {
			notes = append(notes, fmt.Sprintf("%s is not installed (apt package %s); its targets or cases were skipped",
				t.bin, strings.Join(t.pkgs, " or ")))
		}
	}
	return notes
}

// aptInstall tries each package of t, running apt-get update once if the
// first attempt fails.
func aptInstall(ctx context.Context, t debTool, logf func(string, ...any)) {
	for _, pkg := range t.pkgs {
		for attempt := range 2 {
			logf("installing %s (for %s) with apt-get", pkg, t.bin)
			out, err := runCmd(ctx, 10*time.Minute, "apt-get", "install", "-y", "-q", "--no-install-recommends", pkg)
			if err == nil {
				return
			}
			logf("apt-get install %s failed: %v: %s", pkg, err, lastLines(out, 3))
			if attempt == 0 {
				if out, err := runCmd(ctx, 10*time.Minute, "apt-get", "update", "-q"); err != nil {
					logf("apt-get update failed: %v: %s", err, lastLines(out, 3))
				}
			}
		}
	}
}

// runCmd runs a command with a timeout and returns its combined output.
func runCmd(ctx context.Context, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// lastLines returns the last n lines of s, joined with " | ".
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// binaries are the harness's own programs, ferry and the forwarder.
type binaries struct {
	upstream, idleconns string
	ferry, forwarder    string // "" when unavailable (or not needed)
	ferryB              string // -ferry-b, never built: "" leaves ferry-b out
}

// buildBinaries builds what was not given on the command line into binDir:
// always the upstream and idleconns, ferry and the forwarder only when want
// selects one of their targets. An optional binary that cannot be built
// skips its targets with a note instead of failing the run.
func buildBinaries(ctx context.Context, root, binDir string, given binaries, want func(target string) bool) (b binaries, notes []string, err error) {
	b = given
	build := func(pkg, out string) error {
		o, err := runCmd(ctx, 10*time.Minute, "go", "build", "-C", root, "-tags", "poll_opt", "-o", out, pkg)
		if err != nil {
			return fmt.Errorf("go build %s: %w: %s", pkg, err, lastLines(o, 10))
		}
		return nil
	}
	if b.upstream == "" {
		b.upstream = filepath.Join(binDir, "upstream")
		if err := build("./bench/upstream", b.upstream); err != nil {
			return b, nil, err
		}
	}
	if b.idleconns == "" {
		b.idleconns = filepath.Join(binDir, "idleconns")
		if err := build("./bench/idleconns", b.idleconns); err != nil {
			return b, nil, err
		}
	}
	optional := []struct {
		bin     *string
		pkg     string   // relative to root
		what    string   // what the note says is skipped
		targets []string // the targets that need it
	}{
		{bin: &b.ferry, pkg: "./cmd/ferry", what: "ferry targets", targets: []string{targetFerryAuto, targetFerryPool, targetFerryMetrics, targetFerryAccessLog, targetFerryHealth, targetFerryH2Up}},
		{bin: &b.forwarder, pkg: "./bench/forwarder", what: "forwarder target", targets: []string{targetForwarder}},
	}
	for _, o := range optional {
		if *o.bin != "" || !slices.ContainsFunc(o.targets, want) {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, o.pkg)); err != nil {
			notes = append(notes, fmt.Sprintf("%s skipped: %s does not exist yet", o.what, o.pkg))
			continue
		}
		out := filepath.Join(binDir, filepath.Base(o.pkg))
		if err := build(o.pkg, out); err != nil {
			notes = append(notes, o.what+" skipped: "+err.Error())
			continue
		}
		*o.bin = out
	}
	return b, notes, nil
}

// findRoot walks up from dir to the directory holding ferry's go.mod.
func findRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/ferry-proxy/ferry\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("not inside the ferry repository (no go.mod for github.com/ferry-proxy/ferry); use -root")
		}
	}
}

// machineInfo describes the host for the report.
type machineInfo struct {
	NProc    int
	Kernel   string
	CPU      string
	Versions []string // "name: version" lines
}

// collectMachineInfo reads the host description and tool versions.
func collectMachineInfo(ctx context.Context) machineInfo {
	mi := machineInfo{NProc: runtime.NumCPU(), Kernel: "unknown", CPU: "unknown"}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		mi.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				mi.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	version := func(name string, argv ...string) {
		out, err := runCmd(ctx, 10*time.Second, argv[0], argv[1:]...)
		line := strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
		if line == "" && err != nil {
			line = "not available (" + err.Error() + ")"
		}
		mi.Versions = append(mi.Versions, name+": "+line)
	}
	version("go", "go", "version")
	version("nginx", "nginx", "-v")
	version("haproxy", "haproxy", "-v")
	version("wrk", "wrk", "-v")
	version("h2load", "h2load", "--version")
	version("openssl", "openssl", "version")
	return mi
}

// clockTicks returns USER_HZ from getconf, or 100 (Linux's value on all
// mainstream architectures) if getconf is unavailable.
func clockTicks(ctx context.Context) float64 {
	out, err := runCmd(ctx, 5*time.Second, "getconf", "CLK_TCK")
	if err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(out), 64); err == nil && v > 0 {
			return v
		}
	}
	return 100
}
