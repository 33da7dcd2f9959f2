package playbook

import (
	"strings"
	"testing"
)

// TestLineEndings: a file's problems are at the same lines and columns whether its lines end with LF,
// CR LF or a lone CR, including problems inside quoted, plain and block scalars that span lines.
func TestLineEndings(t *testing.T) {
	t.Parallel()
	lines := []string{
		`name: Bad_Name`,
		`steps:`,
		`  - id: a`,
		`    action: cecp.swep`,
		`  - id: b`,
		`    if: steps.zz.status == "x"`,
		`    wait: 1m`,
		`  - id: c`,
		`    set:`,
		`      quoted: "first line`,
		`        then ${{ inputs.nope }}"`,
		`      block: |`,
		`        text`,
		`          ${{ vars.nope }}`,
		`      plain: ${{ steps.b.status`,
		`        + steps.qq.status }}`,
		`      e: ${{ "é" + inputs.also }}`,
	}
	want := strings.Join([]string{
		`f.yaml:1:7: error: name "Bad_Name" must be lower-case letters, digits and dashes, starting with a letter (at most 64 characters), like phishing-containment`,
		`f.yaml:4:13: error: unknown action "cecp.swep" (did you mean "cecp.sweep"?)`,
		`f.yaml:6:15: error: unknown step "zz"`,
		`f.yaml:11:25: error: unknown input "nope"`,
		`f.yaml:14:20: error: unknown variable "nope"`,
		`f.yaml:16:17: error: unknown step "qq"`,
		`f.yaml:17:27: error: unknown input "also"`,
		``,
	}, "\n")
	for name, eol := range map[string]string{"LF": "\n", "CRLF": "\r\n", "CR": "\r"} {
		t.Run(name, func(t *testing.T) {
			src := strings.Join(lines, eol) + eol
			_, diags := Load("f.yaml", []byte(src))
			if got := diagText(diags); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}
