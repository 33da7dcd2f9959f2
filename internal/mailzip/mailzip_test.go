package mailzip

import (
	"archive/zip"
	"bytes"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"
)

var sample = []byte(strings.Repeat("From: a@example.com\r\nSubject: round trip\r\n\r\nbody line\r\n", 50))

func seeded() *rand.ChaCha8 { return rand.NewChaCha8([32]byte{1, 2, 3}) }

func mustWrite(t testing.TB, files []File, opts WriteOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, files, opts); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, enc := range []Encryption{NoEncryption, ZipCrypto, AES128, AES192, AES256} {
		for _, store := range []bool{false, true} {
			for _, ae := range []int{1, 2} {
				if enc < AES128 && ae == 1 {
					continue
				}
				name := enc.String()
				if store {
					name += "/store"
				}
				name += "/ae" + string(rune('0'+ae))
				t.Run(name, func(t *testing.T) {
					pw := ""
					if enc != NoEncryption {
						pw = "pässword"
					}
					data := mustWrite(t, []File{{Name: "mail.eml", Data: sample, Modified: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC)}},
						WriteOptions{Store: store, Encryption: enc, Password: pw, AEVersion: ae, Rand: seeded()})
					a, err := Open(data, Limits{})
					if err != nil {
						t.Fatal(err)
					}
					ms := a.Members()
					if len(ms) != 1 || ms[0].Encryption != enc || ms[0].UncompressedSize != uint64(len(sample)) {
						t.Fatalf("members = %+v", ms)
					}
					wantMethod := uint16(zip.Deflate)
					if store {
						wantMethod = zip.Store
					}
					if ms[0].Method != wantMethod {
						t.Errorf("method %d, want %d", ms[0].Method, wantMethod)
					}
					got, err := a.ReadMember("mail.eml", pw)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, sample) {
						t.Fatal("content differs")
					}
					// Another reader agrees for the unencrypted case.
					if enc == NoEncryption {
						zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
						if err != nil {
							t.Fatal(err)
						}
						rc, err := zr.File[0].Open()
						if err != nil {
							t.Fatal(err)
						}
						var b bytes.Buffer
						if _, err := b.ReadFrom(rc); err != nil || !bytes.Equal(b.Bytes(), sample) {
							t.Fatalf("archive/zip read: %v", err)
						}
					}
				})
			}
		}
	}
}

func TestDeterministicWithSeededRand(t *testing.T) {
	t.Parallel()
	a := mustWrite(t, []File{{Name: "m.eml", Data: sample}}, WriteOptions{Encryption: AES256, Password: "x", Rand: seeded()})
	b := mustWrite(t, []File{{Name: "m.eml", Data: sample}}, WriteOptions{Encryption: AES256, Password: "x", Rand: seeded()})
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different archives")
	}
}

func TestWrongAndMissingPassword(t *testing.T) {
	t.Parallel()
	for _, enc := range []Encryption{ZipCrypto, AES128, AES256} {
		t.Run(enc.String(), func(t *testing.T) {
			// ZipCrypto's one-byte check accepts 1 wrong password in 256; this seed and password are rejected.
			data := mustWrite(t, []File{{Name: "m.eml", Data: sample}}, WriteOptions{Encryption: enc, Password: "right", Rand: seeded()})
			_, _, err := ReadMessage(data, "wrong", Limits{})
			if !errors.Is(err, ErrWrongPassword) {
				t.Fatalf("err = %v, want wrong password", err)
			}
			if want := `reading member "m.eml": wrong password`; err.Error() != want {
				t.Errorf("message %q, want %q", err, want)
			}
			_, _, err = ReadMessage(data, "", Limits{})
			if !errors.Is(err, ErrPasswordRequired) {
				t.Fatalf("err = %v, want password required", err)
			}
		})
	}
}

// corrupt flips one byte in the middle of the member's data (past the local header).
func corrupt(t *testing.T, data []byte) []byte {
	t.Helper()
	out := append([]byte(nil), data...)
	zr, err := zip.NewReader(bytes.NewReader(out), int64(len(out)))
	if err != nil {
		t.Fatal(err)
	}
	off, err := zr.File[0].DataOffset()
	if err != nil {
		t.Fatal(err)
	}
	out[off+int64(zr.File[0].CompressedSize64)/2] ^= 0x55
	return out
}

