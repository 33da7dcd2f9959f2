package yamlnode

import (
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// valueCursor is how far ValuePos got in a scalar: rune k of the value (byte vi of it) sits at or after
// byte p of the file.
type valueCursor struct {
	n        *yaml.Node
	k, vi, p int
}

// ValuePos returns the position in the file of the character at rune offset k of scalar n's decoded value,
// accounting for quoting, escapes, block scalars, line folding and every kind of line break. Where the
// source and the value cannot be aligned (an unusual escape), it returns the closest position it reached,
// never one outside the scalar's line range by much.
//
// Calls for increasing offsets in the same scalar continue from where the previous one stopped, so
// locating every part of a long template costs time linear in its length.
func (s *Source) ValuePos(n *yaml.Node, k int) Pos {
	start := s.offsetOf(At(n))
	if n == nil || n.Kind != yaml.ScalarNode || start < 0 || k <= 0 && n.Style&(yaml.LiteralStyle|yaml.FoldedStyle|yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
		return At(n)
	}
	data := s.Data
	double := n.Style&yaml.DoubleQuotedStyle != 0
	single := n.Style&yaml.SingleQuotedStyle != 0
	var p, i, vi int
	if c := s.cursor; c.n == n && c.k <= k {
		p, i, vi = c.p, c.k, c.vi
	} else {
		p = start
		switch {
		case double || single:
			p++ // the opening quote
		case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
			// The value starts on the line after the block header (| or >, with optional indicators and
			// comment).
			for p < len(data) && breakLen(data, p) == 0 {
				p++
			}
			if p < len(data) {
				p += breakLen(data, p)
			}
		}
	}
	for vi < len(n.Value) && i < k {
		r, rsize := utf8.DecodeRuneInString(n.Value[vi:])
		matched := false
		for p < len(data) && !matched {
			c, size := utf8.DecodeRune(data[p:])
			bl := breakLen(data, p)
			switch {
			case c == r:
				if single && c == '\'' {
					// '' in the source is one quote in the value.
					p += 2
				} else {
					p += size
				}
				matched = true
			case r == '\n' && bl > 0 && c != '\u2028' && c != '\u2029':
				// The parser turns CR LF, a lone CR and NEL into LF.
				p += bl
				matched = true
			case double && c == '\\':
				if p+1 < len(data) && breakLen(data, p+1) > 0 {
					p += 1 + breakLen(data, p+1)
					continue // an escaped line break produces nothing
				}
				p += escapeLen(data[p:])
				matched = true
			case c == ' ' || c == '\t' || bl > 0:
				// Indentation, folded line breaks and, in block scalars, nothing else.
				p += max(bl, size)
			default:
				// Cannot align: stop here rather than wander off.
				return s.PosOf(p)
			}
		}
		vi += rsize
		i++
	}
	s.cursor = valueCursor{n: n, k: i, vi: vi, p: p}
	// Skip folding whitespace before the target character so the position lands on it.
	target, hasTarget := rune(0), false
	if vi < len(n.Value) {
		target, _ = utf8.DecodeRuneInString(n.Value[vi:])
		hasTarget = true
	}
	for p < len(data) {
		c, size := utf8.DecodeRune(data[p:])
		bl := breakLen(data, p)
		if double && c == '\\' && p+1 < len(data) && breakLen(data, p+1) > 0 {
			p += 1 + breakLen(data, p+1)
			continue
		}
		if hasTarget && (c == target || target == '\n' && bl > 0) || c != ' ' && c != '\t' && bl == 0 {
			break
		}
		p += max(bl, size)
	}
	return s.PosOf(p)
}

// escapeLen is the length of the double-quoted escape sequence at the start of b (which starts with '\').
func escapeLen(b []byte) int {
	if len(b) < 2 {
		return len(b)
	}
	switch b[1] {
	case 'x':
		return min(len(b), 4)
	case 'u':
		return min(len(b), 6)
	case 'U':
		return min(len(b), 10)
	}
	_, size := utf8.DecodeRune(b[1:])
	return 1 + size
}
