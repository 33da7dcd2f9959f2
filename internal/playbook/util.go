package playbook

import (
	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/suggest"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// Diagnostic is one problem in a playbook: file, line, column, severity and message.
type Diagnostic = yamlnode.Diagnostic

func hint(word string, candidates []string) string { return suggest.Hint(word, candidates) }

func errorTypes() []string { return action.ErrorTypes }
