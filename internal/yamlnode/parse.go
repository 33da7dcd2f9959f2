package yamlnode

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Limits bound what Parse accepts, so a hostile or broken file costs bounded time and memory.
type Limits struct {
	MaxBytes int // file size
	MaxDepth int // nesting of mappings and sequences
	MaxNodes int // YAML nodes in the document
}

// DefaultLimits suit hand-written configuration-like documents.
var DefaultLimits = Limits{MaxBytes: 1 << 20, MaxDepth: 64, MaxNodes: 200_000}

// Source is a parsed document with what is needed to turn a node and an offset inside its value into a
// file position.
type Source struct {
	File string
	Data []byte
	Root *yaml.Node // the top-level node (a mapping for well-formed files); nil when parsing failed or the file is empty

	lineStarts []int
}

// Parse parses data as exactly one YAML document. Problems (syntax, size, depth, anchors and aliases,
// duplicate keys, non-scalar keys) are reported to r; Root is nil when the document cannot be used at all.
func Parse(file string, data []byte, lim Limits, r *Reporter) *Source {
	src := &Source{File: file, Data: data}
	src.index()
	if lim.MaxBytes > 0 && len(data) > lim.MaxBytes {
		r.Errorf(Pos{1, 1}, "file is %d bytes, larger than the limit of %d bytes", len(data), lim.MaxBytes)
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
	w := walker{lim: lim, r: r}
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
	lim   Limits
	r     *Reporter
	nodes int
}

// walk checks the structural rules; it returns false when the tree must not be used (too big or too deep),
// and keeps going after problems that only concern one node.
func (w *walker) walk(n *yaml.Node, depth int) bool {
	w.nodes++
	if w.lim.MaxNodes > 0 && w.nodes > w.lim.MaxNodes {
		w.r.Errorf(At(n), "document has more than %d YAML nodes", w.lim.MaxNodes)
		return false
	}
	if w.lim.MaxDepth > 0 && depth > w.lim.MaxDepth {
		w.r.Errorf(At(n), "document is nested more than %d levels deep", w.lim.MaxDepth)
		return false
	}
	if n.Kind == yaml.AliasNode {
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

func (s *Source) index() {
	s.lineStarts = append(s.lineStarts[:0], 0)
	for i, b := range s.Data {
		if b == '\n' {
			s.lineStarts = append(s.lineStarts, i+1)
		}
	}
}

// PosOf converts a byte offset in the file into a position.
func (s *Source) PosOf(off int) Pos {
	if off < 0 {
		off = 0
	}
	if off > len(s.Data) {
		off = len(s.Data)
	}
	// lineStarts is sorted; find the last start <= off.
	lo, hi := 0, len(s.lineStarts)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if s.lineStarts[mid] <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return Pos{Line: lo + 1, Column: utf8.RuneCount(s.Data[s.lineStarts[lo]:off]) + 1}
}

// offsetOf converts a position into a byte offset, or -1 when it is outside the file.
func (s *Source) offsetOf(p Pos) int {
	if p.Line < 1 || p.Line > len(s.lineStarts) {
		return -1
	}
	off := s.lineStarts[p.Line-1]
	for col := 1; col < p.Column; col++ {
		if off >= len(s.Data) || s.Data[off] == '\n' {
			return -1
		}
		_, size := utf8.DecodeRune(s.Data[off:])
		off += size
	}
	return off
}
