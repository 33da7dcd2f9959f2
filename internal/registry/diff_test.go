package registry

import (
	"fmt"
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

// applyDiff applies a unified diff produced by Diff to a (test helper: trusts the format it checks).
func applyDiff(t *testing.T, a, diff string) string {
	t.Helper()
	if diff == "" {
		return a
	}
	src := splitLines(a)
	lines := strings.Split(strings.TrimSuffix(diff, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "--- ") || !strings.HasPrefix(lines[1], "+++ ") {
		t.Fatalf("bad header: %q", diff)
	}
	var out []line
	next := 0 // next line of src (0-based) not yet copied
	for i := 2; i < len(lines); {
		var aStart, aLen, bStart, bLen int
		h := lines[i]
		if n, err := parseHunk(h, &aStart, &aLen, &bStart, &bLen); err != nil || n != 4 {
			t.Fatalf("bad hunk header %q in %q", h, diff)
		}
		from := aStart - 1
		if aLen == 0 {
			from = aStart
		}
		out = append(out, src[next:from]...)
		next = from
		i++
		gotA, gotB := 0, 0
		for i < len(lines) && !strings.HasPrefix(lines[i], "@@ ") {
			l := lines[i]
			noNL := i+1 < len(lines) && lines[i+1] == `\ No newline at end of file`
			switch l[0] {
			case ' ':
				if src[next].text != l[1:] {
					t.Fatalf("context %q does not match %q", l, src[next].text)
				}
				out = append(out, src[next])
				next++
				gotA++
				gotB++
			case '-':
				if src[next].text != l[1:] {
					t.Fatalf("removed %q does not match %q", l, src[next].text)
				}
				next++
				gotA++
			case '+':
				out = append(out, line{text: l[1:], noNewline: noNL})
				gotB++
			default:
				t.Fatalf("bad line %q", l)
			}
			i++
			if noNL {
				i++
			}
		}
		if gotA != aLen || gotB != bLen {
			t.Fatalf("hunk %q has %d/%d lines", h, gotA, gotB)
		}
	}
	out = append(out, src[next:]...)
	var b strings.Builder
	for _, l := range out {
		b.WriteString(l.text)
		if !l.noNewline {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func parseHunk(h string, aStart, aLen, bStart, bLen *int) (int, error) {
	h = strings.TrimSuffix(strings.TrimPrefix(h, "@@ -"), " @@")
	as, bs, _ := strings.Cut(h, " +")
	parse := func(s string, start, n *int) int {
		x, y, has := strings.Cut(s, ",")
		*n = 1
		c := 0
		if _, err := fmt.Sscan(x, start); err == nil {
			c++
		}
		if has {
			if _, err := fmt.Sscan(y, n); err == nil {
				c++
			}
		} else {
			c++
		}
		return c
	}
	return parse(as, aStart, aLen) + parse(bs, bStart, bLen), nil
}

func FuzzDiff(f *testing.F) {
	f.Add("a\nb\nc\n", "a\nc\nd\n")
	f.Add("", "x")
	f.Add("x\ny", "x\ny\n")
	f.Add("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\nX\n4\n5\n6\n7\n8\nY\n")
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 4000 || len(b) > 4000 {
			return
		}
		d := Diff("a", "b", a, b)
		if (d == "") != (a == b) {
			t.Fatalf("diff %q for a=%q b=%q", d, a, b)
		}
		if got := applyDiff(t, a, d); got != b {
			t.Fatalf("applying the diff of %q and %q gives %q:\n%s", a, b, got, d)
		}
	})
}
