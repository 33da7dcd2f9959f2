package playbook

import (
	"fmt"
	"strings"
	"time"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/suggest"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// Diagnostic is one problem in a playbook: file, line, column, severity and message.
type Diagnostic = yamlnode.Diagnostic

func hint(word string, candidates []string) string { return suggest.Hint(word, candidates) }

func errorTypes() []string { return action.ErrorTypes }

// humanDuration writes whole days as days (30d), the way playbooks may write them.
func humanDuration(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return plan.FormatDuration(d)
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return 0
}

func containsKind(list []plan.Kind, k plan.Kind) bool {
	for _, x := range list {
		if x == k {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func article(word string) string {
	if strings.ContainsRune("aeiou", rune(word[0])) {
		return "an " + word
	}
	return "a " + word
}

// kindList names kinds for messages: "action, call, approval, wait or fail".
func kindList(kinds []plan.Kind) string {
	words := make([]string, len(kinds))
	for i, k := range kinds {
		words[i] = string(k)
	}
	return yamlnode.OrWords(words)
}
