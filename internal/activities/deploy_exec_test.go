package activities

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowbridge/flowbridge/internal/contract"
)

// These tests drive runCommand directly: TestActivityEnvironment neither cancels an
// activity's context nor lets heartbeats through faster than one per 30s.

func shCommand(t *testing.T, script string, timeout time.Duration) command {
	dir := t.TempDir()
	return command{step: contract.StepBuild, dir: dir, argv: []string{"sh", "-c", script}, env: commandEnv(DeployTarget{}, "abc", contract.StepBuild, dir), timeout: timeout}
}

func TestRunCommandHeartbeatsWhileRunning(t *testing.T) {
	release := filepath.Join(t.TempDir(), "release")
	var (
		mu    sync.Mutex
		beats []DeployProgress
	)
	hooks := runHooks{
		line: func(string, string) {},
		beat: func(p DeployProgress) {
			mu.Lock()
			defer mu.Unlock()
			beats = append(beats, p)
			if len(beats) >= 3 && p.Lines >= 1 {
				if err := os.WriteFile(release, nil, 0o600); err != nil { // the command may end now
					t.Error(err)
				}
			}
		},
	}
	res, err := runCommand(context.Background(), shCommand(t, fmt.Sprintf("echo waiting; while [ ! -f %s ]; do sleep 0.05; done; echo released", release), time.Minute), hooks)
	if err != nil || !res.OK {
		t.Fatalf("runCommand = %+v, %v; want OK", res, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(beats) < 3 {
		t.Fatalf("got %d heartbeats, want at least 3", len(beats))
	}
	last := beats[len(beats)-1]
	if last.Step != contract.StepBuild || last.Lines != 1 || last.LastLine != "waiting" || last.Elapsed <= beats[0].Elapsed {
		t.Fatalf("last heartbeat %+v after %+v: want build, 1 line, waiting, later", last, beats[0])
	}
}

// Cancelling the context (the activity was cancelled) kills the command and everything
// it started.
func TestRunCommandCancelKillsTheProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "sleep.pid")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hooks := runHooks{
		line: func(_, line string) {
			if line == "started" {
				cancel()
			}
		},
		beat: func(DeployProgress) {},
	}
	start := time.Now()
	res, err := runCommand(ctx, shCommand(t, fmt.Sprintf("sleep 300 & echo $! > %s; echo started; wait", pidFile), time.Hour), hooks)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("runCommand error = %v; want context.Canceled", err)
	}
	if res.OK || res.Reason != "cancelled" || len(res.Tail) != 1 || res.Tail[0] != "started" {
		t.Fatalf("runCommand = %+v; want cancelled with its output", res)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("runCommand returned %s after the cancellation", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("sleep (pid %d) still runs after its command was cancelled", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid is a live process (a zombie is not).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestOutputLines(t *testing.T) {
	var got []string
	o := &outputLines{step: contract.StepTest, emit: func(_, line string) { got = append(got, line) }}
	for _, chunk := range []string{"one\r\ntw", "o\n", "", strings.Repeat("x", maxLineBytes+10), "\nlast"} {
		if _, err := o.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	o.flush()
	want := []string{"one", "two", strings.Repeat("x", maxLineBytes+10), "last"}
	if len(got) != len(want) {
		t.Fatalf("got %d lines %q, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d: got %.40q, want %.40q", i, got[i], want[i])
		}
	}
	lines, tail := o.result()
	if lines != 4 || len(tail[2]) > tailLineBytes+len("…") {
		t.Fatalf("got %d lines, tail %q; want 4 lines, long ones cut", lines, tail)
	}
}

// A step shares the worker's HOME and can write ~/.gitconfig there; the worker's git must
// not read it (a url.insteadOf could send the next deploy's fetch off the allow-list).
func TestGitIgnoresAGitconfigAStepWrote(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[url \"https://evil.example/\"]\n\tinsteadOf = https://github.com/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	cmd := exec.Command("git", "config", "--get-regexp", `^url\.`)
	cmd.Env = gitEnv()
	out, err := cmd.Output()
	if got := strings.TrimSpace(string(out)); got != "" {
		t.Fatalf("git under gitEnv read the step's ~/.gitconfig: %q", got)
	}
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) { // 1: no such key
		t.Fatalf("git config: %v", err)
	}
	// And without gitEnv's settings git would have followed it: the test sees the hole.
	cmd = exec.Command("git", "config", "--get-regexp", `^url\.`)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
	if out, _ := cmd.Output(); !strings.Contains(string(out), "evil.example") {
		t.Fatalf("the planted ~/.gitconfig is not read even without gitEnv (%q): the test proves nothing", out)
	}
}
