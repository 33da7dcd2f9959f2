package action

import (
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"
)

var (
	hexRE    = regexp.MustCompile(`^[0-9a-fA-F]+$`)
	uuidRE   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	digitsRE = regexp.MustCompile(`^[0-9]{10,16}$`)
)

// timeLayouts are the times an input accepts: RFC 3339, and the vendor's own variants (which arrive in alert
// data and step outputs).
var timeLayouts = [...]string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"}

// CheckFormat returns the description of a string format (Formats) when s is not of it, or "" when it is (or
// the format is unknown). The validator checks literal inputs with it, the activities every input.
func CheckFormat(format, s string) string {
	ok := true
	switch format {
	case "":
		return ""
	case "email":
		at := strings.LastIndexByte(s, '@')
		ok = at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n<>,;")
	case "sha1":
		ok = len(s) == 40 && hexRE.MatchString(s)
	case "sha256":
		ok = len(s) == 64 && hexRE.MatchString(s)
	case "datetime":
		ok = digitsRE.MatchString(s) // epoch milliseconds, as the vendor writes them
		for _, layout := range timeLayouts {
			if _, err := time.Parse(layout, s); err == nil {
				ok = true
				break
			}
		}
	case "url":
		u, err := url.Parse(s)
		ok = err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
	case "ip":
		_, err := netip.ParseAddr(s)
		if err != nil {
			_, err = netip.ParsePrefix(s)
		}
		ok = err == nil
	case "uuid":
		ok = uuidRE.MatchString(s)
	default:
		return ""
	}
	if ok {
		return ""
	}
	return Formats[format]
}
