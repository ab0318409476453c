// Package schemas embeds the JSON Schema (draft 2020-12) of every event type's data, one
// file per type named <type>.json. The files are the language-neutral contract for
// publishers; this package only makes them available to the Go code.
package schemas

import "embed"

// FS holds the *.json schema files.
//
//go:embed *.json
var FS embed.FS
