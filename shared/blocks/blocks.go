package blocks

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// ErrUnknownSchema is wrapped by decode errors for a stream whose schema
// metadata names no kind and version, or one this package does not read.
var ErrUnknownSchema = errors.New("unknown block schema")

// ErrCorrupt is wrapped by decode errors for a stream that is truncated,
// malformed, or breaks the invariants of its schema.
var ErrCorrupt = errors.New("corrupt block")

// schemaKey is the schema metadata key holding "<kind>/v<version>".
const schemaKey = "betterread.schema"

const (
	// maxBodyBytes bounds one record batch body. Encoders refuse larger
	// blocks and decoders never allocate more than this for one buffer,
	// whatever a corrupt length field says.
	maxBodyBytes = 1 << 31
	// maxMetaBytes bounds one IPC message's flatbuffer metadata; ours are a
	// few hundred bytes.
	maxMetaBytes = 1 << 20
)

// view holds the record batch that a decoded view's slices point into.
type view struct {
	rec arrow.RecordBatch
}

func (v *view) release() {
	if v.rec != nil {
		v.rec.Release()
		v.rec = nil
	}
}

// writeBatch writes schema and one record batch of the given columns as an
// IPC stream. It releases nothing; the caller owns cols.
func writeBatch(w io.Writer, mem memory.Allocator, schema *arrow.Schema, cols []arrow.Array, rows int) error {
	rec := array.NewRecordBatch(schema, cols, int64(rows))
	defer rec.Release()
	iw := ipc.NewWriter(w, ipc.WithSchema(schema), ipc.WithAllocator(mem))
	if err := iw.Write(rec); err != nil {
		_ = iw.Close() // after a failed Write it returns the same error
		return err
	}
	return iw.Close()
}

// readBatch reads an IPC stream that must hold a schema whose metadata names
// want, exactly one record batch, and nothing after it but the end-of-stream
// marker. It returns the batch, which the caller releases.
//
// Corrupt length fields cannot make it allocate beyond maxBodyBytes, nor
// beyond the remaining length of r when r reports one (bytes.Reader,
// bytes.Buffer, strings.Reader).
func readBatch(r io.Reader, mem memory.Allocator, want string) (rec arrow.RecordBatch, err error) {
	limit := int64(maxBodyBytes)
	if l, ok := r.(interface{ Len() int }); ok {
		limit = min(limit, int64(l.Len()))
	}
	src := &errReader{r: r}

	// arrow-go recovers its own panics while reading and turns them into
	// errors, and messageReader keeps it from the unrecoverable failures,
	// so this recover is a last guard: a panic here is a bug in arrow-go
	// or in this package, and must not take a worker down.
	defer func() {
		if p := recover(); p != nil {
			if rec != nil {
				rec.Release()
				rec = nil
			}
			err = fmt.Errorf("%w: arrow-go panicked: %v", ErrCorrupt, p)
		}
	}()

	mr := newMessageReader(src, mem, limit, min(maxMetaBytes, limit))
	rd, err := ipc.NewReaderFromMessageReader(mr, ipc.WithAllocator(mem))
	if err != nil {
		return nil, src.classify(err)
	}
	defer rd.Release()

	if err := checkSchema(rd.Schema(), want); err != nil {
		return nil, err
	}
	if !rd.Next() {
		if err := rd.Err(); err != nil {
			return nil, src.classify(err)
		}
		return nil, fmt.Errorf("%w: stream holds no record batch", ErrCorrupt)
	}
	rec = rd.RecordBatch()
	rec.Retain()
	if rd.Next() {
		rec.Release()
		return nil, fmt.Errorf("%w: stream holds more than one record batch", ErrCorrupt)
	}
	if err := rd.Err(); err != nil {
		rec.Release()
		return nil, src.classify(err)
	}
	return rec, nil
}

