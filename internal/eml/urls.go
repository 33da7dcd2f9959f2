package eml

import (
	"regexp"
	"strings"

	"golang.org/x/net/html"
)

// bareURL finds URLs written out in text: a scheme or "www.", then anything up to white space or a character
// that cannot appear in a URL unencoded.
var bareURL = regexp.MustCompile(`(?i)\b(?:https?://|ftp://|www\.)[^\s<>"'` + "`" + `{}|\\^\x00-\x1f\x7f]+`)

// textURLs returns the URLs in plain text, in order, trimmed of trailing punctuation that belongs to the sentence.
func textURLs(s string) []string {
	var out []string
	for _, m := range bareURL.FindAllString(s, -1) {
		if u := trimURL(m); u != "" {
			out = append(out, u)
		}
	}
	return out
}

func trimURL(u string) string {
	for len(u) > 0 {
		last := u[len(u)-1]
		switch {
		case strings.IndexByte(".,;:!?*", last) >= 0:
			u = u[:len(u)-1]
		case last == ')' && strings.Count(u, "(") < strings.Count(u, ")"),
			last == ']' && strings.Count(u, "[") < strings.Count(u, "]"):
			u = u[:len(u)-1]
		default:
			return finishURL(u)
		}
	}
	return ""
}

// finishURL drops what only looks like a URL: a bare scheme or "www." with nothing after it.
func finishURL(u string) string {
	lower := strings.ToLower(u)
	for _, p := range []string{"http://", "https://", "ftp://", "www."} {
		if lower == p {
			return ""
		}
	}
	return u
}

// linkAttrs are the attributes whose value is a URL the message makes a reader fetch or follow.
var linkAttrs = map[string]bool{"href": true, "src": true, "action": true, "formaction": true, "background": true, "poster": true}

// htmlURLs returns the absolute URLs an HTML body links to (href, src, form actions…) and those written out in
// its text or other attributes (style, meta refresh), in document order. Entities are decoded by the tokenizer.
func htmlURLs(s string) []string {
	var out []string
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return out
		case html.TextToken:
			out = append(out, textURLs(string(z.Text()))...)
		case html.StartTagToken, html.SelfClosingTagToken:
			for {
				key, val, more := z.TagAttr()
				v := strings.TrimSpace(string(val))
				if linkAttrs[string(key)] {
					if u := absoluteURL(v); u != "" {
						out = append(out, u)
					}
				} else if v != "" {
					out = append(out, textURLs(v)...)
				}
				if !more {
					break
				}
			}
		}
	}
}

// absoluteURL keeps web and FTP URLs (and protocol-relative ones) and drops mailto:, cid:, data:, javascript:,
// fragments and relative paths, which name nothing on the network a blocklist could act on.
func absoluteURL(v string) string {
	lower := strings.ToLower(v)
	switch {
	case strings.HasPrefix(lower, "http://"), strings.HasPrefix(lower, "https://"), strings.HasPrefix(lower, "ftp://"):
		return finishURL(strings.TrimSpace(v))
	case strings.HasPrefix(lower, "//") && len(v) > 2:
		return v
	case strings.HasPrefix(lower, "www."):
		return finishURL(v)
	}
	return ""
}
