// Package payloadcrypt encrypts every payload parry writes to Temporal's history — workflow inputs and results,
// activity inputs and outputs, signals, queries, updates, heartbeats and failure messages — with AES-256-GCM,
// so alert data, mail metadata and step outputs (mail addresses, subjects, URLs: personal data) are never
// stored in the clear by Temporal or shown by its Web UI to someone without a parry token.
//
// Keys come from one named secret holding a key ring: one key per line as `ID:BASE64`, the first line the key
// that encrypts, every line a key that decrypts, so a key is rotated by putting a new first line and keeping the
// old ones until histories encrypted with them have aged out. Each encrypted payload names its key id.
package payloadcrypt

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// Metadata of an encrypted payload.
const (
	// Encoding marks an encrypted payload; its data is nonce || ciphertext of the original payload (proto).
	Encoding    = "binary/encrypted"
	metaKeyID   = "encryption-key-id"
	metaCipher  = "encryption-cipher"
	cipherName  = "AES256-GCM"
	keySize     = 32
	maxKeyIDLen = 64
)

var keyIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Keyring holds the keys: Current encrypts, every key decrypts.
type Keyring struct {
	Current string
	keys    map[string]cipher.AEAD
}

// ParseKeyring reads a key ring: one `ID:BASE64` line per key (32 bytes, standard or URL base64), the first the
// current one; blank lines and lines starting with # are ignored. The error never contains key material.
func ParseKeyring(text string) (*Keyring, error) {
	r := &Keyring{keys: map[string]cipher.AEAD{}}
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, enc, ok := strings.Cut(line, ":")
		if !ok || !keyIDRE.MatchString(id) {
			return nil, fmt.Errorf("line %d of the key ring is not ID:BASE64 (an id of letters, digits, '.', '_' or '-', at most %d)", n+1, maxKeyIDLen)
		}
		raw, err := decodeKey(strings.TrimSpace(enc))
		if err != nil || len(raw) != keySize {
			return nil, fmt.Errorf("key %q of the key ring is not %d bytes in base64 (make one with: openssl rand -base64 32)", id, keySize)
		}
		if _, dup := r.keys[id]; dup {
			return nil, fmt.Errorf("key %q appears twice in the key ring", id)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("key %q: %v", id, err)
		}
		gcm, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("key %q: %v", id, err)
		}
		r.keys[id] = gcm
		if r.Current == "" {
			r.Current = id
		}
	}
	if r.Current == "" {
		return nil, errors.New("the key ring holds no key (one ID:BASE64 line per key; make a key with: openssl rand -base64 32)")
	}
	return r, nil
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// NewKeyText returns a fresh key ring text with one key named id (parry dev writes one into its data dir).
func NewKeyText(id string) string {
	b := make([]byte, keySize)
	_, _ = rand.Read(b)
	return id + ":" + base64.StdEncoding.EncodeToString(b) + "\n"
}

// Codec is the converter.PayloadCodec that encrypts with the ring's current key and decrypts with any of its
// keys. Payloads that are not encrypted pass through Decode unchanged (histories written before encryption was
// turned on stay readable).
type Codec struct{ Ring *Keyring }

// Encode implements converter.PayloadCodec.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.Ring.keys[c.Ring.Current]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encrypting a payload: %w", err)
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("encrypting a payload: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(Encoding),
				metaKeyID:                  []byte(c.Ring.Current),
				metaCipher:                 []byte(cipherName),
			},
			// The key id is authenticated with the payload, so a payload cannot be passed off under another key.
			Data: aead.Seal(nonce, nonce, plain, []byte(c.Ring.Current)),
		}
	}
	return out, nil
}

// Decode implements converter.PayloadCodec.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[metaKeyID])
		aead, ok := c.Ring.keys[id]
		if !ok {
			return nil, &MissingKeyError{KeyID: id}
		}
		data := p.GetData()
		if len(data) < aead.NonceSize() {
			return nil, errors.New("decrypting a payload: it is shorter than its nonce")
		}
		plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(id))
		if err != nil {
			return nil, fmt.Errorf("decrypting a payload with key %q: it does not authenticate (another key of the same id, or altered)", id)
		}
		var orig commonpb.Payload
		if err := proto.Unmarshal(plain, &orig); err != nil {
			return nil, fmt.Errorf("decrypting a payload with key %q: %w", id, err)
		}
		out[i] = &orig
	}
	return out, nil
}

