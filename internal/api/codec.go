package api

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/converter"

	"github.com/parry-soar/parry/internal/store"
)

// codecCookie carries a viewer's token to /codec for the Temporal Web UI, which cannot send parry's bearer
// header: set by POST /v1/codec/session, sent by the browser only to /codec (HttpOnly, SameSite=Strict).
const codecCookie = "parry_codec"

// codecSessionAge is how long the codec cookie lasts.
const codecSessionAge = 8 * time.Hour

// codecRoutes are the session endpoints of the codec server (present when the server has a codec).
func (s *Server) codecRoutes() []Route {
	if s.Codec == nil {
		return nil
	}
	return []Route{
		{Pattern: "POST /v1/codec/session", Role: store.RoleViewer, Handler: s.startCodecSession, Audit: "codec.session.start"},
		{Pattern: "DELETE /v1/codec/session", Role: store.RoleViewer, Handler: s.endCodecSession, Audit: "codec.session.end"},
	}
}

// startCodecSession lets this browser's Temporal Web UI decrypt payloads with the caller's token.
func (s *Server) startCodecSession(w http.ResponseWriter, r *http.Request) error {
	_, presented, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	http.SetCookie(w, &http.Cookie{Name: codecCookie, Value: strings.TrimSpace(presented), Path: "/codec", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: int(codecSessionAge.Seconds())})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) endCodecSession(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, &http.Cookie{Name: codecCookie, Value: "", Path: "/codec", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// codecHandler is Temporal's remote codec protocol (POST /codec/encode, /codec/decode with a JSON Payloads
// body) for the Web UI and the temporal CLI (--codec-endpoint): it decrypts payloads for a caller with the
// viewer role, by bearer token or the codec cookie, and answers CORS preflights of the allowed UI origins.
func (s *Server) codecHandler() http.Handler {
	codec := converter.NewPayloadCodecHTTPHandler(s.Codec)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && slices.Contains(s.CodecOrigins, origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, X-Namespace")
			h.Set("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.Method != http.MethodPost || (r.URL.Path != "/codec/encode" && r.URL.Path != "/codec/decode") {
			s.writeError(w, r, Errorf(http.StatusNotFound, "not_found", "the codec answers POST /codec/encode and POST /codec/decode"))
			return
		}
		if r.Header.Get("Authorization") == "" {
			if c, err := r.Cookie(codecCookie); err == nil && c.Value != "" {
				r.Header.Set("Authorization", "Bearer "+c.Value)
			}
		}
		if _, err := s.authenticate(r, store.RoleViewer); err != nil {
			s.writeError(w, r, err)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.MaxBodyBytes)
		codec.ServeHTTP(w, r)
	})
}
