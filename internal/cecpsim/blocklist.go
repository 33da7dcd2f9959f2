package cecpsim

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// maxRulesPerList is the vendor's bound on each list of one update.
const maxRulesPerList = 2048

// getBlocklist serves GET /v1/remediation/mails.
func (s *Server) getBlocklist(t *tenant, r *http.Request, now time.Time) *response {
	if _, err := readParams(r); err != nil {
		return s.badRequest("%v", err)
	}
	b := &t.blocklist
	return s.json(http.StatusOK, rulesResponse{Message: "Get rules successfully.", Rules: Rules{
		Senders: vendorOrder(b.senders), URLs: vendorOrder(b.urls), FileHashes: vendorOrder(b.sha1),
		File256Hashes: vendorOrder(b.sha256)}})
}

// updateBlocklist serves POST /v1/remediation/mails. Adding what is there or removing what is not is accepted
// and changes nothing (the vendor's behaviour on duplicates is unknown; clients must not rely on either).
func (s *Server) updateBlocklist(t *tenant, r *http.Request, now time.Time) *response {
	var req rulesUpdate
	if err := readJSON(r, &req); err != nil {
		return s.badRequest("%v", err)
	}
	if err := enumErr("action_type", req.ActionType, []string{"create", "delete"}); err != nil {
		return s.badRequest("%v", err)
	}
	if req.Rules == nil {
		return s.badRequest("rules is required")
	}
	lists := []struct {
		name   string
		values []string
		norm   func(string) (string, error)
		set    map[string]bool
	}{
		{"senders", req.Rules.Senders, normalizeSender, t.blocklist.senders},
		{"urls", req.Rules.URLs, normalizeBlockedURL, t.blocklist.urls},
		{"filehashes", req.Rules.FileHashes, hashNormalizer(40, "SHA-1"), t.blocklist.sha1},
		{"file256hashes", req.Rules.File256Hashes, hashNormalizer(64, "SHA-256"), t.blocklist.sha256},
	}
	total := 0
	normalized := make([][]string, len(lists))
	for i, l := range lists {
		if len(l.values) > maxRulesPerList {
			return s.badRequest("rules.%s has %d items; at most %d are allowed", l.name, len(l.values), maxRulesPerList)
		}
		for j, v := range l.values {
			n, err := l.norm(v)
			if err != nil {
				return s.badRequest("rules.%s[%d]: %v", l.name, j, err)
			}
			normalized[i] = append(normalized[i], n)
		}
		total += len(l.values)
	}
	if total == 0 {
		return s.badRequest("rules has no item in senders, urls, filehashes or file256hashes")
	}
	for i, l := range lists {
		for _, n := range normalized[i] {
			if req.ActionType == "create" {
				l.set[n] = true
			} else {
				delete(l.set, n)
			}
		}
	}
	t.markDirty()
	msg := "Add rules successfully."
	if req.ActionType == "delete" {
		msg = "Delete rules successfully."
	}
	return s.json(http.StatusOK, messageResponse{Message: msg})
}

func normalizeSender(v string) (string, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "" || strings.ContainsAny(v, " \t<>,;") || !strings.Contains(v, "@") {
		return "", fmt.Errorf("%q is not a sender address", clip(v))
	}
	return v, nil
}

// normalizeBlockedURL stores URLs as the vendor returns them: the scheme stripped and the host lower-cased, and
// a trailing "/" on anything without a query, a bare host included (the one real capture: ubb.com was added and
// came back as ubb.com/; evil.example/pay → evil.example/pay/).
func normalizeBlockedURL(v string) (string, error) {
	u := strings.TrimSpace(v)
	lower := strings.ToLower(u)
	for _, scheme := range []string{"https://", "http://"} {
		if strings.HasPrefix(lower, scheme) {
			u = u[len(scheme):]
			break
		}
	}
	if u == "" || strings.ContainsAny(u, " \t\r\n") || strings.Contains(u, "://") {
		return "", fmt.Errorf("%q is not an http(s) URL or host", clip(v))
	}
	cut := strings.IndexAny(u, "/?#")
	if cut < 0 {
		return strings.ToLower(u) + "/", nil
	}
	host, rest := strings.ToLower(u[:cut]), u[cut:]
	if host == "" {
		return "", fmt.Errorf("%q has no host", clip(v))
	}
	if !strings.ContainsAny(rest, "?#") && !strings.HasSuffix(rest, "/") {
		rest += "/"
	}
	return host + rest, nil
}

func hashNormalizer(digits int, name string) func(string) (string, error) {
	return func(v string) (string, error) {
		v = strings.TrimSpace(v)
		if !isHex(v, digits) {
			return "", fmt.Errorf("%q is not a %s (%d hexadecimal digits)", clip(v), name, digits)
		}
		return strings.ToLower(v), nil
	}
}
