// Package hook is where S3 "object created" notifications enter the
// coordinator, whether MinIO posts them to its HTTP hook or an SQS poller
// receives them. Decode turns one request or message body, in any of the
// shapes S3, SNS, EventBridge and MinIO send, into ObjectEvents.
package hook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"
)

// ObjectEvent is one object-created notification, whatever shape it came in.
type ObjectEvent struct {
	Source    string // "eventbridge", "s3", "sns", "minio" (the outer shape)
	Name      string // event name as given, e.g. "Object Created", "ObjectCreated:Put", "s3:ObjectCreated:Put"
	Bucket    string
	Key       string // URL-decoded object key
	Size      int64
	ETag      string    // without surrounding quotes
	VersionID string    // "" when the bucket is unversioned
	Sequencer string    // S3's sequencer (hex, ordering per key), "" if absent
	Time      time.Time // event time, zero if absent
}

// Created reports whether the event is an object-created one (EventBridge
// detail-type "Object Created"; Records eventName starting with
// "ObjectCreated:" or "s3:ObjectCreated:").
func (e ObjectEvent) Created() bool {
	return e.Name == "Object Created" ||
		strings.HasPrefix(e.Name, "ObjectCreated:") ||
		strings.HasPrefix(e.Name, "s3:ObjectCreated:")
}

// Every error of Decode wraps exactly one of these, for errors.Is. None of
// them goes away on retry.
var (
	ErrNotJSON      = errors.New("hook: body is not JSON")
	ErrUnknownShape = errors.New("hook: not an S3 event (EventBridge, S3 Records, SNS or MinIO)")
	ErrBadEvent     = errors.New("hook: malformed S3 event")
)

// maxRecords bounds the Records of one body. S3 sends one record per
// message; the bound keeps a hostile body from turning into a large batch.
const maxRecords = 1000

// Decode returns the object events of one request or message body. Test
// events (S3's "s3:TestEvent", SNS SubscriptionConfirmation/
// UnsubscribeConfirmation) return (nil, nil) — nothing to do, not an error.
// Errors wrap one of the three sentinels above and say what is wrong and
// where (e.g. "Records[2].s3.object.key: invalid URL escape \"%zz\"").
//
// The body must be a JSON object, recognised by its top-level fields (exact
// case): "Type" with "Message" or "TopicArn" is an SNS envelope, whose
// Message may hold any of the other shapes but not another envelope;
// "detail-type" an EventBridge event from source "aws.s3"; "Records" an S3
// notification, from MinIO when the record's eventSource is "minio:s3" or
// the body has MinIO's top-level "EventName" or "Key" (MinIO's "Key" is
// "bucket/key" unescaped; Decode uses the records instead); "Event":
// "s3:TestEvent" S3's test event. Fields inside are matched as
// encoding/json does, case-insensitively, and unknown fields are ignored.
//
// S3 URL-encodes object keys in both its notification formats (Records and
// EventBridge), as a query string is: a space as '+' and other bytes as %XX
// ('+' itself as %2B). MinIO does the same. Decode undoes it with
// url.QueryUnescape and rejects a key with a bad escape or one that decodes
// to invalid UTF-8 or holds a NUL byte. Events that are not object-created
// ones (ObjectRemoved, Object Deleted, ...) are returned too, with
// Created() false; the caller skips them. Times are in UTC.
//
// Decode only reads the body: it does not check SNS signatures nor confirm
// SNS subscriptions.
func Decode(body []byte) ([]ObjectEvent, error) {
	return decode(body, "")
}

// decode decodes a request body (at "") or the body an SNS envelope
// carries (at "Message"); at prefixes the paths in errors.
func decode(body []byte, at string) ([]ObjectEvent, error) {
	what := "body"
	if at != "" {
		what = at
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			msg := "empty"
			if len(bytes.TrimSpace(body)) > 0 {
				msg = syntaxPosition(body, se.Offset) + ": " + se.Error()
			}
			if at != "" {
				return nil, fmt.Errorf("%w: %s: not JSON: %s", ErrBadEvent, at, msg)
			}
			return nil, fmt.Errorf("%w: %s", ErrNotJSON, msg)
		case errors.As(err, &te):
			return nil, fmt.Errorf("%w: %s is a JSON %s, want an object", ErrUnknownShape, what, te.Value)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrBadEvent, what, err)
	}
	if top == nil {
		return nil, fmt.Errorf("%w: %s is JSON null, want an object", ErrUnknownShape, what)
	}
	_, hasMessage := top["Message"]
	_, hasTopic := top["TopicArn"]
	_, hasType := top["Type"]
	_, hasEventName := top["EventName"]
	_, hasKey := top["Key"]
	switch {
	case hasType && (hasMessage || hasTopic):
		if at != "" {
			return nil, fmt.Errorf("%w: %s is an SNS envelope inside an SNS envelope", ErrUnknownShape, at)
		}
		return decodeSNS(top)
	case top["detail-type"] != nil:
		return decodeEventBridge(body, at)
	case top["Records"] != nil:
		source := "s3"
		switch {
		case at != "":
			source = "sns"
		case hasEventName || hasKey:
			source = "minio"
		}
		return decodeRecords(top["Records"], joinPath(at, "Records"), source)
	case top["Event"] != nil:
		var event string
		if err := unmarshalAt(top["Event"], &event, joinPath(at, "Event")); err != nil {
			return nil, err
		}
		if event == "s3:TestEvent" {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: %s: Event %q is not s3:TestEvent", ErrUnknownShape, what, event)
	}
	return nil, fmt.Errorf("%w: %s has none of Records, detail-type, Type or Event", ErrUnknownShape, what)
}

