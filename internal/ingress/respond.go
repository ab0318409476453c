package ingress

import (
	"fmt"
	"net/http"
)

// answer is what an ingest handler says back: a status and a JSON body a person can
// read. cause is set only for a failure of flowbridge's own (the stream could not store
// an event): it is logged as an error and never sent to the client, whom it does not
// concern.
type answer struct {
	status int
	body   any
	cause  error
}

// failure is the body of every refusal.
type failure struct {
	Error string `json:"error"`
	// Field names the CloudEvents attribute ("id", "type", ...) or "data" for a schema
	// violation, when one field is at fault.
	Field string `json:"field,omitempty"`
	ID    string `json:"id,omitempty"`    // the event's id, when it has one
	Index *int   `json:"index,omitempty"` // the event's position in a batch
}

// acceptance is the body of a 202: every event of the request is in the stream.
type acceptance struct {
	Accepted int      `json:"accepted"`
	IDs      []string `json:"ids"`
	// Duplicates lists the ids the stream already held (a sender's retry, say); they are
	// accepted but stored only once.
	Duplicates []string `json:"duplicates,omitempty"`
}

func refuse(status int, f failure) answer {
	return answer{status: status, body: f}
}

func refusef(status int, format string, args ...any) answer {
	return refuse(status, failure{Error: fmt.Sprintf(format, args...)})
}

func accepted(ids, duplicates []string) answer {
	return answer{status: http.StatusAccepted, body: acceptance{Accepted: len(ids), IDs: ids, Duplicates: duplicates}}
}
