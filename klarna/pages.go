package klarna

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"
	"strconv"
)

// The Settlements API lists payouts and transactions alike: a page of
// items under the collection's name beside a pagination object, asked for
// by size and offset. listPage reads one page of either list and allPages
// walks all of them, so that the two lists cannot come to differ in how
// strictly they are read or in when the walk stops.

// MaxPageSize is the largest page the Settlements API serves.
const MaxPageSize = 500

// Pagination is where a page sits in its collection.
type Pagination struct {
	Count  int64  `json:"count"`
	Total  int64  `json:"total,omitempty"`
	Next   string `json:"next,omitempty"`
	Prev   string `json:"prev,omitempty"`
	Offset int64  `json:"offset"`
}

// pageParams sets the size and offset of a list request; zero leaves
// either to the API's default.
func pageParams(v url.Values, size, offset int) error {
	if size < 0 || size > MaxPageSize {
		return fmt.Errorf("size %d outside 1…%d", size, MaxPageSize)
	}
	if offset < 0 {
		return fmt.Errorf("negative offset %d", offset)
	}
	if size > 0 {
		v.Set("size", strconv.Itoa(size))
	}
	if offset > 0 {
		v.Set("offset", strconv.Itoa(offset))
	}
	return nil
}

// listPage sends r and reads the page it answers: the items under key,
// each decoded by its type's own strict decoding, and the pagination. Both
// are required.
func listPage[T any](ctx context.Context, c *Client, r request, key string) ([]T, Pagination, error) {
	res, err := c.do(ctx, r)
	if err != nil {
		return nil, Pagination{}, err
	}
	fail := func(what string, err error) ([]T, Pagination, error) {
		return nil, Pagination{}, fmt.Errorf("klarna: %s: decoding%s: %w (body: %s)", r.op, what, err, excerpt(res.body, 200))
	}
	raw, err := object(res.body)
	if err != nil {
		return fail("", err)
	}
	if err := present(raw, key, "pagination"); err != nil {
		return fail("", fmt.Errorf("%s and pagination are required: %w", key, err))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw[key], &items); err != nil {
		return fail(" "+key, err)
	}
	var p Pagination
	if err := json.Unmarshal(raw["pagination"], &p); err != nil {
		return fail(" pagination", err)
	}
	out := make([]T, len(items))
	for i, item := range items {
		if err := json.Unmarshal(item, &out[i]); err != nil {
			return nil, Pagination{}, fmt.Errorf("klarna: %s: decoding %s[%d]: %w", r.op, key, i, err)
		}
	}
	return out, p, nil
}

// allPages yields the items of every page that list reads, from offset on,
// size at a time (MaxPageSize when size is 0), asking for the next page
// only when the loop has taken every item of the one before. It stops
// after the first error, which it yields; name is the caller's, for that
// error. Each loop over the sequence starts again at offset.
func allPages[T any](name string, size, offset int, list func(size, offset int) ([]T, Pagination, error)) iter.Seq2[T, error] {
	if size == 0 {
		size = MaxPageSize
	}
	return func(yield func(T, error) bool) {
		var zero T
		for offset := offset; ; {
			items, p, err := list(size, offset)
			if err != nil {
				yield(zero, err)
				return
			}
			for _, item := range items {
				if !yield(item, nil) {
					return
				}
			}
			next, more, err := nextOffset(p, offset, len(items))
			if err != nil {
				yield(zero, fmt.Errorf("klarna: %s: %w", name, err))
				return
			}
			if !more {
				return
			}
			offset = next
		}
	}
}

// nextOffset decides whether another page follows one that was asked for
// at offset and held n items. pagination.next is followed for its offset
// only: the request goes to the client's own base URL, never to a host the
// answer names. Without a next link, total decides.
func nextOffset(p Pagination, offset, n int) (int, bool, error) {
	if p.Next == "" {
		if p.Total > 0 && int64(offset+n) < p.Total && n > 0 {
			return offset + n, true, nil
		}
		return 0, false, nil
	}
	if n == 0 {
		return 0, false, fmt.Errorf("empty page at offset %d has a next link %q", offset, p.Next)
	}
	next := offset + n
	if u, err := url.Parse(p.Next); err == nil {
		if s := u.Query().Get("offset"); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil {
				return 0, false, fmt.Errorf("next link %q: bad offset", p.Next)
			}
			next = v
		}
	}
	if next <= offset {
		return 0, false, fmt.Errorf("next link %q does not move past offset %d", p.Next, offset)
	}
	return next, true, nil
}
