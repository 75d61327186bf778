package hook_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/betterread/pipeline/coordinator/hook"
)

const fixtures = "testdata/events"

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// want holds what each fixture in testdata/events decodes to; nil for the
// test events.
var want = map[string][]hook.ObjectEvent{
	"eventbridge_object_created.json": {{
		Source: "eventbridge", Name: "Object Created",
		Bucket: "betterread-uploads", Key: "uploads/Books.csv", Size: 77787,
		ETag: "5d41402abc4b2a76b9719d911017c592", VersionID: "Lx3.Zq8vT1hKb7mN2pR4sU6wY9aC0eG5",
		Sequencer: "0065F2C3D9A1B2C3D4", Time: at("2026-03-14T09:26:53Z"),
	}},
	"eventbridge_object_deleted.json": {{
		Source: "eventbridge", Name: "Object Deleted",
		Bucket: "betterread-uploads", Key: "uploads/Ratings (old).csv",
		ETag: "d41d8cd98f00b204e9800998ecf8427e", VersionID: "Pq7.Wd2xF9kLm3nB6vC1zA8sE4rT0yU5",
		Sequencer: "0065F2CC73E5F6A7B8", Time: at("2026-03-14T10:02:11Z"),
	}},
	"s3_records.json": {{
		Source: "s3", Name: "ObjectCreated:Put",
		Bucket: "betterread-uploads", Key: "uploads/Ratings.csv", Size: 1149780,
		ETag: "0123456789abcdef0123456789abcdef", VersionID: "3HL4kqtJvjVBH40Nrjfkd",
		Sequencer: "0065F2C3D9A1B2C3D4", Time: at("2026-03-14T09:26:53.589Z"),
	}, {
		Source: "s3", Name: "ObjectCreated:CompleteMultipartUpload",
		Bucket: "betterread-uploads", Key: "uploads/Book Crossing (2026)/Books.csv", Size: 26214400,
		ETag: "9b2cf535f27731c974343645a3985328-4", VersionID: "8Zb1nTe0Hk2LmQ7rWx3yPa",
		Sequencer: "0065F2C40C5E6F7081", Time: at("2026-03-14T09:27:40.012Z"),
	}},
	"s3_object_removed.json": {{
		Source: "s3", Name: "ObjectRemoved:Delete",
		Bucket: "betterread-uploads", Key: "uploads/Ratings.csv",
		Sequencer: "0065F2CC73E5F6A7B8", Time: at("2026-03-14T10:02:11.204Z"),
	}, {
		Source: "s3", Name: "ObjectRemoved:DeleteMarkerCreated",
		Bucket: "betterread-uploads", Key: "uploads/Books.csv",
		VersionID: "Pq7.Wd2xF9kLm3nB6vC1zA8sE4rT0yU5",
		Sequencer: "0065F2CC74A1B2C3D4", Time: at("2026-03-14T10:02:12.931Z"),
	}},
	"s3_test_event.json": nil,
	"sns_records.json": {{
		Source: "sns", Name: "ObjectCreated:Put",
		Bucket: "betterread-uploads", Key: "uploads/Ratings.csv", Size: 1149780,
		ETag: "0123456789abcdef0123456789abcdef", VersionID: "3HL4kqtJvjVBH40Nrjfkd",
		Sequencer: "0065F2C3D9A1B2C3D4", Time: at("2026-03-14T09:26:53.589Z"),
	}},
	"sns_eventbridge.json": {{
		Source: "sns", Name: "Object Created",
		Bucket: "betterread-uploads", Key: "uploads/Books.csv", Size: 77787,
		ETag: "5d41402abc4b2a76b9719d911017c592", VersionID: "Lx3.Zq8vT1hKb7mN2pR4sU6wY9aC0eG5",
		Sequencer: "0065F2C3D9A1B2C3D4", Time: at("2026-03-14T09:26:53Z"),
	}},
	"sns_subscription_confirmation.json": nil,
	"minio_put.json": {{
		Source: "minio", Name: "s3:ObjectCreated:Put",
		Bucket: "uploads", Key: "Books.csv", Size: 77787,
		ETag:      "5d41402abc4b2a76b9719d911017c592",
		Sequencer: "182C5B0F6E41A7C2", Time: at("2026-03-14T09:26:53.589Z"),
	}},
	"minio_nested_key.json": {{
		Source: "minio", Name: "s3:ObjectCreated:CompleteMultipartUpload",
		Bucket: "uploads", Key: "2026-03/Book Crossing/Ratings (1).csv", Size: 1149780,
		ETag:      "9b2cf535f27731c974343645a3985328-2",
		Sequencer: "182C5B1A2B3C4D5E", Time: at("2026-03-14T09:31:07.004Z"),
	}},
}

