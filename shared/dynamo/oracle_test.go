package dynamo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The encoding path the targets used before items were written straight
// from the rows (appendBookJSON, bookAttrs): an item map per row, then
// encoding/json over a map[string]any tree. Kept here as the oracle the
// new path must match byte for byte and value for value, and as the
// general DynamoDB JSON encoder the decoder's tests round-trip through.

// marshalItemJSON writes item in DynamoDB JSON, the format of the AWS CLI
// and of S3 exports: {"isbn":{"S":"x"},"rank":{"N":"1"}}. Map keys are
// sorted and HTML characters are not escaped, so equal items give equal
// bytes. Set members keep the order they have in item.
func marshalItemJSON(item map[string]types.AttributeValue) ([]byte, error) {
	m := make(map[string]any, len(item))
	for name, av := range item {
		v, err := jsonValue(av)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", name, err)
		}
		m[name] = v
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// jsonValue turns one attribute value into the tree encoding/json writes
// as DynamoDB JSON ({"S":...}, {"M":{...}}, ...).
func jsonValue(av types.AttributeValue) (any, error) {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return map[string]any{"S": v.Value}, nil
	case *types.AttributeValueMemberN:
		if !number.MatchString(v.Value) {
			return nil, fmt.Errorf("invalid number %q", v.Value)
		}
		return map[string]any{"N": v.Value}, nil
	case *types.AttributeValueMemberB:
		return map[string]any{"B": nonNilBytes(v.Value)}, nil
	case *types.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": v.Value}, nil
	case *types.AttributeValueMemberNULL:
		if !v.Value {
			return nil, errors.New("NULL must be true")
		}
		return map[string]any{"NULL": true}, nil
	case *types.AttributeValueMemberSS:
		return map[string]any{"SS": nonNilStrings(v.Value)}, nil
	case *types.AttributeValueMemberNS:
		for _, n := range v.Value {
			if !number.MatchString(n) {
				return nil, fmt.Errorf("invalid number %q in NS", n)
			}
		}
		return map[string]any{"NS": nonNilStrings(v.Value)}, nil
	case *types.AttributeValueMemberBS:
		bs := make([][]byte, len(v.Value))
		for i, b := range v.Value {
			bs[i] = nonNilBytes(b)
		}
		return map[string]any{"BS": bs}, nil
	case *types.AttributeValueMemberL:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			x, err := jsonValue(e)
			if err != nil {
				return nil, fmt.Errorf("list element %d: %w", i, err)
			}
			l[i] = x
		}
		return map[string]any{"L": l}, nil
	case *types.AttributeValueMemberM:
		m := make(map[string]any, len(v.Value))
		for k, e := range v.Value {
			x, err := jsonValue(e)
			if err != nil {
				return nil, fmt.Errorf("map key %q: %w", k, err)
			}
			m[k] = x
		}
		return map[string]any{"M": m}, nil
	case nil:
		return nil, errors.New("nil attribute value")
	default:
		return nil, fmt.Errorf("unsupported attribute value type %T", av)
	}
}

// oracleBookItem is the Books item for b written by run runID. year is omitted
// when b.Year is 0 or negative (unknown).
func oracleBookItem(runID string, b Book) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		AttrISBN:        str(b.ISBN),
		AttrTitle:       str(b.Title),
		AttrAuthor:      str(b.Author),
		AttrPublisher:   str(b.Publisher),
		AttrImageSmall:  str(b.ImageSmall),
		AttrImageMedium: str(b.ImageMedium),
		AttrRunID:       str(runID),
	}
	if b.Year > 0 {
		item[AttrYear] = num(b.Year)
	}
	return item
}

// oracleSimilarityItem is the BookSimilarities item for s written by run runID.
// similarity_score is s.Score formatted as the shortest decimal that reads
// back as the same float32.
func oracleSimilarityItem(runID string, s Similarity) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrISBN:          str(s.ISBN),
		AttrRank:          num(s.Rank),
		AttrTitle:         str(s.Title),
		AttrAuthor:        str(s.Author),
		AttrSimilarISBN:   str(s.SimilarISBN),
		AttrSimilarTitle:  str(s.SimilarTitle),
		AttrSimilarAuthor: str(s.SimilarAuthor),
		AttrScore:         &types.AttributeValueMemberN{Value: formatScore(s.Score)},
		AttrRunID:         str(runID),
	}
}

func num(n int) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.Itoa(n)}
}
