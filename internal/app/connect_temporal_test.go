package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serial int64

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a certificate for cn signed by ca: a server's for host when server is
// set, a client's otherwise.
func (ca *testCA) issue(t *testing.T, cn string, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.DNSNames, tmpl.ExtKeyUsage = []string{cn}, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	c, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	require.NoError(t, err)
	return c
}

// files writes c's certificate and key as PEM files in dir, named after name.
func writePEM(t *testing.T, dir, name string, c tls.Certificate) (cert, key string) {
	t.Helper()
	kder, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	require.NoError(t, err)
	cert, key = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	require.NoError(t, os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600))
	require.NoError(t, os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600))
	return cert, key
}

// mtlsProxy is a TLS-terminating TCP proxy in front of the Temporal dev server, as a
// load balancer of an mTLS cluster is: it speaks HTTP/2 (ALPN h2), requires a client
// certificate signed by its client CA, and forwards the bytes.
type mtlsProxy struct {
	addr    string
	mu      sync.Mutex
	clients []string // the verified client certificates' common names
}

func startMTLSProxy(t *testing.T, server tls.Certificate, clientCA *testCA) *mtlsProxy {
	t.Helper()
	upstream := testenv.TemporalAddress()
	testenv.Temporal(t) // skips or fails with how to start it
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.cert)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{server}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
		NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12,
	})
	require.NoError(t, err)
	p := &mtlsProxy{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	var conns sync.Map
	t.Cleanup(func() {
		_ = ln.Close()
		conns.Range(func(c, _ any) bool { _ = c.(net.Conn).Close(); return true })
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			wg.Go(func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := tc.HandshakeContext(ctx); err != nil {
					// The alert is sent. Under TLS 1.3 the client may be writing already:
					// wait for it to read the alert and hang up, so that it fails with the
					// alert rather than a broken pipe.
					raw := tc.NetConn()
					_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
					_, _ = io.Copy(io.Discard, raw)
					return
				}
				p.mu.Lock()
				p.clients = append(p.clients, tc.ConnectionState().PeerCertificates[0].Subject.CommonName)
				p.mu.Unlock()
				up, err := net.Dial("tcp", upstream)
				if err != nil {
					return
				}
				conns.Store(up, true)
				defer up.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(up, tc); done <- struct{}{} }()
				go func() { _, _ = io.Copy(tc, up); done <- struct{}{} }()
				<-done
			})
		}
	})
	return p
}

func (p *mtlsProxy) clientNames() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.clients...)
}

// mtlsSetup is a server CA, the proxy's certificate for temporal.test, a client CA and
// the bridge's client certificate, as files in dir.
type mtlsSetup struct {
	dir                 string
	serverCA, clientCA  *testCA
	caFile              string
	clientCert, clientK string
	proxy               *mtlsProxy
}

func newMTLSSetup(t *testing.T) *mtlsSetup {
	t.Helper()
	s := &mtlsSetup{dir: t.TempDir(), serverCA: newTestCA(t, "server CA"), clientCA: newTestCA(t, "client CA")}
	s.caFile = filepath.Join(s.dir, "server-ca.pem")
	require.NoError(t, os.WriteFile(s.caFile, s.serverCA.pem, 0o600))
	s.clientCert, s.clientK = writePEM(t, s.dir, "bridge", s.clientCA.issue(t, "flowbridge-bridge", false))
	s.proxy = startMTLSProxy(t, s.serverCA.issue(t, "temporal.test", true), s.clientCA)
	return s
}

func (s *mtlsSetup) env() map[string]string {
	return map[string]string{
		"TEMPORAL_ADDRESS":                 s.proxy.addr,
		"TEMPORAL_TLS_CLIENT_CERT_PATH":    s.clientCert,
		"TEMPORAL_TLS_CLIENT_KEY_PATH":     s.clientK,
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH": s.caFile,
		"TEMPORAL_TLS_SERVER_NAME":         "temporal.test",
	}
}

