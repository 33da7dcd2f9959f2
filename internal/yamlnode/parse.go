package yamlnode

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Limits bound what Parse accepts, so a hostile or broken file costs bounded time and memory. A zero field
// is not checked.
type Limits struct {
	MaxBytes   int // file size
	MaxDepth   int // nesting of mappings and sequences
	MaxNodes   int // YAML nodes in the document, each alias counting as the nodes it stands for
	MaxAliases int // alias nodes (*name)
}

// DefaultLimits suit hand-written configuration-like documents.
var DefaultLimits = Limits{MaxBytes: 1 << 20, MaxDepth: 64, MaxNodes: 200_000, MaxAliases: 100}

// Source is a parsed document with what is needed to turn a node and an offset inside its value into a
// file position.
type Source struct {
	File string
	Data []byte
	Root *yaml.Node // the top-level node (a mapping for well-formed files); nil when parsing failed or the file is empty

	// lineStarts and lineEnds are the byte offsets where each line's text starts and ends (where its line
	// break starts); lineASCII says which lines are pure ASCII, where a column is a byte offset.
	lineStarts, lineEnds []int
	lineASCII            []bool
	// runeStarts holds, for the non-ASCII lines looked at, the offset of each character from the line's start.
	runeStarts map[int][]int
	// cursor remembers where ValuePos left off, so that positions of increasing offsets in one long scalar
	// (the parts of a template) cost the distance between them, not the distance from the scalar's start.
	cursor valueCursor
}

// Parse parses data as exactly one YAML document. Problems (syntax, size, depth, anchors and aliases,
// duplicate keys, non-scalar keys) are reported to r; Root is nil when the document cannot be used at all.
func Parse(file string, data []byte, lim Limits, r *Reporter) *Source {
	src := &Source{File: file, Data: data}
	src.index()
	if lim.MaxBytes > 0 && len(data) > lim.MaxBytes {
		r.Exceeded(Pos{1, 1}, BoundBytes, "file is %d bytes, larger than the limit of %d bytes", len(data), lim.MaxBytes)
		return src
	}
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			ru, size := utf8.DecodeRune(data[off:])
			if ru == utf8.RuneError && size <= 1 {
				break
			}
			off += size
		}
		r.Errorf(src.PosOf(off), "file is not valid UTF-8")
		return src
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return src // empty file: the caller reports what is missing
		}
		r.Errorf(yamlErrorPos(err), "%s", yamlErrorMessage(err))
		return src
	}
	var second yaml.Node
	if err := dec.Decode(&second); err == nil {
		r.Errorf(Pos{second.Line, 1}, "a file holds one YAML document, but a second one starts here (remove the \"---\" separator)")
	} else if !errors.Is(err, io.EOF) {
		r.Errorf(yamlErrorPos(err), "%s", yamlErrorMessage(err))
	}
	if len(doc.Content) == 0 {
		return src
	}
	root := doc.Content[0]
	w := walker{lim: lim, r: r, sizes: map[*yaml.Node]int{}}
	if !w.walk(root, 1) {
		return src
	}
	src.Root = root
	return src
}

var yamlLineRE = regexp.MustCompile(`^line (\d+): `)

func yamlErrorPos(err error) Pos {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Pos{n, 1}
	}
	return Pos{1, 1}
}

func yamlErrorMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = yamlLineRE.ReplaceAllString(msg, "")
	if msg == "mapping values are not allowed in this context" {
		// The usual cause in playbooks: an unquoted value with ": " in it, such as the a ? b : c operator.
		msg += ` (a value that contains ": " must be quoted, e.g. "${{ a ? b : c }}")`
	}
	return "invalid YAML: " + msg
}

type walker struct {
	lim     Limits
	r       *Reporter
	nodes   int
	aliases int
	sizes   map[*yaml.Node]int // nodes under an anchored node, aliases expanded; -1 while being counted
}

