package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/store"
)

func (a *app) newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke API tokens",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newTokenCreateCmd(), a.newTokenListCmd(), a.newTokenRevokeCmd())
	return cmd
}

func (a *app) newTokenCreateCmd() *cobra.Command {
	var name, role string
	var asJSON, direct, webhook bool
	cmd := &cobra.Command{
		Use:   "create --name NAME --role ROLE",
		Short: "Create an API token (printed once; only its SHA-256 is stored)",
		Long: "Create an API token. Roles, each including the ones before it: ingest (post alerts), viewer (read), " +
			"responder (run, approve, retry, cancel), author (change playbooks), admin (manage tokens).\n\n" +
			"With --direct the token is written straight into the database named by --database-url/PARRY_DATABASE_URL: " +
			"use it once to bootstrap a deployment's first admin token.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return usageErrorf("--name is required")
			}
			if role == "" {
				return usageErrorf("--role is required (ingest, viewer, responder, author or admin)")
			}
			r, err := store.ParseRole(role)
			if err != nil {
				return usageErrorf("%v", err)
			}
			var resp apitypes.CreateTokenResponse
			if direct {
				cfg, err := a.loadConfig(cmd)
				if err != nil {
					return err
				}
				st, closeFn, err := a.openStore(cmd, cfg)
				if err != nil {
					return err
				}
				defer closeFn()
				plain, tok, err := st.CreateToken(cmd.Context(), name, r, "cli --direct")
				if err != nil {
					return err
				}
				resp = apitypes.CreateTokenResponse{Token: plain, Info: apitypes.Token{ID: tok.ID, Name: tok.Name, Role: string(tok.Role),
					Prefix: tok.Prefix, CreatedAt: tok.CreatedAt, CreatedBy: tok.CreatedBy}}
				if webhook {
					if resp.WebhookSecret, err = st.NewWebhookSecret(cmd.Context(), name); err != nil {
						return err
					}
				}
			} else {
				c, _, err := a.apiClient(cmd)
				if err != nil {
					return err
				}
				if resp, err = c.CreateToken(cmd.Context(), apitypes.CreateTokenRequest{Name: name, Role: string(r), Webhook: webhook}); err != nil {
					return err
				}
			}
			if asJSON {
				return writeJSON(a.stdout, resp)
			}
			fmt.Fprintf(a.stderr, "Created token %q with role %s. Store it now: it is not shown again.\n", resp.Info.Name, resp.Info.Role)
			if resp.WebhookSecret != "" {
				fmt.Fprintf(a.stderr, "Webhook secret (second line): sign bodies posted to /v1/webhooks/alerts/%s with HMAC-SHA256 in X-Parry-Signature-256: sha256=<hex>.\n", resp.Info.Name)
				_, err = fmt.Fprintf(a.stdout, "%s\n%s\n", resp.Token, resp.WebhookSecret)
				return err
			}
			_, err = fmt.Fprintln(a.stdout, resp.Token)
			return err
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "token name (unique among live tokens)")
	cmd.Flags().StringVar(&role, "role", "", "ingest | viewer | responder | author | admin")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the token and its record as JSON")
	cmd.Flags().BoolVar(&webhook, "webhook", false, "also create a secret for HMAC-signed alert webhooks (printed on a second line)")
	cmd.Flags().BoolVar(&direct, "direct", false, "write to the database directly instead of calling the API (bootstrap)")
	a.bindSettings(cmd.Flags(), append([]string{"database_url"}, clientSettings...)...)
	return cmd
}

func (a *app) newTokenListCmd() *cobra.Command {
	var asJSON, all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List API tokens (never the tokens themselves)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			toks, err := c.ListTokens(cmd.Context(), all)
			if err != nil {
				return err
			}
			if asJSON {
				return writeList(a.stdout, toks)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLE\tPREFIX\tCREATED\tLAST USED\tREVOKED")
			for _, t := range toks {
				fmt.Fprintf(tw, "%s\t%s\t%s…\t%s\t%s\t%s\n", t.Name, t.Role, t.Prefix, t.CreatedAt.UTC().Format(time.RFC3339),
					fmtTime(t.LastUsedAt), fmtTime(t.RevokedAt))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"items": [tokens]} as JSON`)
	cmd.Flags().BoolVar(&all, "all", false, "include revoked tokens")
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func (a *app) newTokenRevokeCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke the live token with this name",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			tok, err := c.RevokeToken(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "Revoked token %q.\n", args[0])
			if asJSON {
				return writeJSON(a.stdout, apitypes.RevokeTokenResponse{Revoked: tok})
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"revoked": token} as JSON (the API's answer)`)
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
