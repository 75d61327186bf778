// Package runstore owns every object of a run in the block store: the
// plan, stage markers, rating, factor and top-k blocks, load results and
// the report, with typed access and the key layout in one place
// (keys.go). Blocks are sealed with a checksum when written and checked on
// every read: a corrupted or truncated block comes back as a
// *CorruptError naming the block, never as data.
package runstore