// walk checks the structural rules; it returns false when the tree must not be used (too big or too deep),
// and keeps going after problems that only concern one node.
func (w *walker) walk(n *yaml.Node, depth int) bool {
	w.nodes++
	if n.Kind == yaml.AliasNode {
		// An alias stands for its anchor's whole value: whoever expands it (a YAML library decoding into
		// structs) does that much work, so it counts for as many nodes, and aliases of aliases multiply.
		w.nodes += w.size(n.Alias) - 1
		w.aliases++
	}
	if w.lim.MaxNodes > 0 && w.nodes > w.lim.MaxNodes {
		how := ""
		if w.aliases > 0 {
			how = " (an alias counts as the nodes it stands for)"
		}
		w.r.Exceeded(At(n), BoundNodes, "document has more than %d YAML nodes%s", w.lim.MaxNodes, how)
		return false
	}
	if w.lim.MaxDepth > 0 && depth > w.lim.MaxDepth {
		w.r.Exceeded(At(n), BoundDepth, "document is nested more than %d levels deep", w.lim.MaxDepth)
		return false
	}
	if n.Kind == yaml.AliasNode {
		if w.lim.MaxAliases > 0 && w.aliases > w.lim.MaxAliases {
			w.r.Exceeded(At(n), BoundAliases, "document has more than %d YAML aliases", w.lim.MaxAliases)
			return false
		}
		w.r.Errorf(At(n), "YAML aliases (*%s) are not supported: write the value out", n.Value)
		return true
	}
	if n.Anchor != "" {
		w.r.Errorf(At(n), "YAML anchors (&%s) are not supported: write the value out where it is needed", n.Anchor)
	}
	switch n.Kind {
	case yaml.MappingNode:
		var seen map[string]*yaml.Node // only for big mappings: small ones are scanned
		if len(n.Content) > 32 {
			seen = make(map[string]*yaml.Node, len(n.Content)/2)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				w.r.Errorf(At(k), "mapping keys must be plain strings")
				if !w.walk(k, depth+1) {
					return false
				}
			} else if w.nodes++; w.lim.MaxNodes > 0 && w.nodes > w.lim.MaxNodes {
				w.r.Exceeded(At(k), BoundNodes, "document has more than %d YAML nodes", w.lim.MaxNodes)
				return false
			} else if k.Value == "<<" && k.Tag == "!!merge" {
				w.r.Errorf(At(k), "YAML merge keys (<<) are not supported: write the keys out")
			} else if first := earlierKey(n.Content, i, seen); first != nil {
				w.r.Errorf(At(k), "key %q is defined twice (first on line %d)", k.Value, first.Line)
			} else if seen != nil {
				seen[k.Value] = k
			}
			if !w.walk(n.Content[i+1], depth+1) {
				return false
			}
		}
	case yaml.SequenceNode, yaml.DocumentNode:
		for _, c := range n.Content {
			if !w.walk(c, depth+1) {
				return false
			}
		}
	}
	return true
}

// size counts the nodes of n's tree with every alias expanded, remembering the count of each node reached
// through an alias (an anchor), so that each is counted once however often it is aliased.
func (w *walker) size(n *yaml.Node) int {
	if n == nil {
		return 1
	}
	if n.Kind == yaml.AliasNode {
		return w.size(n.Alias)
	}
	if len(n.Content) == 0 {
		return 1
	}
	if c, ok := w.sizes[n]; ok {
		if c < 0 {
			return 1 // an anchor that contains an alias of itself: an error already
		}
		return c
	}
	w.sizes[n] = -1
	total := 1
	for _, c := range n.Content {
		total += w.size(c)
		if w.lim.MaxNodes > 0 && total > w.lim.MaxNodes {
			break // enough to know it is too many
		}
	}
	w.sizes[n] = total
	return total
}

// earlierKey returns the first key before index i of a mapping's content with the same value as key i.
func earlierKey(content []*yaml.Node, i int, seen map[string]*yaml.Node) *yaml.Node {
	if seen != nil {
		return seen[content[i].Value]
	}
	for j := 0; j < i; j += 2 {
		if content[j].Kind == yaml.ScalarNode && content[j].Value == content[i].Value {
			return content[j]
		}
	}
	return nil
}

