package cli

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/payloadcrypt"
)

var payloadKeyIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// payloadKeyJSON is the --json shape of payload-key new.
type payloadKeyJSON struct {
	ID   string `json:"id"`
	Line string `json:"line"`
}

func (a *app) newPayloadKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "payload-key",
		Short: "Make keys for the payload encryption of Temporal's history",
		Args:  noArgs,
	}
	var id string
	var asJSON bool
	newCmd := &cobra.Command{
		Use:   "new [--id ID]",
		Short: "Print a new key ring line (ID:BASE64) for the secret temporal.payload_key_secret names",
		Long: "Print a new AES-256 key as one key ring line. A new deployment puts it in the secret " +
			"(deploy/secrets/temporal-payload-key for docker compose). To rotate, put the new line first and keep the " +
			"old lines after it until the histories they encrypted have aged out of Temporal's retention.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !payloadKeyIDRE.MatchString(id) {
				return usageErrorf("--id %q: use letters, digits, '.', '_' or '-' (at most 64)", id)
			}
			line := payloadcrypt.NewKeyText(id)
			if asJSON {
				return writeJSON(a.stdout, payloadKeyJSON{ID: id, Line: strings.TrimSuffix(line, "\n")})
			}
			_, err := fmt.Fprint(a.stdout, line)
			return err
		},
	}
	newCmd.Flags().StringVar(&id, "id", "k1", "the key's id, recorded in every payload it encrypts")
	newCmd.Flags().BoolVar(&asJSON, "json", false, `print {"id","line"} as JSON (line: the key ring line, ID:BASE64)`)
	cmd.AddCommand(newCmd)
	return cmd
}