// MissingKeyError is a payload encrypted with a key the ring no longer (or never) had.
type MissingKeyError struct{ KeyID string }

func (e *MissingKeyError) Error() string {
	return fmt.Sprintf("a payload is encrypted with key %q, which the key ring does not hold: add it back (as a later line) to read histories written with it", e.KeyID)
}

// Converters are the data and failure converters a Temporal client and worker use.
type Converters struct {
	Data    converter.DataConverter
	Failure converter.FailureConverter
	Codec   converter.PayloadCodec
}

// New returns converters that encrypt with ring. Failures' messages and stack traces are encrypted too (they
// quote vendor answers and step errors).
func New(ring *Keyring) Converters {
	codec := &Codec{Ring: ring}
	dc := converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), codec)
	fc := temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: dc, EncodeCommonAttributes: true})
	return Converters{Data: dc, Failure: fc, Codec: codec}
}

// Plain are the converters of a deployment without encryption (the SDK's defaults).
func Plain() Converters {
	return Converters{Data: converter.GetDefaultDataConverter(), Failure: temporal.GetDefaultFailureConverter()}
}

// DecodeHistoryPayloads returns a copy of payloads decrypted (for export and for reading a history's inputs and
// outputs).
func (c Converters) DecodeHistoryPayloads(p *commonpb.Payloads) (*commonpb.Payloads, error) {
	if c.Codec == nil || p == nil {
		return p, nil
	}
	out, err := c.Codec.Decode(p.GetPayloads())
	if err != nil {
		return nil, err
	}
	return &commonpb.Payloads{Payloads: out}, nil
}

// FailureMessage returns a failure's message, decrypting it when the failure converter moved it into the
// encoded attributes.
func (c Converters) FailureMessage(f *failurepb.Failure) string {
	if f == nil {
		return ""
	}
	if f.GetEncodedAttributes() == nil {
		return f.GetMessage()
	}
	var attrs struct {
		Message string `json:"message"`
	}
	if err := c.Data.FromPayload(f.GetEncodedAttributes(), &attrs); err != nil {
		return f.GetMessage()
	}
	return attrs.Message
}

// DecryptHistory decrypts, in place, every payload of a history (inputs, results, signals, heartbeats,
// failure details) and restores failure messages the failure converter encrypted, so the history reads as if
// it had never been encrypted: for `run show`, export (which says it decrypted) and replay.
func (c Converters) DecryptHistory(ctx context.Context, h *historypb.History) error {
	if c.Codec == nil || h == nil {
		return nil
	}
	err := proxy.VisitPayloads(ctx, h, proxy.VisitPayloadsOptions{
		SkipSearchAttributes: true,
		Visitor: func(_ *proxy.VisitPayloadsContext, p []*commonpb.Payload) ([]*commonpb.Payload, error) {
			return c.Codec.Decode(p)
		},
	})
	if err != nil {
		return fmt.Errorf("decrypting the history: %w", err)
	}
	return restoreFailures(ctx, h)
}

// restoreFailures moves failure messages and stack traces out of their (now decrypted) encoded attributes.
func restoreFailures(ctx context.Context, msg proto.Message) error {
	return proxy.VisitFailures(ctx, msg, proxy.VisitFailuresOptions{
		Visitor: func(_ *proxy.VisitFailuresContext, f *failurepb.Failure) error {
			if f.GetEncodedAttributes() == nil {
				return nil
			}
			var attrs struct {
				Message    string `json:"message"`
				StackTrace string `json:"stack_trace"`
			}
			if err := converter.GetDefaultDataConverter().FromPayload(f.GetEncodedAttributes(), &attrs); err != nil {
				return nil // still encrypted (no key): leave it as it is
			}
			f.Message, f.StackTrace, f.EncodedAttributes = attrs.Message, attrs.StackTrace, nil
			return nil
		},
	})
}
