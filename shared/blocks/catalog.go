package blocks

import (
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

const catalogSchema = "catalog/v1"

// Catalog is book metadata for the load stage, one row per book: Index is
// the book's index in the model, Year 0 where unknown. All slices have the
// same length; strings are valid UTF-8.
type Catalog struct {
	Index                   []int32
	ISBN, Title, Author     []string
	Publisher               []string
	ImageSmall, ImageMedium []string
	Year                    []int32
}

// catalogStrings lists the string columns in schema order.
var catalogStrings = []string{"isbn", "title", "author", "publisher", "image_small", "image_medium"}

func (c *Catalog) stringColumns() []*[]string {
	return []*[]string{&c.ISBN, &c.Title, &c.Author, &c.Publisher, &c.ImageSmall, &c.ImageMedium}
}

func (c Catalog) validate() error {
	n := len(c.Index)
	for i, col := range c.stringColumns() {
		if len(*col) != n {
			return fmt.Errorf("%s has %d values, index has %d", catalogStrings[i], len(*col), n)
		}
	}
	if len(c.Year) != n {
		return fmt.Errorf("year has %d values, index has %d", len(c.Year), n)
	}
	for i, x := range c.Index {
		if x < 0 {
			return fmt.Errorf("index[%d] is %d, want >= 0", i, x)
		}
	}
	return nil
}

func catalogArrowSchema(md *arrow.Metadata) *arrow.Schema {
	fields := []arrow.Field{{Name: "index", Type: arrow.PrimitiveTypes.Int32}}
	for _, name := range catalogStrings {
		fields = append(fields, arrow.Field{Name: name, Type: arrow.BinaryTypes.String})
	}
	fields = append(fields, arrow.Field{Name: "year", Type: arrow.PrimitiveTypes.Int32})
	return arrow.NewSchema(fields, md)
}

// EncodeCatalog writes c to w as a catalog/v1 stream.
func EncodeCatalog(w io.Writer, c Catalog) error {
	return encodeCatalog(w, memory.DefaultAllocator, c)
}

func encodeCatalog(w io.Writer, mem memory.Allocator, c Catalog) error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("encode catalog: %w", err)
	}
	cols := make([]arrow.Array, 0, 2+len(catalogStrings))
	defer func() {
		for _, a := range cols {
			a.Release()
		}
	}()
	wrap := func(s []int32) {
		d := primitiveData(arrow.PrimitiveTypes.Int32, s)
		defer d.Release()
		cols = append(cols, array.MakeFromData(d))
	}
	wrap(c.Index)
	for i, col := range c.stringColumns() {
		a, err := stringArray(mem, catalogStrings[i], *col)
		if err != nil {
			return fmt.Errorf("encode catalog: %w", err)
		}
		cols = append(cols, a)
	}
	wrap(c.Year)
	if err := writeBatch(w, mem, catalogArrowSchema(metadata(catalogSchema)), cols, len(c.Index)); err != nil {
		return fmt.Errorf("encode catalog: %w", err)
	}
	return nil
}

// DecodeCatalog reads a catalog/v1 stream. The result is a copy; nothing
// needs releasing.
func DecodeCatalog(r io.Reader) (Catalog, error) {
	return decodeCatalog(r, memory.DefaultAllocator)
}

func decodeCatalog(r io.Reader, mem memory.Allocator) (Catalog, error) {
	rec, err := readBatch(r, mem, catalogSchema)
	if err != nil {
		return Catalog{}, fmt.Errorf("decode catalog: %w", err)
	}
	defer rec.Release()
	c, err := catalogFrom(rec)
	if err != nil {
		return Catalog{}, fmt.Errorf("decode catalog: %w", err)
	}
	return c, nil
}

func catalogFrom(rec arrow.RecordBatch) (Catalog, error) {
	if err := checkFields(rec.Schema(), catalogArrowSchema(nil)); err != nil {
		return Catalog{}, err
	}
	rows := int(rec.NumRows())
	if err := checkRows(rows, 4); err != nil {
		return Catalog{}, err
	}
	var c Catalog
	index, err := primitiveValues[int32]("index", rec.Column(0), rows)
	if err != nil {
		return Catalog{}, err
	}
	for i, col := range c.stringColumns() {
		if *col, err = stringValues(catalogStrings[i], rec.Column(1+i), rows); err != nil {
			return Catalog{}, err
		}
	}
	year, err := primitiveValues[int32]("year", rec.Column(1+len(catalogStrings)), rows)
	if err != nil {
		return Catalog{}, err
	}
	// Copy the numbers out of the Arrow buffers, released on return.
	c.Index = append(make([]int32, 0, rows), index...)
	c.Year = append(make([]int32, 0, rows), year...)
	if err := c.validate(); err != nil {
		return Catalog{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return c, nil
}
