package dynamo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// nonNilBytes and nonNilStrings make empty values encode as "" and [],
// never null, so they decode back.
func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// number is the syntax DynamoDB accepts for N values (no NaN or Inf).
var number = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// UnmarshalItemJSON reads one item written by the file target (or any
// DynamoDB JSON item). Each attribute value must be an object with exactly
// one type key; numbers must be valid DynamoDB numbers.
func UnmarshalItemJSON(data []byte) (map[string]types.AttributeValue, error) {
	if item, ok := unmarshalFlatItem(data); ok {
		return item, nil
	}
	return unmarshalItemGeneral(data)
}

// unmarshalItemGeneral decodes any DynamoDB JSON item.
func unmarshalItemGeneral(data []byte) (map[string]types.AttributeValue, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("decode item: %w", err)
	}
	if raw == nil {
		return nil, errors.New("decode item: not a JSON object")
	}
	item := make(map[string]types.AttributeValue, len(raw))
	for name, r := range raw {
		av, err := decodeValue(r)
		if err != nil {
			return nil, fmt.Errorf("decode item attribute %q: %w", name, err)
		}
		item[name] = av
	}
	return item, nil
}

var jsonNull = []byte("null")

// decodeStrict unmarshals r into v, refusing JSON null (which
// encoding/json would silently turn into a zero value).
func decodeStrict(r json.RawMessage, v any) error {
	if bytes.Equal(bytes.TrimSpace(r), jsonNull) {
		return errors.New("null value")
	}
	return json.Unmarshal(r, v)
}

func decodeValue(r json.RawMessage) (types.AttributeValue, error) {
	var typed map[string]json.RawMessage
	if err := decodeStrict(r, &typed); err != nil {
		return nil, err
	}
	if len(typed) != 1 {
		keys := make([]string, 0, len(typed))
		for k := range typed {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return nil, fmt.Errorf("want exactly one type key, got %q", keys)
	}
	var typ string
	var v json.RawMessage
	for k, x := range typed { // exactly one
		typ, v = k, x
	}
	switch typ {
	case "S":
		var s string
		if err := decodeStrict(v, &s); err != nil {
			return nil, fmt.Errorf("S: %w", err)
		}
		return &types.AttributeValueMemberS{Value: s}, nil
	case "N":
		var s string
		if err := decodeStrict(v, &s); err != nil {
			return nil, fmt.Errorf("N: %w", err)
		}
		if !number.MatchString(s) {
			return nil, fmt.Errorf("N: invalid number %q", s)
		}
		return &types.AttributeValueMemberN{Value: s}, nil
	case "B":
		var b []byte
		if err := decodeStrict(v, &b); err != nil {
			return nil, fmt.Errorf("B: %w", err)
		}
		return &types.AttributeValueMemberB{Value: nonNilBytes(b)}, nil
	case "BOOL":
		var b bool
		if err := decodeStrict(v, &b); err != nil {
			return nil, fmt.Errorf("BOOL: %w", err)
		}
		return &types.AttributeValueMemberBOOL{Value: b}, nil
	case "NULL":
		var b bool
		if err := decodeStrict(v, &b); err != nil {
			return nil, fmt.Errorf("NULL: %w", err)
		}
		if !b {
			return nil, errors.New("NULL must be true")
		}
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case "SS", "NS":
		var ss []string
		if err := decodeStrict(v, &ss); err != nil {
			return nil, fmt.Errorf("%s: %w", typ, err)
		}
		ss = nonNilStrings(ss)
		if typ == "SS" {
			return &types.AttributeValueMemberSS{Value: ss}, nil
		}
		for _, n := range ss {
			if !number.MatchString(n) {
				return nil, fmt.Errorf("NS: invalid number %q", n)
			}
		}
		return &types.AttributeValueMemberNS{Value: ss}, nil
	case "BS":
		var raws []json.RawMessage
		if err := decodeStrict(v, &raws); err != nil {
			return nil, fmt.Errorf("BS: %w", err)
		}
		bs := make([][]byte, len(raws))
		for i, e := range raws {
			if err := decodeStrict(e, &bs[i]); err != nil {
				return nil, fmt.Errorf("BS element %d: %w", i, err)
			}
			bs[i] = nonNilBytes(bs[i])
		}
		return &types.AttributeValueMemberBS{Value: bs}, nil
	case "L":
		var raws []json.RawMessage
		if err := decodeStrict(v, &raws); err != nil {
			return nil, fmt.Errorf("L: %w", err)
		}
		l := make([]types.AttributeValue, len(raws))
		for i, e := range raws {
			av, err := decodeValue(e)
			if err != nil {
				return nil, fmt.Errorf("L element %d: %w", i, err)
			}
			l[i] = av
		}
		return &types.AttributeValueMemberL{Value: l}, nil
	case "M":
		var raws map[string]json.RawMessage
		if err := decodeStrict(v, &raws); err != nil {
			return nil, fmt.Errorf("M: %w", err)
		}
		m := make(map[string]types.AttributeValue, len(raws))
		for k, e := range raws {
			av, err := decodeValue(e)
			if err != nil {
				return nil, fmt.Errorf("M key %q: %w", k, err)
			}
			m[k] = av
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	default:
		return nil, fmt.Errorf("unknown type key %q", typ)
	}
}

// unmarshalFlatItem is UnmarshalItemJSON's fast path for the compact form
// the file target writes when every attribute is a string or a number (all
// the pipeline writes): {"name":{"S":"..."},"n":{"N":"1"}} with no spaces
// and no escapes. The file target's Verify decodes every line, and this
// takes a fraction of the general path's time. It accepts only input the
// general path decodes to the same item; anything else (spaces, escapes,
// other types, duplicate names, invalid UTF-8, bad numbers) returns false
// and the general path decodes it or names the problem.
func unmarshalFlatItem(data []byte) (map[string]types.AttributeValue, bool) {
	p := flatParser{data: data}
	if !p.byte('{') {
		return nil, false
	}
	item := make(map[string]types.AttributeValue, 6)
	for first := true; ; first = false {
		if p.byte('}') {
			return item, p.pos == len(data)
		}
		if !first && !p.byte(',') {
			return nil, false
		}
		name, ok := p.str()
		if !ok || !p.byte(':') || !p.byte('{') {
			return nil, false
		}
		typ, ok := p.str()
		if !ok || !p.byte(':') {
			return nil, false
		}
		v, ok := p.str()
		if !ok || !p.byte('}') {
			return nil, false
		}
		if _, dup := item[name]; dup {
			return nil, false
		}
		switch typ {
		case "S":
			item[name] = &types.AttributeValueMemberS{Value: v}
		case "N":
			if !number.MatchString(v) {
				return nil, false
			}
			item[name] = &types.AttributeValueMemberN{Value: v}
		default:
			return nil, false
		}
	}
}

type flatParser struct {
	data []byte
	pos  int
}

// byte consumes c if it is next.
func (p *flatParser) byte(c byte) bool {
	if p.pos < len(p.data) && p.data[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

// str consumes a JSON string with no escapes and no control characters
// whose bytes are valid UTF-8.
func (p *flatParser) str() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start := p.pos
	for p.pos < len(p.data) {
		switch c := p.data[p.pos]; {
		case c == '"':
			s := p.data[start:p.pos]
			p.pos++
			if !utf8.Valid(s) {
				return "", false
			}
			return string(s), true
		case c == '\\' || c < 0x20:
			return "", false
		}
		p.pos++
	}
	return "", false
}
