package action

import "testing"

func TestCheckFormat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		format, s string
		ok        bool
	}{
		{"email", "a@b.test", true}, {"email", "u*ser@example.com", true}, {"email", "@b.test", false}, {"email", "a b@c", false},
		{"sha1", "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3", true}, {"sha1", "xyz", false},
		{"sha256", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", true}, {"sha256", "9f86", false},
		{"datetime", "2026-01-02T03:04:05Z", true}, {"datetime", "2026-01-02T03:04:05.000Z", true}, {"datetime", "2026-01-02 03:04:05", true},
		{"datetime", "1767323045000", true}, {"datetime", "yesterday", false},
		{"url", "https://x.test/a", true}, {"url", "x.test/a", false},
		{"ip", "203.0.113.7", true}, {"ip", "10.0.0.0/8", true}, {"ip", "2001:db8::/32", true}, {"ip", "10.0.0", false},
		{"uuid", "11111111-2222-3333-4444-555555555555", true}, {"uuid", "1111", false},
		{"", "anything", true}, {"unknown", "anything", true},
	} {
		got := CheckFormat(tc.format, tc.s)
		if (got == "") != tc.ok {
			t.Errorf("CheckFormat(%q, %q) = %q", tc.format, tc.s, got)
		}
		if !tc.ok && got != Formats[tc.format] {
			t.Errorf("CheckFormat(%q, %q) = %q, want %q", tc.format, tc.s, got, Formats[tc.format])
		}
	}
}
