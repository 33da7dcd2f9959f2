package payloadcrypt

import (
	"context"
	"errors"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

const (
	k1 = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	k2 = "k2:HxwdHhscGRoXGBUWExQREg8QDQ4LDAkKBwgFBgMEAQI="
)

func ring(t *testing.T, text string) *Keyring {
	t.Helper()
	r, err := ParseKeyring(text)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRoundTripAndRotation(t *testing.T) {
	t.Parallel()
	old := New(ring(t, k1))
	secret := map[string]any{"mailbox": "alice@corp.example", "subject": "Reset your password"}
	p, err := old.Data.ToPayload(secret)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(p.GetData()), "alice") || string(p.GetMetadata()["encryption-key-id"]) != "k1" {
		t.Fatalf("payload not encrypted: %q %v", p.GetData(), p.GetMetadata())
	}
	// Rotated: k2 encrypts, k1 still decrypts what it encrypted.
	rotated := New(ring(t, k2+"\n# the old key, until its histories age out\n"+k1))
	var got map[string]any
	if err := rotated.Data.FromPayload(p, &got); err != nil || got["mailbox"] != "alice@corp.example" {
		t.Fatalf("old payload after rotation: %v %v", got, err)
	}
	p2, _ := rotated.Data.ToPayload(secret)
	if string(p2.GetMetadata()["encryption-key-id"]) != "k2" {
		t.Errorf("rotated ring encrypts with %s", p2.GetMetadata()["encryption-key-id"])
	}
	// Without k2 the new payload cannot be read, and the error says which key is missing.
	err = old.Data.FromPayload(p2, &got)
	var mk *MissingKeyError
	if !errors.As(err, &mk) || mk.KeyID != "k2" {
		t.Errorf("missing key: %v", err)
	}
	// A payload written before encryption was turned on still reads.
	plain, _ := converter.GetDefaultDataConverter().ToPayload("hello")
	var s string
	if err := rotated.Data.FromPayload(plain, &s); err != nil || s != "hello" {
		t.Errorf("plain payload: %q %v", s, err)
	}
	// An altered payload does not authenticate.
	p.Data[len(p.Data)-1] ^= 1
	if err := old.Data.FromPayload(p, &got); err == nil || !strings.Contains(err.Error(), "does not authenticate") {
		t.Errorf("tampered payload: %v", err)
	}
}

func TestParseKeyring(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ text, want string }{
		{"", "the key ring holds no key"},
		{"k1", "line 1 of the key ring is not ID:BASE64"},
		{"k1:c2hvcnQ=", `key "k1" of the key ring is not 32 bytes in base64`},
		{k1 + "\n" + k1, `key "k1" appears twice`},
		{"bad id!:" + strings.TrimPrefix(k1, "k1:"), "line 1 of the key ring is not ID:BASE64"},
	} {
		_, err := ParseKeyring(tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.text, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "AAECAwQF") {
			t.Errorf("the error quotes key material: %v", err)
		}
	}
	if r, err := ParseKeyring(NewKeyText("dev")); err != nil || r.Current != "dev" {
		t.Errorf("a new key: %v %v", r, err)
	}
}

// TestDecryptHistory: an encrypted history (inputs and a failure message) reads in the clear after
// DecryptHistory, and holds none of the secret strings before.
func TestDecryptHistory(t *testing.T) {
	t.Parallel()
	c := New(ring(t, k1))
	in, _ := c.Data.ToPayloads(map[string]string{"sender": "phish@evil.example"})
	failure := c.Failure.ErrorToFailure(temporal.NewApplicationError("cannot quarantine the mail of bob@corp.example", "VendorRejected"))
	h := &historypb.History{Events: []*historypb.HistoryEvent{
		{EventId: 1, EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, Attributes: &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{
			WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{Input: in}}},
		{EventId: 2, EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, Attributes: &historypb.HistoryEvent_WorkflowExecutionFailedEventAttributes{
			WorkflowExecutionFailedEventAttributes: &historypb.WorkflowExecutionFailedEventAttributes{Failure: failure}}},
	}}
	raw := h.String()
	if strings.Contains(raw, "phish@evil") || strings.Contains(raw, "bob@corp") {
		t.Fatalf("the encrypted history holds the secrets: %s", raw)
	}
	if c.FailureMessage(failure) != "cannot quarantine the mail of bob@corp.example" {
		t.Errorf("failure message %q", c.FailureMessage(failure))
	}
	if err := c.DecryptHistory(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := converter.GetDefaultDataConverter().FromPayloads(h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetInput(), &got); err != nil || got["sender"] != "phish@evil.example" {
		t.Errorf("input %v %v", got, err)
	}
	if msg := h.Events[1].GetWorkflowExecutionFailedEventAttributes().GetFailure().GetMessage(); msg != "cannot quarantine the mail of bob@corp.example" {
		t.Errorf("failure %q", msg)
	}
	_ = commonpb.Payloads{}
}