func readFixtures(tb testing.TB) map[string][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(fixtures, "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	bodies := make(map[string][]byte, len(files))
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		bodies[filepath.Base(file)] = body
	}
	return bodies
}

func TestDecodeFixtures(t *testing.T) {
	t.Parallel()
	bodies := readFixtures(t)
	for name := range want {
		if _, ok := bodies[name]; !ok {
			t.Errorf("%s: expected events but no such file in %s", name, fixtures)
		}
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w, ok := want[name]
			if !ok {
				t.Fatalf("no expected events for %s/%s: add them to want", fixtures, name)
			}
			got, err := hook.Decode(body)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("Decode =\n%+v\nwant\n%+v", got, w)
			}
		})
	}
}

func TestCreated(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want bool
	}{
		{"Object Created", true},
		{"ObjectCreated:Put", true},
		{"ObjectCreated:Copy", true},
		{"ObjectCreated:CompleteMultipartUpload", true},
		{"s3:ObjectCreated:Put", true},
		{"s3:ObjectCreated:PutRetention", true},
		{"Object Deleted", false},
		{"ObjectRemoved:Delete", false},
		{"s3:ObjectRemoved:Delete", false},
		{"s3:ObjectAccessed:Get", false},
		{"ObjectRestore:Completed", false},
		{"objectcreated:put", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := (hook.ObjectEvent{Name: tt.name}).Created(); got != tt.want {
			t.Errorf("Created() for %q = %v, want %v", tt.name, got, tt.want)
		}
	}
	// Every fixture that is not a test event: created unless removed.
	for name, body := range readFixtures(t) {
		events, err := hook.Decode(body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, e := range events {
			removed := strings.Contains(e.Name, "Removed") || strings.Contains(e.Name, "Deleted")
			if e.Created() == removed {
				t.Errorf("%s: %q: Created() = %v", name, e.Name, e.Created())
			}
		}
	}
}

// quote returns s as a JSON string.
func quote(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// recordsBody is an S3 notification with one record per key.
func recordsBody(keys ...string) string {
	recs := make([]string, len(keys))
	for i, k := range keys {
		recs[i] = fmt.Sprintf(`{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":%s,"size":1}}}`, quote(k))
	}
	return `{"Records":[` + strings.Join(recs, ",") + `]}`
}

// eventBridgeBody is an EventBridge Object Created event for key.
func eventBridgeBody(key string) string {
	return fmt.Sprintf(`{"detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"b"},"object":{"key":%s,"size":1}}}`, quote(key))
}

func TestDecodeKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw, want string
		err             string // a part of the error message; "" for none
	}{
		{"plain", "uploads/Books.csv", "uploads/Books.csv", ""},
		{"plus and escapes", "uploads/My+Books%20%282026%29.csv", "uploads/My Books (2026).csv", ""},
		{"escaped slash", "uploads%2FBooks.csv", "uploads/Books.csv", ""},
		{"escaped plus", "a%2Bb", "a+b", ""},
		{"multibyte", "%E2%9C%93", "✓", ""},
		{"lower-case hex", "%e2%9c%93", "✓", ""},
		{"literal unicode", "bücher.csv", "bücher.csv", ""},
		{"only a plus", "+", " ", ""},
		{"bad escape", "a%zzb", "", `object.key: invalid URL escape "%zz"`},
		{"truncated escape", "a%2", "", `object.key: invalid URL escape "%2"`},
		{"lone percent", "%", "", `object.key: invalid URL escape "%"`},
		{"nul", "a%00b", "", `object.key: "a%00b" decodes to a NUL byte`},
		{"raw nul", "a\x00b", "", "decodes to a NUL byte"},
		{"lone lead byte", "%C3", "", `object.key: "%C3" decodes to invalid UTF-8`},
		{"bad byte", "a%FFb", "", "decodes to invalid UTF-8"},
		{"empty", "", "", "object.key: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, body := range []string{recordsBody(tt.raw)} {
				got, err := hook.Decode([]byte(body))
				if tt.err != "" {
					if !errors.Is(err, hook.ErrBadEvent) || !strings.Contains(err.Error(), tt.err) {
						t.Errorf("Decode(%s) error = %v, want ErrBadEvent with %q", body, err, tt.err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("Decode(%s): %v", body, err)
				}
				if len(got) != 1 || got[0].Key != tt.want {
					t.Errorf("Decode(%s) = %+v, want one event with key %q", body, got, tt.want)
				}
			}
		})
	}
}

