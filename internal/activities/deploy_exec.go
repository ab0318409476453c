package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flowbridge/flowbridge/internal/contract"
)

// TailLines is how many of a step's last output lines deploy.failed carries.
const TailLines = 40

const (
	maxLineBytes  = 4096 // a longer line is passed on in pieces
	tailLineBytes = 512  // a line kept in a tail is cut to this
	// heartbeatEvery paces RecordHeartbeat; the SDK throttles what reaches the server.
	heartbeatEvery = time.Second
	// outputGrace is how long processes a finished step left behind may hold its output
	// open before the pipes are closed on them.
	outputGrace = 5 * time.Second
	// gitTimeout bounds each git command of a checkout.
	gitTimeout = 10 * time.Minute
)

// StepResult is how one command ran. A command that fails or times out is a result, not
// an error: errors are for what a retry may fix.
type StepResult struct {
	Step     string        `json:"step"`
	OK       bool          `json:"ok"`
	Reason   string        `json:"reason,omitempty"` // why it failed: "exit status 1", "timed out after 10m0s"
	ExitCode int           `json:"exit_code"`        // -1 when killed or not run
	Tail     []string      `json:"tail,omitempty"`   // its last TailLines lines of output
	Lines    int           `json:"lines"`
	Duration time.Duration `json:"duration"`
}

// DeployProgress is the heartbeat detail of a running step or health check.
type DeployProgress struct {
	Step     string        `json:"step"`
	Lines    int           `json:"lines"`
	LastLine string        `json:"last_line,omitempty"`
	Elapsed  time.Duration `json:"elapsed"`
}

// command is one process a deploy runs.
type command struct {
	step    string
	dir     string
	argv    []string
	env     []string
	timeout time.Duration
}

// runHooks receive a running command's output lines and progress.
type runHooks struct {
	line func(step, line string)
	beat func(DeployProgress)
}

// runCommand runs c in its own process group, passing each output line (stdout and
// stderr merged) to hooks.line and its progress to hooks.beat every second. When c's
// timeout passes or ctx ends, the whole process group is killed; so are the processes a
// failed command left behind. The error is ctx's when ctx ended, or one that kept the
// command from starting; a command that fails or times out is a StepResult that is not
// OK.
func runCommand(ctx context.Context, c command, hooks runHooks) (StepResult, error) {
	start := time.Now()
	stepCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	out := &outputLines{step: c.step, emit: hooks.line}
	cmd := exec.CommandContext(stepCtx, c.argv[0], c.argv[1:]...)
	cmd.Dir, cmd.Env = c.dir, c.env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	cmd.WaitDelay = outputGrace
	if err := cmd.Start(); err != nil {
		return StepResult{Step: c.step, ExitCode: -1}, fmt.Errorf("%s: start %s: %w", c.step, c.argv[0], err)
	}
	stop := keepBeating(stepCtx, func() {
		lines, last := out.progress()
		hooks.beat(DeployProgress{Step: c.step, Lines: lines, LastLine: last, Elapsed: time.Since(start).Round(time.Millisecond)})
	})
	err := cmd.Wait()
	stop()
	out.flush()
	res := StepResult{Step: c.step, ExitCode: cmd.ProcessState.ExitCode(), Duration: time.Since(start)}
	res.Lines, res.Tail = out.result()
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		res.Reason, res.ExitCode = "cancelled", -1
		return res, ctx.Err()
	case err == nil, errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState.Success():
		res.OK = true
		return res, nil
	case stepCtx.Err() != nil:
		res.Reason, res.ExitCode = fmt.Sprintf("timed out after %s", c.timeout), -1
	case errors.As(err, &exitErr):
		res.Reason = exitErr.ProcessState.String() // "exit status 2", "signal: killed"
	default:
		return res, fmt.Errorf("%s: wait for %s: %w", c.step, c.argv[0], err)
	}
	_ = killGroup(cmd.Process.Pid) // what a failed step left running
	return res, nil
}

