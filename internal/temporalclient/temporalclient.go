// Package temporalclient dials the Temporal frontend parry uses (self-hosted, Temporal Cloud or the one parry dev
// embeds) from configuration: TLS, mTLS and API keys, with errors that say what to fix.
package temporalclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"

	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/payloadcrypt"
	"github.com/parry-soar/parry/internal/secret"
)

// Options builds client.Options from the configuration. secrets resolves temporal.api_key_secret.
func Options(ctx context.Context, cfg config.TemporalConfig, secrets secret.Provider, logger *slog.Logger) (client.Options, error) {
	opts := client.Options{
		HostPort:  cfg.Address,
		Namespace: cfg.Namespace,
		Logger:    tlog.NewStructuredLogger(quiet(logger)),
	}
	if cfg.TLS || cfg.TLSCAFile != "" || cfg.TLSCertFile != "" || cfg.APIKeySecret != "" {
		tc := &tls.Config{ServerName: cfg.TLSServerName, MinVersion: tls.VersionTLS12}
		if cfg.TLSCAFile != "" {
			pem, err := os.ReadFile(cfg.TLSCAFile)
			if err != nil {
				return opts, fmt.Errorf("reading temporal.tls_ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return opts, fmt.Errorf("temporal.tls_ca_file %s holds no PEM certificate", cfg.TLSCAFile)
			}
			tc.RootCAs = pool
		}
		if cfg.TLSCertFile != "" {
			cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
			if err != nil {
				return opts, fmt.Errorf("loading temporal.tls_cert_file/tls_key_file: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts.ConnectionOptions.TLS = tc
	}
	if cfg.APIKeySecret != "" {
		key, err := secrets.Secret(ctx, cfg.APIKeySecret)
		if err != nil {
			return opts, fmt.Errorf("reading the Temporal API key (temporal.api_key_secret): %w", err)
		}
		opts.Credentials = client.NewAPIKeyStaticCredentials(key)
	}
	conv, err := Converters(ctx, cfg, secrets)
	if err != nil {
		return opts, err
	}
	opts.DataConverter, opts.FailureConverter = conv.Data, conv.Failure
	return opts, nil
}

// Converters are the data and failure converters of the configuration: payload encryption with the key ring of
// temporal.payload_key_secret, or Temporal's plain defaults when temporal.encrypt_payloads is off.
func Converters(ctx context.Context, cfg config.TemporalConfig, secrets secret.Provider) (payloadcrypt.Converters, error) {
	if !cfg.EncryptPayloads {
		return payloadcrypt.Plain(), nil
	}
	if cfg.PayloadKeySecret == "" {
		return payloadcrypt.Converters{}, errors.New("temporal.encrypt_payloads is on but temporal.payload_key_secret names no secret")
	}
	text, err := secrets.Secret(ctx, cfg.PayloadKeySecret)
	if err != nil {
		return payloadcrypt.Converters{}, fmt.Errorf("payload encryption is on (temporal.encrypt_payloads) but its key ring cannot be read: %w; "+
			"put a line `k1:` followed by 32 random bytes in base64 (openssl rand -base64 32) in that secret, or set temporal.encrypt_payloads: false", err)
	}
	ring, err := payloadcrypt.ParseKeyring(text)
	if err != nil {
		return payloadcrypt.Converters{}, fmt.Errorf("reading the payload key ring (secret %s): %w", cfg.PayloadKeySecret, err)
	}
	return payloadcrypt.New(ring), nil
}

// Dial connects and checks the frontend answers, within timeout. The error names the address and what to do.
func Dial(ctx context.Context, cfg config.TemporalConfig, secrets secret.Provider, logger *slog.Logger, timeout time.Duration) (client.Client, error) {
	return DialWith(ctx, cfg, secrets, logger, timeout, nil)
}

// DialWith is Dial with client interceptors (tracing): workers built on the client inherit them.
func DialWith(ctx context.Context, cfg config.TemporalConfig, secrets secret.Provider, logger *slog.Logger, timeout time.Duration,
	interceptors []interceptor.ClientInterceptor) (client.Client, error) {
	opts, err := Options(ctx, cfg, secrets, logger)
	if err != nil {
		return nil, err
	}
	opts.Interceptors = append(opts.Interceptors, interceptors...)
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		c   client.Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := client.DialContext(dctx, opts)
		done <- result{c, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-dctx.Done():
		res = result{err: dctx.Err()}
		go func() {
			if r := <-done; r.c != nil {
				r.c.Close()
			}
		}()
	}
	if res.err != nil {
		return nil, Unreachable(cfg, res.err)
	}
	return res.c, nil
}

// Unreachable explains a failure to reach Temporal.
func Unreachable(cfg config.TemporalConfig, err error) error {
	msg := err.Error()
	if errors.Is(err, context.DeadlineExceeded) {
		msg = "no answer"
	}
	if i := strings.Index(msg, "desc = "); i >= 0 {
		msg = msg[i+len("desc = "):]
	}
	return fmt.Errorf("cannot reach Temporal at %s (namespace %s): %s; start it (parry dev embeds one) or set PARRY_TEMPORAL_ADDRESS / --temporal-address", cfg.Address, cfg.Namespace, msg)
}

// quiet drops the SDK's info-level chatter (every worker start, poller churn) unless debug logging is on.
func quiet(logger *slog.Logger) *slog.Logger {
	if logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	if logger.Enabled(context.Background(), slog.LevelDebug) {
		return logger
	}
	return slog.New(minLevel{logger.Handler(), slog.LevelWarn})
}

type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}
func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.min}
}
func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.min} }
