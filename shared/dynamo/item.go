package dynamo

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute names of the two tables. The key attributes are AttrISBN
// (Books, BookSimilarities) and AttrRank (BookSimilarities).
const (
	AttrISBN          = "isbn"
	AttrTitle         = "title"
	AttrAuthor        = "author"
	AttrYear          = "year"
	AttrPublisher     = "publisher"
	AttrImageSmall    = "image_url_small"
	AttrImageMedium   = "image_url_medium"
	AttrRank          = "rank"
	AttrSimilarISBN   = "similar_isbn"
	AttrSimilarTitle  = "similar_title"
	AttrSimilarAuthor = "similar_author"
	AttrScore         = "similarity_score"
	AttrRunID         = "run_id"
)

// Book is one row of the Books table: a book that is in the model.
type Book struct {
	ISBN        string
	Title       string
	Author      string
	Year        int // publication year; 0 when unknown (the attribute is then omitted)
	Publisher   string
	ImageSmall  string // image_url_small
	ImageMedium string // image_url_medium
}

// Similarity is one row of the BookSimilarities table: the Rank-th most
// similar book to ISBN (rank 1 is the closest).
type Similarity struct {
	ISBN          string
	Rank          int // 1..top, contiguous per ISBN
	Title         string
	Author        string
	SimilarISBN   string
	SimilarTitle  string
	SimilarAuthor string
	Score         float32 // cosine similarity; finite, non-increasing with Rank
}

// Tables names the two output tables. With the file target the names are
// also the file names (<name>.jsonl).
type Tables struct {
	Books        string
	Similarities string
}

// TablesWithPrefix returns the default table names, Books and
// BookSimilarities, each prefixed with prefix (which may be empty).
func TablesWithPrefix(prefix string) Tables {
	return Tables{Books: prefix + "Books", Similarities: prefix + "BookSimilarities"}
}

// tableName is DynamoDB's rule for table names; file targets use the
// names as file names, which the rule also keeps safe (no slashes).
var tableName = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,255}$`)

// Validate reports names DynamoDB would reject, and two tables with the
// same name.
func (t Tables) Validate() error {
	var errs []error
	for _, n := range []string{t.Books, t.Similarities} {
		if !tableName.MatchString(n) {
			errs = append(errs, fmt.Errorf("table name %q: want 3-255 characters of A-Z a-z 0-9 _ . -", n))
		}
	}
	if t.Books == t.Similarities {
		errs = append(errs, fmt.Errorf("books and similarities tables are both named %q", t.Books))
	}
	return errors.Join(errs...)
}

// runIDPattern keeps run ids usable as file names (FileTarget keeps parts
// under a directory per run) and as attribute values.
var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9_:-][A-Za-z0-9_.:-]{0,127}$`)

func validateRunID(runID string) error {
	if !runIDPattern.MatchString(runID) {
		return fmt.Errorf("run id %q: want 1-128 characters of A-Z a-z 0-9 _ . : - not starting with a dot", runID)
	}
	return nil
}

// str makes an S attribute. Strings are forced to valid UTF-8 (DynamoDB
// rejects anything else) by replacing invalid bytes with U+FFFD.
//
// Empty strings are stored as empty S attributes rather than omitted:
// DynamoDB has accepted empty strings in non-key attributes since 2020 and
// DynamoDB Local does too (tested), so every item carries the same
// attributes and a reader never has to tell "missing" from "empty". Key
// attributes are never empty: WritePart rejects such rows.
func str(s string) types.AttributeValue {
	return &types.AttributeValueMemberS{Value: validUTF8(s)}
}

// validUTF8 is s with each run of invalid UTF-8 bytes replaced by U+FFFD;
// s itself, not a copy, when it is valid (checked first with
// utf8.ValidString, which takes ASCII eight bytes at a time).
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// formatScore writes the shortest decimal that reads back as the same
// float32, so scores survive a round trip exactly.
func formatScore(f float32) string {
	return strconv.FormatFloat(float64(f), 'g', -1, 32)
}

