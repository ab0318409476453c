package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"maps"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// NATSAuth is one way a NATS server asks its clients who they are, for tests of
// flowbridge's NATS settings: the server's configuration, the NATS_* settings a flowbridge
// process connects with (its files in a temporary directory), the options of the test's
// own connection, and a wrong credential with the setting its refusal must name.
type NATSAuth struct {
	Name   string
	Server NATSOption
	Env    map[string]string
	Client []nats.Option
	// WrongEnv replaces entries of Env with a credential the server refuses; WrongSetting
	// is the setting the refusal must name.
	WrongEnv     map[string]string
	WrongSetting string
}

// NATSAuths returns a NATSAuth of each kind flowbridge supports: user and password, token,
// nkey, creds in operator mode, and mutual TLS.
func NATSAuths(t testing.TB) []NATSAuth {
	return []NATSAuth{NATSUserPassword(t), NATSToken(t), NATSNKey(t), NATSCreds(t), NATSMutualTLS(t)}
}

// StartNATSWith starts a NATS server that asks for auth, as StartNATS does, and connects
// the test's own connection with auth.Client.
func StartNATSWith(t testing.TB, auth NATSAuth, options ...NATSOption) *NATS {
	t.Helper()
	return startNATS(t, auth.Client, append([]NATSOption{auth.Server}, options...)...)
}

// NATSUserPassword is a server with one user and password.
func NATSUserPassword(t testing.TB) NATSAuth {
	user, password := "flowbridge", ID("pw-")
	return NATSAuth{
		Name:         "user and password",
		Server:       func(o *server.Options) { o.Username, o.Password = user, password },
		Env:          map[string]string{"NATS_USER": user, "NATS_PASSWORD": password},
		Client:       []nats.Option{nats.UserInfo(user, password)},
		WrongEnv:     map[string]string{"NATS_PASSWORD": "not-" + password},
		WrongSetting: "NATS_USER/NATS_PASSWORD",
	}
}

// NATSToken is a server with a token.
func NATSToken(t testing.TB) NATSAuth {
	token := ID("token-")
	return NATSAuth{
		Name:         "token",
		Server:       func(o *server.Options) { o.Authorization = token },
		Env:          map[string]string{"NATS_TOKEN": token},
		Client:       []nats.Option{nats.Token(token)},
		WrongEnv:     map[string]string{"NATS_TOKEN": "not-" + token},
		WrongSetting: "NATS_TOKEN",
	}
}

// NATSNKey is a server with one nkey user; NATS_NKEY is a file holding its seed.
func NATSNKey(t testing.TB) NATSAuth {
	t.Helper()
	dir := t.TempDir()
	user, seedFile := newNKeyUser(t, dir, "user.nk")
	_, other := newNKeyUser(t, dir, "other.nk")
	opt, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	return NATSAuth{
		Name:         "nkey",
		Server:       func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: user}} },
		Env:          map[string]string{"NATS_NKEY": seedFile},
		Client:       []nats.Option{opt},
		WrongEnv:     map[string]string{"NATS_NKEY": other},
		WrongSetting: "NATS_NKEY",
	}
}

// NATSCreds is a server in operator mode: an operator, a system account, and an account
// with JetStream whose user's credentials (JWT and seed) are the file NATS_CREDS. The
// wrong credential is a user of an account the server does not know.
func NATSCreds(t testing.TB) NATSAuth {
	t.Helper()
	dir := t.TempDir()
	operator := must(t, nkeys.CreateOperator)
	oc := jwt.NewOperatorClaims(publicKey(t, operator))
	oc.Name = "test-operator"
	resolver := &server.MemAccResolver{}
	sys := newAccount(t, operator, resolver, "SYS", false)
	oc.SystemAccount = publicKey(t, sys)
	account := newAccount(t, operator, resolver, "flowbridge", true)
	creds := newCredsFile(t, account, filepath.Join(dir, "user.creds"))
	stranger := must(t, nkeys.CreateAccount) // signed by the operator, never stored
	wrong := newCredsFile(t, stranger, filepath.Join(dir, "stranger.creds"))
	return NATSAuth{
		Name: "creds",
		Server: func(o *server.Options) {
			o.TrustedOperators = []*jwt.OperatorClaims{oc}
			o.AccountResolver = resolver
			o.SystemAccount = oc.SystemAccount
		},
		Env:          map[string]string{"NATS_CREDS": creds},
		Client:       []nats.Option{nats.UserCredentials(creds)},
		WrongEnv:     map[string]string{"NATS_CREDS": wrong},
		WrongSetting: "NATS_CREDS",
	}
}

