package blocks

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Every stored block carries a checksum: the encoded block is followed by
// an 8-byte trailer, the magic "BRC1" and the CRC-32C (Castagnoli) of the
// bytes before it, big-endian. Readers check it before decoding, so a
// block flipped or cut short in the store is never consumed: its producer
// runs again.

// ErrChecksum is returned for a block whose trailer is missing or whose
// checksum does not match its bytes.
var ErrChecksum = errors.New("block checksum mismatch")

var trailerMagic = [4]byte{'B', 'R', 'C', '1'}

// TrailerSize is the bytes Seal adds.
const TrailerSize = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Seal appends the checksum trailer to an encoded block.
func Seal(data []byte) []byte {
	sum := crc32.Checksum(data, castagnoli)
	data = append(data, trailerMagic[:]...)
	return binary.BigEndian.AppendUint32(data, sum)
}

// Unseal checks a sealed block's trailer and returns the block without it.
func Unseal(data []byte) ([]byte, error) {
	if len(data) < TrailerSize {
		return nil, fmt.Errorf("%d bytes, too short for a block: %w", len(data), ErrChecksum)
	}
	body, tr := data[:len(data)-TrailerSize], data[len(data)-TrailerSize:]
	if [4]byte(tr[:4]) != trailerMagic {
		return nil, fmt.Errorf("no checksum trailer (truncated or not a block): %w", ErrChecksum)
	}
	want, got := binary.BigEndian.Uint32(tr[4:]), crc32.Checksum(body, castagnoli)
	if want != got {
		return nil, fmt.Errorf("crc32c %08x, trailer says %08x: %w", got, want, ErrChecksum)
	}
	return body, nil
}
