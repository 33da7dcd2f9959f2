package api

import (
	"errors"
	"net/http"

	"github.com/parry-soar/parry/internal/store"
)

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) error {
	t := TokenFrom(r.Context())
	return WriteJSON(w, http.StatusOK, map[string]any{"name": t.Name, "role": t.Role})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	all := r.URL.Query().Get("all") == "true"
	toks, err := s.Store.ListTokens(r.Context(), all)
	if err != nil {
		return err
	}
	if toks == nil {
		toks = []store.Token{}
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"tokens": toks})
}

// CreateTokenRequest is the body of POST /v1/tokens.
type CreateTokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Webhook also creates a secret for HMAC-signed alert webhooks (POST /v1/webhooks/alerts/{name}).
	Webhook bool `json:"webhook,omitempty"`
}

// CreateTokenResponse carries the token, shown this once.
type CreateTokenResponse struct {
	Token         string      `json:"token"`
	WebhookSecret string      `json:"webhook_secret,omitempty"`
	Info          store.Token `json:"info"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req CreateTokenRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Name == "" {
		return Errorf(http.StatusBadRequest, "invalid", "name is required")
	}
	role, err := store.ParseRole(req.Role)
	if err != nil {
		return Errorf(http.StatusBadRequest, "invalid", "%s", err)
	}
	actor := TokenFrom(r.Context())
	plain, tok, err := s.Store.CreateToken(r.Context(), req.Name, role, actor.Name)
	if errors.Is(err, store.ErrTokenExists) {
		return Errorf(http.StatusConflict, "exists", "a live token named %q exists; revoke it first or choose another name", req.Name)
	}
	if err != nil {
		return err
	}
	resp := CreateTokenResponse{Token: plain, Info: tok}
	if req.Webhook {
		if resp.WebhookSecret, err = s.Store.NewWebhookSecret(r.Context(), tok.Name); err != nil {
			return err
		}
	}
	if _, err := s.Store.AppendAudit(r.Context(), store.AuditEvent{Actor: "token:" + actor.Name, Action: "token.create",
		Details: mustJSON(map[string]any{"name": tok.Name, "role": tok.Role})}); err != nil {
		return err
	}
	return WriteJSON(w, http.StatusCreated, resp)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	tok, err := s.Store.RevokeToken(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		return Errorf(http.StatusNotFound, "not_found", "no live token named %q", name)
	}
	if err != nil {
		return err
	}
	actor := TokenFrom(r.Context())
	if _, err := s.Store.AppendAudit(r.Context(), store.AuditEvent{Actor: "token:" + actor.Name, Action: "token.revoke",
		Details: mustJSON(map[string]any{"name": tok.Name})}); err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"revoked": tok})
}
