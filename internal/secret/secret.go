// Package secret resolves secrets by name (API tokens, ZIP passwords, webhook URLs) from PARRY_SECRET_<NAME>
// environment variables or a directory of files. A secret's value never appears in an error this package
// returns, and callers must keep it out of logs, workflow inputs and outputs.
package secret

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// ErrNotFound matches (errors.Is) the error returned when no provider knows the secret.
var ErrNotFound = errors.New("secret not found")

// MaxBytes bounds one secret value.
const MaxBytes = 64 << 10

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// ValidName reports whether name can name a secret: letters, digits, '_', '-', '.', up to 128 characters.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// Provider resolves one secret by name.
type Provider interface {
	Secret(ctx context.Context, name string) (string, error)
}

// EnvVar is the environment variable that holds the secret name: PARRY_SECRET_ + the name upper-cased, with
// '-' and '.' turned into '_' (quarantine-zip → PARRY_SECRET_QUARANTINE_ZIP).
func EnvVar(name string) string {
	return "PARRY_SECRET_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
}

// Env reads secrets from PARRY_SECRET_<NAME> variables.
type Env struct {
	Getenv func(string) string
}

// Secret implements Provider.
func (e Env) Secret(_ context.Context, name string) (string, error) {
	if !ValidName(name) {
		return "", fmt.Errorf("invalid secret name %q", name)
	}
	if v := e.Getenv(EnvVar(name)); v != "" {
		return v, nil
	}
	return "", &notFound{name: name, reasons: []string{EnvVar(name) + " is not set"}}
}

// Dir reads the secret from the file Dir/<name>, trimming one trailing newline (Kubernetes and Docker secrets
// mount this way).
type Dir struct {
	Path string
}

// Secret implements Provider.
func (d Dir) Secret(_ context.Context, name string) (string, error) {
	if !ValidName(name) {
		return "", fmt.Errorf("invalid secret name %q", name)
	}
	if d.Path == "" {
		return "", &notFound{name: name, reasons: []string{"no secrets directory is configured (secrets.dir)"}}
	}
	p := filepath.Join(d.Path, name)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", &notFound{name: name, reasons: []string{"no file " + p}}
	}
	if err != nil {
		return "", fmt.Errorf("reading secret %q: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return "", fmt.Errorf("reading secret %q: %w", name, err)
	}
	if len(data) > MaxBytes {
		return "", fmt.Errorf("secret %q is larger than %d bytes", name, MaxBytes)
	}
	return strings.TrimRight(string(data), "\r\n"), nil
}

// Chain asks each provider in turn and returns the first value found. When none has it, the error lists
// where each looked (nested chains included), once.
type Chain []Provider

// Secret implements Provider.
func (c Chain) Secret(ctx context.Context, name string) (string, error) {
	var reasons []string
	for _, p := range c {
		v, err := p.Secret(ctx, name)
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return "", err
		}
		var nf *notFound
		if errors.As(err, &nf) {
			reasons = append(reasons, nf.reasons...)
		}
	}
	return "", &notFound{name: name, reasons: reasons}
}

// notFound is ErrNotFound with where the providers looked.
type notFound struct {
	name    string
	reasons []string
}

func (e *notFound) Error() string {
	if len(e.reasons) == 0 {
		return fmt.Sprintf("secret %q not found", e.name)
	}
	return fmt.Sprintf("secret %q not found (%s)", e.name, strings.Join(e.reasons, "; "))
}

func (e *notFound) Is(target error) bool { return target == ErrNotFound }

// Static is a fixed map of secrets, for tests and the simulator.
type Static map[string]string

// Secret implements Provider.
func (s Static) Secret(_ context.Context, name string) (string, error) {
	if v, ok := s[name]; ok {
		return v, nil
	}
	return "", &notFound{name: name}
}
