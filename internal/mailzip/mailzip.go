// Package mailzip reads and writes the ZIP archives in which CECP hands out quarantined mail: plain, ZipCrypto
// (traditional PKWARE) or WinZip AES (AE-1/AE-2, 128/192/256-bit) encrypted. Reading is bounded against zip
// bombs (archive size, member count, compressed and uncompressed member sizes) and authenticates AES data before
// decrypting it; a wrong password is reported as ErrWrongPassword, never as garbage. Writing exists for the
// simulator and for tests.
//
// The container is parsed by archive/zip; members are read raw (File.OpenRaw) and decrypted here, because the
// standard library knows neither cipher.
package mailzip

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path"
	"strings"
)

// Errors that callers branch on; returned errors wrap them.
var (
	ErrWrongPassword    = errors.New("wrong password")
	ErrPasswordRequired = errors.New("archive member is encrypted and no password was given")
	ErrCorrupt          = errors.New("corrupted archive")
	ErrUnsupported      = errors.New("unsupported archive feature")
	ErrNoMessage        = errors.New("no message in archive")
)

// LimitError says which bound an archive exceeded.
type LimitError struct {
	What  string // "archive size", "member count", "compressed member size", "uncompressed member size"
	Limit int64
	Got   int64 // 0 when the size was discovered while reading (more than Limit)
}

func (e *LimitError) Error() string {
	if e.Got > 0 {
		return fmt.Sprintf("%s %d exceeds the limit of %d", e.What, e.Got, e.Limit)
	}
	return fmt.Sprintf("%s exceeds the limit of %d", e.What, e.Limit)
}

// Limits bound what an archive may make the reader do. Zero fields take the defaults.
type Limits struct {
	MaxArchiveBytes int64 // size of the ZIP itself; default 50 MiB (the download cap)
	MaxMembers      int   // default 64
	MaxMemberBytes  int64 // uncompressed size of one member; default 100 MiB
}

// Defaults used for zero Limits fields.
const (
	DefaultMaxArchiveBytes = 50 << 20
	DefaultMaxMembers      = 64
	DefaultMaxMemberBytes  = 100 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxArchiveBytes <= 0 {
		l.MaxArchiveBytes = DefaultMaxArchiveBytes
	}
	if l.MaxMembers <= 0 {
		l.MaxMembers = DefaultMaxMembers
	}
	if l.MaxMemberBytes <= 0 {
		l.MaxMemberBytes = DefaultMaxMemberBytes
	}
	return l
}

// Encryption is how a member is encrypted.
type Encryption uint8

// Encryption kinds.
const (
	NoEncryption Encryption = iota
	ZipCrypto
	AES128
	AES192
	AES256
)

func (e Encryption) String() string {
	switch e {
	case NoEncryption:
		return "none"
	case ZipCrypto:
		return "zipcrypto"
	case AES128:
		return "aes-128"
	case AES192:
		return "aes-192"
	case AES256:
		return "aes-256"
	}
	return fmt.Sprintf("encryption(%d)", uint8(e))
}

// Member describes one archive member as its headers declare it.
type Member struct {
	Name             string
	Method           uint16 // the compression method (for AES members, the real one, not 99)
	Encryption       Encryption
	CompressedSize   uint64
	UncompressedSize uint64
	Dir              bool
}

// Archive is an opened ZIP.
type Archive struct {
	zr      *zip.Reader
	limits  Limits
	members []Member
	aes     []aesParams // per member; zero when not AES
}

// Open parses the archive in data.
func Open(data []byte, lim Limits) (*Archive, error) {
	return OpenReader(bytes.NewReader(data), int64(len(data)), lim)
}

// OpenReader parses an archive of the given size.
func OpenReader(r io.ReaderAt, size int64, lim Limits) (*Archive, error) {
	lim = lim.withDefaults()
	if size > lim.MaxArchiveBytes {
		return nil, &LimitError{What: "archive size", Limit: lim.MaxArchiveBytes, Got: size}
	}
	zr, err := zip.NewReader(r, size)
	// Names are never used as paths here, so a name with ".." is harmless and the archive is still readable.
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if len(zr.File) > lim.MaxMembers {
		return nil, &LimitError{What: "member count", Limit: int64(lim.MaxMembers), Got: int64(len(zr.File))}
	}
	a := &Archive{zr: zr, limits: lim, members: make([]Member, len(zr.File)), aes: make([]aesParams, len(zr.File))}
	for i, f := range zr.File {
		m := Member{
			Name:             f.Name,
			Method:           f.Method,
			CompressedSize:   f.CompressedSize64,
			UncompressedSize: f.UncompressedSize64,
			Dir:              strings.HasSuffix(f.Name, "/"),
		}
		switch {
		case f.Method == aesMethod:
			p, err := parseAESExtra(f.Extra)
			if err != nil {
				return nil, fmt.Errorf("reading member %q: %w", f.Name, err)
			}
			a.aes[i] = p
			m.Method = p.method
			m.Encryption = Encryption(int(AES128) + int(p.strength) - 1)
		case f.Flags&0x40 != 0:
			return nil, fmt.Errorf("reading member %q: %w: PKWARE strong encryption", f.Name, ErrUnsupported)
		case f.Flags&0x1 != 0:
			m.Encryption = ZipCrypto
		}
		a.members[i] = m
	}
	return a, nil
}

// Members lists the archive's members in directory order.
func (a *Archive) Members() []Member { return append([]Member(nil), a.members...) }