// At is the position of a node.
func At(n *yaml.Node) Pos {
	if n == nil {
		return Pos{1, 1}
	}
	return Pos{n.Line, n.Column}
}

// index finds the lines the way the YAML parser counts them, so that positions computed from offsets agree
// with the positions of nodes: a line ends at LF, CR LF, a lone CR, NEL (U+0085), LS (U+2028) or PS
// (U+2029). A byte order mark does not count as a column of the first line.
func (s *Source) index() {
	data := s.Data
	start := 0
	if len(data) >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF {
		start = 3
	}
	s.lineStarts, s.lineEnds, s.lineASCII = s.lineStarts[:0], s.lineEnds[:0], s.lineASCII[:0]
	ascii := true
	for i := start; i < len(data); {
		b := data[i]
		if b >= 0x80 {
			ascii = false
		}
		n := breakLen(data, i)
		if n == 0 {
			i++
			continue
		}
		s.lineStarts, s.lineEnds, s.lineASCII = append(s.lineStarts, start), append(s.lineEnds, i), append(s.lineASCII, ascii)
		i += n
		start, ascii = i, true
	}
	s.lineStarts, s.lineEnds, s.lineASCII = append(s.lineStarts, start), append(s.lineEnds, len(data)), append(s.lineASCII, ascii)
}

// breakLen is the length of the line break at data[i], or 0.
func breakLen(data []byte, i int) int {
	switch b := data[i]; {
	case b == '\n':
		return 1
	case b == '\r':
		if i+1 < len(data) && data[i+1] == '\n' {
			return 2
		}
		return 1
	case b == 0xC2:
		if i+1 < len(data) && data[i+1] == 0x85 {
			return 2
		}
	case b == 0xE2:
		if i+2 < len(data) && data[i+1] == 0x80 && (data[i+2] == 0xA8 || data[i+2] == 0xA9) {
			return 3
		}
	}
	return 0
}

// LineCount is how many lines data has, counted as the YAML parser counts them.
func LineCount(data []byte) int {
	s := Source{Data: data}
	s.index()
	return len(s.lineStarts)
}

// runes returns the offsets, from the start of line l, of its characters (lines with non-ASCII text only).
func (s *Source) runes(l int) []int {
	if r, ok := s.runeStarts[l]; ok {
		return r
	}
	if s.runeStarts == nil {
		s.runeStarts = map[int][]int{}
	}
	start := s.lineStarts[l]
	line := s.Data[start:s.lineEnds[l]]
	offs := make([]int, 0, len(line))
	for i := 0; i < len(line); {
		offs = append(offs, i)
		_, size := utf8.DecodeRune(line[i:])
		i += size
	}
	s.runeStarts[l] = offs
	return offs
}

// line returns the index of the line holding byte offset off.
func (s *Source) line(off int) int {
	// The last line whose start is <= off; an offset inside a line break belongs to the line it ends.
	return max(sort.SearchInts(s.lineStarts, off+1)-1, 0)
}

// PosOf converts a byte offset in the file into a position.
func (s *Source) PosOf(off int) Pos {
	if s.lineStarts == nil {
		s.index()
	}
	off = min(max(off, 0), len(s.Data))
	l := s.line(off)
	col := min(off, s.lineEnds[l]) - s.lineStarts[l]
	if col < 0 {
		col = 0 // inside the byte order mark
	}
	if !s.lineASCII[l] {
		col = sort.SearchInts(s.runes(l), col)
	}
	return Pos{Line: l + 1, Column: col + 1}
}

// offsetOf converts a position into a byte offset, or -1 when it is outside the file. The column just past
// a line's last character (where its line break is) is inside.
func (s *Source) offsetOf(p Pos) int {
	if p.Line < 1 || p.Line > len(s.lineStarts) || p.Column < 1 {
		return -1
	}
	l := p.Line - 1
	start, end := s.lineStarts[l], s.lineEnds[l]
	col := p.Column - 1
	if s.lineASCII[l] {
		if start+col > end {
			return -1
		}
		return start + col
	}
	r := s.runes(l)
	switch {
	case col < len(r):
		return start + r[col]
	case col == len(r):
		return end
	}
	return -1
}
