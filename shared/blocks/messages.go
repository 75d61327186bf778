package blocks

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Why this file exists: arrow-go's IPC reader trusts the flatbuffer
// metadata of each message. A corrupt vector length there makes it call
// make() with up to 4 G elements (schemaFromFB, fieldFromFB and
// metadataFromFB size slices by FieldsLength, ChildrenLength and
// CustomMetadataLength), which kills the process with "out of memory"; a
// child offset that wraps around makes fieldFromFB recurse until the stack
// overflows. Neither can be recovered. So messages are read here, and their
// metadata is checked against the buffer, before arrow-go parses them.
//
// The check covers what arrow-go follows: every offset, table and vector it
// reads lies inside the metadata buffer, fields nest at most maxDepth deep
// and number at most maxFieldNodes, every body buffer lies inside the body
// and is long enough for its field node (checkLayout). It also refuses what
// this package never writes, so arrow-go never parses it: dictionary batches
// and dictionary-encoded fields, compressed bodies (whose declared
// uncompressed size arrow-go would allocate), big-endian schemas, and column
// types other than int, float, utf8, list, struct and fixed size list.

const (
	continuationMarker = 0xFFFFFFFF
	maxDepth           = 16
	maxFieldNodes      = 1024

	// Message header union and type union tags from Arrow's Message.fbs
	// and Schema.fbs.
	headerSchema      = 1
	headerRecordBatch = 3

	typeInt           = 2
	typeFloatingPoint = 3
	typeUtf8          = 5
	typeList          = 12
	typeStruct        = 13
	typeFixedSizeList = 16

	metadataV4 = 3
	metadataV5 = 4
)

// messageReader reads IPC stream messages for ipc.NewReaderFromMessageReader:
// first a schema, then record batches, checking each message's metadata
// before handing it on.
type messageReader struct {
	r         io.Reader
	mem       memory.Allocator
	bodyLimit int64
	metaLimit int64

	refs   atomic.Int64
	n      int          // messages read
	layout []nodeLayout // of the schema, once read
	msg    *ipc.Message
}

func newMessageReader(r io.Reader, mem memory.Allocator, bodyLimit, metaLimit int64) *messageReader {
	m := &messageReader{r: r, mem: mem, bodyLimit: bodyLimit, metaLimit: metaLimit}
	m.refs.Add(1)
	return m
}

func (m *messageReader) Retain() { m.refs.Add(1) }

func (m *messageReader) Release() {
	if m.refs.Add(-1) == 0 && m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
}

// Message returns the next message, valid until the next call, or io.EOF at
// the end-of-stream marker or a clean end of input.
func (m *messageReader) Message() (*ipc.Message, error) {
	if m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
	var prefix [8]byte
	if _, err := io.ReadFull(m.r, prefix[:4]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("read message %d marker: %w", m.n, err)
	}
	if binary.LittleEndian.Uint32(prefix[:4]) != continuationMarker {
		return nil, fmt.Errorf("message %d: no continuation marker", m.n)
	}
	if _, err := io.ReadFull(m.r, prefix[4:]); err != nil {
		return nil, fmt.Errorf("read message %d length: %w", m.n, eof(err))
	}
	size := int64(binary.LittleEndian.Uint32(prefix[4:]))
	if size == 0 {
		return nil, io.EOF
	}
	if size > m.metaLimit {
		return nil, fmt.Errorf("message %d: metadata of %d bytes exceeds limit %d", m.n, size, m.metaLimit)
	}
	meta := make([]byte, size)
	if _, err := io.ReadFull(m.r, meta); err != nil {
		return nil, fmt.Errorf("read message %d metadata: %w", m.n, eof(err))
	}
	want := headerRecordBatch
	if m.n == 0 {
		want = headerSchema
	}
	info, err := checkMessage(meta, want)
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", m.n, err)
	}
	bodyLen := info.bodyLen
	if bodyLen > m.bodyLimit {
		return nil, fmt.Errorf("message %d: body of %d bytes exceeds limit %d", m.n, bodyLen, m.bodyLimit)
	}
	body := memory.NewResizableBuffer(m.mem)
	defer body.Release()
	body.Resize(int(bodyLen))
	if _, err := io.ReadFull(m.r, body.Bytes()); err != nil {
		return nil, fmt.Errorf("read message %d body: %w", m.n, eof(err))
	}
	if want == headerSchema {
		m.layout = info.layout
	} else if err := checkLayout(m.layout, info, body.Bytes()); err != nil {
		return nil, fmt.Errorf("message %d: %w", m.n, err)
	}
	metaBuf := memory.NewBufferBytes(meta)
	defer metaBuf.Release()
	m.msg = ipc.NewMessage(metaBuf, body)
	m.n++
	return m.msg, nil
}

