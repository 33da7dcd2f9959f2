package devserver

import "github.com/parry-soar/parry/internal/cli"

// Embedded must keep satisfying the interface parry dev calls.
var _ cli.Embedded = Embedded{}
