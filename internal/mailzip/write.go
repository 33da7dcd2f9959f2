package mailzip

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"time"
)

// File is one member to write.
type File struct {
	Name     string
	Data     []byte
	Modified time.Time // zero: 1980-01-01, the earliest time ZIP can say
}

// WriteOptions choose how members are stored.
type WriteOptions struct {
	Store      bool // store uncompressed instead of deflating
	Encryption Encryption
	Password   string    // required when Encryption is not NoEncryption
	AEVersion  int       // 1 or 2 (default) for AES
	Rand       io.Reader // salts and ZipCrypto headers; default crypto/rand (inject a seeded one for determinism)
}

// Write writes files as a ZIP archive to w.
func Write(w io.Writer, files []File, opts WriteOptions) error {
	method := uint16(zip.Deflate)
	if opts.Store {
		method = zip.Store
	}
	if opts.Encryption != NoEncryption && opts.Password == "" {
		return errors.New("writing archive: encryption needs a password")
	}
	if opts.Encryption > AES256 {
		return fmt.Errorf("writing archive: unknown encryption %v", opts.Encryption)
	}
	aeVersion := uint16(2)
	switch opts.AEVersion {
	case 0, 2:
	case 1:
		aeVersion = 1
	default:
		return fmt.Errorf("writing archive: AES version AE-%d does not exist", opts.AEVersion)
	}
	rnd := opts.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	zw := zip.NewWriter(w)
	for _, f := range files {
		if err := writeMember(zw, f, method, opts, aeVersion, rnd); err != nil {
			return fmt.Errorf("writing member %q: %w", f.Name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("writing archive: %w", err)
	}
	return nil
}

func writeMember(zw *zip.Writer, f File, method uint16, opts WriteOptions, aeVersion uint16, rnd io.Reader) error {
	if strings.HasSuffix(f.Name, "/") {
		if len(f.Data) > 0 {
			return errors.New("a directory entry has no content")
		}
		date, tm := dosTime(f.Modified)
		//lint:ignore SA1019 the DOS fields are set directly so that no extended-timestamp field is added, as in the vendor's archives
		_, err := zw.CreateRaw(&zip.FileHeader{Name: f.Name, ModifiedDate: date, ModifiedTime: tm, CreatorVersion: 3<<8 | 20, ReaderVersion: 20, ExternalAttrs: (0o40755) << 16})
		return err
	}
	crc := crc32.ChecksumIEEE(f.Data)
	body := f.Data
	if method == zip.Deflate {
		var buf bytes.Buffer
		fw, err := flate.NewWriter(&buf, flate.DefaultCompression)
		if err != nil {
			return err
		}
		if _, err := fw.Write(f.Data); err != nil {
			return err
		}
		if err := fw.Close(); err != nil {
			return err
		}
		body = buf.Bytes()
	}
	date, tm := dosTime(f.Modified)
	fh := &zip.FileHeader{
		Name:               f.Name,
		Method:             method,
		CRC32:              crc,
		UncompressedSize64: uint64(len(f.Data)),
		//lint:ignore SA1019 the DOS fields are set directly so that no extended-timestamp field is added, as in the vendor's archives
		ModifiedDate: date,
		//lint:ignore SA1019 as above
		ModifiedTime:   tm,
		CreatorVersion: 3<<8 | 20, // Unix, spec 2.0
		ReaderVersion:  20,
		ExternalAttrs:  0o644 << 16,
	}
	switch opts.Encryption {
	case NoEncryption:
	case ZipCrypto:
		header := make([]byte, zipCryptoHeaderLen, zipCryptoHeaderLen+len(body))
		if _, err := io.ReadFull(rnd, header); err != nil {
			return fmt.Errorf("reading random bytes: %w", err)
		}
		header[zipCryptoHeaderLen-1] = byte(crc >> 24)
		enc := append(header, body...)
		newZipCrypto(opts.Password).encrypt(enc)
		body = enc
		fh.Flags |= 0x1
	default:
		p := aesParams{version: aeVersion, strength: byte(opts.Encryption-AES128) + 1, method: method}
		salt := make([]byte, p.saltLen())
		if _, err := io.ReadFull(rnd, salt); err != nil {
			return fmt.Errorf("reading random bytes: %w", err)
		}
		enc, err := encryptAES(p, opts.Password, salt, body)
		if err != nil {
			return err
		}
		body = enc
		fh.Flags |= 0x1
		fh.Method = aesMethod
		fh.Extra = aesExtra(p)
		fh.ReaderVersion = 51
		if aeVersion == 2 {
			fh.CRC32 = 0
		}
	}
	fh.CompressedSize64 = uint64(len(body))
	w, err := zw.CreateRaw(fh)
	if err != nil {
		return err
	}
	_, err = w.Write(body)
	return err
}

// dosTime converts t to MS-DOS date and time fields (two-second resolution, 1980-2107).
func dosTime(t time.Time) (date, tm uint16) {
	if t.IsZero() || t.Year() < 1980 {
		t = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if t.Year() > 2107 {
		t = time.Date(2107, 12, 31, 23, 59, 58, 0, time.UTC)
	}
	date = uint16(t.Day() + int(t.Month())<<5 + (t.Year()-1980)<<9)
	tm = uint16(t.Second()/2 + t.Minute()<<5 + t.Hour()<<11)
	return date, tm
}