// killGroup kills the process group led by pid.
func killGroup(pid int) error {
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// keepBeating calls beat now and then every heartbeatEvery until stop is called or ctx
// ends. stop waits for a running beat to return.
func keepBeating(ctx context.Context, beat func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(heartbeatEvery)
		defer t.Stop()
		for {
			beat()
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// outputLines is the io.Writer of a command's output: it splits it into lines, hands
// each to emit and keeps the last TailLines. It is safe for concurrent use.
type outputLines struct {
	step string
	emit func(step, line string)

	mu    sync.Mutex
	part  []byte
	cut   bool // part was passed on for its length; its newline ends no new line
	tail  []string
	count int
	last  string
}

func (o *outputLines) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			o.part = append(o.part, p...)
			if len(o.part) >= maxLineBytes {
				o.lineLocked()
				o.cut = true
			}
			break
		}
		if i > 0 || !o.cut {
			o.part = append(o.part, p[:i]...)
			o.lineLocked()
		}
		o.cut = false
		p = p[i+1:]
	}
	return n, nil
}

func (o *outputLines) lineLocked() {
	line := strings.ToValidUTF8(strings.TrimSuffix(string(o.part), "\r"), "\uFFFD")
	o.part = o.part[:0]
	o.count++
	o.last = truncate(line, tailLineBytes)
	o.tail = append(o.tail, o.last)
	if len(o.tail) > TailLines {
		o.tail = o.tail[len(o.tail)-TailLines:]
	}
	if o.emit != nil {
		o.emit(o.step, line)
	}
}

// flush passes on a last line that did not end in a newline.
func (o *outputLines) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.part) > 0 {
		o.lineLocked()
	}
}

func (o *outputLines) progress() (lines int, last string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.count, o.last
}

