package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/payloadcrypt"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
)

// TestCodecDecryptsForViewers: /codec/decode turns an encrypted payload back into the clear for a viewer (bearer
// token, or the cookie POST /v1/codec/session set), refuses anyone else, and answers the Web UI's preflight only
// for an allowed origin.
func TestCodecDecryptsForViewers(t *testing.T) {
	st := storetest.NewStore(t)
	ctx := context.Background()
	viewer, _, err := st.CreateToken(ctx, "analyst", store.RoleViewer, "test")
	if err != nil {
		t.Fatal(err)
	}
	ingest, _, _ := st.CreateToken(ctx, "siem", store.RoleIngest, "test")
	ring, err := payloadcrypt.ParseKeyring(payloadcrypt.NewKeyText("k1"))
	if err != nil {
		t.Fatal(err)
	}
	conv := payloadcrypt.New(ring)
	srv := httptest.NewServer((&api.Server{Store: st, Codec: conv.Codec, CodecOrigins: []string{"http://127.0.0.1:8233"}}).Handler())
	defer srv.Close()
	p, _ := conv.Data.ToPayloads(map[string]string{"mailbox": "alice@corp.example"})
	body, _ := protojson.Marshal(p)
	post := func(path, bearer string, cookie *http.Cookie) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp, b.String()
	}
	resp, out := post("/codec/decode", viewer, nil)
	var decoded commonpb.Payloads
	if resp.StatusCode != 200 || protojson.Unmarshal([]byte(out), &decoded) != nil || !strings.Contains(string(decoded.GetPayloads()[0].GetData()), "alice@corp.example") {
		t.Fatalf("decode as a viewer: %d %s", resp.StatusCode, out)
	}
	if strings.Contains(string(body), "alice") {
		t.Fatal("the payload was not encrypted")
	}
	if resp, _ := post("/codec/decode", "", nil); resp.StatusCode != 401 {
		t.Errorf("without a token: %d", resp.StatusCode)
	}
	if resp, _ := post("/codec/decode", ingest, nil); resp.StatusCode != 403 {
		t.Errorf("as ingest: %d", resp.StatusCode)
	}
	// The console's sign-in sets the cookie the Web UI's requests carry.
	resp, _ = post("/v1/codec/session", viewer, nil)
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "parry_codec" {
			cookie = c
		}
	}
	if resp.StatusCode != 204 || cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/codec" {
		t.Fatalf("session: %d %+v", resp.StatusCode, cookie)
	}
	if resp, _ := post("/codec/decode", "", cookie); resp.StatusCode != 200 {
		t.Errorf("with the cookie: %d", resp.StatusCode)
	}
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/codec/decode", nil)
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := preflight("http://127.0.0.1:8233"); r.StatusCode != 204 || r.Header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:8233" || r.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("preflight of the UI: %d %v", r.StatusCode, r.Header)
	}
	if r := preflight("https://evil.example"); r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("another origin was allowed: %v", r.Header)
	}
}
