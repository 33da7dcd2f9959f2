package eml

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime/multipart"
	"mime/quotedprintable"
	"strconv"
	"strings"
)

// entity handles one MIME entity: a multipart is walked, an attached message is parsed in turn, a leaf becomes
// a body or an attachment. section is its IMAP-style number; prefix is the number of the message it belongs to
// and msgBody says whether it is that message's body, whose multipart children take the message's numbering
// (1, 2, … or prefix.1, prefix.2, …) as in IMAP.
func (c *collector) entity(h headerBlock, body []byte, depth int, section, prefix string, msgBody, inDigest bool) error {
	c.p.parts++
	if c.p.parts > c.p.lim.MaxParts {
		return &LimitError{Limit: "parts", Max: int64(c.p.lim.MaxParts)}
	}
	if depth > c.p.lim.MaxDepth {
		return &LimitError{Limit: "depth", Max: int64(c.p.lim.MaxDepth), Part: section}
	}
	ct, params, err := mediaType(h.get("Content-Type"))
	if err != nil {
		c.warnf(section, "Content-Type %q: %v", clip(h.get("Content-Type")), err)
	}
	if ct == "" || !strings.Contains(ct, "/") {
		ct = "text/plain"
		if inDigest {
			ct = "message/rfc822"
		}
	}
	if strings.HasPrefix(ct, "multipart/") {
		if boundary := params["boundary"]; boundary != "" {
			base := section
			if msgBody {
				base = prefix
			}
			return c.multipart(ct, boundary, body, depth, section, base)
		}
		c.warnf(section, "%s without a boundary; read as text", ct)
		ct = "text/plain"
	}
	content := c.decodeTransfer(h.get("Content-Transfer-Encoding"), body, section)
	disp, dparams, err := mediaType(h.get("Content-Disposition"))
	if err != nil {
		c.warnf(section, "Content-Disposition %q: %v", clip(h.get("Content-Disposition")), err)
	}
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	name = c.decodeWords(name, section)

	if ct == "message/rfc822" || ct == "message/global" {
		nested, err := c.p.message(content, depth+1, section)
		if err != nil {
			return err
		}
		if name == "" {
			name = "message.eml"
			if nested.Subject != "" {
				name = nested.Subject + ".eml"
			}
		}
		a := newAttachment(content)
		a.FileName, a.ContentType, a.Disposition, a.Part, a.Message = name, ct, disp, section, nested
		a.ContentID = h.get("Content-ID")
		c.msg.Attachments = append(c.msg.Attachments, a)
		return nil
	}
	isText := ct == "text/plain" || ct == "text/html"
	if isText && disp != "attachment" && name == "" {
		text := normalizeNewlines(c.decodeCharset(params["charset"], content, section))
		if ct == "text/html" {
			c.msg.HTMLBody = joinBody(c.msg.HTMLBody, text)
			c.addURLs(htmlURLs(text))
		} else {
			c.msg.TextBody = joinBody(c.msg.TextBody, text)
			c.addURLs(textURLs(text))
		}
		return nil
	}
	a := newAttachment(content)
	a.FileName, a.ContentType, a.Disposition, a.Part = name, ct, disp, section
	a.ContentID = h.get("Content-ID")
	c.msg.Attachments = append(c.msg.Attachments, a)
	return nil
}

func joinBody(have, more string) string {
	if have == "" {
		return more
	}
	return have + "\n" + more
}

// multipart walks the parts of a multipart entity, numbering them base.1, base.2, … (1, 2, … when base is "").
func (c *collector) multipart(ct, boundary string, body []byte, depth int, section, base string) error {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for i := 1; ; i++ {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			if i == 1 {
				c.warnf(section, "%s has no parts", ct)
			}
			return nil
		}
		if err != nil {
			c.warnf(section, "%s is truncated or malformed after %d parts: %v", ct, i-1, err)
			return nil
		}
		child := strconv.Itoa(i)
		if base != "" {
			child = base + "." + child
		}
		data, err := io.ReadAll(part)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			c.warnf(child, "%s ends without its closing boundary; kept what was there", ct)
		} else if err != nil {
			c.warnf(child, "reading part: %v", err)
		}
		h := fromMIME(part.Header)
		if len(h) > c.p.lim.MaxHeaders {
			return &LimitError{Limit: "headers", Max: int64(c.p.lim.MaxHeaders), Part: child}
		}
		if err := c.entity(h, data, depth+1, child, base, false, ct == "multipart/digest"); err != nil {
			return err
		}
	}
}

func (c *collector) decodeTransfer(cte string, body []byte, section string) []byte {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary":
		return body
	case "base64":
		clean := make([]byte, 0, len(body))
		for _, b := range body {
			if b != '\r' && b != '\n' && b != ' ' && b != '\t' {
				clean = append(clean, b)
			}
		}
		out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
		n, err := base64.StdEncoding.Decode(out, clean)
		if err != nil {
			// Missing padding is common; anything else keeps what decoded before the damage.
			raw := bytes.TrimRight(clean, "=")
			out2 := make([]byte, base64.RawStdEncoding.DecodedLen(len(raw)))
			if m, err2 := base64.RawStdEncoding.Decode(out2, raw); err2 == nil {
				return out2[:m]
			}
			c.warnf(section, "bad base64 (%v); kept the %d bytes decoded before it", err, n)
		}
		return out[:n]
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil {
			c.warnf(section, "bad quoted-printable (%v); kept the %d bytes decoded before it", err, len(out))
		}
		return out
	default:
		c.warnf(section, "unknown Content-Transfer-Encoding %q; content kept as sent", cte)
		return body
	}
}

func (c *collector) decodeWords(s, section string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	d, err := c.p.dec.DecodeHeader(s)
	if err != nil {
		c.warnf(section, "file name %q: %v", clip(s), err)
		return s
	}
	return d
}

func (c *collector) decodeCharset(charset string, content []byte, section string) string {
	s, warn := decodeCharset(charset, content)
	if warn != "" {
		c.warnf(section, "%s", warn)
	}
	return s
}
