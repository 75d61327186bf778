package blocks

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealUnseal(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := EncodeFactors(&buf, Factors{Start: 0, K: 2, Data: []float32{1, 2, 3, 4}}); err != nil {
		t.Fatal(err)
	}
	block := buf.Bytes()
	sealed := Seal(bytes.Clone(block))
	got, err := Unseal(sealed)
	if err != nil || !bytes.Equal(got, block) {
		t.Fatalf("Unseal(Seal(b)) = %d bytes, %v; want the %d bytes back", len(got), err, len(block))
	}
	cases := map[string][]byte{
		"empty":          nil,
		"short":          sealed[:5],
		"truncated":      sealed[:len(sealed)-20],
		"no trailer":     block,
		"flipped body":   flip(sealed, len(sealed)/2),
		"flipped first":  flip(sealed, 0),
		"flipped crc":    flip(sealed, len(sealed)-1),
		"flipped magic":  flip(sealed, len(sealed)-TrailerSize),
		"appended bytes": append(bytes.Clone(sealed), 0),
	}
	for name, data := range cases {
		if _, err := Unseal(data); !errors.Is(err, ErrChecksum) {
			t.Errorf("%s: Unseal = %v, want ErrChecksum", name, err)
		}
	}
}

func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x5a
	return b
}

func FuzzUnseal(f *testing.F) {
	f.Add(Seal([]byte("block")))
	f.Add([]byte("BRC1\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		body, err := Unseal(data)
		if err != nil {
			if !errors.Is(err, ErrChecksum) {
				t.Fatalf("error %v does not match ErrChecksum", err)
			}
			return
		}
		if !bytes.Equal(Seal(bytes.Clone(body)), data) {
			t.Fatal("an accepted block does not reseal to the same bytes")
		}
	})
}
