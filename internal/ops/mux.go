package ops

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Mux is an http.ServeMux whose own answers are JSON like every other refusal: a path no
// route matches is answered 404, and a method no route of the path takes is answered 405
// with an Allow header, each with a body {"error": ...}, where ServeMux would write
// text/plain. Its redirects to a path's canonical form are ServeMux's.
type Mux struct {
	mux http.ServeMux
}

var _ http.Handler = (*Mux)(nil)

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{} }

// Handle adds a route, with a pattern as http.ServeMux takes it ("GET /readyz"). It panics
// on a pattern ServeMux refuses or one that conflicts with another, as ServeMux does.
func (m *Mux) Handle(pattern string, h http.Handler) { m.mux.Handle(pattern, h) }

// HandleFunc is Handle for a function.
func (m *Mux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	m.mux.HandleFunc(pattern, f)
}

// ServeHTTP routes r as http.ServeMux does, answering 404 and 405 in JSON.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := m.mux.Handler(r); pattern != "" {
		m.mux.ServeHTTP(w, r)
		return
	}
	// No route matched: ServeMux answers 404, 405 or a redirect. refusalWriter turns the
	// first two into JSON and lets a redirect through.
	m.mux.ServeHTTP(&refusalWriter{ResponseWriter: w, r: r}, r)
}

// refusalWriter rewrites ServeMux's own text/plain 404 and 405 answers as JSON.
type refusalWriter struct {
	http.ResponseWriter
	r       *http.Request
	written bool // the JSON answer is written: drop ServeMux's text
}

func (w *refusalWriter) WriteHeader(code int) {
	switch code {
	case http.StatusNotFound:
		w.written = true
		WriteError(w.ResponseWriter, code, "no route for "+w.r.Method+" "+shorten(w.r.URL.Path)+" on this address")
	case http.StatusMethodNotAllowed:
		w.written = true
		allow := w.Header().Get("Allow") // set by ServeMux
		WriteError(w.ResponseWriter, code, "method "+shorten(w.r.Method)+" is not allowed on "+shorten(w.r.URL.Path)+": use "+allow+" (the Allow header)")
	default:
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *refusalWriter) Write(b []byte) (int, error) {
	if w.written {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// shorten bounds what a refusal echoes of the request.
func shorten(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "..."
}

// errorBody is the body of every refusal: the same shape as the ingress's.
type errorBody struct {
	Error string `json:"error"`
}

// WriteError answers status with the JSON body {"error": msg}.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, errorBody{Error: msg})
}

// WriteJSON answers status with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length") // ServeMux's http.Error may have left one for its text
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // an API, not a page: "stripe.>" stays readable
	_ = enc.Encode(v)
}
