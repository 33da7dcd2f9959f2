package yamlnode

import (
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// ValuePos returns the position in the file of the character at rune offset k of scalar n's decoded value,
// accounting for quoting, escapes, block scalars and line folding. Where the source and the value cannot be
// aligned (an unusual escape), it returns the closest position it reached, never one outside the scalar's
// line range by much.
func (s *Source) ValuePos(n *yaml.Node, k int) Pos {
	start := s.offsetOf(At(n))
	if n == nil || n.Kind != yaml.ScalarNode || start < 0 || k <= 0 && n.Style&(yaml.LiteralStyle|yaml.FoldedStyle|yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
		return At(n)
	}
	p := start
	data := s.Data
	switch {
	case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
		p++ // the opening quote
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		// The value starts on the line after the block header (| or >, with optional indicators and comment).
		for p < len(data) && data[p] != '\n' {
			p++
		}
		if p < len(data) {
			p++
		}
	}
	double := n.Style&yaml.DoubleQuotedStyle != 0
	single := n.Style&yaml.SingleQuotedStyle != 0
	i := 0
	for _, r := range n.Value {
		if i == k {
			break
		}
		matched := false
		for p < len(data) && !matched {
			c, size := utf8.DecodeRune(data[p:])
			switch {
			case c == r:
				if single && c == '\'' {
					// '' in the source is one quote in the value.
					p += 2
				} else {
					p += size
				}
				matched = true
			case double && c == '\\':
				n := escapeLen(data[p:])
				p += n
				if n >= 2 && (data[p-1] == '\n' || data[p-1] == '\r') {
					continue // an escaped line break produces nothing
				}
				matched = true
			case c == ' ' || c == '\t' || c == '\n' || c == '\r':
				// Indentation, folded line breaks and, in block scalars, nothing else.
				p += size
			default:
				// Cannot align: stop here rather than wander off.
				return s.PosOf(p)
			}
		}
		i++
	}
	// Skip folding whitespace before the target character so the position lands on it.
	target, hasTarget := runeAt(n.Value, k)
	for p < len(data) {
		c, size := utf8.DecodeRune(data[p:])
		if hasTarget && c == target || c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			break
		}
		p += size
	}
	return s.PosOf(p)
}

func runeAt(v string, k int) (rune, bool) {
	i := 0
	for _, r := range v {
		if i == k {
			return r, true
		}
		i++
	}
	return 0, false
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
	case '\r':
		if len(b) > 2 && b[2] == '\n' {
			return 3
		}
	}
	return 2
}