// validatePart rejects rows DynamoDB would refuse (empty keys, duplicate
// keys in one batch, non-finite numbers) with an error naming the row, so
// a bad part fails the same way whichever target it goes to.
func validatePart(books []Book, sims []Similarity) error {
	seen := make(map[string]struct{}, len(books))
	for i, b := range books {
		if b.ISBN == "" {
			return fmt.Errorf("book %d: empty isbn", i)
		}
		if _, dup := seen[b.ISBN]; dup {
			return fmt.Errorf("book %d: duplicate isbn %q", i, b.ISBN)
		}
		seen[b.ISBN] = struct{}{}
	}
	dup := firstDuplicateKey(sims)
	for i, s := range sims {
		switch {
		case s.ISBN == "":
			return fmt.Errorf("similarity %d: empty isbn", i)
		case s.SimilarISBN == "":
			return fmt.Errorf("similarity %d (isbn %q rank %d): empty similar isbn", i, s.ISBN, s.Rank)
		case s.Rank < 1:
			return fmt.Errorf("similarity %d (isbn %q): rank %d, want >= 1", i, s.ISBN, s.Rank)
		case math.IsNaN(float64(s.Score)) || math.IsInf(float64(s.Score), 0):
			return fmt.Errorf("similarity %d (isbn %q rank %d): score %v is not finite", i, s.ISBN, s.Rank, s.Score)
		case i == dup:
			return fmt.Errorf("similarity %d: duplicate key isbn %q rank %d", i, s.ISBN, s.Rank)
		}
	}
	return nil
}

// firstDuplicateKey returns the index of the first row whose (isbn, rank)
// an earlier row has, or -1. Rows as Items makes them (grouped by isbn,
// ranks rising within a group) are checked with a set of the groups'
// isbns, one entry a book rather than one a row; other orders fall back
// to a set of every key.
func firstDuplicateKey(sims []Similarity) int {
	groups := make(map[string]struct{}, len(sims)/20+1)
	for i, s := range sims {
		if i > 0 && s.ISBN == sims[i-1].ISBN {
			if s.Rank > sims[i-1].Rank {
				continue
			}
		} else if _, seen := groups[s.ISBN]; !seen {
			groups[s.ISBN] = struct{}{}
			continue
		}
		return firstDuplicateKeyAnyOrder(sims)
	}
	return -1
}

func firstDuplicateKeyAnyOrder(sims []Similarity) int {
	type key struct {
		isbn string
		rank int
	}
	keys := make(map[key]struct{}, len(sims))
	for i, s := range sims {
		k := key{s.ISBN, s.Rank}
		if _, dup := keys[k]; dup {
			return i
		}
		keys[k] = struct{}{}
	}
	return -1
}

// itemString returns the S value of attribute name, or "" if it is absent
// or not a string.
func itemString(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// itemNumber returns the N value of attribute name parsed as float64.
func itemNumber(item map[string]types.AttributeValue, name string) (float64, error) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("attribute %s: missing or not a number", name)
	}
	f, err := strconv.ParseFloat(v.Value, 64)
	if err != nil {
		return 0, fmt.Errorf("attribute %s: %w", name, err)
	}
	return f, nil
}

// simRow is what verification needs from a BookSimilarities item.
type simRow struct {
	isbn, similar string
	rank          int
	score         float64
}

func parseSimRow(item map[string]types.AttributeValue) (simRow, error) {
	r := simRow{isbn: itemString(item, AttrISBN), similar: itemString(item, AttrSimilarISBN)}
	rank, err := itemNumber(item, AttrRank)
	if err != nil {
		return r, fmt.Errorf("similarity of isbn %q: %w", r.isbn, err)
	}
	if rank != math.Trunc(rank) || rank < math.MinInt32 || rank > math.MaxInt32 {
		return r, fmt.Errorf("similarity of isbn %q: rank %v is not an integer", r.isbn, rank)
	}
	r.rank = int(rank)
	if r.score, err = itemNumber(item, AttrScore); err != nil {
		return r, fmt.Errorf("similarity of isbn %q rank %d: %w", r.isbn, r.rank, err)
	}
	return r, nil
}
