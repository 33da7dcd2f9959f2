package eml

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestGolden parses every message in testdata/messages and compares the result, as JSON, with its .json file.
func TestGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/messages/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test messages: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Parse(data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			checkHashes(t, m)
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(m); err != nil {
				t.Fatal(err)
			}
			got := buf.Bytes()
			golden := strings.TrimSuffix(file, ".eml") + ".json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("result differs from %s (run with -update and review the diff):\n%s", golden, got)
			}
		})
	}
}

// checkHashes verifies every attachment's size and hashes against its content.
func checkHashes(t *testing.T, m *Message) {
	t.Helper()
	for _, a := range m.AllAttachments() {
		s1, s256 := sha1.Sum(a.Content), sha256.Sum256(a.Content)
		if a.Size != int64(len(a.Content)) || a.SHA1 != hex.EncodeToString(s1[:]) || a.SHA256 != hex.EncodeToString(s256[:]) {
			t.Errorf("attachment %q: size/hashes do not match its content", a.FileName)
		}
	}
}

func TestKnownAttachmentHashes(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/messages/03-alternative-attachment-2231.eml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	pdf := []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
	if len(m.Attachments) != 1 || !bytes.Equal(m.Attachments[0].Content, pdf) {
		t.Fatalf("attachments = %+v", m.Attachments)
	}
	if got, want := m.Attachments[0].FileName, "Facture n° 42 – juin.pdf"; got != want {
		t.Errorf("file name %q, want %q", got, want)
	}
}

func TestNestedCollections(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/messages/04-forwarded-rfc822.eml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range m.AllAttachments() {
		names = append(names, a.Part+" "+a.FileName)
	}
	if got, want := strings.Join(names, "|"), "2 Action required.eml|2.2 documents.zip"; got != want {
		t.Errorf("attachments %q, want %q", got, want)
	}
	if got, want := strings.Join(m.AllURLs(), " "), "https://intranet.corp.example/report http://paypa1.example/confirm"; got != want {
		t.Errorf("urls %q, want %q", got, want)
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	nested := func(depth int) []byte {
		var b strings.Builder
		b.WriteString("Subject: deep\r\n")
		for i := range depth {
			b.WriteString("Content-Type: multipart/mixed; boundary=b" + string(rune('a'+i%26)) + strings.Repeat("x", i) + "\r\n\r\n")
			b.WriteString("--b" + string(rune('a'+i%26)) + strings.Repeat("x", i) + "\r\n")
		}
		b.WriteString("Content-Type: text/plain\r\n\r\nleaf\r\n")
		return []byte(b.String())
	}
	manyParts := func(n int) []byte {
		var b strings.Builder
		b.WriteString("Content-Type: multipart/mixed; boundary=B\r\n\r\n")
		for range n {
			b.WriteString("--B\r\nContent-Type: text/plain\r\n\r\nx\r\n")
		}
		b.WriteString("--B--\r\n")
		return []byte(b.String())
	}
	manyHeaders := func(n int, inPart bool) []byte {
		var b strings.Builder
		if inPart {
			b.WriteString("Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n")
		}
		for range n {
			b.WriteString("X-H: v\r\n")
		}
		b.WriteString("\r\nbody\r\n")
		if inPart {
			b.WriteString("--B--\r\n")
		}
		return []byte(b.String())
	}
	for _, tc := range []struct {
		name  string
		data  []byte
		lim   Limits
		want  string
		which string
	}{
		{"bytes", bytes.Repeat([]byte("a"), 101), Limits{MaxBytes: 100}, "message is larger than the limit of 100 bytes", "bytes"},
		{"depth", nested(10), Limits{MaxDepth: 5}, "part 1.1.1.1.1.1 is nested deeper than 5 levels", "depth"},
		{"parts", manyParts(20), Limits{MaxParts: 10}, "message has more than 10 MIME parts", "parts"},
		{"headers", manyHeaders(11, false), Limits{MaxHeaders: 10}, "message has more than 10 header fields", "headers"},
		{"part headers", manyHeaders(11, true), Limits{MaxHeaders: 10}, "part 1 has more than 10 header fields", "headers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.data, tc.lim)
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != tc.which {
				t.Fatalf("err = %v, want a %s LimitError", err, tc.which)
			}
			if err.Error() != tc.want {
				t.Errorf("message %q, want %q", err, tc.want)
			}
		})
	}
	// Just under each limit parses.
	for _, tc := range []struct {
		data []byte
		lim  Limits
	}{
		{nested(4), Limits{MaxDepth: 5}},
		{manyParts(9), Limits{MaxParts: 10}},
		{manyHeaders(10, false), Limits{MaxHeaders: 10}},
	} {
		if _, err := Parse(tc.data, tc.lim); err != nil {
			t.Errorf("under the limit: %v", err)
		}
	}
	// ParseReader stops reading at the bound.
	_, err := ParseReader(strings.NewReader(strings.Repeat("a", 1000)), Limits{MaxBytes: 10})
	if err == nil || err.Error() != "message is larger than the limit of 10 bytes" {
		t.Errorf("ParseReader: %v", err)
	}
}

func TestTextURLs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"see https://a.example/x.", "https://a.example/x"},
		{"(https://a.example/wiki/Foo_(bar)) and", "https://a.example/wiki/Foo_(bar)"},
		{"<https://a.example/q?x=1&y=2>", "https://a.example/q?x=1&y=2"},
		{"HTTP://UPPER.example/A, then ftp://f.example/file!", "HTTP://UPPER.example/A ftp://f.example/file"},
		{"bare www.example.org/p?q=1; and https:// alone", "www.example.org/p?q=1"},
		{"\"https://quoted.example/a\"", "https://quoted.example/a"},
		{"no urls here, just www. and http", ""},
	} {
		if got := strings.Join(textURLs(tc.in), " "); got != tc.want {
			t.Errorf("textURLs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHTMLURLs(t *testing.T) {
	t.Parallel()
	in := `<a HREF=" https://a.example/1?x=1&amp;y=2 ">a</a><img src=//cdn.example/i.png><a href="javascript:alert(1)">j</a>` +
		`<a href="data:text/html,hi">d</a><div style="background-image:url('https://bg.example/b.jpg')">see www.text.example</div>` +
		`<script>var u="https://script.example/s.js"</script>`
	want := "https://a.example/1?x=1&y=2 //cdn.example/i.png https://bg.example/b.jpg www.text.example https://script.example/s.js"
	if got := strings.Join(htmlURLs(in), " "); got != want {
		t.Errorf("htmlURLs = %q\nwant       %q", got, want)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/messages/*.eml")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\r\nx\r\n--a--\r\n--a--\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxBytes: 1 << 20, MaxParts: 50, MaxDepth: 8, MaxHeaders: 50, MaxURLs: 100}
		m, err := Parse(data, lim)
		if err != nil {
			var le *LimitError
			if !errors.As(err, &le) {
				t.Fatalf("only limit errors are expected, got %v", err)
			}
			return
		}
		if len(m.URLs) > lim.MaxURLs {
			t.Fatalf("%d URLs", len(m.URLs))
		}
		checkHashes(t, m)
		if _, err := json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile("testdata/messages/03-alternative-attachment-2231.eml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
