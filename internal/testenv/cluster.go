package testenv

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSCluster is a NATS cluster with JetStream in this process, owned by one test: nodes
// routed to each other on fixed ports, each storing in a directory of its own, so that a
// node can be killed and started again as the same server (same name, client and cluster
// ports, and store), as nats-server's own tests do (createJetStreamClusterExplicit).
type NATSCluster struct {
	t     testing.TB
	Nodes []*NATSNode
	// URL is every node's client URL, comma-separated: a NATS_URL that survives the loss
	// of any node.
	URL string
	// Conn and JS are the test's own connection, given every node's URL.
	Conn *nats.Conn
	JS   jetstream.JetStream
}

// NATSNode is one server of a NATSCluster.
type NATSNode struct {
	Name string // the server's name, as stream and consumer info name their leaders
	URL  string // its client URL
	opts server.Options
	srv  *server.Server
}

// StartNATSCluster starts size nodes (three for R3 streams) named n1, n2, ..., clustered
// with JetStream, waits until they have elected a meta leader that counts them all, and
// connects to them. Everything is shut down when the test ends.
func StartNATSCluster(t testing.TB, size int) *NATSCluster {
	t.Helper()
	name := ID("fb-")
	clientPorts, routePorts := make([]int, size), make([]int, size)
	var routes []string
	for i := range size {
		clientPorts[i], routePorts[i] = freePort(t), freePort(t)
		routes = append(routes, "nats-route://127.0.0.1:"+strconv.Itoa(routePorts[i]))
	}
	c := &NATSCluster{t: t}
	var urls []string
	for i := range size {
		n := &NATSNode{
			Name: fmt.Sprintf("n%d", i+1),
			URL:  "nats://127.0.0.1:" + strconv.Itoa(clientPorts[i]),
			opts: server.Options{
				ServerName: fmt.Sprintf("n%d", i+1),
				Host:       "127.0.0.1",
				Port:       clientPorts[i],
				JetStream:  true,
				StoreDir:   t.TempDir(),
				// Limits, not reservations: without them each node claims a share of
				// the machine's memory and disk.
				JetStreamMaxMemory: 256 << 20,
				JetStreamMaxStore:  2 << 30,
				Cluster:            server.ClusterOpts{Name: name, Host: "127.0.0.1", Port: routePorts[i]},
				Routes:             server.RoutesFromStr(strings.Join(routes, ",")),
				NoSigs:             true,
				NoLog:              true,
			},
		}
		c.Nodes = append(c.Nodes, n)
		urls = append(urls, n.URL)
	}
	c.URL = strings.Join(urls, ",")
	t.Cleanup(func() {
		for _, n := range c.Nodes {
			n.shutdown()
		}
	})
	for _, n := range c.Nodes {
		c.start(n)
	}
	c.WaitReady(60 * time.Second)

	nc, err := nats.Connect(c.URL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("connect to the in-process NATS cluster: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	c.Conn, c.JS = nc, js
	return c
}

// freePort is a TCP port of 127.0.0.1 that nothing listened on a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	p, _ := strconv.Atoi(port)
	return p
}

func (c *NATSCluster) start(n *NATSNode) {
	c.t.Helper()
	opts := n.opts // a copy: the server fills in defaults on the one it is given
	srv, err := server.NewServer(&opts)
	if err != nil {
		c.t.Fatalf("NATS server %s: %v", n.Name, err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		c.t.Fatalf("NATS server %s did not start in 10s", n.Name)
	}
	n.srv = srv
}

func (n *NATSNode) shutdown() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

// Running reports whether the node is up.
func (n *NATSNode) Running() bool { return n.srv != nil }

// Kill stops node i at once, closing its clients' and routes' connections, as a crash or a
// lost machine would (its store stays for Restart).
func (c *NATSCluster) Kill(i int) { c.Nodes[i].shutdown() }

// Restart starts node i again as the same server, on its ports and store.
func (c *NATSCluster) Restart(i int) {
	c.t.Helper()
	c.Nodes[i].shutdown()
	c.start(c.Nodes[i])
}

// Index is the index in Nodes of the server named name, or -1.
func (c *NATSCluster) Index(name string) int {
	for i, n := range c.Nodes {
		if n.Name == name {
			return i
		}
	}
	return -1
}

// WaitReady waits until a meta leader counts every node as a peer and every running node
// is current with the meta group (nats-server's waitOnClusterReady), and fails the test
// after timeout.
func (c *NATSCluster) WaitReady(timeout time.Duration) {
	c.t.Helper()
	Eventually(c.t, timeout, func() bool {
		var leader *server.Server
		for _, n := range c.Nodes {
			if n.srv != nil && n.srv.JetStreamIsLeader() {
				leader = n.srv
			}
		}
		if leader == nil || len(leader.JetStreamClusterPeers()) != len(c.Nodes) {
			return false
		}
		for _, n := range c.Nodes {
			if n.srv != nil && !n.srv.JetStreamIsCurrent() {
				return false
			}
		}
		return true
	}, "the NATS cluster elected no meta leader that counts all %d nodes", len(c.Nodes))
}

// StreamLeader is the index in Nodes of stream's leader, as the stream's info names it.
func (c *NATSCluster) StreamLeader(ctx context.Context, stream string) (int, error) {
	s, err := c.JS.Stream(ctx, stream)
	if err != nil {
		return -1, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return -1, err
	}
	if info.Cluster == nil || c.Index(info.Cluster.Leader) < 0 {
		return -1, fmt.Errorf("stream %s has no leader among the nodes: %+v", stream, info.Cluster)
	}
	return c.Index(info.Cluster.Leader), nil
}

// ConsumerLeader is the index in Nodes of the leader of stream's consumer, as the
// consumer's info names it.
func (c *NATSCluster) ConsumerLeader(ctx context.Context, stream, consumer string) (int, error) {
	cons, err := c.JS.Consumer(ctx, stream, consumer)
	if err != nil {
		return -1, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return -1, err
	}
	if info.Cluster == nil || c.Index(info.Cluster.Leader) < 0 {
		return -1, fmt.Errorf("consumer %s > %s has no leader among the nodes: %+v", stream, consumer, info.Cluster)
	}
	return c.Index(info.Cluster.Leader), nil
}