func (o *outputLines) result() (lines int, tail []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.count, append([]string(nil), o.tail...)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// passedEnv are the worker's environment variables a blueprint's steps see. Nothing
// else of the worker's environment reaches them: not its secrets (DATABASE_URL,
// STRIPE_API_KEY, SMTP_PASSWORD, TEMPORAL_API_KEY, NATS_*, ...), nor what only git needs.
var passedEnv = []string{"PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR"}

// gitPassedEnv are the variables git also sees, to reach the repositories: an SSH agent
// or command (deploy keys), a private CA, a proxy.
var gitPassedEnv = []string{"SSH_AUTH_SOCK", "GIT_SSH_COMMAND", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"}

func lookupEnv(names []string, env []string) []string {
	for _, k := range names {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// commandEnv is the environment of the commands of a deploy of t at sha in dir.
func commandEnv(t DeployTarget, sha, step, dir string, extra ...string) []string {
	env := lookupEnv(passedEnv, make([]string, 0, len(passedEnv)+8))
	return append(append(env,
		"BLUEPRINT_REPOSITORY="+t.Repository,
		"BLUEPRINT_REF="+t.Ref,
		"BLUEPRINT_COMMIT_SHA="+sha,
		"BLUEPRINT_STEP="+step,
		"BLUEPRINT_WORKSPACE="+dir,
		"BLUEPRINT_DEPLOY_ID="+t.DeployID,
	), extra...)
}

// gitEnv is the environment of git: what steps see, what git needs to reach a
// repository, and only the https and ssh transports (not file://, ext:: or others, for
// the URL, a redirect or a submodule alike). git reads no system config and not
// ~/.gitconfig: steps share the worker's HOME, and a step that wrote ~/.gitconfig (a
// url.insteadOf to a repository off the allow-list, a core.sshCommand) would steer the
// next deploy's git. A global config the operator gives (GIT_CONFIG_GLOBAL, e.g. a
// credential helper, in a file steps cannot write) is still read.
func gitEnv() []string {
	env := lookupEnv(gitPassedEnv, lookupEnv(passedEnv, nil))
	global := os.Getenv("GIT_CONFIG_GLOBAL")
	if global == "" {
		global = os.DevNull
	}
	return append(env, "GIT_TERMINAL_PROMPT=0", "GIT_ALLOW_PROTOCOL=https:ssh",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+global)
}

// workspace is the directory of deploy deployID under the workspace root.
func (d *Deploys) workspace(deployID string) (string, error) {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, deployID)
	if strings.Trim(name, ".") == "" {
		return "", fmt.Errorf("deploy id %q cannot name a workspace", deployID)
	}
	return filepath.Join(d.WorkspaceRoot, name), nil
}

// checkout makes dir a checkout of t's repository at sha. An existing checkout at sha is
// kept unless fresh is set (an earlier step may have built into it); anything else there
// is replaced. The clone is made beside dir and renamed into place, so dir is either
// absent or complete.
//
// t must pass the allow-list first (a non-retryable contract.ErrorTypeRepositoryNotAllowed error
// otherwise): git never sees a URL or commit that did not.
func (d *Deploys) checkout(ctx context.Context, t DeployTarget, sha, dir string, fresh bool, hooks runHooks) error {
	if err := d.allow.checkTarget(t, sha); err != nil {
		return err
	}
	return gitCheckout(ctx, t.CloneURL, sha, dir, fresh, hooks)
}

// gitCheckout is checkout once the target is checked. The URL and the commit are also
// passed after "--" or --end-of-options, so git cannot read either as an option
// (--upload-pack=...), and git speaks only https and ssh (gitEnv).
func gitCheckout(ctx context.Context, cloneURL, sha, dir string, fresh bool, hooks runHooks) error {
	git := func(dir string, args ...string) (StepResult, error) {
		c := command{step: contract.StepCheckout, dir: dir, argv: append([]string{"git"}, args...), env: gitEnv(), timeout: gitTimeout}
		res, err := runCommand(ctx, c, hooks)
		if err == nil && !res.OK {
			err = fmt.Errorf("git %s: %s: %s", strings.Join(args, " "), res.Reason, strings.Join(lastN(res.Tail, 3), " | "))
		}
		return res, err
	}
	if !fresh {
		if head, err := git(dir, "rev-parse", "--verify", "HEAD"); err == nil && len(head.Tail) > 0 && strings.HasPrefix(lastN(head.Tail, 1)[0], sha) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	tmp := dir + ".clone"
	for _, p := range []string{dir, tmp} {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("checkout %s: %w", sha, err)
		}
	}
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return fmt.Errorf("checkout %s: %w", sha, err)
	}
	if _, err := git(tmp, "init", "--quiet"); err != nil {
		return err
	}
	target := "FETCH_HEAD"
	if _, err := git(tmp, "fetch", "--quiet", "--depth=1", "--", cloneURL, sha); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A short sha, or a server that only serves its refs: fetch them all.
		if _, err := git(tmp, "fetch", "--quiet", "--", cloneURL, "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"); err != nil {
			return fmt.Errorf("fetch %s from %s: %w", sha, cloneURL, err)
		}
		if _, err := git(tmp, "cat-file", "-e", "--end-of-options", sha+"^{commit}"); err != nil {
			return fmt.Errorf("commit %s is not on a branch or tag of %s", sha, cloneURL)
		}
		target = sha
	}
	if _, err := git(tmp, "switch", "--quiet", "--detach", "--end-of-options", target); err != nil {
		return fmt.Errorf("check out %s: %w", sha, err)
	}
	head, err := git(tmp, "rev-parse", "--verify", "HEAD")
	if err != nil {
		return err
	}
	if got := lastN(head.Tail, 1); len(got) == 0 || !strings.HasPrefix(got[0], sha) {
		return fmt.Errorf("check out %s: HEAD is %v", sha, got)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("checkout %s: %w", sha, err)
	}
	return nil
}

func lastN(lines []string, n int) []string {
	return lines[max(0, len(lines)-n):]
}
