package dynamo

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestBookItem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		book Book
		want string
	}{
		{
			name: "full",
			book: Book{ISBN: "0195153448", Title: "Classical Mythology", Author: "Mark P. O. Morford", Year: 2002,
				Publisher: "Oxford University Press", ImageSmall: "http://s/1.jpg", ImageMedium: "http://m/1.jpg"},
			want: `{"author":{"S":"Mark P. O. Morford"},"image_url_medium":{"S":"http://m/1.jpg"},"image_url_small":{"S":"http://s/1.jpg"},"isbn":{"S":"0195153448"},"publisher":{"S":"Oxford University Press"},"run_id":{"S":"r1"},"title":{"S":"Classical Mythology"},"year":{"N":"2002"}}`,
		},
		{
			name: "unknown year omitted, empty strings kept",
			book: Book{ISBN: "x", Year: 0},
			want: `{"author":{"S":""},"image_url_medium":{"S":""},"image_url_small":{"S":""},"isbn":{"S":"x"},"publisher":{"S":""},"run_id":{"S":"r1"},"title":{"S":""}}`,
		},
		{
			name: "invalid utf-8 replaced, html not escaped",
			book: Book{ISBN: "x", Title: "Caf\xe9 <&>", Year: -1},
			want: `{"author":{"S":""},"image_url_medium":{"S":""},"image_url_small":{"S":""},"isbn":{"S":"x"},"publisher":{"S":""},"run_id":{"S":"r1"},"title":{"S":"Caf` + "\uFFFD" + ` <&>"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := appendBookJSON(nil, "r1", tt.book); string(got) != tt.want {
				t.Errorf("appendBookJSON\ngot  %s\nwant %s", got, tt.want)
			}
			if got, err := marshalItemJSON(oracleBookItem("r1", tt.book)); err != nil || string(got) != tt.want {
				t.Errorf("oracle\ngot  %s (%v)\nwant %s", got, err, tt.want)
			}
			a := newBookAttrs()
			a.set("r1", tt.book)
			if got, err := marshalItemJSON(a.attrs); err != nil || string(got) != tt.want {
				t.Errorf("bookAttrs\ngot  %s (%v)\nwant %s", got, err, tt.want)
			}
		})
	}
}

func TestSimilarityItem(t *testing.T) {
	t.Parallel()
	s := Similarity{ISBN: "a", Rank: 3, Title: "T", Author: "A", SimilarISBN: "b", SimilarTitle: "U", SimilarAuthor: "B", Score: 0.1}
	want := `{"author":{"S":"A"},"isbn":{"S":"a"},"rank":{"N":"3"},"run_id":{"S":"r1"},"similar_author":{"S":"B"},"similar_isbn":{"S":"b"},"similar_title":{"S":"U"},"similarity_score":{"N":"0.1"},"title":{"S":"T"}}`
	if got := appendSimilarityJSON(nil, "r1", s); string(got) != want {
		t.Errorf("appendSimilarityJSON\ngot  %s\nwant %s", got, want)
	}
	if got, err := marshalItemJSON(oracleSimilarityItem("r1", s)); err != nil || string(got) != want {
		t.Errorf("oracle\ngot  %s (%v)\nwant %s", got, err, want)
	}
	a := newSimAttrs()
	a.set("r1", s)
	if got, err := marshalItemJSON(a.attrs); err != nil || string(got) != want {
		t.Errorf("simAttrs\ngot  %s (%v)\nwant %s", got, err, want)
	}
}

func TestScoreRoundTrip(t *testing.T) {
	t.Parallel()
	for _, f := range []float32{0, 1, -1, 0.1, 1.0 / 3, math.SmallestNonzeroFloat32, math.MaxFloat32, 0.99999994, -0.25, 1e-7} {
		s := formatScore(f)
		if !number.MatchString(s) {
			t.Errorf("formatScore(%v) = %q, not a DynamoDB number", f, s)
		}
		back, err := strconv.ParseFloat(s, 32)
		if err != nil || float32(back) != f {
			t.Errorf("formatScore(%v) = %q reads back as %v, %v", f, s, back, err)
		}
	}
}

func TestItemJSONRoundTrip(t *testing.T) {
	t.Parallel()
	item := map[string]types.AttributeValue{
		"s":     &types.AttributeValueMemberS{Value: "héllo \"q\" \n"},
		"empty": &types.AttributeValueMemberS{Value: ""},
		"n":     &types.AttributeValueMemberN{Value: "-1.5e3"},
		"b":     &types.AttributeValueMemberB{Value: []byte{0, 1, 2, 255}},
		"eb":    &types.AttributeValueMemberB{Value: []byte{}},
		"t":     &types.AttributeValueMemberBOOL{Value: true},
		"null":  &types.AttributeValueMemberNULL{Value: true},
		"ss":    &types.AttributeValueMemberSS{Value: []string{"z", "a"}},
		"ns":    &types.AttributeValueMemberNS{Value: []string{"1", "2.5"}},
		"bs":    &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2, 3}}},
		"l":     &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "x"}, &types.AttributeValueMemberN{Value: "1"}}},
		"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"z": &types.AttributeValueMemberS{Value: "last"},
			"a": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}},
		}},
	}
	first, err := marshalItemJSON(item)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 { // map iteration order differs between calls
		again, err := marshalItemJSON(item)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Fatalf("not deterministic:\n%s\n%s", first, again)
		}
	}
	back, err := UnmarshalItemJSON(first)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, item) {
		t.Errorf("round trip changed the item:\n%#v\n%#v", back, item)
	}
	want := `{"b":{"B":"AAEC/w=="},"bs":{"BS":["AQ==","AgM="]},"eb":{"B":""},"empty":{"S":""},"l":{"L":[{"S":"x"},{"N":"1"}]},"m":{"M":{"a":{"M":{}},"z":{"S":"last"}}},"n":{"N":"-1.5e3"},"ns":{"NS":["1","2.5"]},"null":{"NULL":true},"s":{"S":"héllo \"q\" \n"},"ss":{"SS":["z","a"]},"t":{"BOOL":true}}`
	if string(first) != want {
		t.Errorf("got  %s\nwant %s", first, want)
	}
}

func TestMarshalItemJSONErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		av   types.AttributeValue
	}{
		{"nil value", nil},
		{"bad number", &types.AttributeValueMemberN{Value: "NaN"}},
		{"bad number in set", &types.AttributeValueMemberNS{Value: []string{"1", "x"}}},
		{"null false", &types.AttributeValueMemberNULL{Value: false}},
		{"nested bad", &types.AttributeValueMemberL{Value: []types.AttributeValue{nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := marshalItemJSON(map[string]types.AttributeValue{"a": tt.av}); err == nil {
				t.Error("want an error")
			}
		})
	}
}

func TestUnmarshalItemJSONErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
	}{
		{"empty input", ``},
		{"not an object", `[1]`},
		{"null item", `null`},
		{"value not an object", `{"a":"x"}`},
		{"two type keys", `{"a":{"S":"x","N":"1"}}`},
		{"no type key", `{"a":{}}`},
		{"unknown type", `{"a":{"Q":"x"}}`},
		{"null string", `{"a":{"S":null}}`},
		{"number not a string", `{"a":{"N":1}}`},
		{"NaN", `{"a":{"N":"NaN"}}`},
		{"hex number", `{"a":{"N":"0x10"}}`},
		{"bad base64", `{"a":{"B":"!!"}}`},
		{"NULL false", `{"a":{"NULL":false}}`},
		{"bad NS member", `{"a":{"NS":["1","one"]}}`},
		{"bad nested", `{"a":{"L":[{"S":1}]}}`},
		{"bad map value", `{"a":{"M":{"b":{"N":"x"}}}}`},
		{"trailing garbage", `{"a":{"S":"x"}} x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if item, err := UnmarshalItemJSON([]byte(tt.in)); err == nil {
				t.Errorf("UnmarshalItemJSON(%s) = %v, want an error", tt.in, item)
			}
		})
	}
}