// The bridge, configured as for an mTLS cluster and a codec server by the CLI's variables,
// starts a workflow through a proxy that requires its client certificate; the workflow's
// input reaches Temporal encoded by the codec server.
func TestBridgeStartsWorkflowsOverMTLSWithACodecServer(t *testing.T) {
	s := newMTLSSetup(t)
	n := testenv.StartNATS(t)
	var codecMu sync.Mutex
	var codecHeaders []http.Header
	codecHandler := converter.NewPayloadCodecHTTPHandler(converter.NewZlibCodec(converter.ZlibCodecOptions{AlwaysEncode: true}))
	codecServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		codecMu.Lock()
		codecHeaders = append(codecHeaders, r.Header.Clone())
		codecMu.Unlock()
		codecHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(codecServer.Close)
	authFile := filepath.Join(s.dir, "codec-auth")
	require.NoError(t, os.WriteFile(authFile, []byte("Bearer codec-s3cret\n"), 0o600))

	env := s.env()
	env["NATS_URL"] = n.URL
	env["TEMPORAL_TASK_QUEUE"] = testenv.ID("mtls-") // no worker: the workflow only has to start
	env["DATABASE_URL"] = "postgres://u@127.0.0.1:" + strconv.Itoa(testenv.ClosedPort(t)) + "/db?sslmode=disable"
	env["TEMPORAL_CODEC_ENDPOINT"] = codecServer.URL
	env["TEMPORAL_CODEC_AUTH_FILE"] = authFile
	cfg, err := config.LoadBridge(nil, func(k string) string { return env[k] })
	require.NoError(t, err)
	cfg.HTTPAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	p, err := newBridgeProcess(t.Context(), cfg, testenv.Logger(t))
	require.NoError(t, err)
	(&testBridge{bridgeProcess: p, nats: n}).start(t)

	require.NoError(t, events.EnsureStreams(t.Context(), n.JS, 2*time.Minute))
	user := testenv.ID("mtls-user-")
	ev := cloudevents.New()
	ev.SetID(testenv.ID("evt-"))
	ev.SetType("user.signedup")
	ev.SetSource("/tests/mtls")
	ev.SetTime(time.Now())
	require.NoError(t, ev.SetData(cloudevents.ApplicationJSON, map[string]string{"user_id": user, "email": user + "@example.com"}))
	_, err = events.NewPublisher(n.JS).Publish(t.Context(), ev)
	require.NoError(t, err)

	plain := testenv.Temporal(t) // straight to the dev server, without the codec
	id := "onboarding-" + user
	testenv.Eventually(t, 20*time.Second, func() bool {
		d, err := plain.DescribeWorkflowExecution(t.Context(), id, "")
		return err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_RUNNING
	}, "workflow %s was not started through the mTLS proxy", id)
	t.Cleanup(func() { _ = plain.TerminateWorkflow(context.Background(), id, "", "test over") })

	require.Contains(t, s.proxy.clientNames(), "flowbridge-bridge", "the proxy saw no verified client certificate")
	it := plain.GetWorkflowHistory(t.Context(), id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	first, err := it.Next()
	require.NoError(t, err)
	in := first.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()
	require.Len(t, in, 1)
	require.Equal(t, "binary/zlib", string(in[0].GetMetadata()[converter.MetadataEncoding]), "the input was not encoded by the codec server")
	codecMu.Lock()
	defer codecMu.Unlock()
	require.NotEmpty(t, codecHeaders)
	require.Equal(t, "default", codecHeaders[0].Get("X-Namespace"))
	require.Equal(t, "Bearer codec-s3cret", codecHeaders[0].Get("Authorization"), "TEMPORAL_CODEC_AUTH_FILE")
}

// A TLS setting that does not match the server fails the first call with an error that
// says so, and the readiness check names TLS without the address.
func TestTemporalTLSMismatchesFailClearly(t *testing.T) {
	s := newMTLSSetup(t)
	otherCA := newTestCA(t, "another CA")
	otherCAFile := filepath.Join(s.dir, "other-ca.pem")
	require.NoError(t, os.WriteFile(otherCAFile, otherCA.pem, 0o600))
	strangerCert, strangerKey := writePEM(t, s.dir, "stranger", otherCA.issue(t, "stranger", false))
	tests := []struct {
		name      string
		change    map[string]string
		wantErr   string
		wantCheck string
	}{
		{name: "a CA that did not sign the server's certificate", change: map[string]string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH": otherCAFile},
			wantErr: "certificate signed by unknown authority", wantCheck: "the server's certificate is not trusted (check TEMPORAL_TLS_SERVER_CA_CERT_PATH"},
		{name: "another server name", change: map[string]string{"TEMPORAL_TLS_SERVER_NAME": "frontend.test"},
			wantErr: "certificate is valid for temporal.test, not frontend.test", wantCheck: "TEMPORAL_TLS_SERVER_NAME"},
		{name: "no client certificate", change: map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": "", "TEMPORAL_TLS_CLIENT_KEY_PATH": ""},
			wantErr: "certificate required", wantCheck: "the server refused this client (check TEMPORAL_TLS_CLIENT_CERT_PATH"},
		// Go's TLS client sends no certificate the server's CAs did not sign.
		{name: "a client certificate the server does not trust", change: map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": strangerCert, "TEMPORAL_TLS_CLIENT_KEY_PATH": strangerKey},
			wantErr: "certificate required", wantCheck: "the server refused this client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := s.env()
			for k, v := range tt.change {
				env[k] = v
			}
			cfg, err := config.LoadBridge(nil, func(k string) string { return env[k] })
			require.NoError(t, err)
			tc, err := newTemporalClient(cfg.Temporal, testenv.Logger(t), nil)
			require.NoError(t, err)
			defer tc.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			_, err = tc.CheckHealth(ctx, &client.CheckHealthRequest{})
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.wantErr)
			err = TemporalCheck(tc)(ctx)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.wantCheck)
			_, port, _ := net.SplitHostPort(s.proxy.addr)
			require.NotContains(t, err.Error(), port)
		})
	}
}

