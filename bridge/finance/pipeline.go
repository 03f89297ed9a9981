package finance

import (
	"fmt"
	"iter"

	"vippskco/bridge/reconcile"
)

// parseChunk is how many lines the parser hands over at a time.
const parseChunk = 1024

// parseLines runs parse, which hands the lines of a file to emit, on a
// goroutine of its own, and yields them in the caller's goroutine, so that
// parsing a file and storing its lines each have a core: the import of a
// million-line XML report takes about as long as the slower of the two,
// not their sum. At most a few chunks of lines are between the two.
//
// When yield returns false, emit returns false from then on; parse should
// then stop, and parseLines returns once it has. An error of parse is
// yielded last. A parse that panics on hostile input fails the file with an
// error instead of taking the process down; a panic of yield (the store)
// is not the parser's and goes on.
func parseLines(parse func(emit func(reconcile.Line) bool) error) iter.Seq2[reconcile.Line, error] {
	return func(yield func(reconcile.Line, error) bool) {
		chunks := make(chan []reconcile.Line, 4)
		stop := make(chan struct{})
		done := make(chan struct{})
		var err error
		go func() {
			defer close(done)
			defer close(chunks)
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("the parser failed on this file: %v", r)
				}
			}()
			send := func(c []reconcile.Line) bool {
				select {
				case chunks <- c:
					return true
				case <-stop:
					return false
				}
			}
			chunk := make([]reconcile.Line, 0, parseChunk)
			stopped := false
			err = parse(func(l reconcile.Line) bool {
				if stopped {
					return false
				}
				chunk = append(chunk, l)
				if len(chunk) < parseChunk {
					return true
				}
				if stopped = !send(chunk); stopped {
					return false
				}
				chunk = make([]reconcile.Line, 0, parseChunk)
				return true
			})
			if err == nil && len(chunk) > 0 {
				send(chunk)
			}
		}()
		defer func() {
			close(stop)
			<-done
		}()
		for c := range chunks {
			for _, l := range c {
				if !yield(l, nil) {
					return
				}
			}
		}
		<-done
		if err != nil {
			yield(reconcile.Line{}, err)
		}
	}
}