// NATSMutualTLS is a server with TLS that verifies clients: NATS_CA is the CA of its
// certificate (for 127.0.0.1 and localhost), NATS_CERT and NATS_KEY a client certificate
// that CA signed. The wrong credential is a client certificate of another CA.
func NATSMutualTLS(t testing.TB) NATSAuth {
	t.Helper()
	dir := t.TempDir()
	ca := NewTestCA(t, "flowbridge test CA")
	caFile := ca.WriteCA(t, dir, "ca.pem")
	serverCert, serverKey := ca.Issue(t, dir, "server", true)
	clientCert, clientKey := ca.Issue(t, dir, "client", false)
	otherCert, otherKey := NewTestCA(t, "another CA").Issue(t, dir, "other", false)
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: serverCert, KeyFile: serverKey, CaFile: caFile, Verify: true})
	if err != nil {
		t.Fatalf("server TLS: %v", err)
	}
	return NATSAuth{
		Name: "mutual TLS",
		Server: func(o *server.Options) {
			o.TLSConfig, o.TLS, o.TLSVerify, o.TLSTimeout = tc, true, true, 5
		},
		Env:          map[string]string{"NATS_CA": caFile, "NATS_CERT": clientCert, "NATS_KEY": clientKey},
		Client:       []nats.Option{nats.RootCAs(caFile), nats.ClientCert(clientCert, clientKey)},
		WrongEnv:     map[string]string{"NATS_CERT": otherCert, "NATS_KEY": otherKey},
		WrongSetting: "NATS_CERT",
	}
}

// TestCA is a certificate authority made for one test.
type TestCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

// NewTestCA makes a CA valid for a day.
func NewTestCA(t testing.TB, name string) *TestCA {
	t.Helper()
	key := must(t, func() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) })
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &TestCA{cert: cert, key: key, der: der}
}

// WriteCA writes the CA's certificate to dir/name, PEM, and returns the path.
func (ca *TestCA) WriteCA(t testing.TB, dir, name string) string {
	t.Helper()
	return writePEM(t, filepath.Join(dir, name), "CERTIFICATE", ca.der)
}

// Issue writes a certificate the CA signed, and its key, as dir/name.pem and
// dir/name-key.pem: a server's for 127.0.0.1 and localhost, or a client's.
func (ca *TestCA) Issue(t testing.TB, dir, name string, forServer bool) (certFile, keyFile string) {
	t.Helper()
	key := must(t, func() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) })
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if forServer {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der),
		writePEM(t, filepath.Join(dir, name+"-key.pem"), "PRIVATE KEY", keyDER)
}

func writePEM(t testing.TB, path, kind string, der []byte) string {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	return must(t, func() (*big.Int, error) { return rand.Int(rand.Reader, big.NewInt(1<<62)) })
}

// newNKeyUser writes a new user's seed to dir/name and returns its public key and the path.
func newNKeyUser(t testing.TB, dir, name string) (public, seedFile string) {
	t.Helper()
	kp := must(t, nkeys.CreateUser)
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	seedFile = filepath.Join(dir, name)
	if err := os.WriteFile(seedFile, append(seed, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	return publicKey(t, kp), seedFile
}

// newAccount makes an account signed by operator and stores its JWT in resolver.
func newAccount(t testing.TB, operator nkeys.KeyPair, resolver *server.MemAccResolver, name string, jetStream bool) nkeys.KeyPair {
	t.Helper()
	kp := must(t, nkeys.CreateAccount)
	ac := jwt.NewAccountClaims(publicKey(t, kp))
	ac.Name = name
	if jetStream {
		ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	}
	token, err := ac.Encode(operator)
	if err != nil {
		t.Fatal(err)
	}
	if err := resolver.Store(ac.Subject, token); err != nil {
		t.Fatal(err)
	}
	return kp
}

// newCredsFile writes the credentials of a new user of account to path, as `nsc` does.
func newCredsFile(t testing.TB, account nkeys.KeyPair, path string) string {
	t.Helper()
	user := must(t, nkeys.CreateUser)
	uc := jwt.NewUserClaims(publicKey(t, user))
	uc.Name = "bridge"
	token, err := uc.Encode(account)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := user.Seed()
	if err != nil {
		t.Fatal(err)
	}
	creds, err := jwt.FormatUserConfig(token, seed)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func publicKey(t testing.TB, kp nkeys.KeyPair) string {
	t.Helper()
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func must[T any](t testing.TB, f func() (T, error)) T {
	t.Helper()
	v, err := f()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// WriteNATSContext writes a nats context as the nats CLI stores it, under a new
// XDG_CONFIG_HOME it returns.
func WriteNATSContext(t testing.TB, name string, fields map[string]any) (xdg string) {
	t.Helper()
	xdg = t.TempDir()
	dir := filepath.Join(xdg, "nats", "context")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(fields, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return xdg
}

// With returns a copy of base with extra's entries added (a nil base is empty).
func With(base, extra map[string]string) map[string]string {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, extra)
	return out
}

// ValuesOf returns the values of keys set in m.
func ValuesOf(m map[string]string, keys ...string) []string {
	var out []string
	for _, k := range keys {
		if v := strings.TrimSpace(m[k]); v != "" {
			out = append(out, v)
		}
	}
	return out
}
