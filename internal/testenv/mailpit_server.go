package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"strconv"
)

// Mailpit TLS modes of MailpitOptions.TLS.
const (
	MailpitSTARTTLS = "starttls" // STARTTLS offered and required before MAIL FROM or AUTH
	MailpitTLS      = "tls"      // implicit TLS from the first byte
)

// MailpitOptions configures a mailpit of the test's own.
type MailpitOptions struct {
	// TLS: "" (plain text), MailpitSTARTTLS or MailpitTLS, with a certificate for
	// 127.0.0.1 and localhost signed by a CA made for the test (MailpitServer.CAFile).
	TLS string
	// Users, when set, are the only user names and passwords SMTP AUTH accepts, and AUTH
	// is required.
	Users map[string]string
}

// MailpitServer is a running mailpit.
type MailpitServer struct {
	SMTPAddr string // host:port of its SMTP server
	APIAddr  string // host:port of its HTTP API (MailTo, MailMessage)
	CAFile   string // PEM of the CA that signed its certificate; empty without TLS
}

// StartMailpit starts bin/mailpit (or $MAILPIT_BIN) on free ports of 127.0.0.1, configured
// by opts, and stops it when the test ends. A missing binary fails the test under CI and
// skips it otherwise.
func StartMailpit(t testing.TB, opts MailpitOptions) *MailpitServer {
	t.Helper()
	bin := env("MAILPIT_BIN", filepath.Join(moduleRoot(t), "bin", "mailpit"))
	if _, err := os.Stat(bin); err != nil {
		missing(t, "the mailpit binary ("+bin+", MAILPIT_BIN)", err)
	}
	dir := t.TempDir()
	s := &MailpitServer{SMTPAddr: freeAddr(t), APIAddr: freeAddr(t)}
	args := []string{"--smtp", s.SMTPAddr, "--listen", s.APIAddr, "--database", filepath.Join(dir, "mailpit.db"),
		"--disable-version-check", "--smtp-disable-rdns", "--quiet"}
	if opts.TLS != "" {
		var cert, key string
		s.CAFile, cert, key = serverCerts(t, dir)
		args = append(args, "--smtp-tls-cert", cert, "--smtp-tls-key", key)
		switch opts.TLS {
		case MailpitSTARTTLS:
			args = append(args, "--smtp-require-starttls")
		case MailpitTLS:
			args = append(args, "--smtp-require-tls")
		default:
			t.Fatalf("mailpit TLS %q: want %q or %q", opts.TLS, MailpitSTARTTLS, MailpitTLS)
		}
	}
	if len(opts.Users) > 0 {
		var b strings.Builder
		for user, password := range opts.Users {
			fmt.Fprintf(&b, "%s:%s\n", user, password)
		}
		file := filepath.Join(dir, "smtp-users")
		if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--smtp-auth-file", file)
	}
	cmd := exec.Command(bin, args...)
	logFile, err := os.Create(filepath.Join(dir, "mailpit.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mailpit: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logFile.Close()
	})
	deadline := time.Now().Add(20 * time.Second)
	for _, a := range []string{s.SMTPAddr, s.APIAddr} {
		for dial(a) != nil {
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(logFile.Name())
				t.Fatalf("mailpit did not listen on %s within 20s; its log:\n%s", a, log)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return s
}

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// moduleRoot is the directory of go.mod above the test's working directory.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// serverCerts writes a CA and a server certificate for 127.0.0.1 and localhost signed by
// it, as PEM files in dir, and returns their paths.
func serverCerts(t testing.TB, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flowbridge test CA"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(err)
	ca, err := x509.ParseCertificate(caDER)
	must(err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	must(err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	must(err)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		must(os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600))
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", der), write("server-key.pem", "EC PRIVATE KEY", keyDER)
}

// ClosedPort returns a port on 127.0.0.1 that nothing listens on (a moment ago), for
// tests of a server that cannot be reached.
func ClosedPort(t testing.TB) int {
	t.Helper()
	_, port, err := net.SplitHostPort(freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
