package dataset

import (
	"strconv"
	"strings"
)

// Reasons a row is dropped (keys of Report.Dropped).
const (
	ReasonWrongFieldCount  = "wrong_field_count"
	ReasonInvalidQuoting   = "invalid_quoting"
	ReasonLineTooLong      = "line_too_long"
	ReasonEmptyUser        = "empty_user"
	ReasonEmptyISBN        = "empty_isbn"
	ReasonRatingNotNumeric = "rating_not_numeric"
	ReasonRatingOutOfRange = "rating_out_of_range"
	ReasonYearNotNumeric   = "year_not_numeric"
	ReasonControlCharacter = "control_character" // a C0 control or DEL inside a user id or ISBN
)

// Quirks repaired in rows that are kept (keys of Report.Repaired).
const (
	RepairLatin1         = "latin1_transcoded"
	RepairHTMLEntity     = "html_entity"
	RepairShiftedRow     = "shifted_row"
	RepairYearZero       = "year_zero"
	RepairYearMissing    = "year_missing"
	RepairYearOutOfRange = "year_out_of_range"
)

// Report counts what one read saw. Rows == Accepted + the sum of Dropped
// once a read has finished without error.
type Report struct {
	File     string           `json:"file"`
	Dialect  Dialect          `json:"dialect"`
	Rows     int64            `json:"rows"`     // data rows seen (blank lines are not rows)
	Accepted int64            `json:"accepted"` // rows handed to the callback
	Dropped  map[string]int64 `json:"dropped"`  // reason → rows dropped
	Repaired map[string]int64 `json:"repaired"` // quirk → rows kept after repairing it
	Examples []Issue          `json:"examples"` // the first problems, at most MaxExamples
}

// DroppedTotal is the sum of r.Dropped.
func (r Report) DroppedTotal() int64 {
	var n int64
	for _, c := range r.Dropped {
		n += c
	}
	return n
}

// Examples are capped in total and per reason, so that one frequent quirk
// does not hide the others.
const (
	MaxExamples         = 20
	maxExamplesByReason = 3
)

// Issue is one dropped or repaired row.
type Issue struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column string `json:"column,omitempty"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// Error reads like `Ratings.csv:17: column Book-Rating: rating_out_of_range: "11"`.
func (i Issue) Error() string {
	var b strings.Builder
	b.WriteString(i.File)
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(i.Line))
	b.WriteString(": ")
	if i.Column != "" {
		b.WriteString("column ")
		b.WriteString(i.Column)
		b.WriteString(": ")
	}
	b.WriteString(i.Reason)
	if i.Detail != "" {
		b.WriteString(": ")
		b.WriteString(i.Detail)
	}
	return b.String()
}

func newReport(file string) Report {
	return Report{File: file, Dropped: map[string]int64{}, Repaired: map[string]int64{}, Examples: []Issue{}}
}

// quote renders a field value for an Issue: quoted, escaped to ASCII-safe
// valid UTF-8, and short.
func quote(b []byte) string {
	const n = 48
	if len(b) > n {
		return strconv.Quote(string(b[:n])) + "..."
	}
	return strconv.Quote(string(b))
}
