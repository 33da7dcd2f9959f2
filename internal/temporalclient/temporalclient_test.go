package temporalclient

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/secret"
)

func TestDialUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	cfg := config.TemporalConfig{Address: addr, Namespace: "default"}
	_, err = Dial(context.Background(), cfg, secret.Static{}, nil, 2*time.Second)
	if err == nil || !strings.HasPrefix(err.Error(), "cannot reach Temporal at "+addr+" (namespace default): ") ||
		!strings.HasSuffix(err.Error(), "start it (parry dev embeds one) or set PARRY_TEMPORAL_ADDRESS / --temporal-address") {
		t.Fatalf("got %v", err)
	}
}

func TestOptionsAPIKeyAndTLS(t *testing.T) {
	cfg := config.TemporalConfig{Address: "ns.acct.tmprl.cloud:7233", Namespace: "ns.acct", APIKeySecret: "temporal-key"}
	opts, err := Options(context.Background(), cfg, secret.Static{"temporal-key": "k-123"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Credentials == nil || opts.ConnectionOptions.TLS == nil {
		t.Fatal("API key implies TLS and credentials")
	}
	_, err = Options(context.Background(), cfg, secret.Static{}, nil)
	if err == nil || !strings.Contains(err.Error(), `reading the Temporal API key (temporal.api_key_secret): secret "temporal-key" not found`) {
		t.Fatalf("got %v", err)
	}
	_, err = Options(context.Background(), config.TemporalConfig{TLSCAFile: "/nonexistent.pem"}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "reading temporal.tls_ca_file") {
		t.Fatalf("got %v", err)
	}
}
