package devserver

import (
	"context"
	"log/slog"
)

// Embedded gives the CLI's parry dev (cli.Embedded, which cannot import this package
// without every CLI test compiling the Temporal server) the server and the UI. main
// passes Embedded{} to cli.Main.
type Embedded struct{}

// StartTemporal starts the server with its database in dataDir and the frontend on
// listen, and returns the frontend's address and its Stop.
func (Embedded) StartTemporal(ctx context.Context, dataDir, listen string, logger *slog.Logger) (string, func(context.Context) error, error) {
	t, err := StartTemporal(ctx, TemporalOptions{DataDir: dataDir, Listen: listen, Logger: logger})
	if err != nil {
		return "", nil, err
	}
	return t.Address(), t.Stop, nil
}

// StartUI serves the Web UI on listen for the server at temporalAddress, decoding payloads through
// codecEndpoint (when not ""), and returns its URL and its Stop.
func (Embedded) StartUI(ctx context.Context, listen, temporalAddress, codecEndpoint string, logger *slog.Logger) (string, func(context.Context) error, error) {
	u, err := StartUI(ctx, UIOptions{Listen: listen, TemporalAddress: temporalAddress, Logger: logger, CodecEndpoint: codecEndpoint})
	if err != nil {
		return "", nil, err
	}
	return u.URL(), u.Stop, nil
}
