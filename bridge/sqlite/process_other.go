//go:build !unix

package sqlite

// processGone cannot tell on this system; an import left pending is
// cleared importLease after its last batch.
func processGone(int) bool { return false }
