package bridge

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Quote keeps short input whole and cuts long input on a rune boundary,
// saying how long it was.
func TestQuote(t *testing.T) {
	if got := Quote("abc"); got != `"abc"` {
		t.Fatalf("short input: %s", got)
	}
	long := strings.Repeat("a", 63) + "ø" + strings.Repeat("b", 1000)
	got := Quote(long)
	if want := `"` + strings.Repeat("a", 63) + `"… (1065 bytes)`; got != want {
		t.Fatalf("long input: %s, want %s", got, want)
	}
	if !utf8.ValidString(got) {
		t.Fatalf("cut inside a rune: %q", got)
	}
}
