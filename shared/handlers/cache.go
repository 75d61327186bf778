package handlers

import (
	"container/list"
	"context"
	"sync"
)

// Cache is a byte-bounded LRU of decoded inputs (plans, rating blocks, the
// fixed factor side of a half-iteration). Concurrent loads of one key are
// collapsed into a single load, so a worker running N tasks of the same
// half-iteration downloads the fixed side once.
type Cache struct {
	mu       sync.Mutex
	max      int64
	size     int64
	order    *list.List // front = most recent
	entries  map[string]*list.Element
	inflight map[string]*call
	hits     int64
	misses   int64
}

type entry struct {
	key  string
	val  any
	size int64
}

type call struct {
	done chan struct{}
	val  any
	err  error
}

// NewCache returns a cache holding at most maxBytes of values (as sized by
// their loaders). A value bigger than maxBytes is returned but not kept.
func NewCache(maxBytes int64) *Cache {
	return &Cache{max: maxBytes, order: list.New(), entries: map[string]*list.Element{}, inflight: map[string]*call{}}
}

// Get returns the value for key, calling load at most once at a time per
// key when it is absent. load reports the value's size in bytes.
func (c *Cache) Get(ctx context.Context, key string, load func(context.Context) (any, int64, error)) (any, error) {
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		c.order.MoveToFront(el)
		c.hits++
		c.mu.Unlock()
		return el.Value.(*entry).val, nil
	}
	if cl, ok := c.inflight[key]; ok {
		c.mu.Unlock()
		select {
		case <-cl.done:
			if cl.err != nil {
				return nil, cl.err
			}
			return cl.val, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	cl := &call{done: make(chan struct{})}
	c.inflight[key] = cl
	c.misses++
	c.mu.Unlock()

	val, size, err := load(ctx)
	cl.val, cl.err = val, err

	c.mu.Lock()
	delete(c.inflight, key)
	if err == nil && size <= c.max {
		c.entries[key] = c.order.PushFront(&entry{key: key, val: val, size: size})
		c.size += size
		for c.size > c.max {
			last := c.order.Back()
			e := last.Value.(*entry)
			c.order.Remove(last)
			delete(c.entries, e.key)
			c.size -= e.size
		}
	}
	c.mu.Unlock()
	close(cl.done)
	return val, err
}

// Purge drops every held value whose key match accepts (loads in flight
// are not affected).
func (c *Cache) Purge(match func(key string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, el := range c.entries {
		if match(key) {
			c.order.Remove(el)
			delete(c.entries, key)
			c.size -= el.Value.(*entry).size
		}
	}
}

// Stats reports hits, misses and bytes held.
func (c *Cache) Stats() (hits, misses, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses, c.size
}