func TestCorruptedData(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		enc  Encryption
		want string
	}{
		{AES256, `reading member "m.eml": corrupted archive: AES authentication code mismatch`},
		{AES128, `reading member "m.eml": corrupted archive: AES authentication code mismatch`},
		{NoEncryption, `reading member "m.eml": corrupted archive`},
		{ZipCrypto, `reading member "m.eml": corrupted archive`},
	} {
		t.Run(tc.enc.String(), func(t *testing.T) {
			pw := ""
			if tc.enc != NoEncryption {
				pw = "pw"
			}
			data := corrupt(t, mustWrite(t, []File{{Name: "m.eml", Data: sample}}, WriteOptions{Store: true, Encryption: tc.enc, Password: pw, Rand: seeded()}))
			_, _, err := ReadMessage(data, pw, Limits{})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want corrupt", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("message %q, want prefix %q", err, tc.want)
			}
		})
	}
}

func TestFixturesFromRealTools(t *testing.T) {
	t.Parallel()
	want, err := os.ReadFile("testdata/msg.eml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file, password string
		enc            Encryption
	}{
		{"plain.zip", "", NoEncryption},         // zip 3.0
		{"zipcrypto.zip", "S3cret!", ZipCrypto}, // zip -P (data descriptor: check byte from the time)
		{"aes256.zip", "S3cret!", AES256},       // 7z -tzip -mem=AES256 (AE-2, deflated)
		{"aes128-store.zip", "S3cret!", AES128}, // 7z -tzip -mem=AES128 -mx=0 (AE-2, stored)
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile("testdata/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			a, err := Open(data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if e := a.Members()[0].Encryption; e != tc.enc {
				t.Errorf("encryption %v, want %v", e, tc.enc)
			}
			name, got, err := ReadMessage(data, tc.password, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if name != "msg.eml" || !bytes.Equal(got, want) {
				t.Fatalf("got %q %q", name, got)
			}
			if tc.enc != NoEncryption {
				if _, _, err := ReadMessage(data, "S3cret?", Limits{}); !errors.Is(err, ErrWrongPassword) {
					t.Errorf("wrong password: %v", err)
				}
			}
		})
	}
}

func TestMessageMember(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		names []string
		want  string
		err   string
	}{
		{[]string{"x.eml"}, "x.eml", ""},
		{[]string{"x.msg"}, "x.msg", ""},
		{[]string{"dir/", "dir/Mail.EML", "readme.txt"}, "dir/Mail.EML", ""},
		{[]string{"__MACOSX/._m", "m"}, "m", ""},
		{[]string{"a.eml", "b.eml"}, "", `no message in archive: 2 .eml members ("a.eml", "b.eml")`},
		{[]string{"a.txt", "b.txt"}, "", `no message in archive: no .eml member among 2 files ("a.txt", "b.txt")`},
		{[]string{"dir/"}, "", `no message in archive: the archive has no files`},
	} {
		t.Run(strings.Join(tc.names, ","), func(t *testing.T) {
			var files []File
			for _, n := range tc.names {
				f := File{Name: n, Data: []byte("x")}
				if strings.HasSuffix(n, "/") {
					f.Data = nil
				}
				files = append(files, f)
			}
			a, err := Open(mustWrite(t, files, WriteOptions{}), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			m, err := a.MessageMember()
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || m.Name != tc.want {
				t.Fatalf("got %q %v, want %q", m.Name, err, tc.want)
			}
		})
	}
}

// rawArchive writes one member whose headers say what the caller wants, whatever the data is.
func rawArchive(t *testing.T, name string, method uint16, body []byte, crc uint32, usize uint64) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: name, Method: method, CRC32: crc, CompressedSize64: uint64(len(body)), UncompressedSize64: usize})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(body)
	zw.Close()
	return buf.Bytes()
}