func FuzzUnmarshalItemJSON(f *testing.F) {
	for _, s := range []string{
		`{"isbn":{"S":"x"},"rank":{"N":"1"}}`,
		`{"m":{"M":{"l":{"L":[{"NULL":true},{"BOOL":false},{"B":"AA=="}]}}}}`,
		`{"ss":{"SS":[]},"ns":{"NS":["1e5"]},"bs":{"BS":["AQ=="]}}`,
		`{}`, `{"a":{"S":null}}`, `[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		item, err := UnmarshalItemJSON(data)
		if err != nil {
			return
		}
		out, err := marshalItemJSON(item)
		if err != nil {
			t.Fatalf("marshal of a decoded item: %v", err)
		}
		again, err := UnmarshalItemJSON(out)
		if err != nil {
			t.Fatalf("decode of marshalled %s: %v", out, err)
		}
		out2, err := marshalItemJSON(again)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("not stable: %s vs %s (%v)", out, out2, err)
		}
	})
}

// flatSamples are inputs near the fast path's edge: each must decode the
// same through UnmarshalItemJSON as through the general path.
var flatSamples = []string{
	`{"isbn":{"S":"x"},"rank":{"N":"1"}}`,
	`{}`, `{"a":{"S":""}}`, `{"a":{"s":"x"}}`, `{"a":{"S":"x","N":"1"}}`,
	`{"a":{"S":"x"},"a":{"S":"y"}}`, `{"a":{"N":"NaN"}}`, `{"a":{"N":"-1.5e3"}}`,
	`{"a":{"S":"x"}} `, `{"a":{"S":"x"}}x`, `{"a":{"S":"x"},}`, `{"a":{"S":"caf\u00e9"}}`,
	"{\"a\":{\"S\":\"caf\xe9\"}}", "{\"a\":{\"S\":\"tab\there\"}}", `{"a":{"S":null}}`,
	`{"a":{"BOOL":true}}`, `{ "a":{"S":"x"}}`, `{"a":{"S":"Søren Walker"}}`,
}

func TestUnmarshalFlatMatchesGeneral(t *testing.T) {
	t.Parallel()
	for _, s := range flatSamples {
		checkFlatMatchesGeneral(t, []byte(s))
	}
	if _, ok := unmarshalFlatItem([]byte(`{"isbn":{"S":"x"},"rank":{"N":"1"}}`)); !ok {
		t.Error("the compact form marshalItemJSON writes did not take the fast path")
	}
}

func checkFlatMatchesGeneral(t *testing.T, data []byte) {
	t.Helper()
	got, gotErr := UnmarshalItemJSON(data)
	want, wantErr := unmarshalItemGeneral(data)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%q: UnmarshalItemJSON error %v, general path error %v", data, gotErr, wantErr)
	}
	if gotErr != nil {
		return
	}
	a, err1 := marshalItemJSON(got)
	b, err2 := marshalItemJSON(want)
	if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
		t.Fatalf("%q: fast path gives %s, general path %s (%v, %v)", data, a, b, err1, err2)
	}
}

func FuzzUnmarshalFlatMatchesGeneral(f *testing.F) {
	for _, s := range flatSamples {
		f.Add([]byte(s))
	}
	f.Fuzz(checkFlatMatchesGeneral)
}

func TestTablesValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tables Tables
		ok     bool
	}{
		{"defaults", TablesWithPrefix(""), true},
		{"prefix", TablesWithPrefix("test-1."), true},
		{"slash", TablesWithPrefix("a/b"), false},
		{"too short", Tables{Books: "B", Similarities: "S"}, false},
		{"same name", Tables{Books: "Books", Similarities: "Books"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.tables.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if got := TablesWithPrefix(""); got != (Tables{"Books", "BookSimilarities"}) {
		t.Errorf("default tables %+v", got)
	}
}

func TestValidatePart(t *testing.T) {
	t.Parallel()
	ok := Similarity{ISBN: "a", Rank: 1, SimilarISBN: "b", Score: 0.5}
	with := func(f func(*Similarity)) []Similarity { s := ok; f(&s); return []Similarity{s} }
	tests := []struct {
		name  string
		books []Book
		sims  []Similarity
		want  string // substring of the error; "" for no error
	}{
		{"valid", []Book{{ISBN: "a"}, {ISBN: "b"}}, []Similarity{ok}, ""},
		{"empty book isbn", []Book{{ISBN: ""}}, nil, "empty isbn"},
		{"duplicate book", []Book{{ISBN: "a"}, {ISBN: "a"}}, nil, "duplicate isbn"},
		{"empty sim isbn", nil, with(func(s *Similarity) { s.ISBN = "" }), "empty isbn"},
		{"empty similar isbn", nil, with(func(s *Similarity) { s.SimilarISBN = "" }), "empty similar isbn"},
		{"rank 0", nil, with(func(s *Similarity) { s.Rank = 0 }), "rank 0"},
		{"NaN score", nil, with(func(s *Similarity) { s.Score = float32(math.NaN()) }), "not finite"},
		{"Inf score", nil, with(func(s *Similarity) { s.Score = float32(math.Inf(1)) }), "not finite"},
		{"duplicate sim", nil, []Similarity{ok, ok}, "duplicate key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := validatePart(tt.books, tt.sims)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("validatePart = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestValidateRunID(t *testing.T) {
	t.Parallel()
	for id, ok := range map[string]bool{
		"20260123T101500Z-ab12": true, "run_1:2.x": true, "": false, ".": false, "..": false,
		".hidden": false, "a/b": false, "a b": false, strings.Repeat("x", 128): true, strings.Repeat("x", 129): false,
	} {
		if err := validateRunID(id); (err == nil) != ok {
			t.Errorf("validateRunID(%q) = %v, want ok=%v", id, err, ok)
		}
	}
}

func TestSamplerIndependentOfOrderAndSegments(t *testing.T) {
	t.Parallel()
	var isbns []string
	for i := range 1000 {
		isbns = append(isbns, "isbn"+strconv.Itoa(i))
	}
	one := newSampler(10, 7)
	for _, s := range isbns {
		one.add(s)
	}
	want := one.result()
	if len(want) != 10 {
		t.Fatalf("sample of %d, want 10", len(want))
	}
	segs := []*sampler{newSampler(10, 7), newSampler(10, 7), newSampler(10, 7)}
	for i := len(isbns) - 1; i >= 0; i-- {
		segs[i%3].add(isbns[i])
	}
	segs[0].merge(segs[1])
	segs[0].merge(segs[2])
	if got := segs[0].result(); !reflect.DeepEqual(got, want) {
		t.Errorf("merged sample %v, want %v", got, want)
	}
	other := newSampler(10, 8)
	for _, s := range isbns {
		other.add(s)
	}
	if reflect.DeepEqual(other.result(), want) {
		t.Error("seed does not change the sample")
	}
}

func TestSummary(t *testing.T) {
	t.Parallel()
	var s Summary
	if s.Verified {
		t.Error("empty summary verified")
	}
	s.AddCheck("a", true, "fine")
	if !s.Verified || s.Message != "all 1 checks passed" {
		t.Errorf("after one passing check: %+v", s)
	}
	s.AddCheck("stages_succeeded", false, "train failed")
	if s.Verified || s.Message != "1 of 2 checks failed: stages_succeeded (train failed)" {
		t.Errorf("after a failing check: %+v", s)
	}
	if c, ok := s.Lookup("stages_succeeded"); !ok || c.OK {
		t.Errorf("Lookup = %+v, %v", c, ok)
	}
}

// TestFirstDuplicateKey checks the grouped fast path against the set of
// every key, on rows in Items' order and on shuffled and damaged ones.
func TestFirstDuplicateKey(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	for n := range 2000 {
		var sims []Similarity
		for g := range r.IntN(6) {
			isbn := string(rune('a' + r.IntN(4)))
			if n%2 == 0 {
				isbn = string(rune('a' + g)) // distinct groups
			}
			for rank := 1; rank <= r.IntN(4); rank++ {
				sims = append(sims, Similarity{ISBN: isbn, Rank: rank})
			}
		}
		switch n % 5 {
		case 1:
			r.Shuffle(len(sims), func(i, j int) { sims[i], sims[j] = sims[j], sims[i] })
		case 2:
			if len(sims) > 1 {
				sims[r.IntN(len(sims))].Rank = sims[r.IntN(len(sims))].Rank
			}
		}
		if got, want := firstDuplicateKey(sims), firstDuplicateKeyAnyOrder(sims); got != want {
			t.Fatalf("firstDuplicateKey(%v) = %d, want %d", sims, got, want)
		}
	}
}
