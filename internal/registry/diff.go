package registry

import (
	"fmt"
	"strings"
)

// maxDiffCells bounds the dynamic-programming table of Diff (lines of a × lines of b after the common prefix
// and suffix are cut); beyond it the changed middle is shown as one replaced block.
const maxDiffCells = 4 << 20

// Diff returns the unified diff (3 lines of context) that turns a into b, with the given file labels; "" when
// they are equal.
func Diff(labelA, labelB, a, b string) string {
	if a == b {
		return ""
	}
	la, lb := splitLines(a), splitLines(b)
	ops := diffLines(la, lb)
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", labelA, labelB)
	const ctx = 3
	// Walk the ops, grouping changes whose context overlaps into hunks.
	i := 0
	for i < len(ops) {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		start := max(i-ctx, 0)
		end := i
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run == len(ops) || run-end > 2*ctx {
				end = min(end+ctx, len(ops))
				break
			}
			end = run
		}
		writeHunk(&out, ops[start:end])
		i = end
	}
	return out.String()
}

type diffOp struct {
	kind      byte // ' ', '-', '+'
	text      string
	lineA     int // 1-based line in a (for ' ' and '-'), else the a line it follows
	lineB     int
	noNewline bool
}

func writeHunk(out *strings.Builder, ops []diffOp) {
	var aStart, bStart, aLen, bLen int
	aStart, bStart = -1, -1
	for _, op := range ops {
		if op.kind != '+' {
			if aStart < 0 {
				aStart = op.lineA
			}
			aLen++
		}
		if op.kind != '-' {
			if bStart < 0 {
				bStart = op.lineB
			}
			bLen++
		}
	}
	if aStart < 0 { // only additions: the range starts after the line before them
		aStart = ops[0].lineA
	}
	if bStart < 0 {
		bStart = ops[0].lineB
	}
	fmt.Fprintf(out, "@@ -%s +%s @@\n", hunkRange(aStart, aLen), hunkRange(bStart, bLen))
	for _, op := range ops {
		out.WriteByte(op.kind)
		out.WriteString(op.text)
		out.WriteByte('\n')
		if op.noNewline {
			out.WriteString("\\ No newline at end of file\n")
		}
	}
}

func hunkRange(start, n int) string {
	if n == 1 {
		return fmt.Sprint(start)
	}
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	return fmt.Sprintf("%d,%d", start, n)
}

type line struct {
	text      string
	noNewline bool
}

func splitLines(s string) []line {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, "\n")
	last := parts[len(parts)-1] != ""
	if !last {
		parts = parts[:len(parts)-1]
	}
	out := make([]line, len(parts))
	for i, p := range parts {
		out[i] = line{text: p}
	}
	if last {
		out[len(out)-1].noNewline = true
	}
	return out
}

// diffLines computes a shortest edit script by longest common subsequence over the part between the common
// prefix and suffix.
func diffLines(a, b []line) []diffOp {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var ops []diffOp
	ai, bi := 0, 0
	keep := func() {
		ops = append(ops, diffOp{kind: ' ', text: a[ai].text, noNewline: a[ai].noNewline, lineA: ai + 1, lineB: bi + 1})
		ai++
		bi++
	}
	del := func() {
		ops = append(ops, diffOp{kind: '-', text: a[ai].text, noNewline: a[ai].noNewline, lineA: ai + 1, lineB: bi})
		ai++
	}
	add := func() {
		ops = append(ops, diffOp{kind: '+', text: b[bi].text, noNewline: b[bi].noNewline, lineA: ai, lineB: bi + 1})
		bi++
	}
	for range pre {
		keep()
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	if len(ma)*len(mb) > maxDiffCells {
		for range ma {
			del()
		}
		for range mb {
			add()
		}
	} else {
		// lcs[i][j] is the LCS length of ma[i:] and mb[j:].
		w := len(mb) + 1
		lcs := make([]int32, (len(ma)+1)*w)
		for i := len(ma) - 1; i >= 0; i-- {
			for j := len(mb) - 1; j >= 0; j-- {
				if ma[i] == mb[j] {
					lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
				} else {
					lcs[i*w+j] = max(lcs[(i+1)*w+j], lcs[i*w+j+1])
				}
			}
		}
		i, j := 0, 0
		for i < len(ma) || j < len(mb) {
			switch {
			case i < len(ma) && j < len(mb) && ma[i] == mb[j]:
				keep()
				i++
				j++
			case i < len(ma) && (j == len(mb) || lcs[(i+1)*w+j] >= lcs[i*w+j+1]):
				del()
				i++
			default:
				add()
				j++
			}
		}
	}
	for range suf {
		keep()
	}
	return ops
}