// decodeSNS decodes an SNS HTTP(S) delivery or an SNS message in SQS
// without raw delivery.
func decodeSNS(top map[string]json.RawMessage) ([]ObjectEvent, error) {
	var typ string
	if err := unmarshalAt(top["Type"], &typ, "Type"); err != nil {
		return nil, err
	}
	switch typ {
	case "SubscriptionConfirmation", "UnsubscribeConfirmation":
		return nil, nil
	case "Notification":
	default:
		return nil, fmt.Errorf("%w: Type: unknown SNS message type %q", ErrBadEvent, typ)
	}
	raw, ok := top["Message"]
	if !ok {
		return nil, fmt.Errorf("%w: Message: missing", ErrBadEvent)
	}
	var msg string
	if err := unmarshalAt(raw, &msg, "Message"); err != nil {
		return nil, err
	}
	return decode([]byte(msg), "Message")
}

// s3Object is the object part of both formats: S3's Records spell the field
// names as here, EventBridge as ebObject does.
type s3Object struct {
	Key       string `json:"key"`
	Size      int64  `json:"size"`
	ETag      string `json:"eTag"`
	VersionID string `json:"versionId"`
	Sequencer string `json:"sequencer"`
}

type ebObject struct {
	Key       string `json:"key"`
	Size      int64  `json:"size"`
	ETag      string `json:"etag"`
	VersionID string `json:"version-id"`
	Sequencer string `json:"sequencer"`
}

type s3Bucket struct {
	Name string `json:"name"`
}

type eventBridgeEvent struct {
	DetailType string           `json:"detail-type"`
	Source     string           `json:"source"`
	Time       string           `json:"time"`
	Detail     *json.RawMessage `json:"detail"`
}

type eventBridgeDetail struct {
	Bucket s3Bucket `json:"bucket"`
	Object ebObject `json:"object"`
}

func decodeEventBridge(body []byte, at string) ([]ObjectEvent, error) {
	var ev eventBridgeEvent
	if err := unmarshalAt(body, &ev, at); err != nil {
		return nil, err
	}
	if ev.Source != "aws.s3" {
		return nil, fmt.Errorf("%w: %s: EventBridge event from %q, want aws.s3", ErrUnknownShape, joinPath(at, "source"), ev.Source)
	}
	// S3's own events are all "Object ..."; CloudTrail's "AWS API Call via
	// CloudTrail" has another detail.
	if !strings.HasPrefix(ev.DetailType, "Object ") {
		return nil, fmt.Errorf("%w: %s: %q is not an S3 object event", ErrUnknownShape, joinPath(at, "detail-type"), ev.DetailType)
	}
	t, err := parseTime(ev.Time, joinPath(at, "time"))
	if err != nil {
		return nil, err
	}
	if ev.Detail == nil {
		return nil, fmt.Errorf("%w: %s: missing", ErrBadEvent, joinPath(at, "detail"))
	}
	var d eventBridgeDetail
	if err := unmarshalAt(*ev.Detail, &d, joinPath(at, "detail")); err != nil {
		return nil, err
	}
	source := "eventbridge"
	if at != "" {
		source = "sns"
	}
	e, err := newEvent(source, ev.DetailType, t, d.Bucket, s3Object(d.Object), joinPath(at, "detail"), false)
	if err != nil {
		return nil, err
	}
	return []ObjectEvent{e}, nil
}

type s3Record struct {
	EventSource string `json:"eventSource"`
	EventName   string `json:"eventName"`
	EventTime   string `json:"eventTime"`
	S3          struct {
		Bucket s3Bucket `json:"bucket"`
		Object s3Object `json:"object"`
	} `json:"s3"`
}

