package flowbench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/store"
)

// process is a child process the benchmark started; stop ends exactly it.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done is closed
}

func startProcess(name, logPath string, env []string, bin string, args ...string) (*process, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, f, f
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to grace, then kills.
func (p *process) stop(grace time.Duration) {
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// procCPU is the process's user+system CPU time so far, from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) start at state, field 3:
	// utime and stime are fields 14 and 15.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	// USER_HZ is 100 on every Linux build Go supports.
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// procHWM is the process's peak resident set size (VmHWM) in bytes.
func procHWM(pid int) (int64, error) { return procStatus(pid, "VmHWM") }

// procRSS is the process's resident set size now (VmRSS) in bytes.
func procRSS(pid int) (int64, error) { return procStatus(pid, "VmRSS") }

// procStatus reads a "kB" field of /proc/<pid>/status, in bytes.
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// freeAddr is a free TCP port on 127.0.0.1.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func portOpen(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// startTemporal starts a fresh dev server (in memory, headless) at addr.
func startTemporal(bin, addr, dir string) (*process, error) {
	if portOpen(addr) {
		return nil, fmt.Errorf("something already listens on %s: the benchmark needs a fresh Temporal dev server of its own; pass -temporal-port with a free port", addr)
	}
	host, port, _ := net.SplitHostPort(addr)
	return startProcess("temporal", filepath.Join(dir, "temporal.log"), os.Environ(), bin,
		"server", "start-dev", "--ip", host, "--port", port, "--headless", "--log-level", "warn")
}

// dialTemporal waits until the server at addr answers for namespace.
func dialTemporal(ctx context.Context, addr, namespace string, within time.Duration) (client.Client, error) {
	deadline := time.Now().Add(within)
	for {
		c, err := func() (client.Client, error) {
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			c, err := client.DialContext(dctx, client.Options{HostPort: addr, Namespace: namespace, Logger: log.NewStructuredLogger(quietLogger())})
			if err != nil {
				return nil, err
			}
			if _, err := c.WorkflowService().DescribeNamespace(dctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace}); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		}()
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("Temporal at %s (namespace %s) did not answer within %v: %w", addr, namespace, within, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// startNATS runs an in-process NATS server with JetStream storing in dir.
func startNATS(dir string) (*server.Server, error) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true})
	if err != nil {
		return nil, fmt.Errorf("NATS server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("in-process NATS server did not start in 10s")
	}
	return srv, nil
}

// startEventsNATS starts an in-process NATS (startNATS) storing in dir, connects to it and
// creates flowbridge's streams; closeNATS closes the connection and stops the server.
func startEventsNATS(ctx context.Context, dir string) (srv *server.Server, js jetstream.JetStream, closeNATS func(), err error) {
	srv, err = startNATS(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		srv.Shutdown()
		return nil, nil, nil, err
	}
	closeNATS = func() { nc.Close(); srv.Shutdown() }
	if js, err = jetstream.New(nc); err == nil {
		err = events.EnsureStreams(ctx, js, 10*time.Minute)
	}
	if err != nil {
		closeNATS()
		return nil, nil, nil, err
	}
	return srv, js, closeNATS, nil
}

// freshSchema confines base to a new schema (search_path), migrated as `worker migrate`
// does (the bridge only checks the schema), and returns the URL and a function that drops
// the schema. A URL that already names a search_path is used as is, migrated: its schema
// belongs to the caller.
func freshSchema(ctx context.Context, base string) (string, func(), error) {
	if strings.Contains(base, "search_path=") {
		if _, err := store.Migrate(ctx, base); err != nil {
			return "", nil, fmt.Errorf("migrate the ledger's schema: %w", err)
		}
		return base, func() {}, nil
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	schema := "flowbench_" + hex.EncodeToString(b)
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	}
	url := base + sep + "search_path=" + schema
	if _, err := store.Migrate(ctx, url); err != nil { // creates the database and the schema
		drop()
		return "", nil, fmt.Errorf("migrate the ledger's schema: %w (start PostgreSQL, or pass -database-url)", err)
	}
	return url, drop, nil
}
