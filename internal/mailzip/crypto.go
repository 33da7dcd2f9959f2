package mailzip

import (
	"crypto/aes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// zipCrypto is the traditional PKWARE stream cipher ("ZipCrypto"). It is weak, but archives still use it, so
// reading and writing it is a matter of compatibility, not of security.
type zipCrypto struct{ k0, k1, k2 uint32 }

func newZipCrypto(password string) *zipCrypto {
	z := &zipCrypto{0x12345678, 0x23456789, 0x34567890}
	for i := 0; i < len(password); i++ {
		z.update(password[i])
	}
	return z
}

func crcByte(crc uint32, b byte) uint32 {
	return crc32.IEEETable[byte(crc)^b] ^ crc>>8
}

func (z *zipCrypto) update(b byte) {
	z.k0 = crcByte(z.k0, b)
	z.k1 = (z.k1+z.k0&0xff)*134775813 + 1
	z.k2 = crcByte(z.k2, byte(z.k1>>24))
}

func (z *zipCrypto) keystream() byte {
	t := uint16(z.k2 | 2)
	return byte((uint32(t) * uint32(t^1)) >> 8)
}

func (z *zipCrypto) decrypt(buf []byte) {
	for i, c := range buf {
		p := c ^ z.keystream()
		z.update(p)
		buf[i] = p
	}
}

func (z *zipCrypto) encrypt(buf []byte) {
	for i, p := range buf {
		k := z.keystream()
		z.update(p)
		buf[i] = p ^ k
	}
}

// zipCryptoHeaderLen is the size of the random header that precedes ZipCrypto data; its last byte lets a reader
// reject a wrong password before decrypting anything (with a 1/256 chance of a false accept).
const zipCryptoHeaderLen = 12

// WinZip AES (AE-1 / AE-2), as specified by WinZip's "AES Encryption Information" note.
const (
	aesExtraID       = 0x9901
	aesMethod        = 99
	aesVerifierLen   = 2
	aesAuthCodeLen   = 10
	aesPBKDF2Rounds  = 1000
	aesExtraDataSize = 7
)

// aesParams is what the 0x9901 extra field says about an AES-encrypted member.
type aesParams struct {
	version  uint16 // 1 (AE-1, CRC kept) or 2 (AE-2, CRC zero)
	strength byte   // 1, 2, 3 = AES-128, -192, -256
	method   uint16 // the real compression method
}

func (p aesParams) keyLen() int  { return 8 + 8*int(p.strength) }
func (p aesParams) saltLen() int { return 4 + 4*int(p.strength) }

// parseAESExtra finds the 0x9901 field in a member's extra data.
func parseAESExtra(extra []byte) (aesParams, error) {
	for len(extra) >= 4 {
		id := binary.LittleEndian.Uint16(extra)
		size := int(binary.LittleEndian.Uint16(extra[2:]))
		extra = extra[4:]
		if size > len(extra) {
			break
		}
		if id == aesExtraID {
			if size < aesExtraDataSize {
				return aesParams{}, fmt.Errorf("%w: AES extra field is %d bytes, want %d", ErrCorrupt, size, aesExtraDataSize)
			}
			d := extra[:size]
			p := aesParams{
				version:  binary.LittleEndian.Uint16(d),
				strength: d[4],
				method:   binary.LittleEndian.Uint16(d[5:]),
			}
			if d[2] != 'A' || d[3] != 'E' {
				return aesParams{}, fmt.Errorf("%w: AES extra field has vendor %q, want \"AE\"", ErrCorrupt, d[2:4])
			}
			if p.version != 1 && p.version != 2 {
				return aesParams{}, fmt.Errorf("%w: AES version AE-%d", ErrUnsupported, p.version)
			}
			if p.strength < 1 || p.strength > 3 {
				return aesParams{}, fmt.Errorf("%w: AES strength %d", ErrUnsupported, p.strength)
			}
			return p, nil
		}
		extra = extra[size:]
	}
	return aesParams{}, fmt.Errorf("%w: member uses method 99 (AES) but has no AES extra field", ErrCorrupt)
}

func aesExtra(p aesParams) []byte {
	b := make([]byte, 4+aesExtraDataSize)
	binary.LittleEndian.PutUint16(b, aesExtraID)
	binary.LittleEndian.PutUint16(b[2:], aesExtraDataSize)
	binary.LittleEndian.PutUint16(b[4:], p.version)
	b[6], b[7] = 'A', 'E'
	b[8] = p.strength
	binary.LittleEndian.PutUint16(b[9:], p.method)
	return b
}

// aesKeys derives the encryption key, the authentication key and the password verifier from the password.
func aesKeys(password string, salt []byte, keyLen int) (encKey, macKey, verifier []byte, err error) {
	dk, err := pbkdf2.Key(sha1.New, password, salt, aesPBKDF2Rounds, 2*keyLen+aesVerifierLen)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("deriving AES keys: %w", err)
	}
	return dk[:keyLen], dk[keyLen : 2*keyLen], dk[2*keyLen:], nil
}