// h2cProxy is a plaintext HTTP/2 reverse proxy in front of the Temporal dev server that
// records the authorization header of every gRPC call.
type h2cProxy struct {
	addr  string
	mu    sync.Mutex
	calls map[string][]string // gRPC method -> authorization headers
}

func startH2CProxy(t *testing.T) *h2cProxy {
	t.Helper()
	testenv.Temporal(t)
	target, err := url.Parse("http://" + testenv.TemporalAddress())
	require.NoError(t, err)
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport:     &http.Transport{Protocols: &h2c},
		FlushInterval: -1,
	}
	p := &h2cProxy{calls: map[string][]string{}}
	srv := &http.Server{Protocols: &h2c, ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.calls[r.URL.Path] = append(p.calls[r.URL.Path], r.Header.Get("Authorization"))
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

func (p *h2cProxy) authorizations(method string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.calls[method]...)
}

// The API key reaches the server as the authorization header of each call, whether from
// TEMPORAL_API_KEY_FILE or from the temporal.toml profile TEMPORAL_PROFILE chooses; the
// client built by the app starts a workflow with it.
func TestTemporalAPIKeyReachesTheServer(t *testing.T) {
	proxy := startH2CProxy(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "api-key")
	require.NoError(t, os.WriteFile(keyFile, []byte("key-from-file\n"), 0o600))
	profiles := filepath.Join(dir, "temporal.toml")
	require.NoError(t, os.WriteFile(profiles, []byte(`
[profile.default]
address = "127.0.0.1:`+strconv.Itoa(testenv.ClosedPort(t))+`"

[profile.proxied]
address = "`+proxy.addr+`"
namespace = "default"
api_key = "key-from-profile"
[profile.proxied.tls]
disabled = true
`), 0o600))
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		// An API key turns TLS on by default; this proxy is plaintext.
		{name: "TEMPORAL_API_KEY_FILE", env: map[string]string{"TEMPORAL_ADDRESS": proxy.addr, "TEMPORAL_API_KEY_FILE": keyFile, "TEMPORAL_TLS": "false"}, want: "Bearer key-from-file"},
		{name: "the profile TEMPORAL_PROFILE chooses", env: map[string]string{"TEMPORAL_CONFIG_FILE": profiles, "TEMPORAL_PROFILE": "proxied"}, want: "Bearer key-from-profile"},
	}
	const start = "/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.LoadBridge(nil, func(k string) string { return tt.env[k] })
			require.NoError(t, err)
			before := len(proxy.authorizations(start))
			tc, err := newTemporalClient(cfg.Temporal, testenv.Logger(t), nil)
			require.NoError(t, err)
			defer tc.Close()
			id := testenv.ID("apikey-")
			run, err := tc.ExecuteWorkflow(t.Context(), client.StartWorkflowOptions{ID: id, TaskQueue: testenv.ID("apikey-")}, "NoWorkerRunsThis")
			require.NoError(t, err)
			t.Cleanup(func() { _ = tc.TerminateWorkflow(context.Background(), id, run.GetRunID(), "test over") })
			got := proxy.authorizations(start)[before:]
			require.Equal(t, []string{tt.want}, got, "authorization of StartWorkflowExecution: got %q, want %q", got, tt.want)
		})
	}
}
