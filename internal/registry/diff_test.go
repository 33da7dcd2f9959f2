package registry

import (
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	lines := func(n int, prefix string) string {
		var b strings.Builder
		for i := 1; i <= n; i++ {
			b.WriteString(prefix)
			b.WriteString(string(rune('a' + i - 1)))
			b.WriteByte('\n')
		}
		return b.String()
	}
	ten := lines(10, "l")
	for _, tc := range []struct {
		name, a, b, want string
	}{
		{"equal", "x\n", "x\n", ""},
		{"change in the middle", ten, strings.Replace(ten, "le\n", "lE\n", 1),
			"--- a\n+++ b\n@@ -2,7 +2,7 @@\n lb\n lc\n ld\n-le\n+lE\n lf\n lg\n lh\n"},
		{"two far changes make two hunks", ten, strings.Replace(strings.Replace(ten, "la\n", "lA\n", 1), "lj\n", "lJ\n", 1),
			"--- a\n+++ b\n@@ -1,4 +1,4 @@\n-la\n+lA\n lb\n lc\n ld\n@@ -7,4 +7,4 @@\n lg\n lh\n li\n-lj\n+lJ\n"},
		{"near changes share a hunk", ten, strings.Replace(strings.Replace(ten, "lc\n", "lC\n", 1), "lg\n", "lG\n", 1),
			"--- a\n+++ b\n@@ -1,10 +1,10 @@\n la\n lb\n-lc\n+lC\n ld\n le\n lf\n-lg\n+lG\n lh\n li\n lj\n"},
		{"insert at start", "b\nc\n", "a\nb\nc\n", "--- a\n+++ b\n@@ -1,2 +1,3 @@\n+a\n b\n c\n"},
		{"delete everything", "a\nb\n", "", "--- a\n+++ b\n@@ -1,2 +0,0 @@\n-a\n-b\n"},
		{"from nothing", "", "a\n", "--- a\n+++ b\n@@ -0,0 +1 @@\n+a\n"},
		{"missing final newline", "a\nb", "a\nb\n", "--- a\n+++ b\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Diff("a", "b", tc.a, tc.b); got != tc.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestDiffLargeInputsFallBackToOneBlock(t *testing.T) {
	var a, b strings.Builder
	for i := range 3000 {
		a.WriteString("a" + strings.Repeat("x", i%7) + "\n")
		b.WriteString("b" + strings.Repeat("y", i%5) + "\n")
	}
	got := Diff("a", "b", a.String(), b.String())
	if !strings.HasPrefix(got, "--- a\n+++ b\n@@ -1,3000 +1,3000 @@\n-a\n") || strings.Count(got, "\n-") != 3000 || strings.Count(got, "\n+") != 3001 {
		t.Fatalf("unexpected diff head %q", got[:60])
	}
}
