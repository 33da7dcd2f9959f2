package playbook

import (
	"regexp"
	"strings"
)

// secretCallRE matches a whole secret("name") value.
var secretCallRE = regexp.MustCompile(`^secret\(\s*(?:"([^"\\]*)"|'([^'\\]*)')\s*\)$`)

// secretCall reports whether s is meant as secret(...) and, when it is well formed, the name.
func secretCall(s string) (name string, isCall, ok bool) {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "secret(") {
		return "", false, false
	}
	m := secretCallRE.FindStringSubmatch(t)
	if m == nil {
		return "", true, false
	}
	return m[1] + m[2], true, true
}

// The scopes.
