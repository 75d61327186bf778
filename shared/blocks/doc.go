// Package blocks encodes and decodes the blocks that stages exchange through
// the block store: Arrow IPC streams, each holding one schema message, exactly
// one record batch and the end-of-stream marker (a stream cut exactly before
// the marker still decodes: nothing of the block is missing). It is the only
// package that imports arrow-go; everyone else sees plain Go slices.
//
// Every schema carries its kind and version in the schema metadata key
// "betterread.schema". Decoders reject a missing or different value with an
// error wrapping [ErrUnknownSchema], and reject anything else wrong with the
// bytes (truncation, wrong column types, nulls, broken invariants) with an
// error wrapping [ErrCorrupt]. Neither is fixed by retrying. Errors from the
// underlying reader are returned wrapped but without either sentinel.
//
// Schemas (columns are non-nullable; metadata values are decimal integers):
//
//	factors/v1  metadata start, k
//	            factor  fixed_size_list<float32>[k]        one row per entity
//
//	ratings/v1  metadata start
//	            ratings list<struct<col int32, val float32>> one row per entity;
//	                    the list offsets are the CSR RowPtr
//
//	topk/v1     metadata start, top
//	            index   fixed_size_list<int32>[top]        neighbour indices, -1 pads
//	            score   fixed_size_list<float32>[top]      scores, 0 pads
//
//	strings/v1  metadata kind (for example "users", "books")
//	            value   utf8                               dictionary entries by index
//
//	catalog/v1  index int32, isbn, title, author, publisher, image_small,
//	            image_medium utf8, year int32               one row per book
//
// Decoders check each message's flatbuffer metadata before arrow-go parses
// it (see messages.go): arrow-go trusts those lengths and, on a corrupt one,
// can exhaust memory or the stack, which no recover catches.
//
// Encoders wrap the caller's slices as Arrow buffers without copying and write
// them straight to the io.Writer. Decoders of factors, ratings and top-k
// blocks return views whose slices point into the decoded Arrow buffers; they
// stay valid until the view's Release. Strings and catalogs are copied into Go
// strings, so they need no Release.
//
// The encoders are deterministic: the same block always yields the same bytes,
// so a task that runs twice overwrites its output with identical content.
package blocks
