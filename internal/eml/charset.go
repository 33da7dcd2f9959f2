package eml

import (
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
)

// newWordDecoder decodes encoded words in any charset the WHATWG encoding index knows (ISO-2022-JP, KOI8-R,
// GB2312… all common in spam), not only the three mime handles itself.
func newWordDecoder() *mime.WordDecoder {
	return &mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
		enc, err := htmlindex.Get(charset)
		if err != nil {
			return nil, fmt.Errorf("unknown charset %q", charset)
		}
		return enc.NewDecoder().Reader(input), nil
	}}
}

// decodeCharset converts a body to UTF-8. It returns a warning when it had to guess. Unlabelled or ASCII-labelled
// 8-bit text is read as Windows-1252, which is what such mail almost always is.
func decodeCharset(charset string, content []byte) (string, string) {
	cs := strings.ToLower(strings.Trim(strings.TrimSpace(charset), `"`))
	switch cs {
	case "", "us-ascii", "ascii":
		if utf8.Valid(content) {
			return string(content), ""
		}
		s, _ := charmap.Windows1252.NewDecoder().String(string(content))
		label := "no charset"
		if cs != "" {
			label = "charset " + cs
		}
		return s, fmt.Sprintf("8-bit text with %s; read as windows-1252", label)
	case "utf-8", "utf8":
		if utf8.Valid(content) {
			return string(content), ""
		}
		return strings.ToValidUTF8(string(content), "\uFFFD"), "text labelled utf-8 is not valid UTF-8; bad bytes replaced"
	}
	enc, err := htmlindex.Get(cs)
	if err != nil {
		return strings.ToValidUTF8(string(content), "\uFFFD"), fmt.Sprintf("unknown charset %q; read as UTF-8", charset)
	}
	s, err := enc.NewDecoder().String(string(content))
	if err != nil {
		return strings.ToValidUTF8(string(content), "\uFFFD"), fmt.Sprintf("charset %q: %v; read as UTF-8", charset, err)
	}
	return s, ""
}