// errReader remembers the first error of the underlying reader other than
// io.EOF, so a failed read (a dropped connection) is told apart from bytes
// that do not parse.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// classify returns the reader's own error if it had one, and otherwise
// marks err as a corrupt block.
func (e *errReader) classify(err error) error {
	if e.err != nil {
		return fmt.Errorf("read: %w", e.err)
	}
	return fmt.Errorf("%w: %w", ErrCorrupt, err)
}

// checkSchema checks the kind and version in the schema metadata.
func checkSchema(s *arrow.Schema, want string) error {
	got, ok := s.Metadata().GetValue(schemaKey)
	if !ok {
		return fmt.Errorf("%w: schema metadata has no %q, want %q", ErrUnknownSchema, schemaKey, want)
	}
	if got != want {
		return fmt.Errorf("%w: %s is %q, want %q", ErrUnknownSchema, schemaKey, got, want)
	}
	return nil
}

// checkFields checks that got has exactly the fields of want, by name and
// type (nullability of fields is not compared; null counts are checked on
// the arrays instead).
func checkFields(got, want *arrow.Schema) error {
	if got.NumFields() != want.NumFields() {
		return fmt.Errorf("%w: schema has %d columns, want %d", ErrCorrupt, got.NumFields(), want.NumFields())
	}
	for i, w := range want.Fields() {
		g := got.Field(i)
		if g.Name != w.Name {
			return fmt.Errorf("%w: column %d is named %q, want %q", ErrCorrupt, i, g.Name, w.Name)
		}
		if !arrow.TypeEqual(g.Type, w.Type) {
			return fmt.Errorf("%w: column %q has type %s, want %s", ErrCorrupt, g.Name, g.Type, w.Type)
		}
	}
	return nil
}

// metaInt reads a non-negative decimal integer from the schema metadata.
func metaInt(s *arrow.Schema, key string) (int, error) {
	v, ok := s.Metadata().GetValue(key)
	if !ok {
		return 0, fmt.Errorf("%w: schema metadata has no %q", ErrCorrupt, key)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: schema metadata %q is %q, want a non-negative integer", ErrCorrupt, key, v)
	}
	return n, nil
}

// metadata builds schema metadata from key, value pairs after the schema key.
func metadata(schema string, kv ...string) *arrow.Metadata {
	keys := []string{schemaKey}
	vals := []string{schema}
	for i := 0; i+1 < len(kv); i += 2 {
		keys = append(keys, kv[i])
		vals = append(vals, kv[i+1])
	}
	md := arrow.NewMetadata(keys, vals)
	return &md
}

// checkNoNulls reports an array, or any array nested in it, that claims
// nulls. It reads the stored null counts only: computing them from a
// corrupt bitmap could read out of bounds.
func checkNoNulls(name string, d arrow.ArrayData) error {
	if d.NullN() != 0 {
		return fmt.Errorf("%w: column %q has %d nulls", ErrCorrupt, name, d.NullN())
	}
	if d.Offset() != 0 {
		return fmt.Errorf("%w: column %q has offset %d", ErrCorrupt, name, d.Offset())
	}
	for _, c := range d.Children() {
		if err := checkNoNulls(name, c); err != nil {
			return err
		}
	}
	return nil
}

// checkLen checks an array's length.
func checkLen(name string, a arrow.Array, want int) error {
	if a.Len() != want {
		return fmt.Errorf("%w: column %q has %d values, want %d", ErrCorrupt, name, a.Len(), want)
	}
	return nil
}

// buffer returns buffer i of d, or nil when d has no such buffer.
func buffer(d arrow.ArrayData, i int) *memory.Buffer {
	if bufs := d.Buffers(); i < len(bufs) {
		return bufs[i]
	}
	return nil
}