// aesCTR applies WinZip's AES-CTR: the counter starts at 1 and is incremented as a little-endian integer, unlike
// crypto/cipher's big-endian CTR, so it is done here by hand. Encryption and decryption are the same operation.
func aesCTR(key, buf []byte) error {
	block, err := aes.NewCipher(key)
	if err != nil {
		return fmt.Errorf("creating AES cipher: %w", err)
	}
	var counter, ks [aes.BlockSize]byte
	for off := 0; off < len(buf); off += aes.BlockSize {
		for j := 0; j < 8; j++ { // little-endian increment of the low 8 bytes, as WinZip/Gladman do
			counter[j]++
			if counter[j] != 0 {
				break
			}
		}
		block.Encrypt(ks[:], counter[:])
		end := min(off+aes.BlockSize, len(buf))
		subtle.XORBytes(buf[off:end], buf[off:end], ks[:end-off])
	}
	return nil
}

func aesAuthCode(macKey, ciphertext []byte) []byte {
	m := hmac.New(sha1.New, macKey)
	m.Write(ciphertext)
	return m.Sum(nil)[:aesAuthCodeLen]
}

// decryptAES checks the password verifier and the authentication code of data (salt, verifier, ciphertext,
// code) before decrypting, so corrupted or forged data is never handed to the decompressor.
func decryptAES(p aesParams, password string, data []byte) ([]byte, error) {
	saltLen := p.saltLen()
	if len(data) < saltLen+aesVerifierLen+aesAuthCodeLen {
		return nil, fmt.Errorf("%w: AES member is %d bytes, shorter than its salt, verifier and code", ErrCorrupt, len(data))
	}
	salt := data[:saltLen]
	verifier := data[saltLen : saltLen+aesVerifierLen]
	ciphertext := data[saltLen+aesVerifierLen : len(data)-aesAuthCodeLen]
	code := data[len(data)-aesAuthCodeLen:]
	encKey, macKey, wantVerifier, err := aesKeys(password, salt, p.keyLen())
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(verifier, wantVerifier) {
		return nil, ErrWrongPassword
	}
	if !hmac.Equal(code, aesAuthCode(macKey, ciphertext)) {
		return nil, fmt.Errorf("%w: AES authentication code mismatch", ErrCorrupt)
	}
	plain := make([]byte, len(ciphertext))
	copy(plain, ciphertext)
	if err := aesCTR(encKey, plain); err != nil {
		return nil, err
	}
	return plain, nil
}

// encryptAES returns salt, verifier, ciphertext and authentication code for compressed data.
func encryptAES(p aesParams, password string, salt, compressed []byte) ([]byte, error) {
	if len(salt) != p.saltLen() {
		return nil, errors.New("encrypting AES: wrong salt length")
	}
	encKey, macKey, verifier, err := aesKeys(password, salt, p.keyLen())
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(salt)+len(verifier)+len(compressed)+aesAuthCodeLen)
	out = append(out, salt...)
	out = append(out, verifier...)
	start := len(out)
	out = append(out, compressed...)
	if err := aesCTR(encKey, out[start:]); err != nil {
		return nil, err
	}
	return append(out, aesAuthCode(macKey, out[start:])...), nil
}