// TestDecodeEventBridgeKeys: EventBridge carries keys as they are, not
// URL-encoded; a NUL or invalid UTF-8 is still refused.
func TestDecodeEventBridgeKeys(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"uploads/Books.csv", "uploads/My+Books (2026):1.csv", "a%2Fb", "bücher.csv"} {
		got, err := hook.Decode([]byte(eventBridgeBody(key)))
		if err != nil || len(got) != 1 || got[0].Key != key {
			t.Errorf("EventBridge key %q: %+v, %v; want it unchanged", key, got, err)
		}
	}
	// (Invalid UTF-8 cannot arrive: encoding/json turns it into U+FFFD.)
	for _, raw := range []string{`"a\u0000b"`, `""`} {
		body := `{"detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"b"},"object":{"key":` + raw + `,"size":1}}}`
		if _, err := hook.Decode([]byte(body)); !errors.Is(err, hook.ErrBadEvent) {
			t.Errorf("EventBridge key %s: %v, want ErrBadEvent", raw, err)
		}
	}
}

// TestDecodeErrorMessage pins the form of an error: sentinel, path, problem.
func TestDecodeErrorMessage(t *testing.T) {
	t.Parallel()
	_, err := hook.Decode([]byte(recordsBody("a", "b", "c%zz")))
	const want = `hook: malformed S3 event: Records[2].s3.object.key: invalid URL escape "%zz"`
	if err == nil || err.Error() != want {
		t.Errorf("Decode error = %v, want %s", err, want)
	}
}

func TestDecodeFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want hook.ObjectEvent
	}{
		{
			"quoted etag and offset time",
			`{"Records":[{"eventName":"ObjectCreated:Copy","eventTime":"2026-03-14T11:26:53.5+02:00","s3":{"bucket":{"name":"b"},"object":{"key":"k","eTag":"\"abc\""}}}]}`,
			hook.ObjectEvent{Source: "s3", Name: "ObjectCreated:Copy", Bucket: "b", Key: "k", ETag: "abc", Time: at("2026-03-14T09:26:53.5Z")},
		},
		{
			"MinIO top-level fields make every record minio",
			`{"EventName":"s3:ObjectCreated:Put","Key":"b/k","Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`,
			hook.ObjectEvent{Source: "minio", Name: "s3:ObjectCreated:Put", Bucket: "b", Key: "k"},
		},
		{
			"EventBridge quoted etag",
			`{"detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"b"},"object":{"key":"k","etag":"\"abc\""}}}`,
			hook.ObjectEvent{Source: "eventbridge", Name: "Object Created", Bucket: "b", Key: "k", ETag: "abc"},
		},
		{
			"unknown fields and nulls",
			`{"Records":[{"eventName":"ObjectCreated:Put","extra":[1,{"x":null}],"s3":{"bucket":{"name":"b","arn":null},"object":{"key":"k","size":null,"versionId":null}}}],"more":true}`,
			hook.ObjectEvent{Source: "s3", Name: "ObjectCreated:Put", Bucket: "b", Key: "k"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := hook.Decode([]byte(tt.body))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], tt.want) {
				t.Errorf("Decode = %+v, want [%+v]", got, tt.want)
			}
		})
	}
}