// eof reports an end of input inside a message as truncation.
func eof(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// nodeLayout describes one array of the schema, in the depth-first order of
// a record batch's field nodes.
type nodeLayout struct {
	typ   uint8
	depth int   // 1 for a column
	width int64 // bytes per value of int and float arrays
}

// messageInfo is what checkMessage learns from a message's metadata.
type messageInfo struct {
	bodyLen int64
	layout  []nodeLayout // schema messages
	rows    int64        // record batches
	nodes   [][2]int64   // record batches: length, null count
	buffers [][2]int64   // record batches: offset, length in the body
}

// checkMessage checks the flatbuffer metadata of one message whose header
// must be of type want.
func checkMessage(b []byte, want int) (messageInfo, error) {
	var info messageInfo
	fb := &flatbuf{b: b}
	root, err := fb.table(uint64(fb.u32(0)))
	if err != nil {
		return info, err
	}
	if v := root.i16(0); v != metadataV4 && v != metadataV5 {
		return info, fmt.Errorf("metadata version %d, want V4 or V5", v+1)
	}
	if got := int(root.u8(1)); got != want {
		return info, fmt.Errorf("header type %d, want %d", got, want)
	}
	header, err := root.table(2)
	if err != nil {
		return info, fmt.Errorf("header: %w", err)
	}
	info.bodyLen = root.i64(3)
	if info.bodyLen < 0 {
		return info, fmt.Errorf("body length %d", info.bodyLen)
	}
	if err := root.keyValues(4); err != nil {
		return info, err
	}
	switch want {
	case headerSchema:
		err = checkSchemaMessage(header, &info)
	case headerRecordBatch:
		err = checkRecordBatchMessage(header, &info)
	}
	if fb.err != nil {
		return info, fb.err
	}
	return info, err
}

func checkSchemaMessage(s fbTable, info *messageInfo) error {
	if e := s.i16(0); e != 0 {
		return fmt.Errorf("schema endianness %d, want little-endian", e)
	}
	n, err := s.vector(1, 4)
	if err != nil {
		return fmt.Errorf("schema fields: %w", err)
	}
	for i := range n {
		f, err := s.element(1, i)
		if err != nil {
			return fmt.Errorf("schema field %d: %w", i, err)
		}
		if err := checkField(f, 1, info); err != nil {
			return fmt.Errorf("schema field %d: %w", i, err)
		}
	}
	if err := s.keyValues(2); err != nil {
		return err
	}
	if _, err := s.vector(3, 8); err != nil {
		return fmt.Errorf("schema features: %w", err)
	}
	return nil
}

func checkField(f fbTable, depth int, info *messageInfo) error {
	f.fb.fields++
	if depth > maxDepth || f.fb.fields > maxFieldNodes {
		return fmt.Errorf("more than %d nested or %d fields", maxDepth, maxFieldNodes)
	}
	if _, err := f.vector(0, 1); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	node := nodeLayout{typ: f.u8(2), depth: depth}
	typ, err := f.table(3)
	if err != nil {
		return fmt.Errorf("type: %w", err)
	}
	switch node.typ {
	case typeInt:
		switch bits := typ.i32(0); bits {
		case 8, 16, 32, 64:
			node.width = int64(bits / 8)
		default:
			return fmt.Errorf("int of %d bits", bits)
		}
	case typeFloatingPoint:
		switch p := typ.i16(0); p {
		case 0, 1, 2: // half, single, double
			node.width = 2 << p
		default:
			return fmt.Errorf("float precision %d", p)
		}
	case typeUtf8, typeList, typeStruct, typeFixedSizeList:
	default:
		return fmt.Errorf("column type %d is not one this package writes", node.typ)
	}
	info.layout = append(info.layout, node)
	if _, ok := f.field(4); ok {
		return errors.New("dictionary-encoded fields are not supported")
	}
	n, err := f.vector(5, 4)
	if err != nil {
		return fmt.Errorf("children: %w", err)
	}
	for i := range n {
		c, err := f.element(5, i)
		if err != nil {
			return fmt.Errorf("child %d: %w", i, err)
		}
		if err := checkField(c, depth+1, info); err != nil {
			return fmt.Errorf("child %d: %w", i, err)
		}
	}
	return f.keyValues(6)
}

func checkRecordBatchMessage(rb fbTable, info *messageInfo) error {
	if info.rows = rb.i64(0); info.rows < 0 {
		return fmt.Errorf("record batch length %d", info.rows)
	}
	n, err := rb.vector(1, 16)
	if err != nil {
		return fmt.Errorf("field nodes: %w", err)
	}
	for i := range n {
		p, _ := rb.vectorData(1, i, 16)
		length, nulls := int64(rb.fb.u64(p)), int64(rb.fb.u64(p+8))
		if length < 0 || length > math.MaxInt32 || nulls < 0 || nulls > length {
			return fmt.Errorf("field node %d: length %d, null count %d", i, length, nulls)
		}
		info.nodes = append(info.nodes, [2]int64{length, nulls})
	}
	n, err = rb.vector(2, 16)
	if err != nil {
		return fmt.Errorf("buffers: %w", err)
	}
	for i := range n {
		p, _ := rb.vectorData(2, i, 16)
		off, length := rb.fb.u64(p), rb.fb.u64(p+8)
		if off > uint64(info.bodyLen) || length > uint64(info.bodyLen)-off {
			return fmt.Errorf("buffer %d: [%d, +%d) outside the %d byte body", i, int64(off), int64(length), info.bodyLen)
		}
		info.buffers = append(info.buffers, [2]int64{int64(off), int64(length)})
	}
	if _, ok := rb.field(3); ok {
		return errors.New("compressed record batches are not supported")
	}
	if n, err := rb.vector(4, 8); err != nil {
		return fmt.Errorf("variadic buffer counts: %w", err)
	} else if n != 0 {
		return fmt.Errorf("%d variadic buffer counts, want none", n)
	}
	return nil
}

// checkLayout checks a record batch's field nodes and buffers against the
// schema's layout: the buffers arrow-go will slice are long enough, and utf8
// offsets end inside their data. arrow-go would panic on these (and recover,
// but leak the buffers it had retained).
func checkLayout(layout []nodeLayout, info messageInfo, body []byte) error {
	if len(info.nodes) != len(layout) {
		return fmt.Errorf("%d field nodes, schema has %d", len(info.nodes), len(layout))
	}
	b := 0
	next := func(i int) ([2]int64, error) {
		if b >= len(info.buffers) {
			return [2]int64{}, fmt.Errorf("field node %d: buffers run out at %d", i, b)
		}
		b++
		return info.buffers[b-1], nil
	}
	atLeast := func(i int, buf [2]int64, n int64, what string) error {
		if buf[1] < n {
			return fmt.Errorf("field node %d: %s buffer of %d bytes, want at least %d", i, what, buf[1], n)
		}
		return nil
	}
	for i, node := range layout {
		length, nulls := info.nodes[i][0], info.nodes[i][1]
		if node.depth == 1 && length != info.rows {
			return fmt.Errorf("column node %d has %d rows, batch has %d", i, length, info.rows)
		}
		validity, err := next(i)
		if err != nil {
			return err
		}
		if nulls > 0 {
			if err := atLeast(i, validity, (length+7)/8, "validity"); err != nil {
				return err
			}
		}
		switch node.typ {
		case typeInt, typeFloatingPoint:
			values, err := next(i)
			if err != nil {
				return err
			}
			if err := atLeast(i, values, length*node.width, "values"); err != nil {
				return err
			}
		case typeList:
			offsets, err := next(i)
			if err != nil {
				return err
			}
			if length > 0 {
				if err := atLeast(i, offsets, 4*(length+1), "offsets"); err != nil {
					return err
				}
			}
		case typeUtf8:
			offsets, err := next(i)
			if err != nil {
				return err
			}
			data, err := next(i)
			if err != nil {
				return err
			}
			if length > 0 {
				if err := atLeast(i, offsets, 4*(length+1), "offsets"); err != nil {
					return err
				}
				at := offsets[0] + 4*length
				if end := int64(int32(binary.LittleEndian.Uint32(body[at:]))); end < 0 || end > data[1] {
					return fmt.Errorf("field node %d: offsets end at %d, data holds %d bytes", i, end, data[1])
				}
			}
		}
	}
	if b != len(info.buffers) {
		return fmt.Errorf("%d buffers, schema uses %d", len(info.buffers), b)
	}
	return nil
}

// flatbuf reads a flatbuffer with bounds checks. Scalar reads out of
// bounds return 0 and record the first such error in err.
type flatbuf struct {
	b      []byte
	err    error
	fields int // Field tables visited
}

func (f *flatbuf) in(p, n uint64) bool {
	if p > uint64(len(f.b)) || n > uint64(len(f.b))-p {
		if f.err == nil {
			f.err = fmt.Errorf("metadata read of %d bytes at %d is outside its %d bytes", n, p, len(f.b))
		}
		return false
	}
	return true
}

func (f *flatbuf) u8(p uint64) uint8 {
	if !f.in(p, 1) {
		return 0
	}
	return f.b[p]
}

func (f *flatbuf) u16(p uint64) uint16 {
	if !f.in(p, 2) {
		return 0
	}
	return binary.LittleEndian.Uint16(f.b[p:])
}

func (f *flatbuf) u32(p uint64) uint32 {
	if !f.in(p, 4) {
		return 0
	}
	return binary.LittleEndian.Uint32(f.b[p:])
}

func (f *flatbuf) u64(p uint64) uint64 {
	if !f.in(p, 8) {
		return 0
	}
	return binary.LittleEndian.Uint64(f.b[p:])
}

// fbTable is a checked table: its vtable and inline data lie in the buffer.
type fbTable struct {
	fb     *flatbuf
	pos    uint64
	vt     uint64
	vtSize uint64
	size   uint64
}

// table checks the table at pos.
func (f *flatbuf) table(pos uint64) (fbTable, error) {
	if !f.in(pos, 4) {
		return fbTable{}, f.err
	}
	vt := int64(pos) - int64(int32(f.u32(pos)))
	if vt < 0 || !f.in(uint64(vt), 4) {
		return fbTable{}, fmt.Errorf("vtable of table at %d is outside the buffer", pos)
	}
	t := fbTable{fb: f, pos: pos, vt: uint64(vt), vtSize: uint64(f.u16(uint64(vt))), size: uint64(f.u16(uint64(vt) + 2))}
	if t.vtSize < 4 || t.vtSize%2 != 0 || !f.in(t.vt, t.vtSize) || t.size < 4 || !f.in(pos, t.size) {
		return fbTable{}, fmt.Errorf("table at %d has a malformed vtable", pos)
	}
	return t, nil
}

// field returns the position of field slot, and false when it is absent.
func (t fbTable) field(slot int) (uint64, bool) {
	at := 4 + 2*uint64(slot)
	if at+2 > t.vtSize {
		return 0, false
	}
	off := uint64(t.fb.u16(t.vt + at))
	if off == 0 {
		return 0, false
	}
	if off >= t.size {
		if t.fb.err == nil {
			t.fb.err = fmt.Errorf("field %d of table at %d lies outside the table", slot, t.pos)
		}
		return 0, false
	}
	return t.pos + off, true
}

func (t fbTable) u8(slot int) uint8 {
	if p, ok := t.field(slot); ok {
		return t.fb.u8(p)
	}
	return 0
}

func (t fbTable) i16(slot int) int16 {
	if p, ok := t.field(slot); ok {
		return int16(t.fb.u16(p))
	}
	return 0
}

func (t fbTable) i32(slot int) int32 {
	if p, ok := t.field(slot); ok {
		return int32(t.fb.u32(p))
	}
	return 0
}

func (t fbTable) i64(slot int) int64 {
	if p, ok := t.field(slot); ok {
		return int64(t.fb.u64(p))
	}
	return 0
}

// ref follows the offset stored in field slot; ok is false when absent.
func (t fbTable) ref(slot int) (uint64, bool, error) {
	p, ok := t.field(slot)
	if !ok {
		return 0, false, t.fb.err
	}
	if !t.fb.in(p, 4) {
		return 0, false, t.fb.err
	}
	target := p + uint64(t.fb.u32(p))
	if target >= uint64(len(t.fb.b)) {
		return 0, false, fmt.Errorf("offset at %d points outside the buffer", p)
	}
	return target, true, nil
}

// table returns the required sub-table in field slot.
func (t fbTable) table(slot int) (fbTable, error) {
	p, ok, err := t.ref(slot)
	if err != nil {
		return fbTable{}, err
	}
	if !ok {
		return fbTable{}, errors.New("missing")
	}
	return t.fb.table(p)
}

// vector checks the optional vector in field slot, with elements of size
// bytes each, and returns its length (0 when absent).
func (t fbTable) vector(slot int, size uint64) (int, error) {
	p, ok, err := t.ref(slot)
	if err != nil || !ok {
		return 0, err
	}
	if !t.fb.in(p, 4) {
		return 0, t.fb.err
	}
	n := uint64(t.fb.u32(p))
	if !t.fb.in(p+4, n*size) {
		return 0, fmt.Errorf("vector of %d × %d bytes at %d runs past the buffer", n, size, p)
	}
	return int(n), nil
}

// vectorData returns the position of element i of the vector in slot,
// already checked by vector.
func (t fbTable) vectorData(slot, i int, size uint64) (uint64, error) {
	p, _, err := t.ref(slot)
	return p + 4 + uint64(i)*size, err
}

// element returns table i of the vector of tables in slot.
func (t fbTable) element(slot, i int) (fbTable, error) {
	e, err := t.vectorData(slot, i, 4)
	if err != nil {
		return fbTable{}, err
	}
	target := e + uint64(t.fb.u32(e))
	if target >= uint64(len(t.fb.b)) {
		return fbTable{}, fmt.Errorf("element offset at %d points outside the buffer", e)
	}
	return t.fb.table(target)
}

// keyValues checks the optional [KeyValue] custom metadata in slot.
func (t fbTable) keyValues(slot int) error {
	n, err := t.vector(slot, 4)
	if err != nil {
		return fmt.Errorf("custom metadata: %w", err)
	}
	for i := range n {
		kv, err := t.element(slot, i)
		if err != nil {
			return fmt.Errorf("custom metadata %d: %w", i, err)
		}
		if _, err := kv.vector(0, 1); err != nil {
			return fmt.Errorf("custom metadata %d key: %w", i, err)
		}
		if _, err := kv.vector(1, 1); err != nil {
			return fmt.Errorf("custom metadata %d value: %w", i, err)
		}
	}
	return nil
}
