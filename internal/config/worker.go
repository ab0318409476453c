package config

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	flag "github.com/spf13/pflag"
)

// DefaultSMTPTLS is SMTP_TLS's default: STARTTLS, required. Every mail provider (SES,
// SendGrid, Postmark, Mailgun, Microsoft 365, Gmail) takes it on port 587; requiring it
// means a server, or someone in between, that does not offer it gets no email and no
// password in clear text (opportunistic STARTTLS can be stripped). Plain text is an
// explicit choice: SMTP_TLS=none, as `make dev` sets for mailpit.
const DefaultSMTPTLS = "starttls"

// registerSMTP registers the SMTP settings of the worker beside SMTP_ADDR and MAIL_FROM.
func (c *Worker) registerSMTP(fs *flag.FlagSet, env func(string) string, errs *[]error) {
	fs.StringVar(&c.SMTPTLS, "smtp-tls", or(env("SMTP_TLS"), DefaultSMTPTLS), "SMTP encryption: starttls (required STARTTLS, port 587), tls (implicit TLS, port 465) or none (SMTP_TLS)")
	fs.StringVar(&c.SMTPTLSCA, "smtp-tls-ca", env("SMTP_TLS_CA"), "PEM file of the CAs that verify the SMTP server, instead of the system's (SMTP_TLS_CA)")
	fs.StringVar(&c.SMTPUsername, "smtp-username", env("SMTP_USERNAME"), "SMTP AUTH user name; empty: no AUTH (SMTP_USERNAME)")
	password, err := secretSetting(env, "SMTP_PASSWORD")
	*errs = append(*errs, err)
	c.SMTPPassword = password
	fs.Var(secret{&c.SMTPPassword, redactAll}, "smtp-password", "SMTP AUTH password; prefer SMTP_PASSWORD_FILE (SMTP_PASSWORD)")
	fs.StringVar(&c.SMTPAuth, "smtp-auth", or(env("SMTP_AUTH"), "auto"), "SMTP AUTH mechanism: auto (PLAIN, LOGIN or CRAM-MD5, the first the server offers), plain, login or cram-md5 (SMTP_AUTH)")
	boolVar(fs, &c.SMTPAuthAllowInsecure, "smtp-auth-allow-insecure", "SMTP_AUTH_ALLOW_INSECURE", env, "allow SMTP AUTH with SMTP_TLS=none to a host not on loopback (the password crosses the network in clear text)", errs)
}

// validateSMTP checks the SMTP settings together.
func (c *Worker) validateSMTP() []error {
	var errs []error
	host, _, err := splitHostPort(c.SMTPAddr)
	if err != nil {
		errs = append(errs, invalid("SMTP_ADDR", err.Error()))
	}
	switch c.SMTPTLS {
	case "starttls", "tls", "none":
	default:
		errs = append(errs, invalid("SMTP_TLS", fmt.Sprintf("%q is not starttls, tls or none", c.SMTPTLS)))
	}
	switch c.SMTPAuth {
	case "auto", "plain", "login", "cram-md5":
	default:
		errs = append(errs, invalid("SMTP_AUTH", fmt.Sprintf("%q is not auto, plain, login or cram-md5", c.SMTPAuth)))
	}
	switch {
	case c.SMTPUsername != "" && c.SMTPPassword == "":
		errs = append(errs, invalid("SMTP_PASSWORD", "must be set with SMTP_USERNAME (or SMTP_PASSWORD_FILE)"))
	case c.SMTPUsername == "" && c.SMTPPassword != "":
		errs = append(errs, invalid("SMTP_USERNAME", "must be set with SMTP_PASSWORD"))
	case c.SMTPUsername != "" && c.SMTPTLS == "none" && err == nil && !isLoopback(host) && !c.SMTPAuthAllowInsecure:
		errs = append(errs, invalid("SMTP_TLS", fmt.Sprintf("none with SMTP_USERNAME would send SMTP_PASSWORD to %s in clear text: use starttls or tls, or set SMTP_AUTH_ALLOW_INSECURE=true on a network you trust", host)))
	}
	if c.SMTPTLSCA != "" {
		if c.SMTPTLS == "none" {
			errs = append(errs, invalid("SMTP_TLS_CA", "is set but SMTP_TLS is none: nothing would use it"))
		}
		if pem, err := os.ReadFile(c.SMTPTLSCA); err != nil {
			errs = append(errs, invalid("SMTP_TLS_CA", fmt.Sprintf("cannot be read: %v", err)))
		} else if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			errs = append(errs, invalid("SMTP_TLS_CA", fmt.Sprintf("%s holds no PEM certificate", c.SMTPTLSCA)))
		}
	}
	return errs
}

// isLoopback: localhost or a loopback address, where a password never leaves the machine.
func isLoopback(host string) bool {
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// DefaultWorkerStopTimeout is WORKER_STOP_TIMEOUT's default: within the 30 s that
// Kubernetes (terminationGracePeriodSeconds) and compose (stop_grace_period) give a
// stopping container before SIGKILL, with time left to close connections.
const DefaultWorkerStopTimeout = 25 * time.Second
