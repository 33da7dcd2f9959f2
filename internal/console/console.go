// Package console is parry's web console: plain HTML, CSS and JavaScript modules embedded in the binary and
// served by the API server at /. Every page reads and acts through the public API with the token the analyst
// signed in with (kept in sessionStorage, sent as a bearer header, so no cookie and no CSRF); everything it
// shows is set as text, never as markup, because alert data is attacker-controlled.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var files embed.FS

// CSP is the console's Content-Security-Policy: scripts and styles only from the console's own files (no inline
// script, no eval), API calls to its own origin, never framed.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Files are the embedded pages and assets, rooted at static/.
func Files() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	return sub
}

// Handler serves the console: index.html at / and its assets under /ui/.
func Handler() http.Handler {
	root := Files()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := "index.html"
		if r.URL.Path != "/" {
			name = strings.TrimPrefix(path.Clean(r.URL.Path), "/ui/")
		}
		data, err := fs.ReadFile(root, name)
		if err != nil || name == "" || strings.HasPrefix(name, ".") {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Type", contentType(name))
		_, _ = w.Write(data)
	})
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return "application/octet-stream"
}
