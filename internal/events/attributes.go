package events

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/types"
)

// Bounds on CloudEvents attributes. CheckAttributes holds an event to them at every door:
// the HTTP ingress (400 naming the attribute), Decode (the bridge dead-letters the
// message), Encode and the Publisher (nothing out of bounds is put on the wire), and dlq
// replay (the dead letter is skipped). Lengths count bytes of UTF-8, not characters.
//
// An event type becomes the NATS subject events.<type> and its dead letters'
// dlq.events.<type>, so a type is tokens of ASCII letters, digits, '_' and '-' separated
// by single dots: every such type is a valid subject whatever the server's settings, and
// it never holds the wildcards '*' and '>'. Every type flowbridge uses fits: the
// contract's (user.signedup, email.verification_sent, ...), stripe.<Stripe event type>
// (checkout.session.completed, v1.billing.meter.error_report_triggered) and
// github.<X-GitHub-Event> (pull_request, workflow_job).
const (
	// MaxTypeBytes bounds the type: events.<type> stays far below NATS's 4 KiB
	// control-line limit, whose breach makes the server close the connection.
	MaxTypeBytes = 255
	// MaxIDBytes bounds the id, which is also the Nats-Msg-Id and the ledger's key.
	MaxIDBytes = 256
	// MaxAttributeBytes bounds every other attribute: source, subject, dataschema,
	// datacontenttype and each extension's value.
	MaxAttributeBytes = 1024
	// MaxExtensions bounds how many extension attributes an event carries.
	MaxExtensions = 32
	// MaxExtensionNameBytes bounds an extension's name (the CloudEvents spec asks for 20
	// at most; a little more is tolerated).
	MaxExtensionNameBytes = 64
)

// AttributeError is the error for an attribute that breaks flowbridge's bounds. It
// wraps ErrMalformed.
type AttributeError struct {
	// Attribute names the attribute at fault: "id", "type", "source", "subject",
	// "dataschema", "datacontenttype", an extension's name, or "extensions" when there
	// are too many of them. The HTTP ingress answers it as the refusal's "field".
	Attribute string
	// Reason says what is wrong, starting with the attribute's name. A value in it is
	// quoted with its control characters and invalid bytes escaped, and cut short.
	Reason string
}

func (e *AttributeError) Error() string { return ErrMalformed.Error() + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrMalformed) hold.
func (e *AttributeError) Unwrap() error { return ErrMalformed }

func attributeErrorf(attr, format string, args ...any) *AttributeError {
	return &AttributeError{Attribute: attr, Reason: fmt.Sprintf(format, args...)}
}

// CheckAttributes holds ev's attributes to the bounds above: a type that is a subject
// token sequence of at most MaxTypeBytes; an id of at most MaxIDBytes printable
// characters; every other attribute (extensions too, names and values) valid UTF-8
// without control characters and at most MaxAttributeBytes; at most MaxExtensions
// extensions. It returns an *AttributeError naming the first attribute at fault, in the
// order id, source, type, subject, datacontenttype, dataschema, then extensions by name.
//
// It does not check what the CloudEvents SDK's Event.Validate checks (required
// attributes present, a URI where one is due, the media type's syntax): every door does
// both.
func CheckAttributes(ev Event) error {
	if err := CheckID(ev.ID()); err != nil {
		return err
	}
	if err := checkText("source", "source", ev.Source(), MaxAttributeBytes); err != nil {
		return err
	}
	if err := CheckType(ev.Type()); err != nil {
		return err
	}
	for _, a := range []struct{ name, value string }{
		{"subject", ev.Subject()},
		{"datacontenttype", ev.DataContentType()},
		{"dataschema", ev.DataSchema()},
	} {
		if err := checkText(a.name, a.name, a.value, MaxAttributeBytes); err != nil {
			return err
		}
	}
	return checkExtensions(ev.Extensions())
}

// CheckType reports whether t can be a flowbridge event type: at most MaxTypeBytes of
// dot-separated tokens, each one or more ASCII letters, digits, '_' or '-'. The error is
// an *AttributeError for "type".
func CheckType(t string) error {
	switch {
	case t == "":
		return attributeErrorf("type", "type is empty")
	case len(t) > MaxTypeBytes:
		return attributeErrorf("type", "type %s is %d bytes long: at most %d are allowed", quote(t), len(t), MaxTypeBytes)
	}
	for _, tok := range strings.Split(t, ".") {
		if tok == "" || strings.IndexFunc(tok, notTokenRune) >= 0 {
			return attributeErrorf("type", "type %s is not a valid subject token sequence: want tokens of ASCII letters, digits, '_' and '-' separated by single dots (user.signedup)", quote(t))
		}
	}
	return nil
}

