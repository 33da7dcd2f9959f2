package mailzip

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestReadableBy7z checks that archives written here open in a real tool (skipped where 7z is not installed).
func TestReadableBy7z(t *testing.T) {
	t.Parallel()
	sevenZ, err := exec.LookPath("7z")
	if err != nil {
		t.Skip("7z not installed (apt-get install p7zip-full)")
	}
	for _, enc := range []Encryption{NoEncryption, ZipCrypto, AES128, AES256} {
		for _, ae := range []int{1, 2} {
			t.Run(enc.String()+string(rune('0'+ae)), func(t *testing.T) {
				dir := t.TempDir()
				archive := filepath.Join(dir, "a.zip")
				data := mustWrite(t, []File{{Name: "mail.eml", Data: sample}}, WriteOptions{Encryption: enc, Password: "pw", AEVersion: ae, Rand: seeded()})
				if err := os.WriteFile(archive, data, 0o600); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command(sevenZ, "x", "-ppw", "-o"+dir, archive).CombinedOutput()
				if err != nil {
					t.Fatalf("7z: %v\n%s", err, out)
				}
				got, err := os.ReadFile(filepath.Join(dir, "mail.eml"))
				if err != nil || !bytes.Equal(got, sample) {
					t.Fatalf("7z extracted %d bytes, err %v", len(got), err)
				}
			})
		}
	}
}
