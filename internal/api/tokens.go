package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/store"
)

// CreateTokenRequest is the body of POST /v1/tokens.
type CreateTokenRequest = apitypes.CreateTokenRequest

// CreateTokenResponse carries the token, shown this once.
type CreateTokenResponse = apitypes.CreateTokenResponse

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) error {
	t := TokenFrom(r.Context())
	return WriteJSON(w, http.StatusOK, apitypes.Whoami{Name: t.Name, Role: string(t.Role), ExpiresAt: t.ExpiresAt})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	all, err := queryBool(r.URL.Query(), apitypes.ParamAll)
	if err != nil {
		return err
	}
	toks, err := s.Store.ListTokens(r.Context(), all)
	if err != nil {
		return err
	}
	out := apitypes.TokenList{Tokens: make([]apitypes.Token, 0, len(toks))}
	for _, t := range toks {
		out.Tokens = append(out.Tokens, toToken(t))
	}
	return WriteJSON(w, http.StatusOK, out)
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req CreateTokenRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := tokenNameValue(req.Name); err != nil {
		return err
	}
	role, err := store.ParseRole(req.Role)
	if err != nil {
		return paramErrorf("unknown role %q (roles: ingest, viewer, responder, author, admin)", clip(req.Role, 40))
	}
	actor := TokenFrom(r.Context())
	plain, tok, err := s.Store.CreateToken(r.Context(), req.Name, role, actor.Name)
	if errors.Is(err, store.ErrTokenExists) {
		return Errorf(http.StatusConflict, apitypes.CodeExists, "a live token named %q exists; revoke it first or choose another name", req.Name)
	}
	if err != nil {
		return err
	}
	resp := CreateTokenResponse{Token: plain, Info: toToken(tok)}
	if req.Webhook {
		if resp.WebhookSecret, err = s.Store.NewWebhookSecret(r.Context(), tok.Name); err != nil {
			return err
		}
	}
	auditTarget(r, "token "+tok.Name, map[string]any{"name": tok.Name, "role": tok.Role, "webhook": req.Webhook})
	return WriteJSON(w, http.StatusCreated, resp)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if err := tokenNameValue(name); err != nil {
		return err
	}
	tok, err := s.Store.RevokeToken(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		return Errorf(http.StatusNotFound, apitypes.CodeNotFound, "no live token named %q", name)
	}
	if err != nil {
		return err
	}
	auditTarget(r, "token "+tok.Name, map[string]any{"name": tok.Name})
	return WriteJSON(w, http.StatusOK, apitypes.RevokeTokenResponse{Revoked: toToken(tok)})
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
