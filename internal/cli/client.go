package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/apiclient"
	"github.com/parry-soar/parry/internal/config"
)

// clientFlags are the settings commands that talk to the API offer.
var clientSettings = []string{"client.url", "client.token_file", "data_dir"}

// resolveURL is client.url, else the URL parry dev wrote in the data dir, else http://127.0.0.1:8080.
func resolveURL(cfg config.Config) string {
	if cfg.Client.URL != "" {
		return cfg.Client.URL
	}
	if b, err := os.ReadFile(config.APIURLFile(cfg.DataDir)); err == nil {
		if u := strings.TrimSpace(string(b)); u != "" {
			return u
		}
	}
	return "http://127.0.0.1:8080"
}

// clientURL resolves the API URL for commands that need no token.
func (a *app) clientURL(cmd *cobra.Command) string {
	cfg, err := a.loadConfig(cmd)
	if err != nil {
		return "http://127.0.0.1:8080"
	}
	return resolveURL(cfg)
}

// apiClient finds the API and a token: PARRY_URL / --url / client.url, else the URL parry dev wrote in the data
// dir, else http://127.0.0.1:8080; PARRY_TOKEN, else client.token_file, else the admin token parry dev wrote.
func (a *app) apiClient(cmd *cobra.Command) (*apiclient.Client, config.Config, error) {
	cfg, err := a.loadConfig(cmd)
	if err != nil {
		return nil, cfg, err
	}
	url := resolveURL(cfg)
	token := strings.TrimSpace(a.getenv("PARRY_TOKEN"))
	if token == "" {
		path := cfg.Client.TokenFile
		if path == "" {
			path = config.AdminTokenFile(cfg.DataDir)
		}
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			token = strings.TrimSpace(string(b))
		case errors.Is(err, fs.ErrNotExist) && cfg.Client.TokenFile == "":
			return nil, cfg, fmt.Errorf("no API token: set PARRY_TOKEN (create one with `parry token create`), or run `parry dev`, which writes an admin token to %s", path)
		default:
			return nil, cfg, fileError("reading the API token from", path, err)
		}
		if token == "" {
			// Sent as is, the API would answer "missing Authorization header": say which file is empty instead.
			return nil, cfg, fmt.Errorf("no API token: %s is empty; write a token into it (create one with `parry token create`) or set PARRY_TOKEN", path)
		}
	}
	return apiclient.New(url, token), cfg, nil
}
