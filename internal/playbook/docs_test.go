package playbook

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/expression"
)

// TestDocs keeps docs/playbooks.md honest: every key and function of the language is documented, and every
// complete playbook in it lints clean.
func TestDocs(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../docs/playbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	var keys []string
	for _, list := range [][]string{topKeys, onKeys, scheduleKeys, waitKeys, alertKeys, dedupKeys, inputKeys, stepKeys, approvalKeys, finishKeys, retryKeys, nextKeys, onErrorKeys, inputTypes, onTimeouts, action.ErrorTypes} {
		keys = append(keys, list...)
	}
	for _, f := range expression.Functions {
		keys = append(keys, f.Name+"(")
	}
	for _, k := range keys {
		if !strings.Contains(doc, "`"+k) {
			t.Errorf("docs/playbooks.md does not mention `%s`", k)
		}
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(doc, -1)
	complete := 0
	for _, b := range blocks {
		if !strings.HasPrefix(b[1], "name:") {
			continue
		}
		complete++
		if _, diags := Load("docs/playbooks.md", []byte(b[1])); len(diags) > 0 {
			t.Errorf("an example does not lint clean:\n%s", diagText(diags))
		}
	}
	if complete == 0 {
		t.Error("no complete example found")
	}
}