func notTokenRune(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-')
}

// CheckID reports whether id can be an event id: non-empty, at most MaxIDBytes of valid
// UTF-8, printable characters only (letters, marks, numbers, punctuation, symbols and
// the ASCII space), without leading or trailing spaces, which NATS headers drop. The
// error is an *AttributeError for "id".
func CheckID(id string) error {
	switch {
	case id == "":
		return attributeErrorf("id", "id is empty")
	case len(id) > MaxIDBytes:
		return attributeErrorf("id", "id %s is %d bytes long: at most %d are allowed", quote(id), len(id), MaxIDBytes)
	case !utf8.ValidString(id):
		return attributeErrorf("id", "id %s is not valid UTF-8", quote(id))
	}
	for i, r := range id {
		if !unicode.IsPrint(r) {
			return attributeErrorf("id", "id %s has the non-printable character %U at byte %d: ids are printable text", quote(id), r, i)
		}
	}
	if strings.TrimSpace(id) != id {
		return attributeErrorf("id", "id %s has leading or trailing spaces", quote(id))
	}
	return nil
}

// CheckRawAttribute holds an attribute's value as it arrived — a ce- header of the
// binary mode, before the SDK parses it — to valid UTF-8 without control characters and
// to its attribute's length bound. It matters where parsing would hide what was sent: the
// SDK percent-encodes a source's invalid bytes, so "/s\xff" would otherwise pass as
// "/s%FF". The error is an *AttributeError for attr.
func CheckRawAttribute(attr, v string) error {
	switch attr {
	case "id":
		return CheckID(v)
	case "type":
		return CheckType(v)
	case "specversion", "source", "subject", "datacontenttype", "dataschema", "time":
		return checkText(attr, attr, v, MaxAttributeBytes)
	}
	return checkText(attr, "extension "+attr, v, MaxAttributeBytes)
}

// checkText holds attribute attr's value to valid UTF-8, no control characters (C0, DEL,
// C1) and at most max bytes. label names it in the message.
func checkText(attr, label, v string, max int) error {
	switch {
	case len(v) > max:
		return attributeErrorf(attr, "%s %s is %d bytes long: at most %d are allowed", label, quote(v), len(v), max)
	case !utf8.ValidString(v):
		return attributeErrorf(attr, "%s %s is not valid UTF-8", label, quote(v))
	}
	for i, r := range v {
		if unicode.IsControl(r) {
			return attributeErrorf(attr, "%s %s has the control character %U at byte %d", label, quote(v), r, i)
		}
	}
	return nil
}

func checkExtensions(exts map[string]any) error {
	if len(exts) > MaxExtensions {
		return attributeErrorf("extensions", "extensions: the event has %d, at most %d are allowed", len(exts), MaxExtensions)
	}
	names := make([]string, 0, len(exts))
	for name := range exts {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if len(name) > MaxExtensionNameBytes || strings.IndexFunc(name, notNameRune) >= 0 {
			return attributeErrorf(name, "extension name %s is not at most %d lower-case ASCII letters and digits", quote(name), MaxExtensionNameBytes)
		}
		v, err := types.Format(exts[name])
		if err != nil {
			return attributeErrorf(name, "extension %s: %v", name, err)
		}
		if err := checkText(name, "extension "+name, v, MaxAttributeBytes); err != nil {
			return err
		}
	}
	return nil
}

func notNameRune(r rune) bool { return !('a' <= r && r <= 'z' || '0' <= r && r <= '9') }

// quote shows a value in an error message: quoted, with control characters, invisible
// ones and invalid bytes escaped, and cut after 64 bytes so that a huge value does not
// make a huge error (or a huge Flowbridge-Error header).
func quote(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > max-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}

// Printable makes text that may hold raw input (an error message quoting it, a dead
// letter's id) safe to carry in a Flowbridge-Error header, a log line, a database column
// or a terminal: control
// characters and invalid bytes are escaped as \xNN, and it is cut after 512 bytes.
func Printable(s string) string {
	const max = 512
	var b strings.Builder
	for i, r := range s {
		if b.Len() >= max {
			b.WriteString("...")
			break
		}
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], string(utf8.RuneError)):
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case unicode.IsControl(r) && r < utf8.RuneSelf:
			fmt.Fprintf(&b, "\\x%02x", r)
		case unicode.IsControl(r):
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
