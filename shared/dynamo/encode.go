package dynamo

import (
	"strconv"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The file target's lines are written here straight from the rows, with
// no item map and no reflection: appendBookJSON and appendSimilarityJSON
// give the bytes that encoding/json gave for the item maps before
// (attribute names sorted, HTML characters not escaped, U+2028 and U+2029
// escaped, invalid UTF-8 replaced as str does), which the tests check
// against that path kept as an oracle. They write into dst and allocate
// nothing once dst has room.
//
// The rows must have passed validatePart: a non-finite score would be
// written as NaN or ±Inf, which is not a DynamoDB number.

// appendBookJSON appends the Books item of b written by run runID, in
// DynamoDB JSON, without a trailing newline.
func appendBookJSON(dst []byte, runID string, b Book) []byte {
	dst = append(dst, `{"author":{"S":`...)
	dst = appendJSONString(dst, b.Author)
	dst = append(dst, `},"image_url_medium":{"S":`...)
	dst = appendJSONString(dst, b.ImageMedium)
	dst = append(dst, `},"image_url_small":{"S":`...)
	dst = appendJSONString(dst, b.ImageSmall)
	dst = append(dst, `},"isbn":{"S":`...)
	dst = appendJSONString(dst, b.ISBN)
	dst = append(dst, `},"publisher":{"S":`...)
	dst = appendJSONString(dst, b.Publisher)
	dst = append(dst, `},"run_id":{"S":`...)
	dst = appendJSONString(dst, runID)
	dst = append(dst, `},"title":{"S":`...)
	dst = appendJSONString(dst, b.Title)
	if b.Year > 0 {
		dst = append(dst, `},"year":{"N":"`...)
		dst = strconv.AppendInt(dst, int64(b.Year), 10)
		dst = append(dst, '"')
	}
	return append(dst, "}}"...)
}

// appendSimilarityJSON appends the BookSimilarities item of s written by
// run runID, in DynamoDB JSON, without a trailing newline.
func appendSimilarityJSON(dst []byte, runID string, s Similarity) []byte {
	dst = append(dst, `{"author":{"S":`...)
	dst = appendJSONString(dst, s.Author)
	dst = append(dst, `},"isbn":{"S":`...)
	dst = appendJSONString(dst, s.ISBN)
	dst = append(dst, `},"rank":{"N":"`...)
	dst = strconv.AppendInt(dst, int64(s.Rank), 10)
	dst = append(dst, `"},"run_id":{"S":`...)
	dst = appendJSONString(dst, runID)
	dst = append(dst, `},"similar_author":{"S":`...)
	dst = appendJSONString(dst, s.SimilarAuthor)
	dst = append(dst, `},"similar_isbn":{"S":`...)
	dst = appendJSONString(dst, s.SimilarISBN)
	dst = append(dst, `},"similar_title":{"S":`...)
	dst = appendJSONString(dst, s.SimilarTitle)
	dst = append(dst, `},"similarity_score":{"N":"`...)
	dst = appendScore(dst, s.Score)
	dst = append(dst, `"},"title":{"S":`...)
	dst = appendJSONString(dst, s.Title)
	return append(dst, "}}"...)
}

// appendScore appends formatScore(f).
func appendScore(dst []byte, f float32) []byte {
	return strconv.AppendFloat(dst, float64(f), 'g', -1, 32)
}

// appendJSONString appends s as a JSON string the way the item maps were
// written: first made valid UTF-8 as str does (strings.ToValidUTF8 with
// U+FFFD: each run of invalid bytes becomes one U+FFFD), then quoted as
// encoding/json does with HTML escaping off (\" \\ \b \f \n \r \t, other
// control characters as \u00XX, U+2028 and U+2029 as \u2028 and \u2029,
// everything else as it is).
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	invalid := false // the byte before i was part of an invalid sequence
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			invalid = false
			if jsonSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			if !invalid {
				dst = append(dst, "\uFFFD"...)
			}
			invalid = true
			i++
			start = i
			continue
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
		default:
			i += size
		}
		invalid = false
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// jsonSafe marks the ASCII bytes a JSON string holds as they are:
// everything from space up but the quote and the backslash.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// bookAttrs is a Books item for the DynamoDB target whose map, attribute
// values and put request are made once and refilled for each row it
// carries, so a row becomes attribute values without allocating (beyond
// the year's digits). set(runID, b) makes attrs equal to the item the
// tests' oracle builds for b. The SDK reads the values only while the
// BatchWriteItem call that sends them runs; BatchWriter refills an item
// only after that call has returned.
type bookAttrs struct {
	attrs                                                map[string]types.AttributeValue
	put                                                  types.PutRequest
	isbn, title, author, publisher, small, medium, runID types.AttributeValueMemberS
	year                                                 types.AttributeValueMemberN
}

func newBookAttrs() *bookAttrs {
	a := &bookAttrs{}
	a.attrs = map[string]types.AttributeValue{
		AttrISBN:        &a.isbn,
		AttrTitle:       &a.title,
		AttrAuthor:      &a.author,
		AttrPublisher:   &a.publisher,
		AttrImageSmall:  &a.small,
		AttrImageMedium: &a.medium,
		AttrRunID:       &a.runID,
		AttrYear:        &a.year,
	}
	a.put.Item = a.attrs
	return a
}

func (a *bookAttrs) set(runID string, b Book) {
	a.isbn.Value = validUTF8(b.ISBN)
	a.title.Value = validUTF8(b.Title)
	a.author.Value = validUTF8(b.Author)
	a.publisher.Value = validUTF8(b.Publisher)
	a.small.Value = validUTF8(b.ImageSmall)
	a.medium.Value = validUTF8(b.ImageMedium)
	a.runID.Value = validUTF8(runID)
	if b.Year > 0 {
		a.year.Value = strconv.Itoa(b.Year)
		a.attrs[AttrYear] = &a.year
	} else {
		delete(a.attrs, AttrYear)
	}
}

func (a *bookAttrs) request() *types.PutRequest { return &a.put }

// simAttrs is bookAttrs for BookSimilarities items.
type simAttrs struct {
	attrs                                                                map[string]types.AttributeValue
	put                                                                  types.PutRequest
	isbn, title, author, similarISBN, similarTitle, similarAuthor, runID types.AttributeValueMemberS
	rank, score                                                          types.AttributeValueMemberN
}

func newSimAttrs() *simAttrs {
	a := &simAttrs{}
	a.attrs = map[string]types.AttributeValue{
		AttrISBN:          &a.isbn,
		AttrRank:          &a.rank,
		AttrTitle:         &a.title,
		AttrAuthor:        &a.author,
		AttrSimilarISBN:   &a.similarISBN,
		AttrSimilarTitle:  &a.similarTitle,
		AttrSimilarAuthor: &a.similarAuthor,
		AttrScore:         &a.score,
		AttrRunID:         &a.runID,
	}
	a.put.Item = a.attrs
	return a
}

func (a *simAttrs) set(runID string, s Similarity) {
	a.isbn.Value = validUTF8(s.ISBN)
	a.rank.Value = strconv.Itoa(s.Rank) // no allocation below 100
	a.title.Value = validUTF8(s.Title)
	a.author.Value = validUTF8(s.Author)
	a.similarISBN.Value = validUTF8(s.SimilarISBN)
	a.similarTitle.Value = validUTF8(s.SimilarTitle)
	a.similarAuthor.Value = validUTF8(s.SimilarAuthor)
	a.score.Value = formatScore(s.Score)
	a.runID.Value = validUTF8(runID)
}

func (a *simAttrs) request() *types.PutRequest { return &a.put }