// MessageMember picks the member that holds the mail: the only .eml member, or else the only file.
func (a *Archive) MessageMember() (Member, error) {
	var files, emls []Member
	for _, m := range a.members {
		if m.Dir || strings.HasPrefix(m.Name, "__MACOSX/") {
			continue
		}
		files = append(files, m)
		if strings.EqualFold(path.Ext(m.Name), ".eml") {
			emls = append(emls, m)
		}
	}
	switch {
	case len(emls) == 1:
		return emls[0], nil
	case len(emls) > 1:
		return Member{}, fmt.Errorf("%w: %d .eml members (%s)", ErrNoMessage, len(emls), names(emls))
	case len(files) == 1:
		return files[0], nil
	case len(files) == 0:
		return Member{}, fmt.Errorf("%w: the archive has no files", ErrNoMessage)
	}
	return Member{}, fmt.Errorf("%w: no .eml member among %d files (%s)", ErrNoMessage, len(files), names(files))
}

func names(ms []Member) string {
	const show = 5
	var b strings.Builder
	for i, m := range ms {
		if i == show {
			fmt.Fprintf(&b, ", and %d more", len(ms)-show)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", m.Name)
	}
	return b.String()
}

// ReadMember returns the content of the named member, decrypting it with password when it is encrypted (the
// password is ignored for plain members). Content is returned only when every check passed.
func (a *Archive) ReadMember(name, password string) ([]byte, error) {
	for i, f := range a.zr.File {
		if f.Name == name {
			data, err := a.read(i, password)
			if err != nil {
				return nil, fmt.Errorf("reading member %q: %w", name, err)
			}
			return data, nil
		}
	}
	return nil, fmt.Errorf("reading member %q: no such member", name)
}

func (a *Archive) read(i int, password string) ([]byte, error) {
	f, m := a.zr.File[i], a.members[i]
	if m.CompressedSize > uint64(a.limits.MaxArchiveBytes) {
		return nil, &LimitError{What: "compressed member size", Limit: a.limits.MaxArchiveBytes, Got: int64(min(m.CompressedSize, 1<<62))}
	}
	if m.UncompressedSize > uint64(a.limits.MaxMemberBytes) {
		return nil, &LimitError{What: "uncompressed member size", Limit: a.limits.MaxMemberBytes, Got: int64(min(m.UncompressedSize, 1<<62))}
	}
	if m.Encryption != NoEncryption && password == "" {
		return nil, ErrPasswordRequired
	}
	raw, err := f.OpenRaw()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	data, err := io.ReadAll(io.LimitReader(raw, int64(m.CompressedSize)))
	if err != nil {
		return nil, fmt.Errorf("%w: reading compressed data: %w", ErrCorrupt, err)
	}
	if uint64(len(data)) != m.CompressedSize {
		return nil, fmt.Errorf("%w: member data is truncated (%d of %d bytes)", ErrCorrupt, len(data), m.CompressedSize)
	}
	checkCRC := true
	switch m.Encryption {
	case NoEncryption:
	case ZipCrypto:
		if len(data) < zipCryptoHeaderLen {
			return nil, fmt.Errorf("%w: ZipCrypto member is shorter than its header", ErrCorrupt)
		}
		z := newZipCrypto(password)
		z.decrypt(data)
		// The header's last byte repeats the CRC's high byte, or the time's when sizes follow the data.
		check := byte(f.CRC32 >> 24)
		if f.Flags&0x8 != 0 {
			check = byte(f.ModifiedTime >> 8)
		}
		if data[zipCryptoHeaderLen-1] != check {
			return nil, ErrWrongPassword
		}
		data = data[zipCryptoHeaderLen:]
	default:
		p := a.aes[i]
		data, err = decryptAES(p, password, data)
		if err != nil {
			return nil, err
		}
		// AE-2 stores no CRC (the authentication code replaces it); AE-1 keeps it.
		checkCRC = p.version == 1
	}
	out, err := decompress(m.Method, data, a.limits.MaxMemberBytes)
	if err != nil {
		if m.Encryption == ZipCrypto && !errors.As(err, new(*LimitError)) {
			return nil, fmt.Errorf("%w (or a wrong password that passed ZipCrypto's one-byte check)", err)
		}
		return nil, err
	}
	if uint64(len(out)) != m.UncompressedSize {
		return nil, fmt.Errorf("%w: member is %d bytes, its header says %d", ErrCorrupt, len(out), m.UncompressedSize)
	}
	if checkCRC && crc32.ChecksumIEEE(out) != f.CRC32 {
		if m.Encryption == ZipCrypto {
			return nil, fmt.Errorf("%w: CRC mismatch (corrupted data, or a wrong password that passed ZipCrypto's one-byte check)", ErrCorrupt)
		}
		return nil, fmt.Errorf("%w: CRC mismatch", ErrCorrupt)
	}
	return out, nil
}

func decompress(method uint16, data []byte, max int64) ([]byte, error) {
	var r io.Reader
	switch method {
	case zip.Store:
		r = bytes.NewReader(data)
	case zip.Deflate:
		fr := flate.NewReader(bytes.NewReader(data))
		defer fr.Close()
		r = fr
	default:
		return nil, fmt.Errorf("%w: compression method %d", ErrUnsupported, method)
	}
	// Read one byte past the bound so a member that lies about its size is caught, without inflating the rest.
	out, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("%w: decompressing: %w", ErrCorrupt, err)
	}
	if int64(len(out)) > max {
		return nil, &LimitError{What: "uncompressed member size", Limit: max}
	}
	return out, nil
}

// ReadMessage opens data, finds the message member and returns its name and content.
func ReadMessage(data []byte, password string, lim Limits) (name string, content []byte, err error) {
	a, err := Open(data, lim)
	if err != nil {
		return "", nil, fmt.Errorf("opening archive: %w", err)
	}
	m, err := a.MessageMember()
	if err != nil {
		return "", nil, err
	}
	content, err = a.ReadMember(m.Name, password)
	if err != nil {
		return "", nil, err
	}
	return m.Name, content, nil
}