// decodeRecords decodes the Records array of S3's and MinIO's
// notifications; path names it.
func decodeRecords(raw json.RawMessage, path, source string) ([]ObjectEvent, error) {
	var recs []json.RawMessage
	if err := unmarshalAt(raw, &recs, path); err != nil {
		return nil, err
	}
	switch {
	case recs == nil:
		return nil, fmt.Errorf("%w: %s: want an array, got null", ErrBadEvent, path)
	case len(recs) == 0:
		return nil, fmt.Errorf("%w: %s: empty", ErrBadEvent, path)
	case len(recs) > maxRecords:
		return nil, fmt.Errorf("%w: %s: %d records, at most %d", ErrBadEvent, path, len(recs), maxRecords)
	}
	events := make([]ObjectEvent, 0, len(recs))
	for i, rec := range recs {
		at := fmt.Sprintf("%s[%d]", path, i)
		var r s3Record
		if err := unmarshalAt(rec, &r, at); err != nil {
			return nil, err
		}
		src := source
		switch {
		case r.EventSource == "minio:s3" && src == "s3":
			src = "minio"
		case r.EventSource == "" || strings.HasSuffix(r.EventSource, ":s3"):
			// "aws:s3", or another S3-compatible store's Records.
		default:
			return nil, fmt.Errorf("%w: %s: %q is not S3", ErrUnknownShape, joinPath(at, "eventSource"), r.EventSource)
		}
		if r.EventName == "" {
			return nil, fmt.Errorf("%w: %s: missing", ErrBadEvent, joinPath(at, "eventName"))
		}
		t, err := parseTime(r.EventTime, joinPath(at, "eventTime"))
		if err != nil {
			return nil, err
		}
		e, err := newEvent(src, r.EventName, t, r.S3.Bucket, r.S3.Object, joinPath(at, "s3"), true)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, nil
}

// newEvent checks the bucket and object found under at (".bucket.name",
// ".object.key", ... in both formats) and makes the event.
// newEvent checks and builds one event. encoded says whether the key is
// URL-encoded, as S3 notification Records (from S3, SNS and MinIO) have
// it; EventBridge events carry the key as it is (their example events show
// characters, such as ':', that Records would escape), so decoding them
// would turn a '+' into a space.
func newEvent(source, name string, t time.Time, b s3Bucket, o s3Object, at string, encoded bool) (ObjectEvent, error) {
	if b.Name == "" {
		return ObjectEvent{}, fmt.Errorf("%w: %s: missing", ErrBadEvent, joinPath(at, "bucket.name"))
	}
	if strings.ContainsFunc(b.Name, func(r rune) bool { return r == '/' || r < 0x20 || r == 0x7f }) {
		return ObjectEvent{}, fmt.Errorf("%w: %s: %s is not a bucket name", ErrBadEvent, joinPath(at, "bucket.name"), quoteShort(b.Name))
	}
	keyPath := joinPath(at, "object.key")
	if o.Key == "" {
		return ObjectEvent{}, fmt.Errorf("%w: %s: missing", ErrBadEvent, keyPath)
	}
	key, err := o.Key, error(nil)
	if encoded {
		key, err = url.QueryUnescape(o.Key)
	}
	switch {
	case err != nil:
		return ObjectEvent{}, fmt.Errorf("%w: %s: %v", ErrBadEvent, keyPath, err)
	case !utf8.ValidString(key):
		return ObjectEvent{}, fmt.Errorf("%w: %s: %s decodes to invalid UTF-8", ErrBadEvent, keyPath, quoteShort(o.Key))
	case strings.IndexByte(key, 0) >= 0:
		return ObjectEvent{}, fmt.Errorf("%w: %s: %s decodes to a NUL byte", ErrBadEvent, keyPath, quoteShort(o.Key))
	}
	if o.Size < 0 {
		return ObjectEvent{}, fmt.Errorf("%w: %s: negative (%d)", ErrBadEvent, joinPath(at, "object.size"), o.Size)
	}
	etag := o.ETag
	if len(etag) >= 2 && etag[0] == '"' && etag[len(etag)-1] == '"' {
		etag = etag[1 : len(etag)-1]
	}
	return ObjectEvent{
		Source:    source,
		Name:      name,
		Bucket:    b.Name,
		Key:       key,
		Size:      o.Size,
		ETag:      etag,
		VersionID: o.VersionID,
		Sequencer: o.Sequencer,
		Time:      t,
	}, nil
}

// parseTime parses an RFC 3339 time ("" is the zero time) into UTC.
func parseTime(s, path string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s: %s is not an RFC 3339 time", ErrBadEvent, path, quoteShort(s))
	}
	return t.UTC(), nil
}

// unmarshalAt decodes raw, a part of a body already known to be valid JSON,
// into v and turns a type mismatch into ErrBadEvent naming the field under
// path.
func unmarshalAt(raw []byte, v any, path string) error {
	err := json.Unmarshal(raw, v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("%w: %s: want %s, got %s", ErrBadEvent, joinPath(path, te.Field), jsonKind(te.Type), te.Value)
	}
	return fmt.Errorf("%w: %s: %v", ErrBadEvent, path, err)
}

// jsonKind names the JSON value a Go type decodes from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	}
	return t.String()
}

// joinPath appends the field path p to path; either may be empty.
func joinPath(path, p string) string {
	switch {
	case path == "":
		return p
	case p == "":
		return path
	}
	return path + "." + p
}

// syntaxPosition turns a byte offset from a json.SyntaxError (the error is at
// the byte before it) into "line L, column C", both 1-based, C in bytes.
func syntaxPosition(body []byte, off int64) string {
	p := int(min(max(off-1, 0), int64(len(body))))
	line := 1 + bytes.Count(body[:p], []byte("\n"))
	col := p - bytes.LastIndexByte(body[:p], '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}

// quoteShort quotes s for an error message, cut to 64 bytes at a rune
// boundary.
func quoteShort(s string) string {
	const n = 64
	if len(s) <= n {
		return fmt.Sprintf("%q", s)
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q…", s[:cut])
}
