// Package cache implements a small LRU cache.
package cache

import (
	"container/list"
	"sync"
)

// DefaultSize is the capacity used by New when size is zero.
const DefaultSize = 128

// Cache is a fixed-size LRU cache safe for concurrent use.
type Cache struct {
	mu    sync.Mutex
	size  int
	order *list.List
	items map[string]*list.Element
}

type entry struct {
	key   string
	value any
}

// Getter is anything that can look a key up.
type Getter interface {
	Get(key string) (any, bool)
}

// New returns an empty cache holding at most size items.
func New(size int) *Cache {
	if size == 0 {
		size = DefaultSize
	}
	return &Cache{size: size, order: list.New(), items: map[string]*list.Element{}}
}

// Get returns the value for key and marks it recently used.
func (c *Cache) Get(key string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*entry).value, true
	}
	return nil, false
}

// Put stores value under key, evicting the oldest entry when full.
func (c *Cache) Put(key string, value any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.order.Len() >= c.size {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*entry).key)
	}
	c.items[key] = c.order.PushFront(&entry{key, value})
}

func (e entry) String() string { return e.key }