// snsBody wraps message in an SNS notification envelope.
func snsBody(message string) string {
	return `{"Type":"Notification","MessageId":"m","TopicArn":"arn:aws:sns:eu-west-1:111122223333:t","Message":` + quote(message) + `}`
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want error
		msg  string // a part of the error message
	}{
		{"empty", ``, hook.ErrNotJSON, "empty"},
		{"spaces", " \n", hook.ErrNotJSON, "empty"},
		{"text", `not json`, hook.ErrNotJSON, "line 1, column 2"},
		{"truncated", `{"Records":[`, hook.ErrNotJSON, "unexpected end of JSON input"},
		{"position", "{\n  \"Records\": x}", hook.ErrNotJSON, "line 2, column 14: invalid character 'x'"},
		{"trailing garbage", `{} {}`, hook.ErrNotJSON, "after top-level value"},
		{"empty object", `{}`, hook.ErrUnknownShape, "body has none of"},
		{"array", `[]`, hook.ErrUnknownShape, "body is a JSON array"},
		{"unknown field", `{"foo":1}`, hook.ErrUnknownShape, ""},
		{"null", `null`, hook.ErrUnknownShape, "null"},
		{"string", `"Records"`, hook.ErrUnknownShape, "string"},
		{"number", `5`, hook.ErrUnknownShape, "number"},
		{"lower-case records", `{"records":[]}`, hook.ErrUnknownShape, ""},
		{"other event", `{"Service":"Amazon S3","Event":"s3:Other"}`, hook.ErrUnknownShape, `"s3:Other"`},

		{"SNS message not JSON", snsBody("hello"), hook.ErrBadEvent, "Message: not JSON: line 1, column 1"},
		{"SNS message empty", snsBody(""), hook.ErrBadEvent, "Message: not JSON: empty"},
		{"SNS message not a string", `{"Type":"Notification","TopicArn":"t","Message":{"Records":[]}}`, hook.ErrBadEvent, "Message: want a string, got object"},
		{"SNS message missing", `{"Type":"Notification","TopicArn":"t"}`, hook.ErrBadEvent, "Message: missing"},
		{"SNS type not a string", `{"Type":1,"Message":"{}"}`, hook.ErrBadEvent, "Type: want a string, got number"},
		{"SNS unknown type", `{"Type":"Shout","Message":"{}"}`, hook.ErrBadEvent, `"Shout"`},
		{"SNS message array", snsBody(`[]`), hook.ErrUnknownShape, "Message is a JSON array"},
		{"SNS message unknown", snsBody(`{"foo":1}`), hook.ErrUnknownShape, "Message has none of"},
		{"SNS inside SNS", snsBody(snsBody(recordsBody("k"))), hook.ErrUnknownShape, "SNS envelope inside an SNS envelope"},
		{"SNS bad record", snsBody(recordsBody("k", "%zz")), hook.ErrBadEvent, `Message.Records[1].s3.object.key: invalid URL escape "%zz"`},

		{"EventBridge other source", `{"detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{}}`, hook.ErrUnknownShape, `source: EventBridge event from "aws.ec2"`},
		{"EventBridge CloudTrail", `{"detail-type":"AWS API Call via CloudTrail","source":"aws.s3","detail":{}}`, hook.ErrUnknownShape, "not an S3 object event"},
		{"EventBridge no detail", `{"detail-type":"Object Created","source":"aws.s3"}`, hook.ErrBadEvent, "detail: missing"},
		{"EventBridge null detail", `{"detail-type":"Object Created","source":"aws.s3","detail":null}`, hook.ErrBadEvent, "detail: missing"},
		{"EventBridge detail not object", `{"detail-type":"Object Created","source":"aws.s3","detail":[]}`, hook.ErrBadEvent, "detail: want an object, got array"},
		{"EventBridge no bucket", `{"detail-type":"Object Created","source":"aws.s3","detail":{"object":{"key":"k"}}}`, hook.ErrBadEvent, "detail.bucket.name: missing"},
		{"EventBridge bad time", `{"detail-type":"Object Created","source":"aws.s3","time":"yesterday","detail":{"bucket":{"name":"b"},"object":{"key":"k"}}}`, hook.ErrBadEvent, `time: "yesterday" is not an RFC 3339 time`},
		{"EventBridge size string", `{"detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"b"},"object":{"key":"k","size":"1"}}}`, hook.ErrBadEvent, "detail.object.size: want an integer, got string"},

		{"Records not array", `{"Records":{}}`, hook.ErrBadEvent, "Records: want an array, got object"},
		{"Records null", `{"Records":null}`, hook.ErrBadEvent, "Records: want an array, got null"},
		{"Records empty", `{"Records":[]}`, hook.ErrBadEvent, "Records: empty"},
		{"record not object", `{"Records":[1]}`, hook.ErrBadEvent, "Records[0]: want an object, got number"},
		{"record null", `{"Records":[null]}`, hook.ErrBadEvent, "Records[0].eventName: missing"},
		{"no event name", `{"Records":[{"s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`, hook.ErrBadEvent, "Records[0].eventName: missing"},
		{"no bucket", `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}},{"eventName":"ObjectCreated:Put","s3":{"object":{"key":"k"}}}]}`, hook.ErrBadEvent, "Records[1].s3.bucket.name: missing"},
		{"no s3", `{"Records":[{"eventName":"ObjectCreated:Put"}]}`, hook.ErrBadEvent, "Records[0].s3.bucket.name: missing"},
		{"no key", `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{}}}]}`, hook.ErrBadEvent, "Records[0].s3.object.key: missing"},
		{"slash in bucket", `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"a/b"},"object":{"key":"k"}}}]}`, hook.ErrBadEvent, `Records[0].s3.bucket.name: "a/b" is not a bucket name`},
		{"negative size", `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":-1}}}]}`, hook.ErrBadEvent, "Records[0].s3.object.size: negative (-1)"},
		{"fractional size", `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":1.5}}}]}`, hook.ErrBadEvent, "Records[0].s3.object.size: want an integer, got number 1.5"},
		{"huge size", `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":1e99}}}]}`, hook.ErrBadEvent, "Records[0].s3.object.size: want an integer, got number 1e99"},
		{"key not string", `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":7}}}]}`, hook.ErrBadEvent, "Records[0].s3.object.key: want a string, got number"},
		{"bad event time", `{"Records":[{"eventName":"ObjectCreated:Put","eventTime":"2026-13-01T00:00:00Z","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`, hook.ErrBadEvent, "Records[0].eventTime:"},
		{"not an S3 record", `{"Records":[{"eventSource":"aws:sqs","body":"{}"}]}`, hook.ErrUnknownShape, `Records[0].eventSource: "aws:sqs" is not S3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := hook.Decode([]byte(tt.body))
			if !errors.Is(err, tt.want) || !strings.Contains(fmt.Sprint(err), tt.msg) {
				t.Fatalf("Decode(%s) = %v, %v; want %v with %q", tt.body, got, err, tt.want, tt.msg)
			}
			if got != nil {
				t.Errorf("Decode(%s) returned events with an error: %+v", tt.body, got)
			}
		})
	}
}

func TestDecodeTestEvents(t *testing.T) {
	t.Parallel()
	bodies := []string{
		`{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-03-14T09:20:01.157Z","Bucket":"b","RequestId":"r","HostId":"h"}`,
		snsBody(`{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-03-14T09:20:01.157Z","Bucket":"b"}`),
		`{"Type":"SubscriptionConfirmation","TopicArn":"t","Message":"You have chosen to subscribe","SubscribeURL":"https://sns.example/"}`,
		`{"Type":"UnsubscribeConfirmation","TopicArn":"t","Message":"You have chosen to deactivate"}`,
	}
	for _, body := range bodies {
		got, err := hook.Decode([]byte(body))
		if got != nil || err != nil {
			t.Errorf("Decode(%s) = %+v, %v; want nil, nil", body, got, err)
		}
	}
}

func TestDecodeRecordLimit(t *testing.T) {
	t.Parallel()
	keys := make([]string, 1001)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
	}
	got, err := hook.Decode([]byte(recordsBody(keys[:1000]...)))
	if err != nil || len(got) != 1000 {
		t.Fatalf("1000 records: got %d events, %v", len(got), err)
	}
	if got[999].Key != "k999" {
		t.Errorf("record 999 has key %q", got[999].Key)
	}
	_, err = hook.Decode([]byte(recordsBody(keys...)))
	if !errors.Is(err, hook.ErrBadEvent) || !strings.Contains(err.Error(), "Records: 1001 records, at most 1000") {
		t.Errorf("1001 records: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, body := range readFixtures(f) {
		f.Add(body)
	}
	for _, body := range []string{
		recordsBody("uploads/My+Books%20%282026%29.csv", "%E2%9C%93"),
		eventBridgeBody("a+b%2Fc"),
		snsBody(eventBridgeBody("k")),
		snsBody(snsBody(recordsBody("k"))),
		`{"EventName":"s3:ObjectCreated:Put","Key":"b/k","Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`,
		`{"Records":[{"eventName":"x","eventTime":"2026-03-14T11:26:53+02:00","s3":{"bucket":{"name":"b"},"object":{"key":"k","eTag":"\"\"","size":0}}}]}`,
		`{"Type":"SubscriptionConfirmation","TopicArn":"t"}`,
		`{"Event":"s3:TestEvent"}`,
		`{}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := hook.Decode(body)
		if err != nil {
			if events != nil {
				t.Errorf("events with an error: %+v, %v", events, err)
			}
			n := 0
			for _, s := range []error{hook.ErrNotJSON, hook.ErrUnknownShape, hook.ErrBadEvent} {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("error wraps %d sentinels, want 1: %v", n, err)
			}
			return
		}
		if len(events) > 1000 {
			t.Errorf("%d events", len(events))
		}
		for i, e := range events {
			switch {
			case e.Bucket == "":
				t.Errorf("event %d: empty bucket", i)
			case e.Key == "":
				t.Errorf("event %d: empty key", i)
			case !utf8.ValidString(e.Key):
				t.Errorf("event %d: key %q is not UTF-8", i, e.Key)
			case strings.IndexByte(e.Key, 0) >= 0:
				t.Errorf("event %d: key %q holds a NUL", i, e.Key)
			case e.Size < 0:
				t.Errorf("event %d: size %d", i, e.Size)
			case e.Name == "":
				t.Errorf("event %d: empty name", i)
			case !e.Time.IsZero() && e.Time.Location() != time.UTC:
				t.Errorf("event %d: time %v not in UTC", i, e.Time)
			}
			switch e.Source {
			case "eventbridge", "s3", "sns", "minio":
			default:
				t.Errorf("event %d: source %q", i, e.Source)
			}
		}
		// The same body inside an SNS envelope gives the same events.
		if len(events) == 0 || events[0].Source == "sns" {
			return
		}
		wrapped, err := hook.Decode([]byte(snsBody(string(body))))
		if err != nil {
			t.Fatalf("in SNS: %v", err)
		}
		for i := range events {
			events[i].Source = "sns"
		}
		if !reflect.DeepEqual(wrapped, events) {
			t.Errorf("in SNS:\n%+v\nwant\n%+v", wrapped, events)
		}
	})
}
