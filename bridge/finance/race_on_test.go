//go:build race

package finance

// raceEnabled tells the long tests that the race detector is on, so they
// can scale their load down to fit the same time budget.
const raceEnabled = true
