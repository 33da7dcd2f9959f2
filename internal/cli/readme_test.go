package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/config"
)

// TestREADMEDocumentsEverySetting keeps the README's configuration reference complete.
func TestREADMEDocumentsEverySetting(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	for _, s := range config.Settings() {
		row := "| `" + s.Key + "` | `" + s.Env + "` | `--" + s.Flag + "` |"
		if !strings.Contains(readme, row) {
			t.Errorf("README lacks the row for %s: %s", s.Key, row)
		}
	}
	for _, first := range []string{"go run ./cmd/parry dev", "make test"} {
		if i := strings.Index(readme, first); i < 0 || i > 2000 {
			t.Errorf("README's first screen lacks %q", first)
		}
	}
}
