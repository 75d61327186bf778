package dynamo

import (
	"bytes"
	"encoding/binary"
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
			if !validNumber(v) {
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

// scanFlatItem reads line without decoding it when it is in the form the
// file target writes: {"name":{"S":"..."},"n":{"N":"1"}} with no spaces,
// names in increasing byte order (so none twice), types S or N, N values
// valid DynamoDB numbers, the whole line valid UTF-8, and escapes only in
// S values. It calls fn with each attribute's raw name, type and value,
// in order, escaped telling whether the value holds escapes (its raw
// bytes are then not the decoded string), and reports whether the line
// has that form. Such a line is one UnmarshalItemJSON decodes without
// error to exactly those attributes, so a caller can read the fields it
// needs from what fn was given, with no map and no strings, decoding
// only an escaped value it needs. For any other line it returns false,
// possibly after calling fn for a prefix, which the caller must then
// disregard, decoding the line in full instead.
func scanFlatItem(line []byte, fn func(name, typ, value []byte, escaped bool)) bool {
	if !utf8.Valid(line) || len(line) < 2 || line[0] != '{' {
		return false
	}
	if len(line) == 2 {
		return line[1] == '}'
	}
	var prev []byte
	for i, first := 1, true; ; first = false {
		// "name":{"T":"value"} then , or }
		if i >= len(line) || line[i] != '"' {
			return false
		}
		i++
		n := plainPrefix(line[i:])
		if i+n >= len(line) || line[i+n] != '"' {
			return false // no closing quote, or an escape or control character in the name
		}
		name := line[i : i+n]
		if !first && bytes.Compare(prev, name) >= 0 {
			return false
		}
		i += n + 1
		if len(line)-i < 7 || string(line[i:i+3]) != `:{"` || string(line[i+4:i+7]) != `":"` {
			return false
		}
		typ := line[i+3 : i+4]
		i += 7
		v, escaped, end, ok := jsonStringAt(line, i)
		if !ok || end >= len(line) || line[end] != '}' {
			return false
		}
		i = end + 1
		switch typ[0] {
		case 'S':
		case 'N':
			if escaped || !validNumber(v) {
				return false
			}
		default:
			return false
		}
		fn(name, typ, v, escaped)
		prev = name
		if i >= len(line) {
			return false
		}
		switch line[i] {
		case ',':
			i++
		case '}':
			return i+1 == len(line)
		default:
			return false
		}
	}
}

// jsonStringAt reads the JSON string whose contents start at d[i] (just
// after the opening quote) and returns them as they are, whether they
// hold escapes, and the index just after the closing quote. It accepts
// what encoding/json accepts (escapes \" \\ \/ \b \f \n \r \t \uXXXX, no
// control characters) apart from UTF-8, which scanFlatItem checks for the
// whole line.
func jsonStringAt(d []byte, i int) (s []byte, escaped bool, end int, ok bool) {
	start := i
	if n := plainPrefix(d[i:]); i+n < len(d) && d[i+n] == '"' {
		return d[i : i+n], false, i + n + 1, true
	}
	for ; i < len(d); i++ { // escapes or control characters
		switch c := d[i]; {
		case c == '"':
			return d[start:i], escaped, i + 1, true
		case c == '\\':
			escaped = true
			if i++; i >= len(d) {
				return nil, false, 0, false
			}
			switch d[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(d) || !isHex(d[i+1]) || !isHex(d[i+2]) || !isHex(d[i+3]) || !isHex(d[i+4]) {
					return nil, false, 0, false
				}
				i += 4
			default:
				return nil, false, 0, false
			}
		case c < 0x20:
			return nil, false, 0, false
		}
	}
	return nil, false, 0, false
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// plainPrefix returns the length of d's prefix free of quotes, backslashes
// and control characters, testing eight bytes at a time: in each word,
// x-0x20 borrows into the top bit of a byte below 0x20, and y-1 into the
// top bit of a zero byte of y = x^'"' or x^'\\' (the top bit of x masks
// bytes of 0x80 and up). A word that might hold one is looked at byte by
// byte.
func plainPrefix(d []byte) int {
	const ones, tops = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(d); i += 8 {
		x := binary.LittleEndian.Uint64(d[i:])
		q, b := x^(ones*'"'), x^(ones*'\\')
		if ((x-ones*0x20)&^x|(q-ones)&^q|(b-ones)&^b)&tops != 0 {
			break
		}
	}
	for ; i < len(d); i++ {
		if c := d[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return len(d)
}

// validNumber reports whether s matches number (the syntax DynamoDB
// accepts for N values) without running the regular expression:
// [+-]? then digits with an optional point and fraction, or a point and
// digits, then an optional exponent.
func validNumber[T string | []byte](s T) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	j := skipDigits(s, i)
	whole := j - i
	i = j
	if i < len(s) && s[i] == '.' {
		j = skipDigits(s, i+1)
		if whole == 0 && j == i+1 {
			return false // "." with no digit on either side
		}
		i = j
	} else if whole == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j = skipDigits(s, i)
		if j == i {
			return false
		}
		i = j
	}
	return i == len(s)
}

func skipDigits[T string | []byte](s T, i int) int {
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}