func TestBombBounds(t *testing.T) {
	t.Parallel()
	zeros := make([]byte, 8<<20)
	bomb := mustWrite(t, []File{{Name: "m.eml", Data: zeros}}, WriteOptions{})
	if len(bomb) > 64<<10 {
		t.Fatalf("bomb is %d bytes, expected a high ratio", len(bomb))
	}
	lim := Limits{MaxMemberBytes: 1 << 20}

	// Honest header: refused before inflating anything.
	_, _, err := ReadMessage(bomb, "", lim)
	if want := `reading member "m.eml": uncompressed member size 8388608 exceeds the limit of 1048576`; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	// Lying header (claims 10 bytes): caught while inflating, one byte past the bound.
	zr, _ := zip.NewReader(bytes.NewReader(bomb), int64(len(bomb)))
	raw, _ := zr.File[0].OpenRaw()
	var body bytes.Buffer
	body.ReadFrom(raw)
	liar := rawArchive(t, "m.eml", zip.Deflate, body.Bytes(), crc32.ChecksumIEEE(zeros), 10)
	_, _, err = ReadMessage(liar, "", lim)
	if want := `reading member "m.eml": uncompressed member size exceeds the limit of 1048576`; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	var le *LimitError
	if !errors.As(err, &le) || le.What != "uncompressed member size" {
		t.Fatalf("not a LimitError: %#v", err)
	}
	// Too many members.
	var files []File
	for i := range 5 {
		files = append(files, File{Name: string(rune('a'+i)) + ".txt"})
	}
	_, err = Open(mustWrite(t, files, WriteOptions{}), Limits{MaxMembers: 4})
	if want := "member count 5 exceeds the limit of 4"; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	// Archive too large.
	_, err = Open(bomb, Limits{MaxArchiveBytes: 100})
	if err == nil || !strings.HasPrefix(err.Error(), "archive size ") || !strings.HasSuffix(err.Error(), " exceeds the limit of 100") {
		t.Fatalf("err = %v", err)
	}
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "opening archive: corrupted archive: zip: not a valid zip file"},
		{"text", []byte("not a zip at all"), "opening archive: corrupted archive: zip: not a valid zip file"},
		{"aes without extra", rawArchive(t, "m.eml", 99, []byte("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), 0, 5),
			`opening archive: reading member "m.eml": corrupted archive: member uses method 99 (AES) but has no AES extra field`},
		{"unknown method", rawArchive(t, "m.eml", 12, []byte("BZh"), 0, 3),
			`reading member "m.eml": unsupported archive feature: compression method 12`},
		{"size mismatch", rawArchive(t, "m.eml", zip.Store, []byte("abc"), crc32.ChecksumIEEE([]byte("abc")), 2),
			`reading member "m.eml": corrupted archive: member is 3 bytes, its header says 2`},
		{"crc mismatch", rawArchive(t, "m.eml", zip.Store, []byte("abc"), 1, 3),
			`reading member "m.eml": corrupted archive: CRC mismatch`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ReadMessage(tc.data, "", Limits{})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v\nwant  %s", err, tc.want)
			}
		})
	}
}

func TestWriteErrors(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := Write(&buf, nil, WriteOptions{Encryption: AES256}); err == nil || err.Error() != "writing archive: encryption needs a password" {
		t.Errorf("err = %v", err)
	}
	if err := Write(&buf, nil, WriteOptions{Encryption: AES256, Password: "x", AEVersion: 3}); err == nil || err.Error() != "writing archive: AES version AE-3 does not exist" {
		t.Errorf("err = %v", err)
	}
}

func FuzzReadMessage(f *testing.F) {
	for _, name := range []string{"plain.zip", "zipcrypto.zip", "aes256.zip", "aes128-store.zip"} {
		if data, err := os.ReadFile("testdata/" + name); err == nil {
			f.Add(data, "S3cret!")
		}
	}
	f.Add(mustWrite(f, []File{{Name: "a.eml", Data: sample}}, WriteOptions{Encryption: ZipCrypto, Password: "p", Rand: seeded()}), "p")
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		lim := Limits{MaxMemberBytes: 1 << 20, MaxArchiveBytes: 1 << 20, MaxMembers: 8}
		_, content, err := ReadMessage(data, password, lim)
		if err == nil && int64(len(content)) > lim.MaxMemberBytes {
			t.Fatalf("content of %d bytes passed the bound", len(content))
		}
	})
}

func BenchmarkReadAES256(b *testing.B) {
	data := mustWrite(b, []File{{Name: "m.eml", Data: bytes.Repeat(sample, 200)}}, WriteOptions{Encryption: AES256, Password: "pw", Rand: seeded()})
	b.SetBytes(int64(len(sample) * 200))
	for b.Loop() {
		if _, _, err := ReadMessage(data, "pw", Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