// fixedWidth returns the first n values of buf as a []T, pointing into the
// Arrow buffer when it is suitably aligned and copied otherwise. The IPC
// format aligns buffers to 8 bytes, so the copy happens only for streams
// from writers that break that rule.
func fixedWidth[T int32 | float32](name string, buf *memory.Buffer, n int) ([]T, error) {
	if n == 0 {
		return nil, nil
	}
	var b []byte
	if buf != nil {
		b = buf.Bytes()
	}
	var zero T
	size := int(unsafe.Sizeof(zero))
	if n < 0 || n > len(b)/size {
		return nil, fmt.Errorf("%w: column %q holds %d bytes, want %d values of %d bytes", ErrCorrupt, name, len(b), n, size)
	}
	b = b[:n*size]
	if uintptr(unsafe.Pointer(unsafe.SliceData(b)))%unsafe.Alignof(zero) != 0 {
		out := make([]T, n)
		copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(out))), len(b)), b)
		return out, nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n), nil
}

// primitiveValues returns the n values of a non-null primitive column.
func primitiveValues[T int32 | float32](name string, a arrow.Array, n int) ([]T, error) {
	if err := checkLen(name, a, n); err != nil {
		return nil, err
	}
	if err := checkNoNulls(name, a.Data()); err != nil {
		return nil, err
	}
	return fixedWidth[T](name, buffer(a.Data(), 1), n)
}

// primitiveData wraps s, without copying, as the data of a non-null
// primitive array of type dt. The caller releases it.
func primitiveData[T int32 | float32](dt arrow.DataType, s []T) *array.Data {
	var b []byte
	if len(s) > 0 {
		b = unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(s[0])))
	}
	return array.NewData(dt, len(s), []*memory.Buffer{nil, memory.NewBufferBytes(b)}, nil, 0, 0)
}

// fixedSizeListArray wraps s, without copying, as a non-null fixed size
// list array of len(s)/n rows of n values of type elem.
func fixedSizeListArray[T int32 | float32](elem arrow.DataType, n int, s []T) arrow.Array {
	child := primitiveData(elem, s)
	defer child.Release()
	data := array.NewData(arrow.FixedSizeListOfNonNullable(int32(n), elem), len(s)/n,
		[]*memory.Buffer{nil}, []arrow.ArrayData{child}, 0, 0)
	defer data.Release()
	return array.MakeFromData(data)
}

// fixedSizeListValues returns the values of a fixed size list column of
// rows×n values after checking nulls and lengths.
func fixedSizeListValues[T int32 | float32](name string, a arrow.Array, rows, n int) ([]T, error) {
	if err := checkRows(rows, 4*n); err != nil {
		return nil, err
	}
	if err := checkLen(name, a, rows); err != nil {
		return nil, err
	}
	if err := checkNoNulls(name, a.Data()); err != nil {
		return nil, err
	}
	children := a.Data().Children()
	if len(children) != 1 {
		return nil, fmt.Errorf("%w: column %q has %d children, want 1", ErrCorrupt, name, len(children))
	}
	if got, want := children[0].Len(), rows*n; got != want {
		return nil, fmt.Errorf("%w: column %q has %d values, want %d rows × %d", ErrCorrupt, name, got, rows, n)
	}
	return fixedWidth[T](name, buffer(children[0], 1), rows*n)
}

// checkRows rejects a row count that could not fit a body of maxBodyBytes
// with rowBytes bytes per row, before anything multiplies it.
func checkRows(rows int, rowBytes int) error {
	if rows < 0 || rows > maxBodyBytes/max(rowBytes, 1) {
		return fmt.Errorf("%w: %d rows of %d bytes exceed the %d byte limit", ErrCorrupt, rows, rowBytes, maxBodyBytes)
	}
	return nil
}

// checkSize refuses blocks whose body would exceed what decoders accept.
func checkSize(bytes int) error {
	if bytes > maxBodyBytes-4096 {
		return fmt.Errorf("block of %d bytes exceeds the %d byte limit; use smaller blocks", bytes, maxBodyBytes)
	}
	return nil
}

// int32Fits reports whether n fits a FixedSizeList size or an offset.
func int32Fits(n int) bool { return n >= 0 && n <= math.MaxInt32 }
