// Package layout holds no code: its tests check the architecture's rules over the module's source (SQL only in
// internal/store, the workflow code free of I/O, the vendor client free of Temporal, the Temporal server only in
// the embedded dev server and end-to-end tests), reading the files with go/parser, so that a rule broken by a
// change fails `go test -short` instead of waiting for a review.
package layout
